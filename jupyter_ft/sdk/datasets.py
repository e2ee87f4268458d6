"""`ft.datasets`: the dataset catalog from Python (the same core calls REST and the widgets make).

    import jupyter_ft as ft
    v = ft.datasets.add("chat.jsonl", name="chat", technique="sft")     # -> DatasetVersion chat@3f2a9c1b7d0e
    ft.datasets.add(df, name="qa", technique="sft", mapping={"prompt": "question", "completion": "answer"})
    ft.datasets.add("HuggingFaceH4/ultrafeedback_binarized", split="train_prefs", technique="preference")
    ft.datasets.add_demo("human-like")                                  # 1,200 warm-vs-formal preference rows
    ft.datasets.list(); ft.datasets.versions("chat"); ft.datasets.get("chat@3f2a")
    ft.datasets.token_stats("chat", model="./tiny-llama", max_length=512)
    ft.datasets.trained_tokens("chat", model="./tiny-llama", row=0)     # tokens that carry the loss, marked
    ft.train(model="./tiny-llama", dataset="chat", technique="sft")     # pinned to chat@<latest> at submission

Importing this module is cheap; pyarrow, datasets and tokenizers load on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_ft.core.datasets import catalog, demo_data, human_like
from jupyter_ft.core.workspace import Workspace, workspace as _workspace
from jupyter_ft.core.datasets.catalog import DatasetVersion
from jupyter_ft.core.datasets.door import StderrProgress
from jupyter_ft.core.datasets.errors import DatasetImportError, DatasetNotFound, DatasetValidationError

__all__ = ["DatasetVersion", "DatasetImportError", "DatasetNotFound", "DatasetValidationError", "add", "add_demo",
           "get", "list", "versions", "rows", "token_stats", "trained_tokens", "DEMOS"]

_list = list


def _ws(ws: Workspace | str | Path | None):
    return _workspace(ws)


_Progress = StderrProgress


def add(source: Any, name: str | None = None, technique: str | None = None, *, mapping: dict[str, str] | None = None,
        drop_invalid: bool = False, eval_fraction: float = 0.1, seed: int = 42,
        max_chars: int | None = catalog.DEFAULT_MAX_CHARS, config: str | None = None, split: str | None = None,
        revision: str | None = None, progress: bool = True, ws: Workspace | str | Path | None = None) -> DatasetVersion:
    """Add a version of a dataset to the workspace catalog and return it.

    `source`: a .jsonl/.json/.csv/.tsv/.parquet file, a local dataset folder, a hub id (with `config`, `split`,
    `revision`), a pandas DataFrame, a `datasets.Dataset` or a list of row dicts. `technique` (sft, dpo, grpo, ...)
    or a data kind (sft, preference, prompt) says which formats to look for; left out, the kind is detected.
    `mapping` names columns ({"prompt": "question"}). Invalid rows raise `DatasetValidationError` with row numbers,
    unless `drop_invalid=True`. Identical content returns the existing version.
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else "dataset")
    bar = _Progress(f"adding {label}") if progress else None
    try:
        return catalog.add(_ws(ws), source, name, technique, mapping=mapping, drop_invalid=drop_invalid,
                           eval_fraction=eval_fraction, seed=seed, max_chars=max_chars, config=config, split=split,
                           revision=revision, progress=bar)
    finally:
        if bar:
            bar.end()


DEMOS = {
    "human-like": ("preference", lambda n, seed: demo_data.preference_rows(n or 1200, seed)),
    "human-like-prompts": ("prompt", lambda n, seed: human_like.eval_prompt_rows(n)),
    "capitals": ("sft", lambda n, seed: demo_data.sft_rows(n or 64, seed)),
}
CARDS = {"human-like": human_like.CARD, "human-like-prompts": human_like.PROMPTS_CARD}


def add_demo(name: str = "human-like", n: int | None = None, seed: int = 0, *, eval_fraction: float = 0.1,
             ws: Workspace | str | Path | None = None) -> DatasetVersion:
    """Register a demo dataset shipped with the package: `human-like` (conversational prompts, the same helpful
    answer warm and informal as `chosen`, stiff and formal as `rejected`; 1,200 rows by default),
    `human-like-prompts` (60 everyday questions on topics no `human-like` row touches, all held out: for measuring
    the change on unseen prompts) or `capitals` (SFT chat rows). How each was made is in its `card`."""
    if name not in DEMOS:
        raise DatasetImportError(f"no demo dataset {name!r}; demos: {', '.join(DEMOS)}", field="name")
    kind, make = DEMOS[name]
    if name == "human-like-prompts":
        eval_fraction = 0.0  # every prompt is for evaluation: split "all" or "train" reads them
    info = {"type": "demo", "demo": name, "n": n, "seed": seed, **({"card": CARDS[name]} if name in CARDS else {})}
    return catalog.add(_ws(ws), make(n, seed), name, kind, eval_fraction=eval_fraction, source_info=info)


def list(ws: Workspace | str | Path | None = None) -> _list[DatasetVersion]:  # noqa: A001 (ft.datasets.list)
    """The latest version of every dataset in the catalog."""
    return catalog.list_datasets(_ws(ws))


def versions(name: str, ws: Workspace | str | Path | None = None) -> _list[DatasetVersion]:
    """Every version of one dataset, newest first."""
    return catalog.versions(_ws(ws), name)


def get(ref: str | DatasetVersion, ws: Workspace | str | Path | None = None) -> DatasetVersion:
    """`name@version` (a unique prefix of the version is enough) or `name` for the latest version."""
    return catalog.get(_ws(ws), ref)


def rows(ref: str | DatasetVersion, offset: int = 0, limit: int = 20, split: str = "train",
         ws: Workspace | str | Path | None = None) -> _list[dict[str, Any]]:
    """A page of stored rows (as TRL will read them), without loading the rest."""
    return get(ref, ws).rows(offset, limit, split)


def token_stats(ref: str | DatasetVersion, model: str, max_length: int = 1024, split: str = "train",
                limit: int | None = 10_000, ws: Workspace | str | Path | None = None):
    """Token lengths of the rows as the technique tokenizes them with `model`'s tokenizer: histogram, percentiles,
    and how many rows exceed `max_length` (measured on up to `limit` rows, a seeded sample). A tokenizer that cannot
    load or tokenize these rows raises a `ValueError` naming the model."""
    from jupyter_ft.training.tokens import dataset_token_stats

    return dataset_token_stats(_ws(ws), ref, _model_folder(model, ws), max_length=max_length, split=split, limit=limit)


def trained_tokens(ref: str | DatasetVersion, model: str, row: int = 0, split: str = "train", max_length: int = 1024,
                   completion_only_loss: bool = True, ws: Workspace | str | Path | None = None):
    """One row rendered through `model`'s chat template, each token marked as trained (carries the loss) or masked,
    exactly as TRL prepares it for training."""
    from jupyter_ft.training.tokens import trained_tokens as _tokens

    return _tokens(get(ref, ws), _model_folder(model, ws), row=row, split=split, max_length=max_length,
                   completion_only_loss=completion_only_loss)


def _model_folder(model: Any, ws: Workspace | str | Path | None) -> Any:
    """A fetched model's name or a GGUF as its converted folder (`core.train.model_source`); anything else as is."""
    from jupyter_ft.core.train import model_source

    src = model_source.resolve(model, _ws(ws)) if isinstance(model, str) else None
    return src.folder if src is not None else model
