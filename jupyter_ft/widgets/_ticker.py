"""A background loop for live widgets: the kernel's main thread stays free while a chart or panel updates."""

from __future__ import annotations

import threading
import traceback
from typing import Callable


class Ticker:
    """Calls `step()` every `interval` seconds on a daemon thread until it returns False, raises, or `stop()`.

    Widgets are updated from this thread by assigning trait values (which ipykernel ≥ 7.1 sends safely from any
    thread), never through `with output:` capture, which is bound to the main thread's cell.
    """

    def __init__(self, step: Callable[[], bool], interval: float, name: str):
        self.step = step
        self.interval = interval
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.step():
                    return
            except Exception as exc:  # shown by the widget; a dead loop must not be silent
                self.error = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
                return
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end; True if it did."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()
