"""What runs inside an evaluation job process (`python -m jupyter_ft.evaluation --root ROOT JOB_ID`): models loaded
once per base, batched generation with an answer cache, multiple choice by log-likelihood, generation metrics,
reward and custom evaluators, and the results writer. Started by the scheduler for jobs of kind `eval`.

Submitting an evaluation is `ft.evaluate(models=[...], dataset=..., evaluators=[...])` (`jupyter_ft.sdk.evaluations`);
this package is named apart from that function so importing it never hides `ft.evaluate`.
"""
