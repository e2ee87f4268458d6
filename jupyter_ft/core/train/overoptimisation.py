"""When preference training over-optimises: three rules over the metrics TRL logs, read one log at a time.

Preference training against a reference model (DPO, KTO) can raise the reward margin by lowering the rejected
answers' probability and the chosen ones' with it: the margin grows while the model gets worse at the answers it
was meant to prefer. TRL logs, per training log (averaged over the interval) and per evaluation (`eval_` prefix):
`rewards/chosen` = beta × (log π(chosen) − log π_ref(chosen)), `rewards/margins`, `rewards/accuracies` and
`logps/chosen` = log π(chosen), summed over the answer's tokens. From them:

- chosen log-ratio r = rewards/chosen ÷ beta: nats the chosen answers gained (> 0) or lost (< 0) against the reference;
- reference log-prob = logps/chosen − r, and the chosen drop = −r ÷ |reference log-prob|: the share of its
  log-probability the chosen answer lost (0.1: the answer's log-probability is 10% lower than the reference's; per
  token, with 3 nats per token under the reference, that is 0.3 nats, its perplexity ×1.35).

The rules (`chosen_drop`, `patience`, `eval_patience` from the spec's `preference_guard`):

1. `chosen_falling`: in each of the last `patience` training logs the chosen drop exceeds `chosen_drop`, it is no
   smaller at the last of them than at the first, and the margin is larger at the last than at the first.
2. `eval_margin_saturated`: none of the last `eval_patience` evaluations beat the best held-out margin of the
   evaluations before them, while the training margin grew since that best one.
3. `eval_accuracy_saturated`: the last `eval_patience` evaluations all have held-out reward accuracy 1, and the
   held-out chosen log-ratio fell at each of them and is below the reference (< 0).

The best evaluation to keep is the one with the lowest `eval_loss` among those whose held-out chosen drop is within
`chosen_drop` (`Watch.eligible`). Pure Python: the job side (`training.preference_guard`) feeds it and acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    code: str
    title: str
    message: str
    step: int


@dataclass
class _Point:
    step: int
    ratio: float          # chosen log-ratio, nats
    drop: float | None    # share of the reference log-prob lost (None: no reference log-prob to compare with)
    margin: float
    accuracy: float | None = None
    train_margin: float | None = None  # evaluations: the training margin logged last before them


def read(logs: dict[str, float], beta: float, prefix: str = "") -> tuple[float, float | None, float] | None:
    """(chosen log-ratio, chosen drop, margin) from one log, or None when it lacks the preference metrics."""
    try:
        reward = float(logs[f"{prefix}rewards/chosen"])
        margin = float(logs[f"{prefix}rewards/margins"])
    except (KeyError, TypeError, ValueError):
        return None
    ratio = reward / beta
    logp = logs.get(f"{prefix}logps/chosen")
    reference = None if logp is None else float(logp) - ratio
    drop = -ratio / abs(reference) if reference else None
    return ratio, drop, margin


@dataclass
class Watch:
    beta: float
    chosen_drop: float = 0.1
    patience: int = 3
    eval_patience: int = 3
    train: list[_Point] = field(default_factory=list)
    evals: list[_Point] = field(default_factory=list)

    def train_log(self, step: int, logs: dict[str, float]) -> Finding | None:
        got = read(logs, self.beta)
        if got is None:
            return None
        self.train.append(_Point(step, *got))
        window = self.train[-self.patience:]
        if len(window) < self.patience or any(p.drop is None or p.drop <= self.chosen_drop for p in window):
            return None
        first, last = window[0], window[-1]
        if last.drop < first.drop or last.margin <= first.margin:
            return None
        return Finding(
            "chosen_falling", "over-optimising: the chosen answers' log-prob is falling",
            f"the chosen answers' log-prob has been more than {self.chosen_drop:.0%} below the reference model's for "
            f"{self.patience} training logs (now {last.drop:.0%} lower, {-last.ratio:.1f} nats, at step {last.step}) "
            f"while the reward margin grew from {first.margin:.2f} to {last.margin:.2f}: the margin grows by making "
            f"the preferred answers less likely too", last.step)

    def eval_log(self, step: int, logs: dict[str, float]) -> Finding | None:
        got = read(logs, self.beta, "eval_")
        if got is None:
            return None
        acc = logs.get("eval_rewards/accuracies")
        point = _Point(step, *got, accuracy=None if acc is None else float(acc),
                       train_margin=self.train[-1].margin if self.train else None)
        self.evals.append(point)
        return self._margin_saturated() or self._accuracy_saturated()

    def _margin_saturated(self) -> Finding | None:
        n = self.eval_patience
        if len(self.evals) <= n:
            return None
        before, window = self.evals[:-n], self.evals[-n:]
        best = max(before, key=lambda p: p.margin)
        last = window[-1]
        if any(p.margin > best.margin for p in window):
            return None
        if best.train_margin is None or last.train_margin is None or last.train_margin <= best.train_margin:
            return None
        return Finding(
            "eval_margin_saturated", "over-optimising: the held-out margin stopped improving",
            f"the held-out reward margin has not beaten {best.margin:.2f} (step {best.step}) in {n} evaluations "
            f"(now {last.margin:.2f} at step {last.step}) while the training margin grew from "
            f"{best.train_margin:.2f} to {last.train_margin:.2f}: training now fits the training pairs only",
            last.step)

    def _accuracy_saturated(self) -> Finding | None:
        n = self.eval_patience
        window = self.evals[-n:]
        if len(window) < n or any(p.accuracy is None or p.accuracy < 0.999 for p in window):
            return None
        if any(b.ratio >= a.ratio for a, b in zip(window, window[1:])) or window[-1].ratio >= 0:
            return None
        last = window[-1]
        return Finding(
            "eval_accuracy_saturated", "over-optimising: held-out accuracy is 1 and the chosen log-prob keeps falling",
            f"held-out reward accuracy has been 1 for {n} evaluations while the held-out chosen answers' log-prob fell "
            f"at each, to {-last.ratio:.1f} nats below the reference model's at step {last.step}: there is nothing "
            f"left to learn from the pairs, and further training only makes the preferred answers less likely",
            last.step)

    def eligible(self) -> bool:
        """Whether the newest evaluation may be kept as the best: its held-out chosen drop is within the limit."""
        last = self.evals[-1] if self.evals else None
        return last is not None and (last.drop is None or last.drop <= self.chosen_drop)
