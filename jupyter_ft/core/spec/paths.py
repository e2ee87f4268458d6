"""Relative paths in a spec mean what they say: resolved at submission against where the submitter stands.

A job runs in its own folder, long after and far from the cell, shell or request that submitted it, so every path a
spec names is stored absolute: a kernel's base is its working directory (the notebook's folder), the CLI's the
shell's, REST's the Jupyter server's root. A path that does not exist is refused here, naming the field, instead
of being queued to fail later. The dataset is resolved by the dataset door (`datasets.door`).
"""

from __future__ import annotations

from pathlib import Path

from jupyter_ft.core.datasets.door import resolve_path
from jupyter_ft.core.hub import looks_like_path
from jupyter_ft.core.spec.train import SpecError, TrainSpec


def _model_path(value: str, field: str, base_dir: str | Path | None, errors: list[tuple[str, str]]) -> str:
    """A local model folder as an absolute path; a hub id unchanged (checked by sizing)."""
    p = resolve_path(value, base_dir)
    if p.exists():
        if p.is_dir() and not (p / "config.json").is_file():
            errors.append((field, f"folder {p} has no config.json (not a saved transformers model)"))
        elif p.is_file():
            errors.append((field, f"{p} is a file; a model is a folder holding config.json (or a hub id)"))
        return str(p)
    if looks_like_path(value):
        errors.append((field, f"path {p} does not exist"))
    return value


def resolve(spec: TrainSpec, base_dir: str | Path | None = None) -> TrainSpec:
    """`spec` with `model`, `output_dir` and a local judge's `model` absolute. Raises `SpecError` naming each
    field whose path does not exist (or is not what the field needs)."""
    errors: list[tuple[str, str]] = []
    update: dict = {"model": _model_path(spec.model, "model", base_dir, errors)}
    if spec.output_dir:
        out = resolve_path(spec.output_dir, base_dir)
        if out.exists() and not out.is_dir():
            errors.append(("output_dir", f"{out} is a file, not a folder"))
        update["output_dir"] = str(out)
    opts = spec.options
    judge = getattr(opts, "judge", None)
    if judge is not None and judge.kind == "local":
        model = _model_path(judge.model, f"{spec.technique}.judge.model", base_dir, errors)
        update[spec.technique] = opts.model_copy(update={"judge": judge.model_copy(update={"model": model})})
    if errors:
        raise SpecError(errors)
    return spec.model_copy(update=update)
