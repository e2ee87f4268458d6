"""What runs inside an evaluation job process (`python -m jupyter_ft.evaluate --root ROOT JOB_ID`): models loaded
once per base, batched generation with an answer cache, multiple choice by log-likelihood, generation metrics,
reward and custom evaluators, and the results writer. Started by the scheduler for jobs of kind `eval`.

`ft.evaluate(models=[...], dataset=..., evaluators=[...], **EvalSpec fields)` submits an evaluation job (see
`jupyter_ft.core.evaluation.evaluate`); calling this module does the same."""

import sys as _sys
import types as _types


class _CallableModule(_types.ModuleType):
    """`ft.evaluate(...)` is the SDK call, and `jupyter_ft.evaluate` is also this package (the job process): once
    the package is imported, Python binds its name on `jupyter_ft` to the module, replacing the function. Calling
    the module submits an evaluation, so `ft.evaluate(models=..., dataset=..., evaluators=...)` works either way."""

    def __call__(self, *args, **kwargs):
        from jupyter_ft.core.evaluation import evaluate

        return evaluate(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
