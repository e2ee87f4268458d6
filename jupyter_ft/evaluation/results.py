"""Where an evaluation's scores go: per-sample records written as they are made, `results.json`, MLflow.

`scores.jsonl` in the job folder gets one line per (model, evaluator, sample) the moment it is scored; a resumed
attempt reads it back and skips those. `results.json` (the schema every face reads, see `core.evaluate.submit.results`)
is rebuilt from the records after each model and at the end, written to a temporary file and renamed, so a reader
never sees half of it. MLflow gets, through the job's event log: one metric per (model, evaluator, metric) with its
interval (`<model>/<evaluator>/<metric>`, `..._ci_low`, `..._ci_high`), tags linking each model to its training
run, `results.json` as an artifact and the per-sample table (`mlflow.log_table`: prompt, reference, each model's
answer and scores).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.evaluate.rows import EvalSample, prompt_text
from jupyter_ft.core.evaluate.stats import direction, paired_difference
from jupyter_ft.core.evaluate.style_compare import compare_scores, verdict
from jupyter_ft.core.workspace import Workspace

from jupyter_ft.evaluation.metrics import bootstrap_mean, bootstrap_ratio, perplexity

Key = tuple[str, str, int]


class ScoreStore:
    """(model, evaluator, sample) -> {scores, extra}, appended to `scores.jsonl` as each is made."""

    def __init__(self, path: Path):
        self.path = path
        self.records: dict[Key, dict[str, Any]] = {}
        if path.is_file():
            with path.open(encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        d = json.loads(line)
                        self.records[(d["model"], d["evaluator"], int(d["sample"]))] = d
                    except (ValueError, KeyError, TypeError):
                        continue  # the last line of a killed attempt may be cut short
        self.resumed = len(self.records)

    def has(self, model: str, evaluator: str, sample: int) -> bool:
        return (model, evaluator, sample) in self.records

    def add_many(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        data = "".join(json.dumps(d, default=float) + "\n" for d in items).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        for d in items:
            self.records[(d["model"], d["evaluator"], int(d["sample"]))] = d

    def of(self, model: str, evaluator: str) -> list[dict[str, Any]]:
        return sorted((d for (m, e, _), d in self.records.items() if m == model and e == evaluator),
                      key=lambda d: d["sample"])


def _metric(model: str, evaluator: str, metric: str, value: float, ci: tuple[float, float] | None, n: int,
            **extra: Any) -> dict[str, Any]:
    return {"model": model, "evaluator": evaluator, "metric": metric, "value": value,
            "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None, "n": n, **extra}


def aggregate(store: ScoreStore, model: str, evaluator: str, etype: str, resamples: int, seed: int) -> list[dict]:
    """The metrics of one evaluator on one model, each with its bootstrap 95% interval."""
    recs = [r for r in store.of(model, evaluator) if r.get("scores") is not None]
    if not recs:
        return []
    if etype == "eval_loss":
        nll = [-r["extra"]["ll"] for r in recs]
        toks = [r["extra"]["tokens"] for r in recs]
        loss = sum(nll) / max(sum(toks), 1)
        ci = bootstrap_ratio(nll, toks, resamples, seed)
        return [_metric(model, evaluator, "loss", loss, ci, len(recs)),
                _metric(model, evaluator, "perplexity", perplexity(loss),
                        (perplexity(ci[0]), perplexity(ci[1])) if ci else None, len(recs))]
    names: list[str] = []
    for r in recs:
        names.extend(k for k in r["scores"] if k not in names)
    out = []
    for name in names:
        vals = [r["scores"][name] for r in recs if r["scores"].get(name) is not None]
        if vals:
            out.append(_metric(model, evaluator, name, sum(vals) / len(vals), bootstrap_mean(vals, resamples, seed),
                               len(vals)))
    if etype == "multiple_choice":  # the per-subject breakdown
        subjects = sorted({r["extra"].get("subject") for r in recs if r["extra"].get("subject")})
        for subj in subjects:
            part = [r for r in recs if r["extra"].get("subject") == subj]
            for name in ("acc", "acc_norm"):
                vals = [r["scores"][name] for r in part]
                out.append(_metric(model, evaluator, f"{name}/{subj}", sum(vals) / len(vals),
                                   bootstrap_mean(vals, resamples, seed), len(vals), subject=subj))
    return out


# evaluators without per-sample means to pair: a token-weighted loss, lm-eval's own rows, verdicts without scores
UNPAIRED = ("eval_loss", "lm_eval", "pairwise_judge")


def _per_sample(store: ScoreStore, model: str, evaluator: str) -> dict[int, dict[str, float]]:
    return {int(r["sample"]): r["scores"] for r in store.of(model, evaluator) if r.get("scores")}


def differences(store: ScoreStore, labels: list[str], baseline: str, evaluators: list[tuple[str, str]],
                resamples: int, seed: int) -> list[dict[str, Any]]:
    """Each other model's difference from the baseline, per evaluator and metric: the mean over the samples both
    scored of (model - baseline), with its paired bootstrap 95% interval and the side of zero it lies on."""
    out: list[dict[str, Any]] = []
    if baseline not in labels:
        return out
    for e, etype in evaluators:
        if etype in UNPAIRED:
            continue
        base = _per_sample(store, baseline, e)
        for label in labels:
            if label == baseline:
                continue
            mine = _per_sample(store, label, e)
            names: list[str] = []
            for sc in mine.values():
                names.extend(k for k in sc if k not in names)
            for metric in names:
                pairs = [(mine[i][metric], base[i][metric]) for i in sorted(mine.keys() & base.keys())
                         if mine[i].get(metric) is not None and base[i].get(metric) is not None]
                if not pairs:
                    continue
                value, ci = paired_difference([a for a, _ in pairs], [b for _, b in pairs], resamples, seed)
                out.append({"model": label, "baseline": baseline, "evaluator": e, "metric": metric, "value": value,
                            "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None, "n": len(pairs),
                            "model_mean": sum(a for a, _ in pairs) / len(pairs),
                            "baseline_mean": sum(b for _, b in pairs) / len(pairs),
                            "excludes_zero": direction(ci) is not None, "direction": direction(ci)})
    return out


def style_verdicts(store: ScoreStore, labels: list[str], baseline: str, style_evaluators: list[str],
                   degeneration: str, resamples: int, seed: int) -> list[dict[str, Any]]:
    """For each style evaluator and model other than the baseline: is it more human-like than the baseline
    (`core.evaluate.style_compare.verdict` on the samples both models have style and degeneration scores for)."""
    out: list[dict[str, Any]] = []
    if baseline not in labels:
        return out
    base_deg = _per_sample(store, baseline, degeneration)
    for e in style_evaluators:
        base = _per_sample(store, baseline, e)
        for label in labels:
            if label == baseline:
                continue
            mine, deg = _per_sample(store, label, e), _per_sample(store, label, degeneration)
            ids = sorted(mine.keys() & base.keys() & deg.keys() & base_deg.keys())
            if not ids:
                continue
            cmp = compare_scores([{**base[i], **base_deg[i]} for i in ids], [{**mine[i], **deg[i]} for i in ids],
                                 bootstrap=resamples, seed=seed)
            out.append({"evaluator": e, "model": label, "baseline": baseline, "n": len(ids), **verdict(cmp)})
    return out


_BAD = re.compile(r"[^A-Za-z0-9_\-. :/]")


def mlflow_name(*parts: str) -> str:
    """A metric name MLflow accepts (letters, digits, _ - . space : /)."""
    return "/".join(_BAD.sub("_", p) for p in parts)[:250]


def build_results(*, job_id: str, state: str, labels: list[str], model_refs: dict[str, str], dataset: str,
                  samples: list[EvalSample], store: ScoreStore, evaluators: list[tuple[str, str]],
                  answers: dict[str, dict[int, str]], errors: list[dict[str, Any]], metrics: list[dict[str, Any]],
                  pairwise: list[dict[str, Any]], extra: dict[str, Any], partial: bool, baseline: str | None = None,
                  differences: list[dict[str, Any]] | None = None,
                  style_verdicts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The `results.json` dict (schema in `core.evaluate.submit.results`)."""
    metric_owner: dict[str, set[str]] = {}
    for (m, e, _), rec in store.records.items():
        for k in (rec.get("scores") or {}):
            metric_owner.setdefault(k, set()).add(e)

    def key(e: str, k: str) -> str:
        return k if len(metric_owner.get(k, ())) <= 1 else f"{e}/{k}"

    rows = []
    for s in samples:
        scores: dict[str, dict[str, float]] = {}
        reasons: dict[str, dict[str, str]] = {}
        verdicts: dict[str, dict[str, Any]] = {}
        mc_answers: dict[str, str] = {}
        reference = s.reference
        for label in labels:
            for e, _etype in evaluators:
                rec = store.records.get((label, e, s.id))
                if rec is None:
                    continue
                for k, v in (rec.get("scores") or {}).items():
                    scores.setdefault(label, {})[key(e, k)] = v
                ex = rec.get("extra") or {}
                if ex.get("reasons"):
                    reasons.setdefault(label, {}).update(ex["reasons"])
                if ex.get("verdict"):
                    verdicts.setdefault(e, {})[f"{label} vs {ex['baseline']}"] = ex["verdict"]
                if ex.get("answer_text") is not None:
                    mc_answers.setdefault(label, ex["answer_text"])
                    reference = ex.get("correct_text", reference)
        ans = {label: answers[label][s.id] for label in labels if s.id in answers.get(label, {})}
        for label, a in mc_answers.items():
            ans.setdefault(label, a)
        rows.append({"id": s.id, "prompt": prompt_text(s.prompt), "reference": reference, "answers": ans,
                     "scores": scores, "reasons": reasons, "verdicts": verdicts})
    return {"job_id": job_id, "state": state, "partial": partial, "models": labels, "model_refs": model_refs,
            "dataset": dataset, "num_samples": len(samples), "errors": errors, "metrics": metrics,
            "pairwise": pairwise, "baseline": baseline, "differences": differences or [],
            "style_verdicts": style_verdicts or [], "samples": rows, **extra}


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return str(v)


def samples_table(results: dict[str, Any]) -> dict[str, list[Any]]:
    """{column: values} for `mlflow.log_table`: one row per sample, each model's answer and scores as columns."""
    cols: dict[str, list[Any]] = {"id": [], "prompt": [], "reference": []}
    labels = results["models"]
    score_keys = sorted({k for row in results["samples"] for m in row["scores"].values() for k in m})
    for label in labels:
        cols[f"{label}/answer"] = []
        for k in score_keys:
            cols[f"{label}/{k}"] = []
        cols[f"{label}/reasons"] = []
    for row in results["samples"]:
        cols["id"].append(row["id"])
        cols["prompt"].append(row["prompt"])
        cols["reference"].append(row["reference"])
        for label in labels:
            cols[f"{label}/answer"].append(row["answers"].get(label))
            for k in score_keys:
                cols[f"{label}/{k}"].append(row["scores"].get(label, {}).get(k))
            r = row["reasons"].get(label)
            cols[f"{label}/reasons"].append(json.dumps(r) if r else None)
    return cols


def log_metrics(ws: Workspace, job_id: str, metrics: list[dict[str, Any]]) -> None:
    values: dict[str, float] = {}
    for m in metrics:
        if m.get("value") is None:
            continue
        name = mlflow_name(m["model"], m["evaluator"], m["metric"])
        values[name] = float(m["value"])
        if m.get("ci_low") is not None:
            values[name + "_ci_low"] = float(m["ci_low"])
            values[name + "_ci_high"] = float(m["ci_high"])
    values = {k: v for k, v in values.items() if math.isfinite(v)}
    if values:
        jobstore.append_event(ws, job_id, "metrics", {"values": values}, step=0)
