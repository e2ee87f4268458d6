"""LLM-as-judge for evaluation: pairwise verdicts in both orders, and rubric scores on named criteria.

Pairwise (the shape of FastChat's llm_judge): each model's answer is put against the baseline's on the same prompt
twice, once as answer A and once as answer B. The two verdicts are mapped back to the models; when they name the
same winner (or both say tie) the pair is *consistent* and that is the verdict, otherwise the pair is a tie. The
summary gives win / tie / loss shares with percentile-bootstrap 95% intervals (pairs resampled), the win rate (a
tie counting half) with its interval, the position-consistency rate, each model's mean answer length in characters
beside its win rate (alpaca_eval's point: a judge that favours long answers shows), and, when the rows carry a
human preference, the judge's agreement with it.

Rubric: the judge scores each answer on every criterion (e.g. relevance, accuracy, human-likeness) on a whole-number
scale and gives a one-sentence reason per criterion, which is kept per sample. Metric rows per criterion carry a
bootstrap 95% interval; a human score column gives the judge's Spearman correlation and mean absolute difference.

The judge is the RLAIF client (`jupyter_ft.training.judge`): an OpenAI-compatible endpoint (bounded concurrency,
retries, clear failures) or a local HF model (the likeliest verdict / the expected score under its probabilities).
Every answer is cached in the job folder, so a resumed evaluation, or one that adds an evaluator, does not ask again.
A judge that answers unparseably is recorded against the evaluator and the sample and the others go on; a judge
that cannot be reached ends that evaluator with the pairs judged so far kept and marked partial.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from jupyter_ft.core.spec.eval import PairwiseJudgeEval, RubricCriterion, RubricJudgeEval
from jupyter_ft.core.spec.train import JudgeSpec
from jupyter_ft.evaluation.metrics import bootstrap_mean, resample
from jupyter_ft.training.judge import (JudgeCache, JudgeError, JudgeRequest, LocalJudge, OpenAIJudge, make_judge,
                                       render_prompt)

PROMPT_VERSION = "v1"  # part of every cache key: a changed prompt never reuses old verdicts
JUDGE_MAX_TOKENS = 400  # an eval judge writes a reason; RLAIF's 64-token default would cut it off
REASON_CHARS = 500

Progress = Callable[[int, int], None]

# --- prompts ------------------------------------------------------------------------------------------------------

DEFAULT_PAIRWISE_INSTRUCTION = (
    "Decide which answer serves the user better: it does what was asked, is relevant and correct, and reads "
    "naturally.")

PAIRWISE_SYSTEM = (
    "You are an impartial judge comparing two assistants' answers to the same user question. {instruction} "
    "The order in which the answers appear, their length and the assistants' names must not sway you. "
    "Start your reply with the verdict: [[A]] if answer A is better, [[B]] if answer B is better, [[C]] for a tie; "
    "then give one short sentence saying why.")


def pairwise_messages(prompt: Any, answer_a: str, answer_b: str, instruction: str | None = None) -> list[dict[str, str]]:
    """The judge's chat for one order of one pair."""
    system = PAIRWISE_SYSTEM.format(instruction=(instruction or DEFAULT_PAIRWISE_INSTRUCTION).strip())
    user = (f"[Question]\n{render_prompt(prompt)}\n\n"
            f"[Answer A]\n{answer_a}\n[End of answer A]\n\n"
            f"[Answer B]\n{answer_b}\n[End of answer B]\n\nVerdict:")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


RUBRIC_SYSTEM = (
    "You are a strict, fair evaluator. Score the assistant's answer to the user's question on each criterion "
    "below, each on its own, as a whole number from {lo} (worst) to {hi} (best). Reply with one JSON object and "
    "nothing else: one key per criterion, each {{\"score\": <number>, \"reason\": \"<one sentence>\"}}, "
    "e.g. {example}")


def rubric_messages(prompt: Any, answer: str, criteria: Sequence[RubricCriterion], lo: int, hi: int,
                    only: str | None = None) -> list[dict[str, str]]:
    """The judge's chat for one answer (`only`: ask for one criterion, as the local judge does)."""
    chosen = [c for c in criteria if only is None or c.name == only]
    example = json.dumps({c.name: {"score": hi, "reason": "..."} for c in chosen[:2]})
    system = RUBRIC_SYSTEM.format(lo=lo, hi=hi, example=example)
    lines = "\n".join(f"- {c.name}" + (f": {c.description}" if c.description else "") for c in chosen)
    user = (f"[Criteria]\n{lines}\n\n[Question]\n{render_prompt(prompt)}\n\n"
            f"[Answer]\n{answer}\n[End of answer]\n\nScores ({lo}-{hi}):")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# --- parsing --------------------------------------------------------------------------------------------------------

_BRACKETED = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_LABELLED_VERDICT = re.compile(r"(?:verdict|winner|better(?: answer)?)\s*(?:is|:|=)?\s*\**\s*(?:answer\s+)?"
                               r"\(?\b(A|B|C|tie)\b\)?", re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def _side(token: str) -> str:
    t = token.strip().upper()
    return "tie" if t in ("C", "TIE") else t


def parse_verdict(text: str) -> str | None:
    """'A', 'B' or 'tie' from a judge's answer, or None. Takes [[A]] / [[B]] / [[C]] (or [[tie]]) when every one in
    the answer agrees; else 'verdict: A' style; else an answer that is just the letter. Conflicting verdicts: None."""
    text = _THINK.sub("", text or "").strip()
    found = {_side(m) for m in _BRACKETED.findall(text)}
    if len(found) == 1:
        return found.pop()
    if found:
        return None
    found = {_side(m) for m in _LABELLED_VERDICT.findall(text)}
    if len(found) == 1:
        return found.pop()
    bare = re.fullmatch(r"\W*(A|B|C|tie)\W*", text, re.IGNORECASE)
    return _side(bare.group(1)) if bare else None


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_NUM = r"[-+]?\d+(?:\.\d+)?"


def _score_of(value: Any) -> tuple[float | None, str]:
    if isinstance(value, bool):
        return None, ""
    if isinstance(value, (int, float)):
        return float(value), ""
    if isinstance(value, dict):
        low = {_norm(k): v for k, v in value.items()}
        raw = next((low[k] for k in ("score", "rating", "value", "grade") if k in low), None)
        reason = next((low[k] for k in ("reason", "explanation", "rationale", "why", "justification") if k in low), "")
        score, _ = _score_of(raw)
        return score, str(reason or "")
    if isinstance(value, (list, tuple)) and value:
        score, _ = _score_of(value[0])
        return score, str(value[1]) if len(value) > 1 else ""
    if isinstance(value, str):
        m = re.match(rf"\s*({_NUM})", value)
        return (float(m.group(1)), value[m.end():].strip(" -:,.")) if m else (None, "")
    return None, ""


def parse_rubric(text: str, criteria: Sequence[str], lo: float, hi: float) -> dict[str, tuple[float, str]] | None:
    """{criterion: (score, reason)} from a judge's answer, or None when a criterion is missing or out of range.
    Reads a JSON object (inside a code fence or prose too; keys matched ignoring case, spaces, '-' and '_'), else
    lines such as 'relevance: 7 - stays on topic'."""
    text = _THINK.sub("", text or "").strip()
    got: dict[str, tuple[float | None, str]] = {}
    obj = None
    if "{" in text and "}" in text:
        try:
            obj = json.loads(text[text.index("{"): text.rindex("}") + 1])
        except ValueError:
            obj = None
    if isinstance(obj, dict):
        by_norm = {_norm(k): v for k, v in obj.items()}
        if len(criteria) == 1 and _norm(criteria[0]) not in by_norm and any(k in by_norm for k in ("score", "rating")):
            by_norm = {_norm(criteria[0]): obj}
        for c in criteria:
            if _norm(c) in by_norm:
                got[c] = _score_of(by_norm[_norm(c)])
    else:
        for c in criteria:
            words = r"[\s_\-]*".join(re.escape(w) for w in re.split(r"[\s_\-]+", c.strip()))
            m = re.search(rf"{words}\W*?[:=\-]\s*\**\s*({_NUM})(?:\s*/\s*{_NUM})?\**\s*[-–—:,.;)]?\s*(.*)", text,
                          re.IGNORECASE)
            if m:
                got[c] = (float(m.group(1)), m.group(2).strip())
    out: dict[str, tuple[float, str]] = {}
    for c in criteria:
        score, reason = got.get(c, (None, ""))
        if score is None or not lo <= score <= hi:
            return None
        out[c] = (score, reason[:REASON_CHARS])
    return out


# --- statistics -----------------------------------------------------------------------------------------------------

def bootstrap_shares(outcomes: Sequence[str], labels: Sequence[str], n_boot: int, seed: int
                     ) -> dict[str, tuple[float, float] | None]:
    """Percentile-bootstrap 95% interval of each label's share, resampling the items (the labels of one resample
    sum to 1). None when there is nothing to resample."""
    if not outcomes or n_boot <= 0:
        return {lab: None for lab in labels}
    codes = np.array([labels.index(o) for o in outcomes])
    shares = {lab: [] for lab in labels}
    for idx in resample(len(codes), n_boot, seed):
        drawn = codes[idx]
        for j, lab in enumerate(labels):
            shares[lab].append((drawn == j).mean(axis=1))
    return {lab: (float(np.percentile(np.concatenate(v), 2.5)), float(np.percentile(np.concatenate(v), 97.5)))
            for lab, v in shares.items()}


# --- the judge ------------------------------------------------------------------------------------------------------

def eval_judge_spec(spec: JudgeSpec) -> JudgeSpec:
    """The judge spec as an evaluation uses it: room for a reason unless the user set `max_tokens`."""
    if "max_tokens" in spec.model_fields_set:
        return spec
    return spec.model_copy(update={"max_tokens": max(spec.max_tokens, JUDGE_MAX_TOKENS)})


class JudgePool:
    """One judge client per distinct judge spec in an evaluation (a local judge model is loaded once for all its
    evaluators and models); `close()` releases them."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._judges: dict[str, Any] = {}

    def get(self, spec: JudgeSpec) -> Any:
        spec = eval_judge_spec(spec)
        key = spec.model_dump_json()
        if key not in self._judges:
            self._judges[key] = make_judge(spec, self.device)
        return self._judges[key]

    def close(self) -> None:
        for judge in self._judges.values():
            judge.close()
        self._judges.clear()


def _identity(judge: Any) -> list[Any]:
    spec = judge.spec
    return [PROMPT_VERSION, spec.kind, spec.model, spec.base_url, spec.temperature]


def _chunks(n: int, size: int) -> list[range]:
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


# --- pairwise -----------------------------------------------------------------------------------------------------

@dataclass
class PairwiseOutcome:
    """What one pairwise evaluator gives for one model against the baseline."""

    summary: dict[str, Any]                         # a row of results["pairwise"]
    verdicts: dict[Any, dict[str, Any]]             # sample id -> {"ab", "ba", "final", "consistent", reasons}
    errors: list[dict[str, Any]] = field(default_factory=list)


def human_side(label: Any, *, model: str, baseline: str, answer: str, baseline_answer: str) -> str | None:
    """A human preference as 'win' / 'loss' / 'tie' for the model: 'A' (the model's answer) or 'B' (the
    baseline's), 'tie', a model's name, or the preferred answer's text. None when it names neither."""
    if label is None or (isinstance(label, float) and label != label):
        return None
    text = str(label).strip()
    low = text.lower()
    if low in ("a", "model") or text == model or (text == answer.strip() and text != baseline_answer.strip()):
        return "win"
    if low in ("b", "baseline") or text == baseline or (text == baseline_answer.strip() and text != answer.strip()):
        return "loss"
    if low in ("tie", "c", "draw", "equal"):
        return "tie"
    return None


def _verdict_for_model(letter: str, model_is: str) -> str:
    """A judge's letter ('A'/'B'/'tie') as 'win'/'loss'/'tie' for the model that sat in position `model_is`."""
    if letter == "tie":
        return "tie"
    return "win" if letter == model_is else "loss"


def judge_pairwise(judge: Any, *, evaluator: str, model: str, baseline: str, samples: Sequence[Any],
                   prompts: Sequence[Any], answers: Sequence[str], baseline_answers: Sequence[str],
                   instruction: str | None = None, human_labels: Sequence[Any] | None = None,
                   cache_path: Path | None = None, bootstrap: int = 1000, seed: int = 0,
                   progress: Progress | None = None) -> PairwiseOutcome:
    """Judge `model`'s answers against `baseline`'s, each pair in both orders (model as A, then as B)."""
    n = len(samples)
    if not (len(prompts) == len(answers) == len(baseline_answers) == n):
        raise ValueError("samples, prompts, answers and baseline_answers must have the same length")
    cache = JudgeCache(cache_path, [*_identity(judge), "pairwise", instruction or ""])
    letters: dict[int, dict[str, Any]] = {}  # i -> {"ab": letter, "ba": letter, "reason_ab": ..}
    errors: list[dict[str, Any]] = []
    fatal: str | None = None

    def order(i: int, o: str) -> tuple[str, str]:
        return (answers[i], baseline_answers[i]) if o == "ab" else (baseline_answers[i], answers[i])

    jobs = [(i, o) for i in range(n) for o in ("ab", "ba")]
    keys = {(i, o): cache.key("pairwise", render_prompt(prompts[i]), *order(i, o)) for i, o in jobs}
    todo = [(i, o) for i, o in jobs if keys[(i, o)] not in cache]
    size = max(1, getattr(judge.spec, "concurrency", 8)) * 4
    done = n - len({i for i, _ in todo})
    if progress:
        progress(done, n)
    for part in _chunks(len(todo), size):
        batch = [todo[j] for j in part]
        try:
            fresh = _ask_verdicts(judge, batch, prompts, order, instruction, samples)
        except JudgeError as exc:
            fatal = str(exc)
            break
        good = {}
        for (i, o), value in zip(batch, fresh):
            if isinstance(value, JudgeError):
                errors.append({"model": model, "evaluator": evaluator, "sample": samples[i],
                               "message": f"{evaluator}: sample {samples[i]} ({o} order): {value}"})
            else:
                good[keys[(i, o)]] = value
        cache.update(good)
        if progress:
            progress(n - len({i for i, o in todo[part.stop:]}), n)
    for i, o in jobs:
        if keys[(i, o)] in cache:
            letter, reason = cache[keys[(i, o)]]
            letters.setdefault(i, {})[o] = letter
            letters[i]["reason_" + o] = reason
    if fatal:
        first = next((samples[i] for i, o in todo if keys[(i, o)] not in cache), None)
        errors.append({"model": model, "evaluator": evaluator, "sample": first,
                       "message": f"{evaluator}: stopped at sample {first}: {fatal}"})

    verdicts: dict[Any, dict[str, Any]] = {}
    for i in range(n):
        got = letters.get(i, {})
        if "ab" not in got or "ba" not in got:
            continue
        ab, ba = _verdict_for_model(got["ab"], "A"), _verdict_for_model(got["ba"], "B")
        consistent = ab == ba
        verdicts[samples[i]] = {"ab": got["ab"], "ba": got["ba"], "final": ab if consistent else "tie",
                                "consistent": consistent, "reason_ab": got["reason_ab"],
                                "reason_ba": got["reason_ba"]}
    summary = pairwise_summary(verdicts, evaluator=evaluator, model=model, baseline=baseline,
                               answers=answers, baseline_answers=baseline_answers, samples=samples,
                               human_labels=human_labels, bootstrap=bootstrap, seed=seed)
    summary["partial"] = bool(fatal) or len(verdicts) < n
    return PairwiseOutcome(summary, verdicts, errors)


def _ask_verdicts(judge: Any, batch: list[tuple[int, str]], prompts: Sequence[Any],
                  order: Callable[[int, str], tuple[str, str]], instruction: str | None,
                  samples: Sequence[Any]) -> list[Any]:
    """[(letter, reason) | JudgeError] for each (pair, order) in `batch`."""
    messages = [pairwise_messages(prompts[i], *order(i, o), instruction) for i, o in batch]
    if isinstance(judge, LocalJudge):
        probs = judge.choose([(m, "[[") for m in messages], ["A", "B", "C"])
        out = []
        for p in probs:
            best = int(np.argmax(p))
            out.append((["A", "B", "tie"][best], "local judge: " + ", ".join(
                f"p({k})={v:.2f}" for k, v in zip(("A", "B", "tie"), p))))
        return out
    if not isinstance(judge, OpenAIJudge):
        raise TypeError(f"unknown judge client {type(judge).__name__}")

    def parse(text: str) -> tuple[str, str] | None:
        letter = parse_verdict(text)
        if letter is None:
            return None
        reason = _BRACKETED.sub("", _THINK.sub("", text)).strip(" \n:-.")
        return letter, reason[:REASON_CHARS]

    requests = [JudgeRequest(m, parse, "a verdict [[A]], [[B]] or [[C]]",
                             f"sample {samples[i]}, {o} order") for m, (i, o) in zip(messages, batch)]
    return judge.ask(requests)


def pairwise_summary(verdicts: dict[Any, dict[str, Any]], *, evaluator: str, model: str, baseline: str,
                     answers: Sequence[str], baseline_answers: Sequence[str], samples: Sequence[Any],
                     human_labels: Sequence[Any] | None = None, bootstrap: int = 1000, seed: int = 0
                     ) -> dict[str, Any]:
    """A results["pairwise"] row from the per-sample verdicts."""
    finals = [v["final"] for v in verdicts.values()]
    n = len(finals)
    share = {k: (finals.count(k) / n if n else None) for k in ("win", "tie", "loss")}
    cis = bootstrap_shares(finals, ["win", "tie", "loss"], bootstrap, seed)
    judged = [i for i, s in enumerate(samples) if s in verdicts]
    row: dict[str, Any] = {
        "evaluator": evaluator, "model": model, "baseline": baseline, "n": n,
        "win": share["win"], "tie": share["tie"], "loss": share["loss"],
        "win_ci": _list(cis["win"]), "tie_ci": _list(cis["tie"]), "loss_ci": _list(cis["loss"]),
        # FastChat's adjusted win rate: a tie counts half; its interval resamples the pairs like the shares'
        "win_rate": (share["win"] + share["tie"] / 2) if n else None,
        "win_rate_ci": _list(bootstrap_mean([{"win": 1.0, "tie": 0.5}.get(f, 0.0) for f in finals], bootstrap, seed)),
        "consistency": (sum(v["consistent"] for v in verdicts.values()) / n) if n else None,
        "mean_length": {model: _mean([len(answers[i]) for i in judged]),
                        baseline: _mean([len(baseline_answers[i]) for i in judged])},
        "human_agreement": None, "human_n": 0,
    }
    if human_labels is not None:
        matched = []
        for i in judged:
            side = human_side(human_labels[i], model=model, baseline=baseline, answer=answers[i],
                              baseline_answer=baseline_answers[i])
            if side is not None:
                matched.append(verdicts[samples[i]]["final"] == side)
        row["human_n"] = len(matched)
        row["human_agreement"] = sum(matched) / len(matched) if matched else None
    return row


def _list(ci: tuple[float, float] | None) -> list[float] | None:
    return list(ci) if ci is not None else None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


# --- rubric -------------------------------------------------------------------------------------------------------

@dataclass
class RubricOutcome:
    """What one rubric evaluator gives for one model."""

    metrics: list[dict[str, Any]]                   # rows of results["metrics"], one per criterion (+ human agreement)
    scores: dict[Any, dict[str, float]]             # sample id -> {criterion: score}
    reasons: dict[Any, dict[str, str]]              # sample id -> {criterion: reason}
    errors: list[dict[str, Any]] = field(default_factory=list)
    partial: bool = False


def judge_rubric(judge: Any, *, evaluator: str, model: str, criteria: Sequence[RubricCriterion],
                 samples: Sequence[Any], prompts: Sequence[Any], answers: Sequence[str], min_score: int = 1,
                 max_score: int = 10, human_scores: Sequence[Any] | None = None, cache_path: Path | None = None,
                 bootstrap: int = 1000, seed: int = 0, progress: Progress | None = None) -> RubricOutcome:
    """Score each of `model`'s answers on every criterion, keeping the judge's reasons."""
    n = len(samples)
    if not (len(prompts) == len(answers) == n):
        raise ValueError("samples, prompts and answers must have the same length")
    crit = [c if isinstance(c, RubricCriterion) else RubricCriterion(name=str(c)) for c in criteria]
    cache = JudgeCache(cache_path, [*_identity(judge), "rubric", [c.model_dump() for c in crit], min_score, max_score])
    keys = [cache.key("rubric", render_prompt(p), a) for p, a in zip(prompts, answers)]
    todo = [i for i in range(n) if keys[i] not in cache]
    errors: list[dict[str, Any]] = []
    fatal: str | None = None
    size = max(1, getattr(judge.spec, "concurrency", 8)) * 4
    if progress:
        progress(n - len(todo), n)
    for part in _chunks(len(todo), size):
        batch = [todo[j] for j in part]
        try:
            fresh = _ask_rubric(judge, batch, prompts, answers, crit, min_score, max_score, samples)
        except JudgeError as exc:
            fatal = str(exc)
            break
        good = {}
        for i, value in zip(batch, fresh):
            if isinstance(value, JudgeError):
                errors.append({"model": model, "evaluator": evaluator, "sample": samples[i],
                               "message": f"{evaluator}: sample {samples[i]}: {value}"})
            else:
                good[keys[i]] = value
        cache.update(good)
        if progress:
            progress(n - (len(todo) - part.stop), n)
    if fatal:
        first = next((samples[i] for i in todo if keys[i] not in cache), None)
        errors.append({"model": model, "evaluator": evaluator, "sample": first,
                       "message": f"{evaluator}: stopped at sample {first}: {fatal}"})
    scores: dict[Any, dict[str, float]] = {}
    reasons: dict[Any, dict[str, str]] = {}
    for i in range(n):
        if keys[i] in cache:
            got = cache[keys[i]]
            scores[samples[i]] = {c.name: float(got[c.name][0]) for c in crit}
            reasons[samples[i]] = {c.name: str(got[c.name][1]) for c in crit}
    metrics = rubric_metrics(scores, evaluator=evaluator, model=model, criteria=[c.name for c in crit],
                             samples=samples, human_scores=human_scores, bootstrap=bootstrap, seed=seed)
    return RubricOutcome(metrics, scores, reasons, errors, partial=bool(fatal) or len(scores) < n)


def _ask_rubric(judge: Any, batch: list[int], prompts: Sequence[Any], answers: Sequence[str],
                crit: list[RubricCriterion], lo: int, hi: int, samples: Sequence[Any]) -> list[Any]:
    """[{criterion: [score, reason]} | JudgeError] for each answer in `batch`."""
    names = [c.name for c in crit]
    if isinstance(judge, LocalJudge):
        values = list(range(lo, hi + 1))
        contexts = [(rubric_messages(prompts[i], answers[i], crit, lo, hi, only=c.name), f'{{"{c.name}": '
                     '{"score": ') for i in batch for c in crit]
        probs = judge.choose(contexts, [str(v) for v in values])
        out = []
        for k, _ in enumerate(batch):
            got = {}
            for j, c in enumerate(crit):
                p = probs[k * len(crit) + j]
                expected = float(sum(w * v for w, v in zip(p, values)))
                top = int(np.argmax(p))
                got[c.name] = [expected, f"local judge: expected {expected:.2f} (most likely {values[top]}, "
                                         f"p={p[top]:.2f})"]
            out.append(got)
        return out
    if not isinstance(judge, OpenAIJudge):
        raise TypeError(f"unknown judge client {type(judge).__name__}")

    def parse(text: str) -> dict[str, list[Any]] | None:
        got = parse_rubric(text, names, lo, hi)
        return {k: [s, r] for k, (s, r) in got.items()} if got is not None else None

    requests = [JudgeRequest(rubric_messages(prompts[i], answers[i], crit, lo, hi), parse,
                             f"a JSON object with a score from {lo} to {hi} for each of {', '.join(names)}",
                             f"sample {samples[i]}") for i in batch]
    return judge.ask(requests)


def _human_number(value: Any, criterion: str, criteria: Sequence[str]) -> float | None:
    """A human score for `criterion`: a number (compared with the mean over criteria, or the only criterion) or
    a mapping {criterion: number}; None when absent or not a number."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return None
    if isinstance(value, dict):
        by_norm = {_norm(k): v for k, v in value.items()}
        value = by_norm.get(_norm(criterion))
    elif criterion != "mean" and len(criteria) > 1:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def rubric_metrics(scores: dict[Any, dict[str, float]], *, evaluator: str, model: str, criteria: Sequence[str],
                   samples: Sequence[Any], human_scores: Sequence[Any] | None = None, bootstrap: int = 1000,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Metric rows: the mean score per criterion (and their mean, 'mean', when there are several) with bootstrap
    95% intervals; with human scores, `human_spearman` and `human_mae` per criterion."""
    from scipy.stats import spearmanr

    judged = [s for s in samples if s in scores]
    names = list(criteria) + (["mean"] if len(criteria) > 1 else [])

    def value(s: Any, c: str) -> float:
        return float(np.mean([scores[s][k] for k in criteria])) if c == "mean" else scores[s][c]

    rows = []
    for c in names:
        vals = [value(s, c) for s in judged]
        ci = bootstrap_mean(vals, bootstrap, seed)
        rows.append({"model": model, "evaluator": evaluator, "metric": c, "value": _mean(vals),
                     "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None, "n": len(vals)})
    if human_scores is not None:
        index = {s: i for i, s in enumerate(samples)}
        for c in names:
            pairs = [(value(s, c), h) for s in judged
                     if (h := _human_number(human_scores[index[s]], c, criteria)) is not None]
            if not pairs:
                continue
            judge_v, human_v = zip(*pairs)
            rho = None
            if len(pairs) >= 3 and len(set(judge_v)) > 1 and len(set(human_v)) > 1:
                rho = float(spearmanr(judge_v, human_v).statistic)
            rows.append({"model": model, "evaluator": evaluator, "metric": f"human_spearman/{c}",
                         "value": rho, "ci_low": None, "ci_high": None, "n": len(pairs)})
            rows.append({"model": model, "evaluator": evaluator, "metric": f"human_mae/{c}",
                         "value": float(np.mean(np.abs(np.subtract(judge_v, human_v)))),
                         "ci_low": None, "ci_high": None, "n": len(pairs)})
    return rows


# --- the engine's entry points ----------------------------------------------------------------------------------------

def run_pairwise(ev: PairwiseJudgeEval, pool: JudgePool, *, evaluator: str, model: str, samples: Sequence[Any],
                 prompts: Sequence[Any], answers: Sequence[str], baseline_answers: Sequence[str],
                 rows: Sequence[dict[str, Any]] | None = None, cache_dir: Path | None = None,
                 bootstrap: int = 1000, seed: int = 0, progress: Progress | None = None) -> PairwiseOutcome:
    """A `pairwise_judge` evaluator of an EvalSpec, for one model against `ev.baseline` (the judge's answers
    cached in `cache_dir/judge-<evaluator>.jsonl`)."""
    labels = None
    if ev.human_label_column and rows is not None:
        labels = [r.get(ev.human_label_column) for r in rows]
    return judge_pairwise(pool.get(ev.judge), evaluator=evaluator, model=model, baseline=ev.baseline,
                          samples=samples, prompts=prompts, answers=answers, baseline_answers=baseline_answers,
                          instruction=ev.prompt, human_labels=labels,
                          cache_path=(Path(cache_dir) / f"judge-{evaluator}.jsonl") if cache_dir else None,
                          bootstrap=bootstrap, seed=seed, progress=progress)


def run_rubric(ev: RubricJudgeEval, pool: JudgePool, *, evaluator: str, model: str, samples: Sequence[Any],
               prompts: Sequence[Any], answers: Sequence[str], rows: Sequence[dict[str, Any]] | None = None,
               cache_dir: Path | None = None, bootstrap: int = 1000, seed: int = 0,
               progress: Progress | None = None) -> RubricOutcome:
    """A `rubric_judge` evaluator of an EvalSpec, for one model (cached like `run_pairwise`)."""
    human = None
    if ev.human_score_column and rows is not None:
        human = [r.get(ev.human_score_column) for r in rows]
    return judge_rubric(pool.get(ev.judge), evaluator=evaluator, model=model, criteria=ev.criteria,
                        samples=samples, prompts=prompts, answers=answers, min_score=ev.min_score,
                        max_score=ev.max_score, human_scores=human,
                        cache_path=(Path(cache_dir) / f"judge-{evaluator}.jsonl") if cache_dir else None,
                        bootstrap=bootstrap, seed=seed, progress=progress)

