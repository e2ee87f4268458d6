"""What runs inside an evaluation job process (`python -m jupyter_ft.evaluate --root ROOT JOB_ID`): models loaded
once per base, batched generation with an answer cache, multiple choice by log-likelihood, generation metrics,
reward and custom evaluators, and the results writer. Started by the scheduler for jobs of kind `eval`."""
