"""How many torch threads a job or endpoint process computing on the CPU gets, and why.

torch starts one thread per core and its threads spin-wait for one another between operations. Beside another
busy process that is ruinous on a small machine: on 2 cores under load, SmolLM2's LoRA step took 80.5 s at 2
threads and 10.4 s at 1, and the serving engine made 0.3 tokens/s at 2 threads and 2.2 at 1 (bench/threads.py;
the table is in docs/training/watching.md). So each CPU workload gets a share:

    threads = max(1, min(cores // (1 + ours), cores - round(elsewhere)))

`ours` counts the other jobs and endpoints of this workspace computing on the CPU right now; `elsewhere` is the
1-minute load average that they do not explain (the load minus their recorded thread counts): other programs on
the machine. A spec's `torch_threads` or the environment variable `JUPYTER_FT_TORCH_THREADS` overrides the rule.
GPU workloads keep torch's default. The choice is written to the workload's folder (`threads.json`), read back
when sizing the next one, and said in its log; a workload whose count the rule chose keeps following it while it
runs (`Resizer`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THREADS_ENV = "JUPYTER_FT_TORCH_THREADS"
RECORD = "threads.json"


@dataclass(frozen=True)
class Choice:
    threads: int
    reason: str
    by_rule: bool = True  # False: set by the spec or the environment (then nothing re-sizes it)

    def env(self) -> dict[str, str]:
        """The variables a process reads before torch starts its thread pools."""
        n = str(self.threads)
        return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}

    def line(self) -> str:
        return f"torch threads: {self.threads} ({self.reason})"


def cpu_cores() -> int:
    """Cores this process may run on (physical ones, where hyperthreads double the count: torch's own default)."""
    import psutil

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    physical = psutil.cpu_count(logical=False) or usable
    return max(1, min(usable, physical))


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def choose(cores: int, ours: dict[str, int], load: float | None, override: int | None = None,
           override_from: str = "", processes: int = 1) -> Choice:
    """The rule of this module. `ours`: {label: threads} of the other CPU workloads of the workspace running now;
    `load`: the 1-minute load average (None where unknown); `processes`: processes this workload starts (each
    gets its share of the result)."""
    if override:
        return Choice(override, f"set by {override_from}", by_rule=False)
    share = cores // (1 + len(ours))
    elsewhere = max(0.0, (load or 0.0) - sum(ours.values()))
    free = cores - round(elsewhere)
    n = max(1, min(share, free) // max(1, processes))
    parts = [f"{cores} core{'s' if cores != 1 else ''}"]
    if ours:
        parts.append(f"shared with {len(ours)} other workload{'s' if len(ours) != 1 else ''} of this workspace "
                     f"({', '.join(sorted(ours))})")
    if load is not None and round(elsewhere) > 0:
        parts.append(f"load {load:.1f}, {elsewhere:.1f} of it from other programs")
    if processes > 1:
        parts.append(f"{processes} processes")
    if n < cores and free <= share and round(elsewhere) > 0:
        parts.append("threads that wait for a busy core spin and slow everything down")
    return Choice(n, "; ".join(parts))


@dataclass
class Retune:
    """Re-sizing a running workload: the rule again, with the workload's own `current` threads taken off the load
    (they are part of it), and a new count only when two checks in a row agree (the load average lags)."""

    pending: int | None = None

    def check(self, current: int, cores: int, ours: dict[str, int], load: float | None) -> Choice | None:
        choice = choose(cores, ours, None if load is None else max(0.0, load - current))
        if choice.threads == current:
            self.pending = None
            return None
        if self.pending != choice.threads:
            self.pending = choice.threads
            return None
        self.pending = None
        return choice


RESIZE_ENV = "JUPYTER_FT_THREADS_RESIZE"  # "<workspace root>|<label>|<record folder>": set by whoever chose the count


class Resizer:
    """Keeps a running workload at the rule's count: every `every_s`, `tick()` checks (`Retune`) and, on a change,
    applies it through `set_threads` (torch's, in the thread that computes), records it and returns a log line.
    Core holds no torch: the workload passes its `get_threads`/`set_threads`."""

    def __init__(self, ws: Any, label: str, folder: Path, get_threads, set_threads, every_s: float = 30.0,
                 load=load_average):
        import time

        self.ws, self.label, self.folder = ws, label, folder
        self.get_threads, self.set_threads = get_threads, set_threads
        self.every_s = every_s
        self.load = load
        self.last = time.monotonic()
        self.retune = Retune()

    @classmethod
    def from_env(cls, get_threads, set_threads, every_s: float = 30.0) -> Resizer | None:
        """The resizer a launched process was asked for (`RESIZE_ENV`), or None when its count was set by hand."""
        value = os.environ.get(RESIZE_ENV, "")
        root, _, rest = value.partition("|")
        label, _, folder = rest.partition("|")
        if not (root and label and folder):
            return None
        from jupyter_ft.core.workspace import Workspace

        return cls(Workspace(Path(root)), label, Path(folder), get_threads, set_threads, every_s)

    def tick(self) -> str | None:
        import time

        now = time.monotonic()
        if now - self.last < self.every_s:
            return None
        self.last = now
        current = self.get_threads()
        choice = self.retune.check(current, cpu_cores(), running(self.ws, exclude=self.label), self.load())
        if choice is None:
            return None
        self.set_threads(choice.threads)
        record(self.folder, choice)
        return f"torch threads: {current} -> {choice.threads} ({choice.reason})"


def resize_env(ws: Any, label: str, folder: Path) -> dict[str, str]:
    """What a launcher adds to a process whose count it chose by the rule, so the process keeps following it."""
    return {RESIZE_ENV: f"{ws.root}|{label}|{folder}"}


def override_of(spec: dict[str, Any] | None) -> tuple[int | None, str]:
    """The spec's `torch_threads`, else the environment variable, else none."""
    value = (spec or {}).get("torch_threads")
    if value:
        return int(value), "the spec's torch_threads"
    env = os.environ.get(THREADS_ENV, "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env), f"${THREADS_ENV}"
    return None, ""


def record(folder: Path, choice: Choice) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD).write_text(json.dumps({"threads": choice.threads, "reason": choice.reason}))


def recorded(folder: Path) -> int | None:
    try:
        return int(json.loads((folder / RECORD).read_text())["threads"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def on_cpu(device: str | None, cache_file: Path | None = None) -> bool:
    """Whether a workload's device computes on the CPU (`auto` resolves through the device probe)."""
    if not device or device == "cpu":
        return True
    if device == "auto":
        from jupyter_ft.core import devices

        try:
            return devices.resolve("auto", cache_file).kind == "cpu"
        except Exception:
            return True
    return False


def running(ws: Any, exclude: str | None = None) -> dict[str, int]:
    """{label: threads} of this workspace's jobs running on the CPU and its local endpoints that want to run on it
    (threads as recorded at their start; 1 where none was)."""
    from jupyter_ft.core.deploy import store as endpoint_store
    from jupyter_ft.core.jobs import store as jobstore

    out: dict[str, int] = {}
    for job in jobstore.list_jobs(ws, ["running"]):
        label = f"job {job.id}"
        if label != exclude and job.device == "cpu":
            out[label] = recorded(ws.job_dir(job.id)) or 1
    for ep in endpoint_store.list_records(ws, endpoint_store.WANT_RUNNING):
        label = f"endpoint {ep.name}"
        on_the_cpu = on_cpu(ep.spec.get("device", "auto"), ws.root / "devices.json")
        if label != exclude and ep.engine == "local" and on_the_cpu:
            out[label] = recorded(ep.dir) or 1
    return out


def for_workload(ws: Any, label: str, spec: dict[str, Any] | None, device: str | None, processes: int = 1
                 ) -> Choice | None:
    """The choice for a workload about to start (None on a GPU: torch's default stays)."""
    override, source = override_of(spec)
    if not override and not on_cpu(device, ws.root / "devices.json"):
        return None
    return choose(cpu_cores(), running(ws, exclude=label), load_average(), override, source, processes)
