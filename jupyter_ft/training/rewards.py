"""Reward functions for RL fine-tuning (GRPO / RLAIF): the built-in verifiable rewards, the guard every reward
runs behind, and a dry run that shows scores before a job is launched.

A reward function has TRL's shape: it receives the completions of a batch and, as keyword arguments, `prompts`
and every other dataset column (each a list aligned with the completions), and returns one float per completion
(None = "does not apply"). Completions arrive as plain text, also for conversational prompts.

    def my_reward(completions, **row) -> list[float]:
        return [1.0 if c.strip().endswith("!") else 0.0 for c in completions]

Pure Python: importing this module loads no torch, so the dry run works in a kernel.
"""

from __future__ import annotations

import html
import inspect
import math
import numbers
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from jupyter_ft.training.errors import JobInputError
from jupyter_ft.training.text import as_text


class RewardError(JobInputError):
    """A reward function raised or returned something unusable; names the function and the sample. Fails the job
    (not retried: the same code would fail the same way)."""


# --- text helpers ----------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+−]?\s?[$€£]?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?/\s?\d+)?|[-+]?\.\d+")
_ANSWER_IS = re.compile(r"(?:final answer|answer)\s*(?:is|:|=)\s*", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def _to_float(token: str) -> float | None:
    t = token.replace("−", "-").replace(",", "").replace("$", "").replace("€", "").replace("£", "").replace(" ", "")
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            return float(num) / float(den) if float(den) else None
        return float(t)
    except ValueError:
        return None


def _first_number(text: str) -> float | None:
    m = _NUMBER.search(text)
    return _to_float(m.group(0)) if m else None


def extract_number(text: str) -> float | None:
    """The final numeric answer in `text`, GSM8K style: the number after the last `####`; else after "answer is"
    or in `\\boxed{}`; else the last number. Commas, currency signs and trailing units are ignored."""
    if "####" in text:
        return _first_number(text.rsplit("####", 1)[1])
    boxed = _BOXED.findall(text)
    if boxed:
        v = _first_number(boxed[-1])
        if v is not None:
            return v
    parts = _ANSWER_IS.split(text)
    if len(parts) > 1:
        v = _first_number(parts[-1])
        if v is not None:
            return v
    found = _NUMBER.findall(text)
    return _to_float(found[-1]) if found else None


def _normalise(text: str, ignore_case: bool) -> str:
    t = " ".join(text.split()).strip().rstrip(".!")
    return t.lower() if ignore_case else t


def _column(row: dict[str, Any], column: str, reward: str) -> list[Any]:
    if column not in row:
        cols = sorted(k for k in row if k not in _TRL_EXTRAS)
        raise RewardError(f"reward {reward!r} reads column {column!r}, which the dataset does not have "
                          f"(columns: {cols}); set its answer_column")
    return row[column]


# --- built-in rewards ----------------------------------------------------------------------------------------------

class ExactMatch:
    """1.0 when the completion equals the reference (whitespace collapsed, trailing '.'/'!' dropped, case ignored
    unless `ignore_case=False`), else 0.0."""

    def __init__(self, answer_column: str = "answer", ignore_case: bool = True, **_: Any):
        self.answer_column, self.ignore_case = answer_column, ignore_case

    def __call__(self, completions: list[str], **row: Any) -> list[float]:
        refs = _column(row, self.answer_column, "exact_match")
        return [float(_normalise(c, self.ignore_case) == _normalise(as_text(r), self.ignore_case))
                for c, r in zip(completions, refs)]


class NumericAnswer:
    """1.0 when the completion's final number equals the reference's final number (within a relative
    `tolerance`), else 0.0; 0.0 too when the completion has no number. See `extract_number`."""

    def __init__(self, answer_column: str = "answer", tolerance: float = 1e-6, **_: Any):
        self.answer_column, self.tolerance = answer_column, tolerance

    def __call__(self, completions: list[str], **row: Any) -> list[float]:
        refs = _column(row, self.answer_column, "numeric_answer")
        out = []
        for c, r in zip(completions, refs):
            want = r if isinstance(r, numbers.Real) and not isinstance(r, bool) else extract_number(as_text(r))
            got = extract_number(c)
            ok = want is not None and got is not None and math.isclose(got, float(want), rel_tol=self.tolerance,
                                                                        abs_tol=self.tolerance)
            out.append(float(ok))
        return out


class Regex:
    """1.0 when `pattern` is found in the completion (`mode="search"`) or matches all of it (`"fullmatch"`)."""

    def __init__(self, pattern: str, mode: str = "search", dotall: bool = True, **_: Any):
        self.regex = re.compile(pattern, re.DOTALL if dotall else 0)
        self.mode = mode

    def __call__(self, completions: list[str], **row: Any) -> list[float]:
        match = self.regex.fullmatch if self.mode == "fullmatch" else self.regex.search
        return [float(match(c) is not None) for c in completions]


class LengthPenalty:
    """0.0 up to `target` words (or characters), then linearly down to -1.0 at twice the target, and -1.0 beyond."""

    def __init__(self, target: int, unit: str = "words", **_: Any):
        self.target, self.unit = target, unit

    def __call__(self, completions: list[str], **row: Any) -> list[float]:
        out = []
        for c in completions:
            n = len(c.split()) if self.unit == "words" else len(c)
            out.append(-min(1.0, max(0.0, (n - self.target) / self.target)))
        return out


BUILTINS: dict[str, type] = {
    "exact_match": ExactMatch, "numeric_answer": NumericAnswer, "regex": Regex, "length_penalty": LengthPenalty,
}

# keyword arguments TRL adds beside the dataset columns
_TRL_EXTRAS = {"prompts", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments"}


# --- the guard every reward runs behind ------------------------------------------------------------------------

def _short(value: Any, limit: int = 120) -> str:
    text = as_text(value).replace("\n", "\\n")
    return repr(text if len(text) <= limit else text[:limit] + "…")


class RewardFunction:
    """A reward as TRL calls it, with the checks users need: completions passed as text; only the keyword
    arguments the function accepts; an exception, a wrong length or a non-number fails with the function's name
    and the sample (prompt and completion) that caused it."""

    def __init__(self, name: str, fn: Callable[..., Any], weight: float = 1.0):
        self.__name__ = name
        self.name = name
        self.fn = fn
        self.weight = weight
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            params = []
        self._takes_all = any(p.kind is p.VAR_KEYWORD for p in params) or not params
        self._names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def __repr__(self) -> str:
        return f"<reward {self.name} weight {self.weight:g}>"

    def _call(self, texts: list[str], kwargs: dict[str, Any]) -> Any:
        # TRL passes `completions=` by keyword; a function whose first parameter has another name gets it first.
        if "completions" in self._names or self._takes_all and not self._names:
            return self.fn(completions=texts, **kwargs)
        return self.fn(texts, **kwargs)

    def _kwargs(self, row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if v is not None and (self._takes_all or k in self._names)}

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **row: Any) -> list:
        texts = [as_text(c) for c in completions]
        prompts = list(prompts) if prompts is not None else [None] * len(texts)
        kwargs = self._kwargs({"prompts": prompts, **row})
        try:
            out = self._call(texts, kwargs)
        except RewardError:
            raise
        except Exception as exc:
            raise self._blame(exc, texts, prompts, kwargs) from None
        return self._check(out, texts, prompts)

    def _blame(self, exc: Exception, texts: list[str], prompts: list[Any], kwargs: dict[str, Any]) -> RewardError:
        """Find the first sample that fails alone, so the message can show it."""
        n = len(texts)
        where = user_frame(exc)
        for i in range(n):
            one = {k: (v[i:i + 1] if isinstance(v, list) and len(v) == n else v) for k, v in kwargs.items()}
            try:
                self._call(texts[i:i + 1], one)
            except Exception as single:
                return RewardError(
                    f"reward function {self.name!r} raised {type(single).__name__}: {single} on sample {i + 1} of {n} "
                    f"(prompt {_short(prompts[i])}, completion {_short(texts[i])}){user_frame(single) or where}")
        return RewardError(f"reward function {self.name!r} raised {type(exc).__name__}: {exc} on a batch of {n} "
                           f"completions (each alone scores fine; first prompt {_short(prompts[0] if prompts else '')})"
                           f"{where}")

    def _check(self, out: Any, texts: list[str], prompts: list[Any]) -> list[float | None]:
        n = len(texts)
        if hasattr(out, "tolist") and not isinstance(out, (list, tuple)):
            out = out.tolist()  # numpy array / torch tensor
        if not isinstance(out, (list, tuple)):
            raise RewardError(f"reward function {self.name!r} returned a {type(out).__name__}; expected a list of {n} "
                              f"numbers, one per completion (first prompt {_short(prompts[0] if prompts else '')})")
        if len(out) != n:
            raise RewardError(f"reward function {self.name!r} returned {len(out)} scores for {n} completions; it must "
                              f"return one per completion (first prompt {_short(prompts[0] if prompts else '')}, "
                              f"completion {_short(texts[0] if texts else '')})")
        scores: list[float | None] = []
        for i, v in enumerate(out):
            if v is None:
                scores.append(None)
                continue
            if isinstance(v, numbers.Real):
                v = float(v)
                if math.isfinite(v):
                    scores.append(v)
                    continue
            elif hasattr(v, "item"):  # 0-d array / tensor
                try:
                    item = v.item()
                except Exception:
                    item = None
                if isinstance(item, numbers.Real) and math.isfinite(float(item)):
                    scores.append(float(item))
                    continue
            raise RewardError(f"reward function {self.name!r} returned {v!r} ({type(v).__name__}) for sample {i + 1} "
                              f"of {n} (prompt {_short(prompts[i])}, completion {_short(texts[i])}); expected a finite "
                              "number, or None when the reward does not apply")
        return scores


def user_frame(exc: BaseException, shown_as: str = "reward") -> str:
    """'; at <reward f> line 3: return 1 / x' for the innermost frame of shipped user code, if any (`shown_as`
    names that code in the message: a reward, an evaluator)."""
    import linecache

    tb, found = exc.__traceback__, ""
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith("<reward "):
            line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            name = code.co_filename.replace("<reward ", f"<{shown_as} ", 1)
            found = f"; at {name} line {tb.tb_lineno}: {line}"
        tb = tb.tb_next
    return found


def check_columns(funcs: Sequence[Any], columns: list[str]) -> None:
    """A built-in reward that reads a column the dataset lacks fails the job before training, naming both."""
    for f in funcs:
        col = getattr(getattr(f, "fn", None), "answer_column", None)
        if col is not None and col not in columns:
            raise JobInputError(f"reward {f.__name__!r} reads column {col!r}, which the dataset does not have "
                                f"(columns: {columns}); set its answer_column")


def build(entries: Sequence[Any]) -> list[RewardFunction]:
    """RewardFunctions for the `rewards` entries of a GRPO/RLAIF options block (spec models or dicts)."""
    from jupyter_ft.core.spec.reward_code import RewardCodeError, load_function
    from jupyter_ft.core.spec.train import reward_name
    from jupyter_ft.core.train.techniques.grpo import GRPOOptions

    models = GRPOOptions(rewards=list(entries)).rewards if entries else []
    out = []
    for r in models:
        name = reward_name(r)
        if r.type == "python":
            try:
                fn = load_function(r.function, r.source)
            except RewardCodeError as exc:
                raise RewardError(str(exc)) from None
        else:
            fn = BUILTINS[r.type](**r.model_dump(exclude={"type", "name", "weight"}))
        out.append(RewardFunction(name, fn, r.weight))
    return out


# --- dry run -------------------------------------------------------------------------------------------------------

@dataclass
class DryRun:
    """Scores of each reward on a few sampled completions: one row per (dataset row, completion)."""

    rewards: list[str]
    weights: list[float]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def __repr__(self) -> str:
        cols = ["row", "completion", *self.rewards, "total"]
        lines = ["  ".join(f"{c:>10}" if c != "completion" else f"{c:<40}" for c in cols)]
        for r in self.rows:
            cells = []
            for c in cols:
                v = r.get(c)
                if c == "completion":
                    t = as_text(v).replace("\n", " ")
                    cells.append(f"{(t[:37] + '...') if len(t) > 40 else t:<40}")
                elif isinstance(v, float):
                    cells.append(f"{v:>10.3f}")
                else:
                    cells.append(f"{'' if v is None else v!s:>10}")
            lines.append("  ".join(cells))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cols = ["row", "prompt", "completion", *self.rewards, "total"]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = []
        for r in self.rows:
            cells = []
            for c in cols:
                v = r.get(c)
                text = f"{v:.3f}" if isinstance(v, float) else as_text(v) if v is not None else ""
                cells.append(f"<td style='text-align:left;white-space:pre-wrap'>{html.escape(text[:400])}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _sample_rows(dataset: Any, split: str, n: int, seed: int, technique: str = "grpo") -> list[dict[str, Any]]:
    """`n` seeded rows of a dataset as the job will read them: through the catalog (the dataset door), so a dry run
    sees the same converted and checked rows, from the same split, as the job."""
    from jupyter_ft.core.workspace import workspace
    from jupyter_ft.core.datasets import door

    version, _ = door.pin(workspace(), dataset, technique, split=split if split not in ("train", "eval") else None)
    ds = version.dataset("train" if split == "train" or not version.num_eval else "eval")
    idx = sorted(random.Random(seed).sample(range(len(ds)), min(n, len(ds))))
    return [dict(ds[i], _row=i + 1) for i in idx]


def _generate(model: str, rows: list[dict[str, Any]], k: int, max_new_tokens: int, temperature: float,
              seed: int) -> list[list[str]]:
    import torch

    from jupyter_ft.serve.engine import Engine

    torch.manual_seed(seed)
    engine = Engine(model)
    return [[engine.generate(r["prompt"], max_new_tokens=max_new_tokens, temperature=temperature)["text"]
             for _ in range(k)] for r in rows]


def dry_run(spec: Any = None, *, rewards: Sequence[Any] | None = None, dataset: str | None = None,
            rows: list[dict[str, Any]] | None = None, completions: Sequence[Any] | None = None,
            model: str | None = None, judge: dict[str, Any] | None = None, n: int = 4, num_generations: int = 2,
            max_new_tokens: int | None = None, temperature: float = 1.0, seed: int = 0) -> DryRun:
    """Score a few completions with the rewards a GRPO/RLAIF job would use, here and now, through the same code
    (a notebook function is shipped as source and loaded back first, exactly as the job will).

    `spec` (a TrainSpec, dict or YAML) supplies rewards, judge, dataset and model; or pass them directly. Rows are
    `n` rows sampled from the dataset (or `rows=`). Completions are `completions=` (a list of strings used for
    every row, or one list per row), or else `num_generations` samples per row from `model` (loads it here).
    Raises the job's own `RewardError` (naming the function and sample) if a reward would fail the job.
    """
    opts: Any = None
    if spec is not None:
        from jupyter_ft.core.train import techniques
        from jupyter_ft.core.spec.train import parse_spec

        parsed = parse_spec(spec)
        opts = parsed.options
        if "rewards" not in type(opts).model_fields:  # any technique whose options list rewards
            with_rewards = [n for n, u in techniques.registry().items() if "rewards" in u.options.model_fields]
            raise ValueError(f"dry_run scores the rewards of {'/'.join(with_rewards)} jobs; this spec's technique "
                             f"is {parsed.technique!r}")
        dataset = dataset or parsed.dataset
        model = model or parsed.model
        split = parsed.dataset_split
        max_new_tokens = (max_new_tokens or getattr(opts, "max_completion_length", None)
                          or getattr(opts, "max_new_tokens", None))
    else:
        split = "train"
    funcs = build(rewards if rewards is not None else (opts.rewards if opts is not None else []))
    judge_spec = judge if judge is not None else getattr(opts, "judge", None)
    if judge_spec is not None:
        from jupyter_ft.core.spec.train import JudgeSpec

        from jupyter_ft.training.judge import JudgeReward

        js = judge_spec if isinstance(judge_spec, JudgeSpec) else JudgeSpec.model_validate(judge_spec)
        funcs.append(JudgeReward(js))
    if not funcs:
        raise ValueError("no rewards to try: pass rewards=[...] (functions, built-in names or entries) or a spec")
    if rows is None:
        if dataset is None:
            raise ValueError("pass dataset= (or rows=[...]) to sample prompts from")
        rows = _sample_rows(dataset, split, n, seed)
    else:
        rows = [dict(r, _row=r.get("_row", i + 1)) for i, r in enumerate(rows[:n])]
    if completions is not None:
        per_row = ([list(completions)] * len(rows) if all(isinstance(c, str) for c in completions)
                   else [list(c) for c in completions])
        if len(per_row) != len(rows):
            raise ValueError(f"completions: {len(per_row)} lists for {len(rows)} rows")
    elif model is not None:
        per_row = _generate(model, rows, num_generations, max_new_tokens or 64, temperature, seed)
    else:
        raise ValueError("pass completions=[...] or a model to sample completions from")

    # One batch laid out as GRPO lays it out: each prompt repeated per completion, columns alongside.
    prompts, texts, row_ids = [], [], []
    columns: dict[str, list[Any]] = {k: [] for k in rows[0] if k not in ("prompt", "_row")} if rows else {}
    for r, comps in zip(rows, per_row):
        for c in comps:
            prompts.append(r.get("prompt"))
            texts.append(c)
            row_ids.append(r["_row"])
            for k in columns:
                columns[k].append(r.get(k))
    result = DryRun([f.__name__ for f in funcs], [f.weight for f in funcs])
    scores = {f.__name__: f(prompts=prompts, completions=texts, **columns) for f in funcs}
    for i, text in enumerate(texts):
        rec: dict[str, Any] = {"row": row_ids[i], "prompt": as_text(prompts[i]), "completion": text}
        total = 0.0
        for f in funcs:
            s = scores[f.__name__][i]
            rec[f.__name__] = s
            total += (s or 0.0) * f.weight
        rec["total"] = total
        result.rows.append(rec)
    return result
