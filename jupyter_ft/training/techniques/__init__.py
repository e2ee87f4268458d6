"""The job side of each technique: `<name>.py` holds `build_trainer(ctx)` for the declaration of the same name in
`jupyter_ft.core.train.techniques` (TRL and torch are imported inside it, in the job process only)."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def trainer_of(technique: Any) -> Callable[[Any], Any]:
    """The technique's `build_trainer` function: given as a function, or imported from its `"module:function"`."""
    ref = technique.build_trainer
    if callable(ref):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
