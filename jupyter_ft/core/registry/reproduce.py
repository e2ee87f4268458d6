"""`ft.reproduce("name@3")`: run the job that made a version again, exactly, and say how close the result came.

The stored resolved spec is submitted as it is: the same dataset version (pinned `name@version`), the same seed, the
same resolved auto choices (batch size, learning rate, LoRA rank, precision...). The rerun writes to its own job
folder (an explicit `output_dir` is dropped, so the original is never overwritten) and registers nothing
(`register_as: false`): a reproduction checks a version, it is not a new one. When it finishes its loss curve is
compared with the original's step by step, and any package version that differs from the one recorded on the
version (torch, transformers, trl, peft, jupyter_ft) is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jupyter_ft.core.registry import versions as registry
from jupyter_ft.core.jobs.metrics import MetricHistory
from jupyter_ft.core.workspace import Workspace

DEFAULT_TOLERANCE = 1e-3  # largest relative difference of a loss point still called "reproduced" (CPU, same seed)


@dataclass
class Reproduction:
    ref: str
    original_job: str
    job: Any  # the rerun's `Job`
    tolerance: float
    steps_compared: int = 0
    max_rel_diff: float | None = None
    worst_step: int | None = None
    within_tolerance: bool | None = None
    package_differences: dict[str, tuple[str, str]] = field(default_factory=dict)
    metric: str = "loss"
    missing_steps: list[int] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        return self.job.id

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "original_job": self.original_job, "job_id": self.job.id,
                "state": self.job.status, "tolerance": self.tolerance, "metric": self.metric,
                "steps_compared": self.steps_compared, "max_rel_diff": self.max_rel_diff,
                "worst_step": self.worst_step, "within_tolerance": self.within_tolerance,
                "missing_steps": self.missing_steps,
                "package_differences": {k: {"recorded": a, "now": b} for k, (a, b) in self.package_differences.items()}}

    def __repr__(self) -> str:
        if self.within_tolerance is None:
            return f"<Reproduction of {self.ref}: job {self.job.id} {self.job.status}>"
        verdict = "reproduced" if self.within_tolerance else "NOT reproduced"
        pk = "; ".join(f"{k} {a} -> {b}" for k, (a, b) in self.package_differences.items()) or "same packages"
        return (f"<Reproduction of {self.ref}: {verdict} — {self.metric} over {self.steps_compared} steps, largest "
                f"relative difference {self.max_rel_diff:.3g} at step {self.worst_step} (tolerance {self.tolerance:g}); "
                f"{pk}>")


def rerun_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The stored resolved spec, ready to submit again."""
    out = {k: v for k, v in spec.items()}
    out["output_dir"] = None
    out["register_as"] = False
    out["name"] = f"reproduce {spec.get('name') or ''}".strip()[:200]
    return out


def compare_losses(ws: Workspace, original: str, rerun: str, metric: str = "loss") -> tuple[int, float | None,
                                                                                                 int | None, list[int]]:
    """(steps compared, largest relative difference, its step, steps of the original the rerun lacks)."""
    a, b = MetricHistory(ws, original), MetricHistory(ws, rerun)
    a.poll()
    b.poll()
    sa, sb = a.series.get(metric), b.series.get(metric)
    if sa is None:
        return 0, None, None, []
    other = dict(zip(sb.steps, sb.values)) if sb else {}
    worst, at, n, missing = 0.0, None, 0, []
    for step, v in zip(sa.steps, sa.values):
        if step not in other:
            missing.append(step)
            continue
        n += 1
        d = abs(other[step] - v) / max(abs(v), 1e-12)
        if at is None or d > worst:
            worst, at = d, step
    return n, (worst if n else None), at, missing


def finish(rep: Reproduction, ws: Workspace | None = None) -> Reproduction:
    """Fill in the comparison of a finished reproduction."""
    ws = ws or rep.job.ws
    mv = registry.resolve_indexed(ws, *registry.version_number(ws, rep.ref))
    n, worst, at, missing = compare_losses(ws, rep.original_job, rep.job.id, rep.metric)
    rep.steps_compared, rep.max_rel_diff, rep.worst_step, rep.missing_steps = n, worst, at, missing
    rep.within_tolerance = bool(n) and not missing and worst is not None and worst <= rep.tolerance
    now = registry.package_versions()
    recorded = {k[len(registry.TAG + "package."):]: v for k, v in mv.tags.items()
                if k.startswith(registry.TAG + "package.")}
    rep.package_differences = {k: (v, now.get(k, "not installed")) for k, v in recorded.items()
                               if now.get(k, "not installed") != v}
    return rep
