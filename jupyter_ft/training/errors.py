"""How a job process ends other than success."""


class JobInputError(ValueError):
    """Bad input (missing model, malformed data, ...): fail at once with this message; retrying cannot help."""


class JobCancelled(BaseException):
    """Raised from the SIGTERM handler so any code path unwinds promptly (BaseException: `except Exception`
    blocks in libraries do not swallow it)."""
