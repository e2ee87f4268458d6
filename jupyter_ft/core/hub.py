"""Is the Hugging Face hub reachable from here? Asked once, answered within a couple of seconds.

Without this, a hub id given while offline blocks for ~20 s in `huggingface_hub`'s retries and then fails with a
connection error that does not say "offline". Submission checks (model size, hub datasets) ask here first and
say so at once.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlparse

PROBE_TIMEOUT_S = 2.0
_CACHE_S = 30.0
_last: tuple[float, bool] | None = None


def offline_env() -> str | None:
    """The environment variable that switches the hub off here, if one is set."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return var
    return None


def _endpoint() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)


def reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when a TCP connection to the hub endpoint opens within `timeout` seconds (DNS included)."""
    global _last
    if offline_env():
        return False
    now = time.monotonic()
    if _last is not None and now - _last[0] < _CACHE_S:
        return _last[1]
    host, port = _endpoint()
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)  # DNS lookups ignore socket timeouts; the thread bounds them
    t.start()
    t.join(timeout + 0.5)
    ok = bool(result and result[0])
    _last = (now, ok)
    return ok


def offline_reason() -> str:
    var = offline_env()
    if var:
        return f"this machine is offline ({var} is set)"
    host, port = _endpoint()
    return f"this machine is offline ({host}:{port} did not answer within {PROBE_TIMEOUT_S:g} s)"


def looks_like_path(model: str) -> bool:
    """A hub id is `name` or `org/name`; anything else (./x, /x, ~/x, a/b/c) is a local path."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model
