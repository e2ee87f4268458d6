"""Evaluation-gated alias moves: `require_better_than="name@champion"` passes only when a succeeded evaluation that
scored both versions shows the new one ahead on the chosen metric by more than the 95% interval of the difference.

Pointwise metrics (accuracy, a python evaluator's mean, a rubric score) carry a mean and a 95% interval per model:
the difference must exceed sqrt(h_new² + h_old²), h being each interval's half-width (no interval counts as 0).
Loss-like metrics (loss, perplexity) count lower as better. A pairwise judge gives the new version's win rate with
its interval against the other: the interval's lower end must exceed its loss rate. A refusal says by how much the
new version fell short.
"""

from __future__ import annotations

import math
from typing import Any

from jupyter_ft.core.registry import versions as registry
from jupyter_ft.core.workspace import Workspace

LOWER_IS_BETTER = ("loss", "perplexity", "ppl", "eval_loss")


class AliasRefused(ValueError):
    """An alias move without the evidence it requires; the message says what is missing or by how much it fell short."""


def _refused(msg: str) -> AliasRefused:
    return AliasRefused(msg)


def _lower_better(metric: str) -> bool:
    return any(metric == m or metric.endswith(("_" + m, "/" + m)) for m in LOWER_IS_BETTER)


def _half(row: dict[str, Any]) -> float:
    lo, hi = row.get("ci_low"), row.get("ci_high")
    return (hi - lo) / 2 if lo is not None and hi is not None else 0.0


def candidates(ws: Workspace, new: str, old: str) -> list[str]:
    """Evaluation jobs linked to both versions, newest first."""
    a = {t for _, t in registry.links(ws, new, "evaluation")}
    b = [t for _, t in registry.links(ws, old, "evaluation")]
    return [t for t in reversed(b) if t in a]


def check_better(ws: Workspace, new_ref: str, baseline: str, *, evidence: str | None = None,
                 metric: str | None = None) -> dict[str, Any]:
    """The comparison that lets the move through (a dict), or `AliasRefused` saying what is missing or how far short."""
    from jupyter_ft.core.evaluate.submit import results

    old_ref = registry.pin(ws, baseline)  # UnknownModel (listing the known) when it names nothing
    if old_ref == new_ref:
        raise _refused(f"require_better_than: {baseline} is {new_ref} itself; nothing to be better than")
    evals = [evidence] if evidence else candidates(ws, new_ref, old_ref)
    if not evals:
        raise _refused(f"require_better_than={baseline!r}: no evaluation scored both {new_ref} and {old_ref}; run "
                       f"ft.evaluate(models=[{new_ref!r}, {old_ref!r}], ...) and pass evidence=<its job id>")
    problems = []
    for ev in evals:
        res = results(ws, ev)
        if res["state"] != "succeeded":
            problems.append(f"{ev} is {res['state']}")
            continue
        labels = set(res.get("models") or [])
        missing = [r for r in (new_ref, old_ref) if r not in labels]
        if missing:
            problems.append(f"{ev} did not score {' and '.join(missing)} (it scored {', '.join(sorted(labels))})")
            continue
        return _compare(res, ev, new_ref, old_ref, metric)
    raise _refused(f"require_better_than={baseline!r}: no usable evaluation: " + "; ".join(problems))


def _compare(res: dict[str, Any], ev: str, new: str, old: str, metric: str | None) -> dict[str, Any]:
    rows = res.get("metrics") or []

    def matches(r: dict[str, Any]) -> bool:
        return metric is None or r["metric"] == metric or f"{r['evaluator']}/{r['metric']}" == metric

    mine = [r for r in rows if r["model"] == new and matches(r) and r.get("value") is not None]
    judges = {p["evaluator"] for p in res.get("pairwise") or []}
    judge = metric.split("/")[0] if metric else None
    if not mine and judge in judges:  # "judge", "judge/win_rate": the pairwise verdicts of that judge
        return _pairwise(res, ev, new, old, judge)
    if not mine and (metric is not None or not judges):
        known = sorted({f"{r['evaluator']}/{r['metric']}" for r in rows if r["model"] == new} |
                       {f"{j}/win_rate" for j in judges})
        raise _refused(f"metric {metric!r}: evaluation {ev} has no such metric for {new}; it has {', '.join(known)}")
    chosen = mine[0] if mine else None
    if chosen is None or chosen["metric"].startswith(("win_vs_", "tie_vs_", "loss_vs_", "consistency")):
        return _pairwise(res, ev, new, old, chosen["evaluator"] if chosen else None)
    other = next((r for r in rows if r["model"] == old and r["evaluator"] == chosen["evaluator"]
                  and r["metric"] == chosen["metric"] and r.get("value") is not None), None)
    name = f"{chosen['evaluator']}/{chosen['metric']}"
    if other is None:
        raise _refused(f"evaluation {ev} has no {name} for {old}")
    sign = -1.0 if _lower_better(chosen["metric"]) else 1.0
    diff = sign * (chosen["value"] - other["value"])
    required = math.hypot(_half(chosen), _half(other))
    out = {"evaluation": ev, "baseline": old, "metric": name, "new_value": chosen["value"],
           "baseline_value": other["value"], "difference": diff, "required": required,
           "lower_is_better": sign < 0}
    if not diff > required:
        raise _refused(
            f"{new} is not better than {old} on {name} in evaluation {ev}: {chosen['value']:.4g} vs "
            f"{other['value']:.4g} ({'lower' if sign < 0 else 'higher'} is better), ahead by {diff:.4g} but the 95% "
            f"interval needs more than {required:.4g}: fell short by {required - diff:.4g}")
    return out


def _pairwise(res: dict[str, Any], ev: str, new: str, old: str, judge: str | None) -> dict[str, Any]:
    for p in res.get("pairwise") or []:
        if judge is not None and p["evaluator"] != judge:
            continue
        if p["model"] == new and p["baseline"] == old:
            win, loss, ci = p["win"], p["loss"], p.get("win_ci") or [p["win"], p["win"]]
        elif p["model"] == old and p["baseline"] == new:
            win, loss, ci = p["loss"], p["win"], p.get("loss_ci") or [p["loss"], p["loss"]]
        else:
            continue
        name = f"{p['evaluator']}/win_rate"
        out = {"evaluation": ev, "baseline": old, "metric": name, "new_value": win, "baseline_value": loss,
               "difference": ci[0] - loss, "required": 0.0, "lower_is_better": False}
        if not ci[0] > loss:
            raise _refused(f"{new} is not better than {old} by the judge {p['evaluator']!r} in evaluation {ev}: win "
                           f"rate {win:.3g} (95% interval {ci[0]:.3g}-{ci[1]:.3g}) against a loss rate of {loss:.3g}; "
                           f"the interval's lower end fell short by {loss - ci[0]:.3g}")
        return out
    raise _refused(f"evaluation {ev} has no pairwise verdicts between {new} and {old}")


__all__ = ["check_better", "candidates"]
