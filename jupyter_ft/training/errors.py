"""How a job process ends other than success."""


class JobInputError(ValueError):
    """Bad input (missing model, malformed data, ...): fail at once with this message; retrying cannot help."""


class TrainingDiverged(JobInputError):
    """The loss, gradient norm or weights turned NaN/inf: the job fails at once (retrying the same spec diverges
    the same way), its output is not written, its last complete checkpoint (from before) stays usable."""

    def __init__(self, step: int, metric: str, value: float):
        super().__init__(f"training diverged at step {step}: {metric} = {value} (lower the learning rate or "
                         f"weight_decay; the last checkpoint before this step is kept)")
        self.step, self.metric, self.value = step, metric, value


class JobCancelled(BaseException):
    """Raised from the SIGTERM handler so any code path unwinds promptly (BaseException: `except Exception`
    blocks in libraries do not swallow it)."""
