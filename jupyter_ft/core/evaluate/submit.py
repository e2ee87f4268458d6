"""Evaluation jobs from every face: submit one, read its results, try an evaluator before launching.

    import jupyter_ft as ft
    job = ft.evaluate(models=["base", train_job.id], dataset="qa", evaluators=["exact_match", "rouge", my_eval])
    job.wait(); ft.eval_results(job.id)["metrics"]

An evaluation is a job like any other (same `jobs` table, `kind='eval'`, technique `'eval'`): queued, run
detached by the scheduler as `python -m jupyter_ft.evaluation`, retried and resumed after its process dies, tracked
in its own MLflow run. What can be checked without loading a model is checked here, so a bad spec fails at once
naming the field: the dataset (pinned to a catalog version; anything else is added to the catalog first), each
model entry, and multiple-choice rows (shape and answers, by row). No torch is imported on this path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jupyter_ft.core import devices
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.jobs.store import jsonable
from jupyter_ft.core.evaluate.rows import EvalSample, to_sample
from jupyter_ft.core.spec.eval import EvalSpec, LmEvalEval, MultipleChoiceEval, parse_eval_spec
from jupyter_ft.core.evaluate.mc_rows import MCShapeError, layout, parse_rows
from jupyter_ft.core.registry.model_refs import ModelEntryError, resolve_models
from jupyter_ft.core.jobs.daemon import ensure_scheduler
from jupyter_ft.core.spec.train import SpecError
from jupyter_ft.core.workspace import Workspace, workspace

RESULTS_FILE = "results.json"


# --- rows of the scored split ------------------------------------------------------------------------------------

def split_rows(version: catalog.DatasetVersion, split: str) -> list[dict[str, Any]]:
    """Rows of a catalog version's split ('train', 'eval' or 'all' = train then eval), read with pyarrow."""
    parts = ("train", "eval") if split == "all" else (split,)
    out: list[dict[str, Any]] = []
    for p in parts:
        n = version.split_rows(p)
        if n:
            out.extend(version.rows(0, n, p))
    return out


def samples(version: catalog.DatasetVersion, split: str, limit: int | None = None) -> list[EvalSample]:
    rows = split_rows(version, split)
    return [to_sample(i, r) for i, r in enumerate(rows[:limit] if limit else rows)]


# --- submission --------------------------------------------------------------------------------------------------

def _pin_dataset(ws: Workspace, spec: EvalSpec, explicit: set[str],
                 base_dir: str | Path | None = None) -> tuple[EvalSpec, catalog.DatasetVersion]:
    """Pin a catalog name to `name@version`; add any other source (file, hub id) to the catalog first. A relative
    path is read from `base_dir` (the submitter's folder: the kernel's, the shell's, the Jupyter server's root)."""
    from jupyter_ft.core.datasets.door import local_path

    auto = dict(spec.auto)
    ref = spec.dataset
    version = None
    name, ver = catalog.parse_ref(ref)
    path = local_path(ref, base_dir or Path.cwd())
    if path is not None and not path.exists():
        raise SpecError([("dataset", f"no such file or folder: {path}")])
    if path is None and catalog.NAME_RE.fullmatch(name) and catalog.has_name(ws, name):
        try:
            version = catalog.get(ws, ref)
        except catalog.DatasetNotFound as exc:
            raise SpecError([("dataset", str(exc))]) from None
        if ver in (None, "latest") or ver != version.version:
            auto["dataset"] = f"{ref} -> {version.ref} (latest version at submission)"
    else:
        try:
            version = catalog.add(ws, str(path) if path is not None else ref, technique=_catalog_kind(spec))
        except Exception as exc:  # DatasetImportError / validation: the catalog's message names file, rows, shapes
            raise SpecError([("dataset", f"{ref}: {exc}")]) from None
        auto["dataset"] = f"{ref} -> {version.ref} (added to the catalog by this evaluation)"
        if "split" not in explicit:
            spec = spec.model_copy(update={"split": "all"})
            auto["split"] = ("all: the rows were added to the catalog by this evaluation, so every row is scored "
                             "(name a catalog version to score its held-out split)")
    if spec.split != "all" and version.split_rows(spec.split) == 0:
        raise SpecError([("split", f"{version.ref} has no {spec.split!r} rows ({version.num_train} train, "
                                   f"{version.num_eval} eval); use split: all or another split")])
    return spec.model_copy(update={"dataset": version.ref, "auto": auto}), version


def _pin_models(ws: Workspace, spec: EvalSpec) -> EvalSpec:
    """Registered versions named by alias or `latest` are stored as `name@N`: the evaluation scored that version."""
    from jupyter_ft.core.registry import versions as registry

    models, notes = registry.pin_entries(ws, spec.models)
    if not notes:
        return spec
    renamed = dict(zip(spec.models, models))
    evs = [e.model_copy(update={"baseline": renamed.get(e.baseline, e.baseline)}) if hasattr(e, "baseline") else e
           for e in spec.evaluators]
    baseline = renamed.get(spec.baseline, spec.baseline) if spec.baseline is not None else None
    return spec.model_copy(update={"models": models, "evaluators": evs, "baseline": baseline,
                                   "auto": {**spec.auto, **notes}})


def _model_sources(ws: Workspace, spec: EvalSpec, base_dir: str | Path | None) -> EvalSpec:
    """A fetched model's name or a GGUF (in `models`, `base` or a local judge) is stored as its converted folder,
    with where it came from in `auto` (`models.0`, `models.0.gguf_sha256`, ...). Errors name the entry."""
    from jupyter_ft.core.train import model_source

    auto = dict(spec.auto)
    errors: list[tuple[str, str]] = []

    def one(value: str | None, key: str) -> str | None:
        if value is None or value == "base" or value.startswith(("http://", "https://")):
            return value
        try:
            src = model_source.resolve(value, ws, base_dir)
        except model_source.ModelSourceError as exc:
            errors.append((key, str(exc)))
            return value
        if src is None:
            return value
        auto.update(src.auto(key))
        return src.folder

    models = [one(m, f"models.{i}") for i, m in enumerate(spec.models)]
    renamed = {a: b for a, b in zip(spec.models, models) if a != b}
    evs = []
    for i, e in enumerate(spec.evaluators):
        if hasattr(e, "baseline") and e.baseline in renamed:
            e = e.model_copy(update={"baseline": renamed[e.baseline]})
        judge = getattr(e, "judge", None)
        if judge is not None and getattr(judge, "kind", None) == "local":
            e = e.model_copy(update={"judge": judge.model_copy(update={"model": one(judge.model,
                                                                                     f"evaluators.{i}.judge.model")})})
        evs.append(e)
    base = one(spec.base, "base")
    if errors:
        raise SpecError(errors)
    if auto == spec.auto:
        return spec
    return spec.model_copy(update={"models": models, "base": base, "evaluators": evs, "auto": auto})


def _local_task_paths(spec: EvalSpec) -> EvalSpec:
    """An lm-eval task given as a local YAML path is stored absolute: the job runs in its own folder."""
    evs = []
    for e in spec.evaluators:
        if isinstance(e, LmEvalEval) and Path(e.task).expanduser().exists():
            e = e.model_copy(update={"task": str(Path(e.task).expanduser().resolve())})
        evs.append(e)
    return spec.model_copy(update={"evaluators": evs})


def _catalog_kind(spec: EvalSpec) -> str | None:
    """Benchmarks are added as the catalog's `prompt` kind, which keeps every column (choices, A..D, answer,
    subject); detection could otherwise read `question,answer` as SFT prompt/completion and drop the choices."""
    return "prompt" if any(isinstance(e, MultipleChoiceEval) for e in spec.evaluators) else None


def _check_models(ws: Workspace, spec: EvalSpec) -> None:
    for i, entry in enumerate(spec.models):
        if entry == "base":
            continue
        try:
            resolve_models([entry], ws)
        except ModelEntryError as exc:
            raise SpecError([(f"models.{i}", str(exc))]) from None
    try:
        resolve_models(spec.models, ws, base=spec.base)
    except ModelEntryError as exc:
        raise SpecError([("base", str(exc))]) from None


def _check_multiple_choice(spec: EvalSpec, version: catalog.DatasetVersion) -> None:
    for i, ev in enumerate(spec.evaluators):
        if not isinstance(ev, MultipleChoiceEval):
            continue
        rows = split_rows(version, spec.split)
        if spec.limit:
            rows = rows[: spec.limit]
        where = f"{version.ref} ({spec.split} split)"
        if version.kind != "prompt":
            where += (f", stored as {version.kind} data: add benchmark files with technique='prompt' so the catalog "
                      "keeps every column")
        try:
            lay = layout(rows[0].keys() if rows else [], ev.mapping, ev.subject_column, where)
            parse_rows(rows, lay, where)
            if ev.num_fewshot:
                dev = split_rows(version, ev.fewshot_split)
                if len(dev) < ev.num_fewshot + (1 if ev.fewshot_split == spec.split or ev.fewshot_split == "all" else 0):
                    raise MCShapeError(f"{version.ref} has {len(dev)} rows in its {ev.fewshot_split!r} split: too few "
                                       f"to draw {ev.num_fewshot} shots from")
                parse_rows(dev, lay, f"{version.ref} ({ev.fewshot_split} split, the shots)")
        except MCShapeError as exc:
            raise SpecError([(f"evaluators.{i}", str(exc))]) from None


def preview_eval(spec: EvalSpec | dict[str, Any] | str | Path, ws: Workspace | None = None,
                 explicit: set[str] | None = None, *, base_dir: str | Path | None = None) -> EvalSpec:
    """What `submit_eval` would store, without submitting: the dataset pinned, models and rows checked. Raises
    `SpecError` naming fields."""
    ws = ws or workspace()
    parsed = parse_eval_spec(spec)
    explicit = explicit if explicit is not None else set(parsed.model_fields_set)
    try:
        dev = devices.resolve(parsed.device, ws.root / "devices.json")
    except ValueError as exc:
        raise SpecError([("device", str(exc))]) from None
    if parsed.device == "auto":  # the queue runs one job per device: an evaluation waits for its device too
        parsed = parsed.model_copy(update={"device": dev.name, "auto": {**parsed.auto, "device": f"{dev.name}: {dev.label}"}})
    parsed = _pin_models(ws, parsed)
    parsed = _model_sources(ws, parsed, base_dir)
    parsed, version = _pin_dataset(ws, parsed, explicit, base_dir)
    parsed = _local_task_paths(parsed)
    _check_models(ws, parsed)
    _check_multiple_choice(parsed, version)
    return parsed


def submit_eval(spec: EvalSpec | dict[str, Any] | str | Path, ws: Workspace | None = None, *,
                base_dir: str | Path | None = None) -> str:
    """Validate and queue an evaluation job (returns its id); create its MLflow run. Raises `SpecError` (naming fields) first."""
    ws = ws or workspace()
    parsed = parse_eval_spec(spec)
    submitted = parsed.model_dump(mode="json", exclude_unset=True)
    resolved = preview_eval(parsed, ws, set(parsed.model_fields_set), base_dir=base_dir)
    job_id = jobstore.new_job_id("eval")
    job_dir = ws.job_dir(job_id)
    job_dir.mkdir(parents=True)
    (job_dir / "spec.yaml").write_text(resolved.to_yaml())
    spec_dict = resolved.model_dump(mode="json")
    jobstore.insert(ws, job_id=job_id, kind="eval", technique="eval", name=resolved.name, device=resolved.device,
                    spec=spec_dict, submitted=jsonable(submitted), max_attempts=resolved.max_attempts)
    from jupyter_ft.core.registry import versions as registry

    registry.link_evaluation(ws, job_id, resolved.models)
    ensure_scheduler(ws)
    try:
        from jupyter_ft.core import tracking

        run_id, exp_id, uri = tracking.create_run(ws, job_id, spec_dict)
        jobstore.set_fields(ws, job_id, mlflow_run_id=run_id, mlflow_experiment_id=exp_id, tracking_uri=uri)
    except Exception as exc:  # the forwarder creates it later
        with open(job_dir / "job.log", "a") as fh:
            fh.write(f"[jupyter_ft] MLflow run not created at submission ({type(exc).__name__}: {exc}); will retry\n")
    return job_id


def _dataset_arg(ws: Workspace, dataset: Any, evaluators: Any = ()) -> str:
    """`ft.evaluate(dataset=...)` takes what the catalog takes (rows, a DataFrame, a `datasets.Dataset`, a
    `DatasetVersion`); anything that is not a reference string is added to the catalog and named by its version."""
    if isinstance(dataset, catalog.DatasetVersion):
        return dataset.ref
    if isinstance(dataset, (str, Path)):
        return str(dataset)
    mc = any((isinstance(e, dict) and e.get("type") == "multiple_choice") or e == "multiple_choice"
             or isinstance(e, MultipleChoiceEval) for e in (evaluators or []))
    try:
        return catalog.add(ws, dataset, technique="prompt" if mc else None).ref
    except Exception as exc:
        raise SpecError([("dataset", str(exc))]) from None


# --- results -----------------------------------------------------------------------------------------------------

def results(ws: Workspace | None, job_id: str) -> dict[str, Any]:
    """The results of an evaluation job (the schema of `results.json`), current while it runs: what has been
    scored so far, `partial` until every model and evaluator finished without error."""
    ws = ws or workspace()
    rec = jobstore.get(ws, job_id)
    if rec.kind != "eval":
        raise SpecError([("job_id", f"{job_id} is a {rec.kind} job, not an evaluation")])
    path = ws.job_dir(job_id) / RESULTS_FILE
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except ValueError:  # being replaced this instant: the runner writes a temporary file and renames it
            data = {}
    spec = rec.spec
    base = {"job_id": job_id, "models": list(spec.get("models", [])), "model_refs": {},
            "dataset": spec.get("dataset"), "num_samples": 0, "errors": [], "metrics": [], "pairwise": [],
            "baseline": None, "differences": [], "style_verdicts": [], "samples": []}
    out = {**base, **data, "job_id": job_id, "state": rec.state}
    out["partial"] = rec.state != "succeeded" or bool(out.get("errors")) or bool(data.get("partial", True))
    if rec.error and not any(e.get("message") == rec.error for e in out["errors"]):
        out["job_error"] = rec.error
    return out
