"""Evaluators that score generated answers: exact match, numeric answer, ROUGE, any reward function, style markers,
degeneration (every evaluation of generated answers gets it), and custom functions
`(prediction, reference, row) -> float | dict`.

Each turns a batch of (sample, prediction) into one dict of scores per sample (None where it does not apply).
Whatever goes wrong names the evaluator and the sample: an exception (with the line of shipped code), a value
that is not a finite number or a dict of them. Pure Python: `ft.dry_run_evaluator` runs these in a kernel with the
same checks the job makes.
"""

from __future__ import annotations

import html
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from jupyter_ft.core.evaluate.rows import EvalSample, prompt_text, reference_of
from jupyter_ft.core.evaluate.degeneration import degeneration_scores
from jupyter_ft.core.evaluate.style import style_scores
from jupyter_ft.core.spec.eval import (DEGENERATION, EvalSpec, ExactMatchEval, NumericAnswerEval, PythonEval,
                                       RewardEval, RougeEval, StyleEval, evaluator_entry, evaluator_name)
from jupyter_ft.training.errors import JobInputError
from jupyter_ft.training.rewards import user_frame

Scores = dict[str, float]


class EvaluatorError(JobInputError):
    """An evaluator that raised or returned the wrong thing; the message names the evaluator and the sample."""

    def __init__(self, message: str, evaluator: str = "", sample: int | None = None):
        super().__init__(message)
        self.evaluator = evaluator
        self.sample = sample


def _short(value: Any, limit: int = 100) -> str:
    text = prompt_text(value).replace("\n", "\\n")
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _where(s: EvalSample, prediction: str) -> str:
    return f"sample {s.id} (prompt {_short(s.prompt)}, prediction {_short(prediction)})"


def _finite(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, numbers.Real) and math.isfinite(float(v)):
        return float(v)
    if hasattr(v, "item"):  # numpy / torch scalars
        try:
            item = v.item()
        except Exception:
            return None
        return _finite(item) if not hasattr(item, "item") else None
    return None


class GenerationEvaluator:
    """Base: `score(samples, predictions)` -> one scores dict (or None) per sample."""

    name: str

    def score(self, samples: Sequence[EvalSample], predictions: Sequence[str]) -> list[Scores | None]:
        raise NotImplementedError


class FunctionEvaluator(GenerationEvaluator):
    """A custom `(prediction, reference, row) -> float | dict[str, float]` (None = does not apply)."""

    def __init__(self, name: str, fn: Callable[..., Any]):
        self.name, self.fn = name, fn

    def score(self, samples: Sequence[EvalSample], predictions: Sequence[str]) -> list[Scores | None]:
        out: list[Scores | None] = []
        for s, p in zip(samples, predictions):
            try:
                v = self.fn(p, s.reference, dict(s.row))
            except Exception as exc:
                raise EvaluatorError(f"evaluator {self.name!r} raised {type(exc).__name__}: {exc} on {_where(s, p)}"
                                     f"{user_frame(exc, 'evaluator')}", self.name, s.id) from None
            out.append(self._check(v, s, p))
        return out

    def _check(self, v: Any, s: EvalSample, p: str) -> Scores | None:
        if v is None:
            return None
        f = _finite(v)
        if f is not None:
            return {self.name: f}
        if isinstance(v, dict) and v:
            scores: Scores = {}
            for k, x in v.items():
                fx = _finite(x)
                if not isinstance(k, str) or fx is None:
                    raise EvaluatorError(f"evaluator {self.name!r} returned {{{k!r}: {x!r}}} ({type(x).__name__}) for "
                                         f"{_where(s, p)}; expected a dict of metric names to finite numbers",
                                         self.name, s.id)
                scores[k] = fx
            return scores
        raise EvaluatorError(f"evaluator {self.name!r} returned {v!r:.80} ({type(v).__name__}) for {_where(s, p)}; "
                             "expected a finite number, a dict of them, or None when it does not apply",
                             self.name, s.id)


class RewardEvaluator(GenerationEvaluator):
    """Any reward function (built-in or shipped code) with its own signature `f(completions, **row)`: the answers
    are the completions, the rows' columns the keyword arguments; its checks (and messages) are the reward's."""

    def __init__(self, name: str, reward_spec: Any):
        from jupyter_ft.training.rewards import build

        self.name = name
        (self.fn,) = build([reward_spec])

    def score(self, samples: Sequence[EvalSample], predictions: Sequence[str]) -> list[Scores | None]:
        from jupyter_ft.training.rewards import RewardError

        columns = sorted({k for s in samples for k in s.row})
        kwargs = {c: [s.row.get(c) for s in samples] for c in columns if c not in ("prompts", "completions")}
        kwargs["reference"] = [s.reference for s in samples]
        if "answer" not in kwargs:  # built-in rewards read `answer`: a row without one is scored against its reference
            kwargs["answer"] = kwargs["reference"]
        try:
            values = self.fn(prompts=[s.prompt for s in samples], completions=list(predictions), **kwargs)
        except RewardError as exc:
            raise EvaluatorError(f"evaluator {self.name!r}: {exc}", self.name, samples[0].id if samples else None) from None
        return [None if v is None else {self.name: float(v)} for v in values]


class ReferenceEvaluator(GenerationEvaluator):
    """Compares each answer with the sample's reference; a sample without one is refused, naming it."""

    def __init__(self, name: str, column: str | None, fn: Callable[[str, str], Scores]):
        self.name, self.column, self.fn = name, column, fn

    def score(self, samples: Sequence[EvalSample], predictions: Sequence[str]) -> list[Scores | None]:
        out: list[Scores | None] = []
        for s, p in zip(samples, predictions):
            ref = reference_of(s, self.column)
            if ref is None:
                where = f"column {self.column!r}" if self.column else "a reference (answer, completion, chosen, ...)"
                raise EvaluatorError(f"evaluator {self.name!r}: sample {s.id} (prompt {_short(s.prompt)}) has no "
                                     f"{where} to compare with", self.name, s.id)
            out.append(self.fn(p, ref))
        return out


class TextEvaluator(GenerationEvaluator):
    """Counts on the answer's text alone (no reference, no model): style markers, degeneration."""

    def __init__(self, name: str, fn: Callable[[str], Scores]):
        self.name, self.fn = name, fn

    def score(self, samples: Sequence[EvalSample], predictions: Sequence[str]) -> list[Scores | None]:
        return [self.fn(p or "") for p in predictions]


def degeneration() -> TextEvaluator:
    """Repetition and loops of each answer, reported for every evaluation of generated answers."""
    return TextEvaluator(DEGENERATION, degeneration_scores)


def build(entry: Any) -> GenerationEvaluator:
    """The evaluator for one spec entry (a spec model, a mapping, a type name or a function)."""
    from jupyter_ft.core.spec.reward_code import RewardCodeError, load_function
    from jupyter_ft.training.rewards import ExactMatch, NumericAnswer

    if not hasattr(entry, "type"):
        entry = EvalSpec(models=["x"], dataset="x", evaluators=[evaluator_entry(entry)]).evaluators[0]
    name = evaluator_name(entry)
    if isinstance(entry, PythonEval):
        try:
            fn = load_function(entry.function, entry.source)
        except RewardCodeError as exc:
            raise EvaluatorError(f"evaluator {name!r}: {str(exc).replace('reward ', '', 1)}", name) from None
        return FunctionEvaluator(name, fn)
    if isinstance(entry, RewardEval):
        return RewardEvaluator(name, entry.reward)
    if isinstance(entry, ExactMatchEval):
        em = ExactMatch(answer_column="ref", ignore_case=entry.ignore_case)
        return ReferenceEvaluator(name, entry.answer_column, lambda p, r: {name: em(completions=[p], ref=[r])[0]})
    if isinstance(entry, NumericAnswerEval):
        na = NumericAnswer(answer_column="ref", tolerance=entry.tolerance)
        return ReferenceEvaluator(name, entry.answer_column, lambda p, r: {name: na(completions=[p], ref=[r])[0]})
    if isinstance(entry, StyleEval):
        return TextEvaluator(name, style_scores)
    if isinstance(entry, RougeEval):
        from jupyter_ft.evaluation.metrics import Rouge

        rouge = Rouge(entry.rouge_types, entry.use_stemmer)
        return ReferenceEvaluator(name, None, rouge)
    raise EvaluatorError(f"evaluator {name!r} ({entry.type}) does not score generated answers", name)


# --- dry run -------------------------------------------------------------------------------------------------------

@dataclass
class EvalDryRun:
    """An evaluator's scores on a few rows, before launching: one row per sample."""

    evaluator: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def __repr__(self) -> str:
        lines = [f"dry run of evaluator {self.evaluator!r} on {len(self.rows)} sample(s):"]
        for r in self.rows:
            scores = ", ".join(f"{k}={v:.4g}" for k, v in (r["scores"] or {}).items()) or "n/a"
            lines.append(f"  sample {r['sample']}: {scores}   prediction {_short(r['prediction'], 50)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "<tr><th>sample</th><th>prompt</th><th>prediction</th><th>reference</th><th>scores</th></tr>"
        body = "".join(
            f"<tr><td>{r['sample']}</td><td>{html.escape(prompt_text(r['prompt'])[:120])}</td>"
            f"<td>{html.escape(str(r['prediction'])[:120])}</td><td>{html.escape(str(r['reference'])[:120])}</td>"
            f"<td>{html.escape(', '.join(f'{k}={v:.4g}' for k, v in (r['scores'] or {}).items()) or 'n/a')}</td></tr>"
            for r in self.rows)
        return f"<b>dry run: {html.escape(self.evaluator)}</b><table>{head}{body}</table>"


def dry_run(entry: Any, samples: Sequence[EvalSample], predictions: Sequence[str] | None = None) -> EvalDryRun:
    """Score `samples` (with `predictions`, default: each sample's reference) as the job would."""
    ev = build(entry)
    if predictions is None:
        predictions = [s.reference or "" for s in samples]
    if len(predictions) != len(samples):
        raise EvaluatorError(f"dry run of {ev.name!r}: {len(predictions)} predictions for {len(samples)} rows", ev.name)
    scores = ev.score(samples, predictions)
    return EvalDryRun(ev.name, [{"sample": s.id, "prompt": s.prompt, "prediction": p, "reference": s.reference,
                                 "scores": sc} for s, p, sc in zip(samples, predictions, scores)])
