"""Did style tuning make the answers more human-like? Base vs tuned on the same prompts, in numbers, and a verdict.

`compare_answers(base, tuned)` counts the style markers (`core.evaluate.style`) and degeneration
(`core.evaluate.degeneration`) of each answer, and returns a plain dict: per metric both models' means with
percentile-bootstrap 95% intervals, and the tuned - base difference with its paired bootstrap interval (prompts
resampled; both answers to a drawn prompt move together) and whether that interval excludes zero. The evaluation
job builds the same dict from its stored per-answer scores (`compare_scores`), so the demo and the job agree.

`verdict(comparison)` says "more human-like" only when all of these hold, and gives its reasons in words either way:
- at least `MIN_PROMPTS` prompts were compared;
- for at least one warm marker (exclamations, contractions, second person) the difference's interval lies above
  zero, and the interval of formal markers does not lie above zero;
- the tuned answers do not degenerate: their share of looping answers is not above the upper end of the base's
  interval, and their mean length (words) is within [0.5x, 2x] of the base's.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from jupyter_ft.core.evaluate.degeneration import DEGENERATION_METRICS, degeneration_scores
from jupyter_ft.core.evaluate.stats import bootstrap_mean, direction, paired_difference
from jupyter_ft.core.evaluate.style import STYLE_METRICS, style_scores

METRICS = STYLE_METRICS + DEGENERATION_METRICS
WARM = ("exclamations", "contractions_per_100w", "second_person_per_100w")
FORMAL = "formal_markers"
LOOPS = "looping"
LENGTH = "length_words"
MIN_PROMPTS = 50
LENGTH_RANGE = (0.5, 2.0)
HUMAN_LIKE = "more human-like"
NOT_SHOWN = "not shown to be more human-like"


def answer_scores(answer: str) -> dict[str, float]:
    """Style and degeneration metrics of one answer (the keys of `METRICS`)."""
    return {**style_scores(answer), **degeneration_scores(answer)}


def _ci(ci: tuple[float, float] | None) -> list[float] | None:
    return list(ci) if ci is not None else None


def compare_scores(base: Sequence[Mapping[str, float]], tuned: Sequence[Mapping[str, float]], *,
                   metrics: Sequence[str] = METRICS, bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The comparison of per-answer score dicts, paired by position (answer i of both to the same prompt)."""
    if len(base) != len(tuned):
        raise ValueError(f"base has {len(base)} answers and tuned {len(tuned)}: pair each prompt's two answers")
    out: dict[str, Any] = {"n": len(base), "bootstrap": bootstrap, "seed": seed, "metrics": {}}
    for m in metrics:
        pairs = [(t[m], b[m]) for b, t in zip(base, tuned) if b.get(m) is not None and t.get(m) is not None]
        if not pairs:
            continue
        tv, bv = [p[0] for p in pairs], [p[1] for p in pairs]
        diff, dci = paired_difference(tv, bv, bootstrap, seed)
        out["metrics"][m] = {
            "n": len(pairs),
            "base": {"mean": float(np.mean(bv)), "ci": _ci(bootstrap_mean(bv, bootstrap, seed))},
            "tuned": {"mean": float(np.mean(tv)), "ci": _ci(bootstrap_mean(tv, bootstrap, seed))},
            "difference": {"mean": diff, "ci": _ci(dci), "excludes_zero": direction(dci) is not None,
                           "direction": direction(dci)},
        }
    return out


def compare_answers(base: Sequence[str], tuned: Sequence[str], *, bootstrap: int = 1000, seed: int = 0
                    ) -> dict[str, Any]:
    """Style and degeneration of two models' answers to the same prompts (`base[i]` and `tuned[i]` answer prompt
    i), with the verdict: `{"n", "metrics": {metric: {"base", "tuned", "difference"}}, "verdict": {...}}`."""
    out = compare_scores([answer_scores(a) for a in base], [answer_scores(a) for a in tuned],
                         bootstrap=bootstrap, seed=seed)
    out["verdict"] = verdict(out)
    return out


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def _describe(name: str, row: Mapping[str, Any]) -> str:
    d = row["difference"]
    ci = d.get("ci")
    where = f"95% CI [{_num(ci[0])}, {_num(ci[1])}]" if ci else "no interval"
    sign = "+" if (d.get("mean") or 0) >= 0 else ""
    return f"{name} {sign}{_num(d.get('mean'))} ({where})"


def verdict(comparison: Mapping[str, Any], *, min_prompts: int = MIN_PROMPTS) -> dict[str, Any]:
    """`{"human_like": bool, "verdict": "more human-like" | "not shown to be more human-like", "reasons": [...],
    "checks": {check: bool}}` for a `compare_scores` / `compare_answers` dict (see the module's rule)."""
    ms = comparison.get("metrics") or {}
    n = int(comparison.get("n") or 0)
    reasons: list[str] = []
    checks: dict[str, bool] = {}

    checks["enough_prompts"] = n >= min_prompts
    reasons.append(f"{n} prompts compared" + ("" if checks["enough_prompts"] else f", fewer than the {min_prompts} "
                                                                                  "needed for a verdict"))
    warm_up = [m for m in WARM if m in ms and ms[m]["difference"]["direction"] == "up"]
    checks["warmer"] = bool(warm_up)
    if warm_up:
        reasons.append("warmer: " + "; ".join(_describe(m, ms[m]) for m in warm_up) + " (interval above zero)")
    elif not any(ms.get(m, {}).get("difference", {}).get("ci") for m in WARM):
        reasons.append("no warm marker has an interval (bootstrap 0 or no answers), so no rise is shown")
    else:
        reasons.append("no warm marker rose with an interval above zero: "
                       + "; ".join(_describe(m, ms[m]) for m in WARM if m in ms))
    formal = ms.get(FORMAL)
    checks["not_more_formal"] = not (formal and formal["difference"]["direction"] == "up")
    if formal:
        reasons.append(("formal markers did not rise: " if checks["not_more_formal"] else "more formal: ")
                       + _describe(FORMAL, formal))
    loops = ms.get(LOOPS)
    if loops:
        base_ci = loops["base"].get("ci")
        limit = base_ci[1] if base_ci else loops["base"]["mean"]
        checks["no_more_loops"] = loops["tuned"]["mean"] <= limit + 1e-12
        reasons.append(f"looping answers: tuned {_num(loops['tuned']['mean'])} vs base {_num(loops['base']['mean'])}"
                       f" (base upper bound {_num(limit)}): "
                       + ("not more loops" if checks["no_more_loops"] else "the tuned model loops more"))
    else:
        checks["no_more_loops"] = False
        reasons.append("no loop counts to compare")
    length = ms.get(LENGTH)
    if length and length["base"]["mean"] > 0:
        ratio = length["tuned"]["mean"] / length["base"]["mean"]
        lo, hi = LENGTH_RANGE
        checks["length_kept"] = lo <= ratio <= hi
        reasons.append(f"mean length {_num(length['tuned']['mean'])} vs {_num(length['base']['mean'])} words "
                       f"({ratio:.2f}x; kept within {lo}x-{hi}x: {'yes' if checks['length_kept'] else 'no'})")
    else:
        checks["length_kept"] = False
        reasons.append("the base answers have no words, so the length cannot be compared")
    human = all(checks.values())
    return {"human_like": human, "verdict": HUMAN_LIKE if human else NOT_SHOWN, "reasons": reasons, "checks": checks}
