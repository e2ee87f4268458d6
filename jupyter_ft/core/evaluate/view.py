"""What an evaluation's results look like side by side, computed from the results dict (`evaluation.results`):
bar panels per evaluator, pairwise rows, each model's differences from the baseline, and which samples the models
disagree on.

Pure Python over plain dicts, so every face (the results widget, the magic's text summary, the Studio through
`GET evaluations/{id}/results`, which carries `with_view(results)`) shows the same grouping and the same "models
disagree" rule; the faces only draw what this returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

ANY_SCORE = "any score"          # disagreement criterion: some score that two models both have differs
SCORE_TOLERANCE = 1e-9           # two scores closer than this are the same


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# --- bars ------------------------------------------------------------------------------------------------------

@dataclass
class Bars:
    """One model's bars in a panel: value and CI half-widths per metric (None where that model has no value)."""

    model: str
    values: list[float | None]
    err_plus: list[float | None]
    err_minus: list[float | None]
    n: list[int | None]


@dataclass
class Panel:
    """One subplot: an evaluator's metrics (those of one order of magnitude), one bar per model per metric."""

    key: str
    title: str
    evaluator: str
    metrics: list[str]
    bars: list[Bars] = field(default_factory=list)

    @property
    def has_intervals(self) -> bool:
        return any(e is not None for b in self.bars for e in b.err_plus)


def _magnitude(values: Iterable[float]) -> int:
    """0 for metrics within [-1.5, 1.5] (rates, accuracies), else the power of ten: loss and perplexity, or a 1..10
    rubric score and a 0..1 accuracy, do not share an axis."""
    m = max((abs(v) for v in values), default=0.0)
    return 0 if m <= 1.5 else max(1, math.ceil(math.log10(m)))


def panels(results: dict[str, Any]) -> list[Panel]:
    """Bar panels for `results["metrics"]`: one per evaluator (split by order of magnitude), metrics in the order
    they first appear, models in spec order."""
    models = list(results.get("models") or [])
    rows = [m for m in results.get("metrics") or [] if _num(m.get("value")) is not None]
    for m in rows:
        if m.get("model") not in models:
            models.append(m.get("model"))
    by_eval: dict[str, dict[str, list[dict]]] = {}
    for m in rows:
        by_eval.setdefault(str(m.get("evaluator")), {}).setdefault(str(m.get("metric")), []).append(m)
    out: list[Panel] = []
    for evaluator, metrics in by_eval.items():
        groups: dict[tuple[bool, int], list[str]] = {}
        for metric, ms in metrics.items():
            mag = _magnitude(v for x in ms for v in (_num(x.get("value")), _num(x.get("ci_high"))) if v is not None)
            per_subject = any(x.get("subject") is not None for x in ms)  # a benchmark's breakdown: its own panel
            groups.setdefault((per_subject, mag), []).append(metric)
        split = len({mag for _, mag in groups}) > 1
        for key in sorted(groups):
            per_subject, mag = key
            names = groups[key]
            title = (f"{evaluator} · per subject" if per_subject
                     else f"{evaluator} · {', '.join(names)}" if split else evaluator)
            panel = Panel(key=f"{evaluator}#{'s' if per_subject else ''}{mag}", title=title, evaluator=evaluator,
                          metrics=names)
            for model in models:
                b = Bars(model, [], [], [], [])
                for metric in names:
                    row = next((x for x in metrics[metric] if x.get("model") == model), None)
                    v = _num(row.get("value")) if row else None
                    lo, hi = (_num(row.get("ci_low")), _num(row.get("ci_high"))) if row else (None, None)
                    b.values.append(v)
                    b.err_plus.append(max(0.0, hi - v) if v is not None and hi is not None else None)
                    b.err_minus.append(max(0.0, v - lo) if v is not None and lo is not None else None)
                    b.n.append(row.get("n") if row else None)
                if any(v is not None for v in b.values):
                    panel.bars.append(b)
            out.append(panel)
    return out


def panel_dicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """`panels(results)` as plain JSON-ready dicts (what a REST reply carries)."""
    return [{"key": p.key, "title": p.title, "evaluator": p.evaluator, "metrics": list(p.metrics),
             "has_intervals": p.has_intervals,
             "bars": [{"model": b.model, "values": b.values, "err_plus": b.err_plus, "err_minus": b.err_minus,
                       "n": b.n} for b in p.bars]} for p in panels(results)]


# --- pairwise ----------------------------------------------------------------------------------------------------

def _ci(x: Any) -> tuple[float, float] | None:
    if isinstance(x, (list, tuple)) and len(x) == 2 and all(_num(v) is not None for v in x):
        return float(x[0]), float(x[1])
    return None


def pairwise_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (judge, model vs baseline): win/tie/loss with their intervals, the win rate (a tie counting half)
    with its interval, the position-consistency rate, both models' mean answer lengths and the agreement with human
    labels (None where the data has none)."""
    out = []
    for p in results.get("pairwise") or []:
        lengths = p.get("mean_length") or {}
        out.append({
            "evaluator": p.get("evaluator"), "model": p.get("model"), "baseline": p.get("baseline"), "n": p.get("n"),
            **{k: _num(p.get(k)) for k in ("win", "tie", "loss", "win_rate", "consistency", "human_agreement")},
            **{f"{k}_ci": _ci(p.get(f"{k}_ci")) for k in ("win", "tie", "loss", "win_rate")},
            "length_model": _num(lengths.get(p.get("model"))), "length_baseline": _num(lengths.get(p.get("baseline"))),
        })
    return out


# --- differences from the baseline ------------------------------------------------------------------------------

def difference_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """`results["differences"]`: per model, evaluator and metric, the mean of (model - baseline) over the samples
    both scored, its paired bootstrap 95% interval (`ci`) and `direction` ('up' / 'down' when the interval excludes
    zero, else None); rows without a value left out."""
    out = []
    for d in results.get("differences") or []:
        value = _num(d.get("value"))
        if value is None:
            continue
        ci = _ci([d.get("ci_low"), d.get("ci_high")])
        out.append({"model": d.get("model"), "baseline": d.get("baseline"), "evaluator": d.get("evaluator"),
                    "metric": d.get("metric"), "value": value, "ci": ci, "n": d.get("n"),
                    "model_mean": _num(d.get("model_mean")), "baseline_mean": _num(d.get("baseline_mean")),
                    "direction": d.get("direction") if ci else None})
    return out


def with_view(results: dict[str, Any]) -> dict[str, Any]:
    """The results with what a face draws from them: `panels` (bar panels), `pairwise_rows`, and on each sample
    `disagree` (`disagrees_anyhow`: the one rule a face without a criterion chooser shows)."""
    samples = [{**s, "disagree": disagrees_anyhow(s)} for s in results.get("samples") or []]
    return {**results, "samples": samples, "panels": panel_dicts(results), "pairwise_rows": pairwise_rows(results),
            "difference_rows": difference_rows(results)}


# --- samples -----------------------------------------------------------------------------------------------------

def score_names(results: dict[str, Any]) -> list[str]:
    """Every per-sample score name, in first-seen order."""
    seen: dict[str, None] = {}
    for s in results.get("samples") or []:
        for scores in (s.get("scores") or {}).values():
            for k in scores or {}:
                seen.setdefault(k, None)
    return list(seen)


def judge_names(results: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for s in results.get("samples") or []:
        for k in s.get("verdicts") or {}:
            seen.setdefault(k, None)
    return list(seen)


def criteria(results: dict[str, Any]) -> list[str]:
    """The ways "the models disagree" can be read: any shared score, one score, or a pairwise judge's verdict."""
    return [ANY_SCORE, *score_names(results), *(f"judge: {j}" for j in judge_names(results))]


def _decisive(verdict: Any) -> bool:
    final = verdict.get("final") if isinstance(verdict, dict) else verdict
    return final is not None and str(final).strip().lower() not in ("tie", "", "none")


def disagrees(sample: dict[str, Any], criterion: str = ANY_SCORE) -> bool:
    """True when the models' scores on this sample differ (on `criterion`, or on any score two models share), or,
    for a judge criterion, when the judge preferred one answer in both orders (not a tie)."""
    if criterion.startswith("judge: "):
        pairs = (sample.get("verdicts") or {}).get(criterion[len("judge: "):]) or {}
        return any(_decisive(v) for v in pairs.values())
    names = None if criterion == ANY_SCORE else [criterion]
    per_model = [s or {} for s in (sample.get("scores") or {}).values()]
    keys = names or sorted({k for s in per_model for k in s})
    for k in keys:
        vals = [v for s in per_model if (v := _num(s.get(k))) is not None]
        if len(vals) >= 2 and max(vals) - min(vals) > SCORE_TOLERANCE:
            return True
    return False


def disagrees_anyhow(sample: dict[str, Any]) -> bool:
    """The models disagree on this sample by some reading: a score two of them share differs, or a pairwise judge
    preferred one answer (`disagrees` on every criterion of `criteria`)."""
    return disagrees(sample, ANY_SCORE) or any(disagrees(sample, f"judge: {j}") for j in sample.get("verdicts") or {})


def filter_samples(results: dict[str, Any], *, disagree_only: bool = False, criterion: str = ANY_SCORE,
                   search: str = "") -> list[dict[str, Any]]:
    """The samples to show: all, or those where the models disagree, optionally containing `search` (in the
    prompt, the reference or any answer, case ignored)."""
    needle = search.strip().lower()
    out = []
    for s in results.get("samples") or []:
        if disagree_only and not disagrees(s, criterion):
            continue
        if needle:
            hay = " ".join([str(s.get("prompt") or ""), str(s.get("reference") or ""),
                            *(str(a) for a in (s.get("answers") or {}).values())]).lower()
            if needle not in hay:
                continue
        out.append(s)
    return out


# --- text --------------------------------------------------------------------------------------------------------

def fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}g}"


def summary(results: dict[str, Any]) -> str:
    """The results as plain text: metrics per model with intervals, pairwise rows, differences from the baseline,
    style verdicts, errors (what a terminal or a headless notebook run shows)."""
    state = results.get("state", "?") + (" (partial)" if results.get("partial") else "")
    lines = [f"evaluation {results.get('job_id', '?')}: {state} · {results.get('num_samples', '?')} samples of "
             f"{results.get('dataset', '?')} · models {', '.join(results.get('models') or [])}"]
    for p in panels(results):
        for b in p.bars:
            parts = []
            for metric, v, ep, em in zip(p.metrics, b.values, b.err_plus, b.err_minus):
                if v is None:
                    continue
                ci = f" [{fmt(v - em)}, {fmt(v + ep)}]" if ep is not None and em is not None else ""
                parts.append(f"{metric} {fmt(v)}{ci}")
            lines.append(f"  {p.evaluator} · {b.model}: {'; '.join(parts)}")
    for r in pairwise_rows(results):
        lengths = f"; mean length {fmt(r['length_model'], 4)} vs {fmt(r['length_baseline'], 4)}"
        human = f"; human agreement {fmt(r['human_agreement'])}" if r["human_agreement"] is not None else ""
        rate = ""
        if r["win_rate"] is not None:
            ci = r["win_rate_ci"]
            rate = f"; win rate {fmt(r['win_rate'])}" + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")
        lines.append(f"  {r['evaluator']}: {r['model']} vs {r['baseline']}: win {fmt(r['win'])} tie {fmt(r['tie'])} "
                     f"loss {fmt(r['loss'])} (n {r['n']}){rate}; consistency {fmt(r['consistency'])}{lengths}{human}")
    for d in difference_rows(results):
        ci = f" [{fmt(d['ci'][0])}, {fmt(d['ci'][1])}]" if d["ci"] else ""
        mark = {"up": " (above zero)", "down": " (below zero)"}.get(d["direction"] or "", "")
        lines.append(f"  {d['evaluator']} · {d['model']} - {d['baseline']}: {d['metric']} {d['value']:+.3g}{ci}{mark}")
    for v in results.get("style_verdicts") or []:
        lines.append(f"  {v.get('evaluator')}: {v.get('model')} vs {v.get('baseline')}: {v.get('verdict')} "
                     f"(n {v.get('n')}): {'; '.join(v.get('reasons') or [])}")
    for e in results.get("errors") or []:
        lines.append(f"  error: {e.get('model')} · {e.get('evaluator')} · sample {e.get('sample')}: {e.get('message')}")
    return "\n".join(lines)
