"""Relative paths in a spec mean what they say: resolved at submission against where the submitter stands.

A job runs in its own folder, long after and far from the cell, shell or request that submitted it, so every path a
spec names is stored absolute: a kernel's base is its working directory (the notebook's folder), the CLI's the
shell's, REST's the Jupyter server's root. A path that does not exist is refused here, naming the field, instead
of being queued to fail later. A fetched model's name or a GGUF file becomes its converted folder
(`core.train.model_source`), with where it came from in `auto`. The dataset is resolved by the dataset door
(`datasets.door`).
"""

from __future__ import annotations

from pathlib import Path

from jupyter_ft.core.datasets.door import resolve_path
from jupyter_ft.core.hub import looks_like_path
from jupyter_ft.core.spec.train import SpecError, TrainSpec
from jupyter_ft.core.train import model_source
from jupyter_ft.core.workspace import Workspace


def _model_path(value: str, field: str, base_dir: str | Path | None, errors: list[tuple[str, str]],
                ws: Workspace | None = None, auto: dict[str, str] | None = None,
                progress: model_source.Progress | None = None) -> str:
    """A local model folder as an absolute path; a fetched name or a GGUF as its converted folder (noted in
    `auto`); a hub id unchanged (checked by sizing)."""
    if ws is not None:
        try:
            src = model_source.resolve(value, ws, base_dir, progress)
        except model_source.ModelSourceError as exc:
            errors.append((field, str(exc)))
            return value
        if src is not None:
            if auto is not None:
                auto.update(src.auto(field))
            return src.folder
    p = resolve_path(value, base_dir)
    if p.exists():
        if p.is_dir() and not (p / "config.json").is_file():
            errors.append((field, f"folder {p} has no config.json (not a saved transformers model)"))
        elif p.is_file():
            errors.append((field, f"{p} is a file; a model is a folder holding config.json, a .gguf file, a "
                                  "fetched model's name or a hub id"))
        return str(p)
    if looks_like_path(value):
        errors.append((field, f"path {p} does not exist"))
    return value


def resolve(spec: TrainSpec, base_dir: str | Path | None = None, ws: Workspace | None = None,
            progress: model_source.Progress | None = None) -> TrainSpec:
    """`spec` with `model`, `output_dir` and a local judge's `model` absolute (with `ws`: a fetched name or a GGUF
    as its converted folder). Raises `SpecError` naming each field whose path does not exist (or is not what the
    field needs)."""
    errors: list[tuple[str, str]] = []
    auto = dict(spec.auto)
    update: dict = {"model": _model_path(spec.model, "model", base_dir, errors, ws, auto, progress)}
    if spec.output_dir:
        out = resolve_path(spec.output_dir, base_dir)
        if out.exists() and not out.is_dir():
            errors.append(("output_dir", f"{out} is a file, not a folder"))
        update["output_dir"] = str(out)
    opts = spec.options
    judge = getattr(opts, "judge", None)
    if judge is not None and judge.kind == "local":
        model = _model_path(judge.model, f"{spec.technique}.judge.model", base_dir, errors, ws, auto, progress)
        update[spec.technique] = opts.model_copy(update={"judge": judge.model_copy(update={"model": model})})
    if errors:
        raise SpecError(errors)
    return spec.model_copy(update={**update, "auto": auto})
