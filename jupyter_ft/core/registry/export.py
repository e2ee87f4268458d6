"""Export a tuned model as a plain Hugging Face folder (merged weights, or the adapter) with a model card stating its
lineage, plus GGUF and an Ollama `Modelfile` when llama.cpp's converter is installed.

    ft.export("chat-sft@3", "exports/chat-sft", merge=True)     # registered version, alias, job id or adapter folder

Everything that can be checked without torch is checked here, before any weights load: what the reference names
(a registered version, a job's output, an adapter or model folder; an unknown one lists the known), the target
folder (a non-empty one is refused unless `overwrite=True`), the free disk space, and GGUF's converter. The torch
work (`jupyter_ft.training.export`) runs in its own process: a 7B merge needs twice the model in memory, and that
memory must not stay with the kernel or the Jupyter server; its progress comes back line by line. The export is
written into a temporary folder beside the target and moved into place only when complete, so a failure (or a
kill) never leaves half a model where the old one was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.metrics import final_metrics
from jupyter_ft.core.registry import versions as registry
from jupyter_ft.core.hub import looks_like_path
from jupyter_ft.core.workspace import Workspace

ProgressFn = Callable[[dict[str, Any]], None]

# Where llama.cpp's converter is looked for (a checkout holds `convert_hf_to_gguf.py` at its root).
LLAMA_CPP_ENV = "JUPYTER_FT_LLAMA_CPP"
CONVERTER = "convert_hf_to_gguf.py"
GGUF_OUTTYPES = ("f32", "f16", "bf16", "q8_0", "auto")
GGUF_HOWTO = (
    "GGUF export needs llama.cpp's converter: `git clone https://github.com/ggml-org/llama.cpp` and "
    f"`pip install -r llama.cpp/requirements/requirements-convert_hf_to_gguf.txt` (it brings the `gguf` package), "
    f"then set {LLAMA_CPP_ENV}=/path/to/llama.cpp (or put {CONVERTER} on PATH)")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


class ExportError(ValueError):
    """An export that cannot be done as asked: the message names the field (`ref`, `path`, `gguf`, ...)."""

    def __init__(self, field: str, message: str, not_found: bool = False):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.not_found = not_found  # the reference names nothing (REST: 404)


@dataclass
class ExportSource:
    """What a reference names, with the lineage the card states. `path` is the adapter folder (`kind="adapter"`)
    or the full model folder (`kind="full"`)."""

    ref: str
    label: str
    kind: str                       # "adapter" | "full"
    path: str
    base_model: str | None
    base_revision: str | None = None
    registered: str | None = None   # "name@3" when it came from the registry
    aliases: list[str] = field(default_factory=list)
    technique: str | None = None
    job_id: str | None = None
    run_id: str | None = None
    mlflow_url: str | None = None
    dataset: str | None = None
    dataset_digest: str | None = None
    split: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float | None = None


@dataclass
class ExportPlan:
    """Everything the worker process needs, as JSON: checked sources and targets, the card's text."""

    source: ExportSource
    target: str
    tmp: str
    merge: bool
    overwrite: bool
    gguf: str | None                # the converter script, or None
    gguf_outtype: str
    card: str
    notes: list[str]
    log: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ExportPlan:
        d = json.loads(text)
        d["source"] = ExportSource(**d["source"])
        return cls(**d)


@dataclass
class ExportResult:
    """An export on disk: its folder, the files in it, the GGUF file and Ollama `Modelfile` (when written) and the
    model card's text. `notes` says what was left out and why (e.g. GGUF without a converter)."""

    path: Path
    files: list[str]
    gguf_path: Path | None
    modelfile: Path | None
    card: str
    merged: bool
    source: str
    seconds: float
    peak_rss_bytes: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "files": self.files, "gguf_path": str(self.gguf_path) if self.gguf_path else None,
                "modelfile": str(self.modelfile) if self.modelfile else None, "card": self.card, "merged": self.merged,
                "source": self.source, "seconds": self.seconds, "peak_rss_bytes": self.peak_rss_bytes,
                "notes": self.notes}

    def __repr__(self) -> str:
        what = "merged model" if self.merged else "adapter"
        extra = f" + {self.gguf_path.name}" if self.gguf_path else ""
        return f"<ExportResult {what} of {self.source} at {self.path}: {len(self.files)} files{extra}>"


# --- what the reference names ---------------------------------------------------------------------------------

def _folder_kind(folder: Path) -> str | None:
    if (folder / "adapter_config.json").is_file():
        return "adapter"
    if (folder / "config.json").is_file():
        return "full"
    return None


def _adapter_base(folder: Path) -> str | None:
    try:
        return json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None


def _evaluation(ws: Workspace, rec: jobstore.JobRecord, entries: set[str]) -> dict[str, Any]:
    """One evaluation job with its metrics for the model named by any of `entries` (job id, name@N, folder)."""
    from jupyter_ft.core.evaluate import submit as evaluation

    res = evaluation.results(ws, rec.id)
    labels = {label for label, entry in (res.get("model_refs") or {}).items() if str(entry) in entries}
    labels |= {e for e in entries if e in res.get("models", [])}
    metrics = [m for m in res.get("metrics", []) if m.get("model") in labels and m.get("value") is not None]
    return {"id": rec.id, "state": rec.state, "dataset": rec.spec.get("dataset"),
            "metrics": [{k: m.get(k) for k in ("evaluator", "metric", "value", "ci_low", "ci_high", "n")}
                        for m in metrics]}


def _evaluations_of(ws: Workspace, entries: set[str], linked: list[str] = ()) -> list[dict[str, Any]]:
    """Every evaluation job that scored the model: those the registry linked to the version (`linked`) and those
    whose spec names it (a job id or folder), each once, oldest first."""
    entries = {e for e in entries if e}
    ids = list(dict.fromkeys(linked))
    for rec in jobstore.list_jobs(ws):
        if rec.kind == "eval" and entries & {str(m) for m in rec.spec.get("models", [])} and rec.id not in ids:
            ids.append(rec.id)
    found = []
    for job_id in ids:
        try:
            found.append(_evaluation(ws, jobstore.get(ws, job_id), entries))
        except jobstore.JobNotFound:
            continue
    return found


def _dataset_facts(ws: Workspace, ref: str | None) -> tuple[str | None, dict[str, Any]]:
    if not ref:
        return None, {}
    from jupyter_ft.core.datasets import catalog

    try:
        v = catalog.get(ws, ref)
    except Exception:  # a dataset since removed from the catalog: the card still names the reference
        return None, {}
    split = v.split
    return v.meta.get("digest"), {k: split.get(k) for k in ("seed", "eval_fraction", "num_train", "num_eval")}


def _from_job(ws: Workspace, rec: jobstore.JobRecord, ref: str) -> ExportSource:
    from jupyter_ft.core.tracking import job_run_url

    if rec.kind == "eval":
        raise ExportError("ref", f"{rec.id} is an evaluation job; name a training job, a registered model or a folder")
    out = Path(rec.spec.get("output_dir") or ws.job_dir(rec.id) / "output")
    if rec.state != "succeeded" or not out.is_dir():
        raise ExportError("ref", f"job {rec.id} is {rec.state}; its model is written when it succeeds")
    kind = _folder_kind(out)
    if kind is None:
        raise ExportError("ref", f"job {rec.id}'s output folder {out} holds neither adapter_config.json nor config.json")
    digest, split = _dataset_facts(ws, rec.spec.get("dataset"))
    return ExportSource(
        ref=ref, label=rec.name or rec.id, kind=kind, path=str(out),
        base_model=rec.spec.get("model") if kind == "adapter" else (_adapter_base(out) or rec.spec.get("model")),
        technique=rec.technique, job_id=rec.id, run_id=rec.mlflow_run_id, mlflow_url=job_run_url(rec),
        dataset=rec.spec.get("dataset"), dataset_digest=digest, split=split, metrics=final_metrics(ws, rec.id),
        evaluations=_evaluations_of(ws, {rec.id, str(out)}), spec=rec.spec, created_at=rec.finished_at)


def _from_version(ws: Workspace, mv: Any, ref: str) -> ExportSource:
    """A registry `ModelVersion`, enriched from its job when the job is in this workspace."""
    registered = f"{mv.name}@{mv.version}"
    tags = dict(mv.tags or {})
    src = ExportSource(
        ref=ref, label=registered, kind=mv.kind, path=str(mv.path), base_model=mv.base_model,
        base_revision=mv.base_revision or None, registered=registered, aliases=list(mv.aliases or []),
        technique=mv.technique, job_id=mv.job_id, run_id=mv.run_id, dataset=mv.dataset, tags=tags,
        metrics=dict(getattr(mv, "metrics", None) or {}), created_at=mv.created_at)
    rec = None
    if mv.job_id:
        try:
            rec = jobstore.get(ws, mv.job_id)
        except jobstore.JobNotFound:
            rec = None
    if rec is not None:
        from jupyter_ft.core.tracking import job_run_url

        src.spec, src.mlflow_url = rec.spec, job_run_url(rec)
        src.metrics = src.metrics or final_metrics(ws, rec.id)
    linked = [t for _, t in registry.links(ws, registered, "evaluation")]
    src.evaluations = _evaluations_of(ws, {registered, ref, mv.job_id or "", str(mv.path)}, linked)
    src.dataset_digest, src.split = _dataset_facts(ws, mv.dataset)
    src.dataset_digest = src.dataset_digest or tags.get("jupyter_ft.dataset_digest") or None
    if not src.metrics:
        src.metrics = {k.split(".", 2)[-1]: float(v) for k, v in tags.items()
                       if k.startswith("jupyter_ft.metric.") and _is_number(v)}
    return src


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def resolve_source(ws: Workspace, ref: str, base_dir: str | Path | None = None) -> ExportSource:
    """What `ref` names: a registered `name`, `name@version` or `name@alias`, a job id (its output), or an adapter
    or model folder (relative to `base_dir`, the caller's folder). Anything else is refused listing the known."""
    text = str(ref).strip()
    if not text:
        raise ExportError("ref", "name the model to export: a registered name@version, a job id or a folder")
    if registry.is_ref(ws, text):
        try:
            version = registry.resolve(ws, text)
        except ValueError as exc:  # registry.UnknownModel: an unknown version or alias of a known name
            raise ExportError("ref", str(exc), not_found=True) from None
        return _from_version(ws, version, text)
    try:
        rec = jobstore.get(ws, text)
    except jobstore.JobNotFound:
        rec = None
    if rec is not None:
        state = registry.registration_state(ws, rec)
        if state and state.get("state") == "registered":  # the same card as for its name@version
            return _from_version(ws, registry.resolve(ws, state["model"]), text)
        return _from_job(ws, rec, text)
    folder = Path(text).expanduser()
    if not folder.is_absolute():
        folder = Path(base_dir or Path.cwd()) / folder
    if folder.is_dir():
        kind = _folder_kind(folder)
        if kind is None:
            raise ExportError("ref", f"folder {text} holds neither adapter_config.json (an adapter) nor config.json "
                                     "(a model)")
        base = _adapter_base(folder) if kind == "adapter" else None
        if kind == "adapter" and not base:
            raise ExportError("ref", f"adapter {text}: adapter_config.json names no base_model_name_or_path")
        return ExportSource(ref=text, label=folder.name, kind=kind, path=str(folder.resolve()), base_model=base)
    known = f"; registered models: {', '.join(registry.known_names(ws)) or 'none yet'}"
    jobs = [r.id for r in jobstore.list_jobs(ws, ["succeeded"]) if r.kind != "eval"][:5]
    hint = f"; succeeded jobs: {', '.join(jobs)}" if jobs else ""
    where = "no such folder" if looks_like_path(text) else "no registered model, job or folder of that name"
    raise ExportError("ref", f"{text!r}: {where}{known}{hint}", not_found=True)


# --- the target folder, the disk, the converter ---------------------------------------------------------------

def check_target(path: str | Path, overwrite: bool, source: ExportSource | None = None,
                 base_dir: str | Path | None = None) -> Path:
    """The absolute target folder, or an `ExportError` naming it: a file, a non-empty folder without
    `overwrite=True`, the model's own folder, or a parent that cannot be written."""
    if path is None or not str(path).strip():
        raise ExportError("path", "name the folder to write the export into")
    target = Path(str(path)).expanduser()
    if not target.is_absolute():
        target = Path(base_dir or Path.cwd()) / target
    target = Path(os.path.abspath(target))
    if target.exists() and not target.is_dir():
        raise ExportError("path", f"{target} is a file, not a folder")
    if source is not None:
        src = Path(source.path).resolve()
        if target.resolve() == src or target.resolve() in src.parents:
            raise ExportError("path", f"{target} holds the model being exported ({src}); choose another folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ExportError("path", f"folder {target} is not empty; pass overwrite=True (CLI: --overwrite) to replace "
                                  "it, or name a new folder")
    parent = next((p for p in [target, *target.parents] if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):
        raise ExportError("path", f"cannot write into {parent or target}: permission denied")
    return target


def _weights_bytes(folder: str | Path | None) -> int:
    if not folder or not Path(folder).is_dir():
        return 0
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())


def check_space(target: Path, source: ExportSource, merge: bool, gguf: bool) -> int:
    """Refuse an export the disk cannot hold (the merged weights are about the base's size; GGUF as much again)."""
    need = _weights_bytes(source.path)
    if merge and source.kind == "adapter":
        need += _weights_bytes(source.base_model)
    need = int(need * (2.1 if gguf else 1.1))
    probe = next(p for p in [target, *target.parents] if p.exists())
    free = shutil.disk_usage(probe).free
    if need and free < need:
        raise ExportError("path", f"{probe} has {free / 2**30:.2f} GiB free; this export needs about "
                                  f"{need / 2**30:.2f} GiB")
    return need


def find_gguf_converter() -> Path | None:
    """llama.cpp's `convert_hf_to_gguf.py`: in the checkout `$JUPYTER_FT_LLAMA_CPP` names, else on PATH."""
    root = os.environ.get(LLAMA_CPP_ENV)
    if root:
        for cand in (Path(root).expanduser() / CONVERTER, Path(root).expanduser()):
            if cand.is_file() and cand.name == CONVERTER:
                return cand.resolve()
    found = shutil.which(CONVERTER)
    return Path(found).resolve() if found else None


def _gguf_python_missing(converter: Path) -> str | None:
    """The converter imports the `gguf` package: a llama.cpp checkout has it in `gguf-py/` beside the script,
    else it must be installed. Said before a model is loaded for nothing."""
    import importlib.util

    if (converter.parent / "gguf-py" / "gguf").is_dir() or importlib.util.find_spec("gguf"):
        return None
    return (f"{converter} needs the `gguf` Python package: use it from a llama.cpp checkout (it has gguf-py/) or "
            "`pip install gguf`")


# --- plan and run ------------------------------------------------------------------------------------------------

def plan(ws: Workspace, ref: str, path: str | Path, *, merge: bool = True, overwrite: bool = False,
         gguf: bool | str | None = None, base_dir: str | Path | None = None) -> ExportPlan:
    """Check everything that can be checked without loading a model, and say exactly what will be written.
    `gguf`: None = also GGUF when llama.cpp's converter is installed, True = required (refused without it),
    False = never, or an outtype (`"q8_0"`, `"f16"`, ...) which implies True."""
    from jupyter_ft.core.registry.card import model_card

    if not isinstance(merge, bool):
        raise ExportError("merge", f"must be true or false, got {merge!r}")
    if not isinstance(overwrite, bool):
        raise ExportError("overwrite", f"must be true or false, got {overwrite!r}")
    outtype = "f16"
    if isinstance(gguf, str):
        if gguf not in GGUF_OUTTYPES:
            raise ExportError("gguf", f"{gguf!r} is not a GGUF type; use one of {', '.join(GGUF_OUTTYPES)}")
        gguf, outtype = True, gguf
    if gguf is not None and not isinstance(gguf, bool):
        raise ExportError("gguf", f"must be true, false, a GGUF type or left out, got {gguf!r}")
    source = resolve_source(ws, ref, base_dir)
    target = check_target(path, overwrite, source, base_dir)
    notes: list[str] = []
    converter = None
    if gguf is not False:
        converter = find_gguf_converter()
        missing = GGUF_HOWTO if converter is None else _gguf_python_missing(converter)
        if missing and gguf:
            raise ExportError("gguf", missing)
        if missing:
            notes.append(f"no GGUF written: {missing}")
            converter = None
        if converter is not None and not merge and source.kind == "adapter":
            if gguf:
                raise ExportError("gguf", "GGUF holds whole models: export with merge=True to get a GGUF file")
            converter = None
            notes.append("no GGUF written: merge=False exports the adapter; GGUF needs merge=True")
    if source.kind == "full" and not merge:
        notes.append("the model is a full fine-tune (no adapter): merge=False writes its full weights")
    check_space(target, source, merge, converter is not None)
    exports = ws.root / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    merged = merge or source.kind == "full"
    return ExportPlan(source=source, target=str(target), tmp=str(target.parent / f".{target.name}.export-{stamp}"),
                      merge=merged, overwrite=overwrite, gguf=str(converter) if converter else None,
                      gguf_outtype=outtype, card=model_card(source, merged=merged), notes=notes,
                      log=str(exports / f"{stamp}.log"))


def print_progress(event: dict[str, Any]) -> None:
    """The default progress display: one line per stage (`export 3/6: merging the adapter ... 4.1 s`)."""
    if "stage" in event:
        print(f"export {event.get('step', '?')}/{event.get('steps', '?')}: {event['stage']} "
              f"({event.get('elapsed', 0):.1f} s)", flush=True)


def run(p: ExportPlan, progress: ProgressFn | None = print_progress, timeout: float | None = None) -> ExportResult:
    """Run the worker process on a plan, relaying its progress; move the finished folder into place."""
    plan_file = Path(p.log).with_suffix(".plan.json")
    plan_file.write_text(p.to_json())
    t0 = time.monotonic()
    final: dict[str, Any] | None = None
    error: str | None = None
    with open(p.log, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "jupyter_ft.training.export", str(plan_file)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if "error" in event:
                    error = event["error"]
                elif "result" in event:
                    final = event["result"]
                elif progress is not None:
                    progress(event)
            proc.wait(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            shutil.rmtree(p.tmp, ignore_errors=True)
            raise
    if proc.returncode != 0 or final is None:
        shutil.rmtree(p.tmp, ignore_errors=True)
        if error:
            raise ExportError("ref", error)
        tail = Path(p.log).read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"export of {p.source.ref} failed (exit {proc.returncode}); nothing was changed at "
                           f"{p.target}. Last lines of {p.log}: " + " | ".join(tail))
    _move_into_place(Path(p.tmp), Path(p.target))
    plan_file.unlink(missing_ok=True)
    target = Path(p.target)
    return ExportResult(
        path=target, files=sorted(str(f.relative_to(target)) for f in target.rglob("*") if f.is_file()),
        gguf_path=target / final["gguf"] if final.get("gguf") else None,
        modelfile=target / final["modelfile"] if final.get("modelfile") else None,
        card=(target / "README.md").read_text(), merged=p.merge, source=p.source.label,
        seconds=round(time.monotonic() - t0, 2), peak_rss_bytes=final.get("peak_rss_bytes"),
        notes=p.notes + list(final.get("notes", [])))


def _move_into_place(tmp: Path, target: Path) -> None:
    """Swap the finished folder in: the old content (overwrite=True, checked by `plan`) is removed only after
    the new folder is complete."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{time.monotonic_ns()}"
        target.rename(old)
    try:
        tmp.rename(target)
    except OSError:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export(ref: str, path: str | Path, merge: bool = True, overwrite: bool = False, gguf: bool | str | None = None,
           *, ws: Workspace | None = None, progress: ProgressFn | None = print_progress,
           base_dir: str | Path | None = None) -> ExportResult:
    """Export `ref` (a registered `name@version` / `name@alias`, a job id, an adapter folder) to the folder `path`:
    merged safetensors weights + tokenizer + generation config + model card (`merge=False`: the adapter + card),
    GGUF + Ollama `Modelfile` when llama.cpp's converter is installed. See the module docstring."""
    from jupyter_ft.core.workspace import workspace

    ws = ws or workspace()
    p = plan(ws, ref, path, merge=merge, overwrite=overwrite, gguf=gguf, base_dir=base_dir)
    for note in p.notes:
        if progress is not None:
            progress({"note": note})
            if progress is print_progress:
                print(f"export: {note}", flush=True)
    return run(p, progress)
