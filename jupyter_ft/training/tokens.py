"""Token views of a catalog version with a model's tokenizer: length statistics and the trained-token preview.

Both go through TRL's own dataset preparation (`SFTTrainer._prepare_dataset`, `DPOTrainer._prepare_dataset`)
with the same choices the technique modules make (see `sft.build_trainer`), so the tokens marked as trained are
exactly the ones that carry the loss in a job: chat template, EOS handling, assistant or completion masks and
truncation included. Those methods only read the tokenizer and a few settings from the trainer, which is why a
light stand-in object replaces a full trainer (no model is loaded). Imported lazily: it pulls in TRL.
"""

from __future__ import annotations

import html
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jupyter_ft.core.datasets.catalog import DatasetVersion


def load_tokenizer(model: Any):
    """A tokenizer from a model folder or hub id (or one passed in), with a pad token as jobs set it."""
    if not isinstance(model, (str, Path)):
        return model
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


# --- TRL's preparation, with the technique's choices ---------------------------------------------------------------

def sft_prepare(rows: list[dict[str, Any]], fmt: str, tokenizer, max_length: int | None, completion_only_loss: bool = True):
    """Rows tokenized and labelled exactly as a job's `SFTTrainer` gets them (labels == -100: no loss), and the
    masking rule in words: the technique's own `masking.LossMask`, then TRL's preparation."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    from jupyter_ft.training.masking import LossMask

    mask = LossMask(fmt, tokenizer, completion_only_loss)
    ds = mask.prepare(Dataset.from_list(rows))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SFTConfig(output_dir=tmp, max_length=max_length, report_to=[], use_cpu=True, bf16=False, **mask.config)
    sample = ds[0]
    # what SFTTrainer.__init__ derives before preparing the data
    chat_template = (get_training_chat_template(tokenizer)
                     if cfg.assistant_only_loss and not has_generation_markers(tokenizer.chat_template) else None)
    col = cfg.completion_only_loss if cfg.completion_only_loss is not None else ("prompt" in sample and "completion" in sample)
    shim = SimpleNamespace(_tokenizer=tokenizer, chat_template=chat_template, completion_only_loss=col)
    return SFTTrainer._prepare_dataset(shim, ds, tokenizer, cfg, False, None, "preview"), mask.text


def dpo_prepare(rows: list[dict[str, Any]], tokenizer):
    """Rows tokenized as `DPOTrainer` does: prompt_ids (no loss), chosen_ids and rejected_ids (the loss)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = DPOConfig(output_dir=tmp, max_length=None, report_to=[], use_cpu=True, bf16=False)
    return DPOTrainer._prepare_dataset(SimpleNamespace(_tokenizer=tokenizer), Dataset.from_list(rows), tokenizer, cfg,
                                       "preview")


def prompt_ids(rows: list[dict[str, Any]], tokenizer) -> list[list[int]]:
    """Prompts as a generating trainer (GRPO, RLAIF) feeds them to the model: chat template + generation prompt."""
    out = []
    for r in rows:
        p = r["prompt"]
        if isinstance(p, list):
            ids = tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
        else:
            ids = tokenizer(p)["input_ids"]
        out.append(list(ids))
    return out


# --- trained-token preview -------------------------------------------------------------------------------------------

@dataclass
class TokenSequence:
    """One token sequence of a row; `trained[i]` says whether token i carries the loss."""

    label: str
    ids: list[int]
    tokens: list[str]
    trained: list[bool]

    @property
    def num_trained(self) -> int:
        return sum(self.trained)

    def text(self, start: str = "[[", end: str = "]]") -> str:
        """The sequence as text with the trained stretches wrapped in `start`..`end`."""
        out, inside = [], False
        for tok, t in zip(self.tokens, self.trained):
            if t != inside:
                out.append(start if t else end)
                inside = t
            out.append(tok)
        if inside:
            out.append(end)
        return "".join(out)

    def html(self) -> str:
        spans = []
        for tok, t in zip(self.tokens, self.trained):
            style = ("background:#c8f7c5;color:#05400a" if t else "background:#eee;color:#777")
            spans.append(f'<span title="{"trained" if t else "masked"}" style="{style};white-space:pre-wrap;'
                         f'border-right:1px solid #fff">{html.escape(tok)}</span>')
        return (f"<div><b>{html.escape(self.label)}</b>: {len(self.ids)} tokens, {self.num_trained} trained"
                f"<div style='font-family:monospace;line-height:1.6'>{''.join(spans)}</div></div>")


@dataclass
class TokenPreview:
    ref: str
    row: int
    split: str
    format: str
    loss: str                        # which tokens carry the loss, in words
    sequences: list[TokenSequence] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{self.ref} {self.split} row {self.row} ({self.format}): loss on {self.loss}; [[trained]] tokens marked"
        return "\n".join([head] + [f"--- {s.label} ({s.num_trained}/{len(s.ids)} trained)\n{s.text()}" for s in self.sequences])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        legend = ("<span style='background:#c8f7c5'>trained</span> "
                  "<span style='background:#eee;color:#777'>masked</span>")
        return (f"<div><div>{html.escape(self.ref)} · {self.split} row {self.row} · {html.escape(self.format)} · "
                f"loss on {html.escape(self.loss)} · {legend}</div>"
                + "".join(s.html() for s in self.sequences) + "</div>")


def _pieces(tokenizer, ids: list[int]) -> list[str]:
    return [tokenizer.decode([i]) for i in ids]


def trained_tokens(version: DatasetVersion, model: Any, row: int = 0, split: str = "train", max_length: int | None = 1024,
                   completion_only_loss: bool = True) -> TokenPreview:
    """Row `row` of a split, tokenized for training with `model`'s tokenizer, each token marked trained or masked."""
    total = version.split_rows(split)
    if not 0 <= row < total:
        raise IndexError(f"row {row} is out of range: {version.ref} {split} has {total} rows")
    rows = version.rows(row, 1, split)
    tok = load_tokenizer(model)
    with _quiet():
        return _trained_tokens(version, rows, tok, row, split, max_length, completion_only_loss)


class _quiet:
    """No `datasets` progress bars for a one-row preparation."""

    def __enter__(self):
        from datasets.utils import logging as dl

        self.was = dl.is_progress_bar_enabled()
        dl.disable_progress_bar()

    def __exit__(self, *exc):
        from datasets.utils import logging as dl

        if self.was:
            dl.enable_progress_bar()


def _trained_tokens(version, rows, tok, row, split, max_length, completion_only_loss) -> TokenPreview:
    if version.kind == "sft":
        prepared, rule = sft_prepare(rows, version.format, tok, max_length, completion_only_loss)
        if len(prepared) == 0:
            return TokenPreview(version.ref, row, split, version.format, rule + f"; no trained token left after "
                                f"truncation to max_length={max_length}: the job drops this row (and counts it)")
        ex = prepared[0]
        ids = list(ex["input_ids"])
        seq = TokenSequence("sequence", ids, _pieces(tok, ids), [lab != -100 for lab in ex["labels"]])
        return TokenPreview(version.ref, row, split, version.format, rule, [seq])
    if version.kind == "preference":
        ex = dpo_prepare(rows, tok)[0]
        seqs = []
        for side in ("chosen", "rejected"):
            ids = list(ex["prompt_ids"]) + list(ex[f"{side}_ids"])
            mask = [False] * len(ex["prompt_ids"]) + [True] * len(ex[f"{side}_ids"])
            if max_length is not None:  # DPO's collator keeps the start
                ids, mask = ids[:max_length], mask[:max_length]
            seqs.append(TokenSequence(f"prompt + {side}", ids, _pieces(tok, ids), mask))
        return TokenPreview(version.ref, row, split, version.format,
                            "the chosen and the rejected answer (the prompt is context)", seqs)
    ids = prompt_ids(rows, tok)[0]
    return TokenPreview(version.ref, row, split, version.format,
                        "nothing in the dataset: generating techniques (GRPO, RLAIF) train on the model's own completions "
                        "to this prompt", [TokenSequence("prompt", ids, _pieces(tok, ids), [False] * len(ids))])


# --- token statistics --------------------------------------------------------------------------------------------------

@dataclass
class TokenStats:
    ref: str
    split: str
    max_length: int
    rows: int                 # rows in the split
    measured: int             # rows tokenized (a seeded sample when the split is larger than the limit)
    lengths: Any              # numpy array of token lengths of the measured rows
    over: int                 # measured rows longer than max_length (TRL truncates them)
    histogram: dict[str, list] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        import numpy as np

        q = np.percentile(self.lengths, [50, 90, 99]) if len(self.lengths) else [0, 0, 0]
        return {"ref": self.ref, "split": self.split, "rows": self.rows, "measured": self.measured,
                "max_length": self.max_length, "over_max_length": self.over,
                "over_fraction": self.over / self.measured if self.measured else 0.0,
                "min": int(self.lengths.min()) if len(self.lengths) else 0, "mean": float(self.lengths.mean()) if len(self.lengths) else 0.0,
                "p50": float(q[0]), "p90": float(q[1]), "p99": float(q[2]),
                "max": int(self.lengths.max()) if len(self.lengths) else 0, "histogram": self.histogram}

    def __str__(self) -> str:
        s = self.summary()
        counts, edges = self.histogram["counts"], self.histogram["edges"]
        top = max(counts) if counts else 1
        bars = [f"{edges[i]:>7.0f}-{edges[i + 1]:<7.0f} {'#' * round(30 * c / top):<30} {c}" for i, c in enumerate(counts)]
        sample = f" (a sample of {self.measured} of {self.rows} rows)" if self.measured < self.rows else ""
        return (f"{self.ref} {self.split}: tokens per row{sample}: min {s['min']}, mean {s['mean']:.0f}, p50 {s['p50']:.0f}, "
                f"p90 {s['p90']:.0f}, p99 {s['p99']:.0f}, max {s['max']}\n{self.over} rows "
                f"({s['over_fraction']:.1%}) exceed max_length={self.max_length} and are truncated\n" + "\n".join(bars))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"


def row_lengths(version: DatasetVersion, rows: list[dict[str, Any]], tok) -> list[int]:
    """Tokens per row as the technique trains on them, before truncation (preference: prompt + longer answer)."""
    if not rows:
        return []
    if version.kind == "sft":
        prepared, _ = sft_prepare(rows, version.format, tok, None)
        return [len(x) for x in prepared["input_ids"]]
    if version.kind == "preference":
        p = dpo_prepare(rows, tok)
        return [len(a) + max(len(b), len(c)) for a, b, c in zip(p["prompt_ids"], p["chosen_ids"], p["rejected_ids"])]
    return [len(x) for x in prompt_ids(rows, tok)]


def token_stats(version: DatasetVersion, model: Any, max_length: int = 1024, split: str = "train",
                limit: int | None = 10_000, bins: int = 20, seed: int = 0) -> TokenStats:
    import numpy as np

    total = version.split_rows(split)
    ds = version.dataset(split)
    if limit is not None and total > limit:
        idx = np.sort(np.random.default_rng(seed).choice(total, size=limit, replace=False))
        ds = ds.select(idx)
    tok = load_tokenizer(model)
    lengths = np.asarray(row_lengths(version, ds.to_list(), tok), dtype=np.int64)
    if len(lengths):
        counts, edges = np.histogram(lengths, bins=min(bins, max(1, len(np.unique(lengths)))))
    else:
        counts, edges = np.array([]), np.array([0, 0])
    return TokenStats(version.ref, split, max_length, total, len(lengths), lengths, int((lengths > max_length).sum()),
                      {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]})


class TokenStatsError(ValueError):
    """A mistake in what was asked to measure, naming the field to fix (`model`)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def dataset_token_stats(ws: Any, ref: str | DatasetVersion, model: Any, max_length: int = 1024, split: str = "train",
                        limit: int | None = 10_000) -> TokenStats:
    """Token statistics of a catalog version (`name@version` or a `DatasetVersion`) against `model`'s tokenizer: the
    one path of `ft.datasets.token_stats` and the Studio's tokens route. An unknown dataset raises the catalog's
    error; a tokenizer that cannot load or cannot tokenize these rows raises `TokenStatsError` naming `model`."""
    from jupyter_ft.core.datasets import catalog

    version = catalog.get(ws, ref)
    try:
        tok = load_tokenizer(model)
    except Exception as exc:
        raise TokenStatsError("model", f"cannot load a tokenizer from {model!r}: {type(exc).__name__}: {exc}"[:2000]
                              ) from exc
    try:
        return token_stats(version, tok, max_length=max_length, split=split, limit=limit)
    except Exception as exc:  # e.g. a chat template that rejects these rows
        raise TokenStatsError("model", f"tokenizing {version.ref} with {model!r} failed: {type(exc).__name__}: "
                                       f"{exc}"[:2000]) from exc
