"""How far along a job is, how long it has taken and how long it has left, in one place for every face."""

from __future__ import annotations

import time
from typing import Any

from jupyter_ft.core.jobs.store import JobRecord


def elapsed(rec: JobRecord, now: float | None = None) -> float:
    """Seconds since the job first started (through retries), up to its end if it ended."""
    if not rec.started_at:
        return 0.0
    return max(0.0, (rec.finished_at or now or time.time()) - rec.started_at)


def eta(rec: JobRecord, now: float | None = None, pace: float | None = None) -> float | None:
    """Seconds left for a running job. `pace` (seconds per step, e.g. `metrics.recent_pace`) gives the training
    speed without start-up time; without it, the average since the start up to the last recorded step. Either
    way the time since that step was recorded is taken off, so the estimate counts down between progress writes."""
    if rec.state != "running" or not rec.total_steps or not rec.step or not rec.started_at:
        return None
    now = now or time.time()
    at = rec.progress_at or now
    per_step = pace if pace is not None else max(at - rec.started_at, 0.0) / rec.step
    return max(0.0, per_step * (rec.total_steps - rec.step) - (now - at))


def job_progress(rec: JobRecord, now: float | None = None, pace: float | None = None) -> dict[str, Any]:
    """The progress dict of `Job.progress`, REST and the widgets."""
    return {"step": rec.step, "total_steps": rec.total_steps, "fraction": rec.progress, "elapsed_s": elapsed(rec, now),
            "eta_s": eta(rec, now, pace), "attempt": rec.attempt, "state": rec.state}


def fmt_duration(seconds: float | None) -> str:
    """12s, 3m05s, 1h02m."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def describe(rec: JobRecord, now: float | None = None, pace: float | None = None) -> str:
    """One line: 'running · step 40/100 · 12s elapsed · ETA 18s' (with the newest warning's title, and the error
    when it failed)."""
    parts = [rec.state]
    if rec.total_steps:
        parts.append(f"step {rec.step}/{rec.total_steps}")
    if rec.started_at:
        parts.append(f"{fmt_duration(elapsed(rec, now))} elapsed" if not rec.done else f"took {fmt_duration(elapsed(rec, now))}")
    left = eta(rec, now, pace)
    if left is not None:
        parts.append(f"ETA {fmt_duration(left)}")
    if rec.attempt > 1:
        parts.append(f"attempt {rec.attempt}/{rec.max_attempts}")
    if rec.warnings:
        more = f" (+{len(rec.warnings) - 1} more)" if len(rec.warnings) > 1 else ""
        parts.append(f"⚠ {rec.warnings[-1].get('title') or rec.warnings[-1].get('code')}{more}")
    line = " · ".join(parts)
    return f"{line} · {rec.error}" if rec.error and rec.state != "succeeded" else line
