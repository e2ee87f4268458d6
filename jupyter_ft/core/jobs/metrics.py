"""A job's metric series for live charts and summaries: read incrementally, resume-aware, grouped into panels.

Every face that draws metrics (the notebook chart, the sidebar over REST, `Job.metrics()`) reads them through
`MetricHistory`, so a resumed job looks the same everywhere, and groups them with `metric_group`, so the same
metric lands in the same panel everywhere.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.workspace import Workspace

# Logged once at the end of training (or of an evaluation): totals, not curves.
SUMMARY_METRICS = frozenset({
    "epoch", "train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss",
    "eval_runtime", "eval_samples_per_second", "eval_steps_per_second",
})

# (regex on the metric name without its `eval_` prefix, panel). First match wins; the order is the panel order.
# Names follow TRL 1.x: SFT (loss, mean_token_accuracy, entropy, num_tokens), DPO (rewards/chosen|rejected|margins|
# accuracies, logps/*, logits/*), GRPO (reward, reward_std, rewards/<function>/mean|std, kl, completions/*,
# clip_ratio/*); `tokens_per_s` is ours (training.callbacks.ThroughputMeter).
GROUP_RULES: list[tuple[str, str]] = [
    (r"accurac", "accuracy"),
    (r"(^|_)loss$", "loss"),
    (r"^rewards/.+/std$|^reward_std$|^frac_reward_zero_std$", "reward spread"),
    (r"^rewards?(/|$)", "rewards"),
    (r"(^|/)kl$", "kl"),
    (r"^learning_rate$", "learning rate"),
    (r"^grad_norm$", "grad norm"),
    (r"^entropy", "entropy"),
    (r"^(logps|logits)/", "log-probs"),
    (r"^completions/", "completion length"),
    (r"^num_(input_)?tokens", "tokens seen"),
    (r"^tokens_per_s$", "throughput"),
]
# Counters that only count up over a run (TRL's `num_tokens`, transformers' `num_input_tokens_seen`). Some trainers
# restore them from a checkpoint, others restart them at zero in a resumed attempt; `Series` continues them either way.
COUNTER_RULE = r"^num_(input_)?tokens(_seen)?$"
GROUP_ORDER: tuple[str, ...] = ("loss", "rewards", "accuracy", "kl", "reward spread", "learning rate", "grad norm",
                                "entropy", "log-probs", "completion length", "tokens seen", "throughput")


def metric_group(name: str) -> str | None:
    """The chart panel a metric belongs to (train and eval share one), or None for end-of-run totals."""
    if name in SUMMARY_METRICS:
        return None
    base = name[5:] if name.startswith("eval_") else name
    for pattern, group in GROUP_RULES:
        if re.search(pattern, base):
            return group
    return base.split("/")[0] if "/" in base else "other"


def is_counter(name: str) -> bool:
    """Whether a metric counts up over the whole run (train or eval), so a resumed attempt continues it."""
    return re.search(COUNTER_RULE, name[5:] if name.startswith("eval_") else name) is not None


def group_order(groups: list[str] | set[str]) -> list[str]:
    """Known panels in their fixed order, then the rest alphabetically (so every face lays them out alike)."""
    known = [g for g in GROUP_ORDER if g in groups]
    return known + sorted(g for g in groups if g not in GROUP_ORDER)


@dataclass
class Series:
    """One metric's points. A `counter` series also keeps each point's raw logged value, to continue the count
    across a resumed attempt that restarted it."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    logged_at: list[float] = field(default_factory=list)  # when the job process wrote each point (event ts)
    counter: bool = False
    raw: list[float] = field(default_factory=list)  # counter series only: the values as logged

    def put(self, step: int, value: float, ts: float) -> bool:
        """Add a point. A step at or before the last one means the job resumed from a checkpoint: the points from
        that step on came from the dead attempt and are dropped. Returns True if points were dropped/replaced.

        A counter that falls below its last kept raw value was restarted by the new attempt: from then on it
        is shown on top of the last kept value (no sawtooth). One that a trainer restored from the checkpoint
        keeps rising and is left as logged."""
        if self.steps and step <= self.steps[-1]:
            cut = bisect_left(self.steps, step)
            del self.steps[cut:], self.values[cut:], self.logged_at[cut:], self.raw[cut:]
            replaced = True
        else:
            replaced = False
        shown = value
        if self.counter:
            if self.raw:
                restarted = value < self.raw[-1]
                offset = self.values[-1] if restarted else self.values[-1] - self.raw[-1]
                shown = value + offset
            self.raw.append(value)
        self.steps.append(step)
        self.values.append(shown)
        self.logged_at.append(ts)
        return replaced


@dataclass(frozen=True)
class Point:
    metric: str
    step: int
    value: float
    logged_at: float


@dataclass
class Update:
    """What one `MetricHistory.poll()` found."""

    points: list[Point] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)    # metrics with new points
    rewritten: set[str] = field(default_factory=set)  # metrics whose earlier points were replaced (a resume)

    def __bool__(self) -> bool:
        return bool(self.points)


class MetricHistory:
    """All metric points of one job, read from its event log with a cursor (`after_seq`), so each poll costs only
    the new rows. Reattaching (a new kernel, a new page) is a history starting at cursor 0: the whole run."""

    def __init__(self, ws: Workspace, job_id: str):
        self.ws = ws
        self.job_id = job_id
        self.cursor = 0
        self.series: dict[str, Series] = {}

    def poll(self) -> Update:
        up = Update()
        for ev in jobstore.events(self.ws, self.job_id, "metrics", self.cursor):
            self.cursor = ev["seq"]
            step = int(ev["step"] or 0)
            for name, value in ev["values"].items():
                series = self.series.get(name)
                if series is None:
                    series = self.series[name] = Series(counter=is_counter(name))
                if series.put(step, float(value), ev["ts"]):
                    up.rewritten.add(name)
                up.changed.add(name)
                up.points.append(Point(name, step, series.values[-1], ev["ts"]))
        return up

    def charted(self) -> dict[str, list[str]]:
        """{panel: [metric, ...]} for every metric worth a curve, panels in display order."""
        groups: dict[str, list[str]] = {}
        for name in self.series:
            g = metric_group(name)
            if g is not None:
                groups.setdefault(g, []).append(name)
        return {g: sorted(groups[g], key=lambda n: (n.startswith("eval_"), n)) for g in group_order(set(groups))}

    def rows(self) -> list[dict[str, Any]]:
        """One dict per logged step, oldest first: [{'step': 5, 'loss': 2.1, ...}]."""
        by_step: dict[int, dict[str, Any]] = {}
        for name, s in self.series.items():
            for step, value in zip(s.steps, s.values):
                by_step.setdefault(step, {"step": step})[name] = value
        return [by_step[s] for s in sorted(by_step)]

    def last(self, name: str) -> float | None:
        s = self.series.get(name)
        return s.values[-1] if s and s.values else None

    def pace(self, window: int = 50) -> float | None:
        """Seconds per step over the last `window` points of the most-logged metric (None before two steps)."""
        s = max(self.series.values(), key=lambda x: len(x.steps), default=None)
        if s is None or len(s.steps) < 2:
            return None
        k = max(0, len(s.steps) - window)
        steps = s.steps[-1] - s.steps[k]
        return (s.logged_at[-1] - s.logged_at[k]) / steps if steps > 0 else None


def final_metrics(ws: Workspace, job_id: str) -> dict[str, float]:
    """The last logged value of each result metric of a job (train loss, eval_*, rewards/*, token accuracy, reward,
    train runtime): what the registry records with a version and the model card reports."""
    history = MetricHistory(ws, job_id)
    history.poll()
    keep = {}
    for name in history.series:
        value = history.last(name)
        if value is not None and (name in ("loss", "train_loss", "mean_token_accuracy", "reward", "train_runtime")
                                  or name.startswith(("eval_", "rewards/"))):
            keep[name] = value
    return keep


def recent_pace(ws: Workspace, job_id: str, window: int = 50) -> float | None:
    """Seconds per step over a job's last `window` metric events, without reading its whole history: the training
    pace, free of the start-up time (imports, model loading) that an average since the start would include."""
    row = ws.conn.execute(
        "SELECT MIN(ts), MAX(ts), MIN(step), MAX(step) FROM (SELECT ts, step FROM events"
        " WHERE job_id = ? AND kind = 'metrics' ORDER BY seq DESC LIMIT ?)", (job_id, window)).fetchone()
    if row is None or row[0] is None or row[3] <= row[2]:
        return None
    return (row[1] - row[0]) / (row[3] - row[2])
