"""The model registry: every succeeded training job becomes a version of a registered model in MLflow.

    name@3          version 3 of `name`
    name@champion   the version the alias `champion` points at
    name            the latest version

MLflow (the workspace's embedded store or any tracking server) holds the registry: registered models, versions
with their tags, aliases, and the alias history (one registered-model tag per move, so any reader of the registry
sees it). The workspace keeps an index of the versions it registered (`model_versions`, `model_aliases`,
`model_links`) so that resolving a reference, listing models and walking lineage never wait on MLflow (1,000
versions answer in milliseconds) and work while a remote tracking server is down.

What is registered is the adapter (or the full weights) with the tokenizer, as an MLflow 3 `LoggedModel` linked to
the job's run, never optimizer state, checkpoints or a copy of the base. Not `mlflow.transformers.log_model`: with
a PEFT model it wants a hub base with a revision and refuses a local-folder base, which is what most adapters here
sit on; and it would import torch and transformers into the scheduler.

Registration runs in the scheduler's forwarder (`register` event written when a job succeeds, see
`jobstore.finish`), never in the job process: a registry that cannot be reached never fails or blocks a job; the
event stays pending and is retried, and `registration_state` shows where it stands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.workspace import Workspace
from jupyter_ft.core.registry.names import (ALIAS_RE, NAME_RE, PACKAGES, check_name, derived_name, package_versions,
                                           parse_ref, register_payload)  # noqa: F401  (also read as registry.*)

TAG = "jupyter_ft."
HISTORY_TAG = "jupyter_ft.alias_history."
# files of a saved adapter / model worth registering; the rest (training_args.bin, checkpoints, optimizer) are not
SKIP_FILES = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,              -- adapter | full
    base_model TEXT NOT NULL,
    base_revision TEXT,
    technique TEXT,
    job_id TEXT,
    run_id TEXT,
    dataset TEXT,                    -- name@version the job trained on
    path TEXT,                       -- local folder of the weights when this machine has it
    source TEXT,                     -- the registered artifact's location (LoggedModel)
    model_id TEXT,
    tracking_uri TEXT NOT NULL,
    tags TEXT NOT NULL,              -- JSON: every tag of the version
    metrics TEXT NOT NULL,           -- JSON: final metrics of the job
    created_at REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS model_versions_job ON model_versions(job_id);
CREATE INDEX IF NOT EXISTS model_versions_dataset ON model_versions(dataset);
CREATE INDEX IF NOT EXISTS model_versions_path ON model_versions(path);
CREATE TABLE IF NOT EXISTS model_aliases (
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE IF NOT EXISTS model_links (
    ref TEXT NOT NULL,               -- name@N
    kind TEXT NOT NULL,              -- evaluation | endpoint
    target TEXT NOT NULL,            -- evaluation job id | endpoint name
    at REAL NOT NULL,
    PRIMARY KEY (ref, kind, target)
);
CREATE INDEX IF NOT EXISTS model_links_target ON model_links(kind, target);
"""

_ready: set[Path] = set()


def ensure_schema(ws: Workspace) -> None:
    """The registry's tables (kept here, created if missing, so the registry stays one unit)."""
    if ws.db_path in _ready:
        return
    with ws.write() as c:
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                c.execute(stmt)
    _ready.add(ws.db_path)


class UnknownModel(ValueError):
    """A model reference naming no registered model, version or alias; the message lists the known ones."""


class RegistrationError(RuntimeError):
    """A registration that cannot succeed however often it is retried (the job's output is missing)."""


@dataclass
class ModelVersion:
    name: str
    version: int
    aliases: list[str]
    base_model: str
    base_revision: str | None
    kind: str
    path: str
    technique: str | None
    job_id: str | None
    run_id: str | None
    dataset: str | None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    tracking_uri: str = ""
    source: str | None = None
    model_id: str | None = None  # the MLflow LoggedModel holding the registered files

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- names and references ------------------------------------------------------------------------------------

def is_ref(ws: Workspace, text: str) -> bool:
    """True when `text` names a registered model (`name`, `name@N`, `name@alias`) rather than a path or hub id."""
    if not isinstance(text, str) or not text or "/" in text or os.sep in text or text.startswith((".", "~")):
        return False
    name, _ = parse_ref(text)
    if not NAME_RE.match(name) or Path(text).exists():
        return False
    ensure_schema(ws)
    return ws.conn.execute("SELECT 1 FROM model_versions WHERE name = ? LIMIT 1", (name,)).fetchone() is not None


def looks_like_ref(text: str) -> bool:
    """`name@something` with no path separator: meant as a registry reference, registered or not."""
    name, sel = parse_ref(text)
    return bool(sel) and "/" not in text and bool(NAME_RE.match(name))


def pin_entries(ws: Workspace, entries: list[str]) -> tuple[list[str], dict[str, str]]:
    """Model entries with every registry reference pinned to `name@N` (an alias or `latest` may move later), and
    a note per pinned entry for the spec's `auto`."""
    out, notes = [], {}
    for i, e in enumerate(entries):
        if is_ref(ws, e):
            p = pin(ws, e)
            if p != e:
                notes[f"models.{i}"] = f"{e} -> {p} (pinned at submission)"
            out.append(p)
        else:
            out.append(e)
    return out, notes


def known_names(ws: Workspace) -> list[str]:
    ensure_schema(ws)
    return [r[0] for r in ws.conn.execute("SELECT DISTINCT name FROM model_versions ORDER BY name")]


def _aliases(ws: Workspace, name: str) -> dict[str, int]:
    rows = ws.conn.execute("SELECT alias, version FROM model_aliases WHERE name = ? ORDER BY alias", (name,))
    return {r["alias"]: r["version"] for r in rows}


def _row_to_version(ws: Workspace, row, aliases: dict[str, int]) -> ModelVersion:
    return ModelVersion(
        name=row["name"], version=row["version"], aliases=sorted(a for a, v in aliases.items() if v == row["version"]),
        base_model=row["base_model"], base_revision=row["base_revision"], kind=row["kind"], path=row["path"] or "",
        technique=row["technique"], job_id=row["job_id"], run_id=row["run_id"], dataset=row["dataset"],
        tags=json.loads(row["tags"]), created_at=row["created_at"], metrics=json.loads(row["metrics"]),
        tracking_uri=row["tracking_uri"], source=row["source"], model_id=row["model_id"])


def version_number(ws: Workspace, ref: str) -> tuple[str, int]:
    """`name@alias` / `name@N` / `name` -> (name, N) from the index; `UnknownModel` listing what is known."""
    ensure_schema(ws)
    name, sel = parse_ref(ref)
    versions = [r[0] for r in ws.conn.execute("SELECT version FROM model_versions WHERE name = ? ORDER BY version",
                                              (name,))]
    if not versions:
        known = known_names(ws)
        raise UnknownModel(f"no registered model {name!r}; registered: {', '.join(known) if known else 'none yet'}")
    aliases = _aliases(ws, name)
    listing = (f"versions {', '.join(map(str, versions))}"
               + (f"; aliases {', '.join(f'{a} -> {v}' for a, v in aliases.items())}" if aliases else "; no aliases"))
    if sel in (None, "latest"):
        return name, versions[-1]
    if sel.isdigit():
        if int(sel) not in versions:
            raise UnknownModel(f"{name} has no version {sel}; {listing}")
        return name, int(sel)
    if sel not in aliases:
        raise UnknownModel(f"{name} has no alias {sel!r}; {listing}")
    return name, aliases[sel]


def resolve_indexed(ws: Workspace, name: str, version: int) -> ModelVersion:
    """A version as the index records it (its `path` may not exist on this machine; nothing is downloaded)."""
    row = ws.conn.execute("SELECT * FROM model_versions WHERE name = ? AND version = ?", (name, version)).fetchone()
    if row is None:
        raise UnknownModel(f"{name} has no version {version}")
    return _row_to_version(ws, row, _aliases(ws, name))


def resolve(ws: Workspace, ref: str) -> ModelVersion:
    """The registered version `ref` names, with `path` a local folder of its weights (downloaded from the
    registry's artifact store into `<workspace>/models/<name>/<version>` when this machine does not have them)."""
    name, number = version_number(ws, ref)
    row = ws.conn.execute("SELECT * FROM model_versions WHERE name = ? AND version = ?", (name, number)).fetchone()
    mv = _row_to_version(ws, row, _aliases(ws, name))
    if not (mv.path and Path(mv.path).is_dir()):
        mv.path = str(_download(ws, mv))
    return mv


def _download(ws: Workspace, mv: ModelVersion) -> Path:
    dest = ws.root / "models" / mv.name / str(mv.version)
    if (dest / ".complete").is_file():
        return dest
    import mlflow.artifacts

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=dest.parent))
    uri = mv.source  # the LoggedModel's artifact location (file://, mlflow-artifacts:/ through the server, s3://...)
    if not uri:
        from jupyter_ft.core.tracking import client

        uri = client(mv.tracking_uri).get_model_version_download_uri(mv.name, str(mv.version))
    got = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp), tracking_uri=mv.tracking_uri))
    (got / ".complete").write_text("")
    shutil.rmtree(dest, ignore_errors=True)
    got.rename(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def resolve_model_entry(ws: Workspace, text: str) -> str | ModelVersion:
    """What a `model` field means: a registered version when `text` is a reference, else `text` unchanged."""
    return resolve(ws, text) if is_ref(ws, text) else text


def pin(ws: Workspace, text: str) -> str:
    """`name@champion` / `name` -> `name@N` (what a stored spec keeps: the alias may move later)."""
    name, number = version_number(ws, text)
    return f"{name}@{number}"


# --- registration (in the forwarder) ---------------------------------------------------------------------------

def _local_revision(model: str) -> str | None:
    """The commit a hub model was loaded at (its cached snapshot); None for a local folder."""
    if Path(model).exists():
        return None
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        ref = Path(HF_HUB_CACHE) / f"models--{model.replace('/', '--')}" / "refs" / "main"
        return ref.read_text().strip() if ref.is_file() else None
    except Exception:
        return None


def _stage(src: Path, dest: Path) -> int:
    """Copy the files worth registering (hard links where possible); returns their size in bytes."""
    total = 0
    for p in sorted(src.iterdir()):
        if p.is_file() and p.name not in SKIP_FILES:
            try:
                os.link(p, dest / p.name)
            except OSError:
                shutil.copy2(p, dest / p.name)
            total += p.stat().st_size
    return total


def register_job(ws: Workspace, job_id: str, payload: dict[str, Any]) -> str:
    """Register the output of a succeeded job as a new version; returns `name@N`. Idempotent: a retry after a
    half-done attempt finds the version already made for this job."""
    ensure_schema(ws)
    rec = jobstore.get(ws, job_id)
    row = ws.conn.execute("SELECT name, version FROM model_versions WHERE job_id = ?", (job_id,)).fetchone()
    if row:
        return f"{row['name']}@{row['version']}"
    name = check_name(payload["name"])
    spec = rec.spec
    out = Path(payload.get("output_dir") or spec.get("output_dir") or ws.job_dir(job_id) / "output")
    if not out.is_dir():
        raise RegistrationError(f"the job's output folder {out} is missing: nothing to register")
    kind = "adapter" if (out / "adapter_config.json").is_file() else "full"
    from jupyter_ft.core import tracking

    uri = rec.tracking_uri or tracking.tracking_uri_for(ws, spec)
    c = tracking.client(uri)
    version = _existing_version(c, name, job_id)
    dataset = spec.get("dataset")
    ds_digest, split_seed = _dataset_facts(ws, dataset)
    from jupyter_ft.core.jobs.metrics import final_metrics

    metrics = final_metrics(ws, job_id)
    tags = {
        f"{TAG}base_model": spec.get("model", ""), f"{TAG}base_revision": _local_revision(spec.get("model", "")) or "",
        f"{TAG}technique": spec.get("technique", ""), f"{TAG}kind": kind, f"{TAG}job_id": job_id,
        f"{TAG}run_id": rec.mlflow_run_id or "", f"{TAG}dataset": dataset or "", f"{TAG}dataset_digest": ds_digest,
        f"{TAG}split_seed": split_seed, f"{TAG}seed": str(spec.get("seed", "")),
        **{f"{TAG}package.{k}": v for k, v in (payload.get("packages") or {}).items()},
        **tracking.code_version(),
        **{f"{TAG}metric.{k}": f"{v:.6g}" for k, v in metrics.items()},
        **_base_source(spec),
    }
    if version is None:
        version, model_id, source = _create_version(c, rec, name, out, tags)
    else:
        source = version.source
        found = re.search(r"(m-[0-9a-f]{32})", source or "")
        model_id = version.model_id or (found.group(1) if found else None)
    number = int(version.version if not isinstance(version, int) else version)
    with ws.write() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO model_versions (name, version, kind, base_model, base_revision, technique, job_id,"
            " run_id, dataset, path, source, model_id, tracking_uri, tags, metrics, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, number, kind, spec.get("model", ""), tags[f"{TAG}base_revision"] or None, spec.get("technique"),
             job_id, rec.mlflow_run_id, dataset, str(out), source, model_id, uri, json.dumps(tags),
             json.dumps(metrics), time.time()))
    return f"{name}@{number}"


def _base_source(spec: dict[str, Any]) -> dict[str, str]:
    """A base converted from a GGUF (or fetched): the file and its sha256 as tags, e.g. `jupyter_ft.base_gguf`."""
    from jupyter_ft.core.train.model_source import lineage_params

    return {f"{TAG}base_{k.split('.', 1)[1]}": v for k, v in lineage_params(spec.get("auto")).items()
            if k.startswith("model.")}


def _dataset_facts(ws: Workspace, dataset: str | None) -> tuple[str, str]:
    if not dataset:
        return "", ""
    try:
        from jupyter_ft.core.datasets import catalog

        v = catalog.get(ws, dataset)
        return str(v.meta.get("digest", "")), str(v.split.get("seed", ""))
    except Exception:
        return "", ""


def _existing_version(c, name: str, job_id: str):
    """A version of `name` already registered for `job_id` (an earlier attempt that stopped half way)."""
    try:
        found = c.search_model_versions(f"name = '{name}' and tags.`{TAG}job_id` = '{job_id}'")
    except Exception as exc:
        if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return found[0] if found else None


def _create_version(c, rec: jobstore.JobRecord, name: str, out: Path, tags: dict[str, str]):
    from mlflow.entities import LoggedModelStatus
    from mlflow.exceptions import MlflowException

    lm = c.create_logged_model(experiment_id=rec.mlflow_experiment_id, name=name, source_run_id=rec.mlflow_run_id,
                               tags={k: v for k, v in tags.items() if v}, model_type=tags[f"{TAG}kind"])
    with tempfile.TemporaryDirectory(prefix="jupyter_ft-register-") as tmp:
        _stage(out, Path(tmp))
        c.log_model_artifacts(lm.model_id, tmp)
    c.finalize_logged_model(lm.model_id, LoggedModelStatus.READY)
    try:
        c.create_registered_model(name, tags={f"{TAG}created_by": "jupyter_ft"},
                                  description=f"Tuned models registered by jupyter_ft ({tags[f'{TAG}technique']} on "
                                              f"{tags[f'{TAG}base_model']})")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    mv = c.create_model_version(name, source=lm.artifact_location, run_id=rec.mlflow_run_id, tags=tags,
                                model_id=lm.model_id,
                                description=f"job {rec.id}, dataset {tags[f'{TAG}dataset']}")
    return mv, lm.model_id, lm.artifact_location


def registration_state(ws: Workspace, rec: jobstore.JobRecord) -> dict[str, Any] | None:
    """`{"state": pending|registered|failed|skipped, "model": "name@3"|None, "error": str|None}` for a training
    job (None for other kinds), read from its `register` event and the index."""
    if rec.kind != "train":
        return None
    ensure_schema(ws)
    row = ws.conn.execute("SELECT name, version FROM model_versions WHERE job_id = ?", (rec.id,)).fetchone()
    if row:
        return {"state": "registered", "model": f"{row['name']}@{row['version']}", "error": None}
    ev = ws.conn.execute("SELECT forwarded, last_error, attempts FROM events WHERE job_id = ? AND kind = 'register'"
                         " ORDER BY seq DESC LIMIT 1", (rec.id,)).fetchone()
    if rec.spec.get("register_as") is False:
        return {"state": "skipped", "model": None, "error": "register_as: false"}
    if ev is None:
        if rec.state in ("failed", "cancelled"):
            return {"state": "skipped", "model": None, "error": f"the job {rec.state}"}
        if rec.state == "succeeded":  # it ended before this workspace registered models
            return {"state": "skipped", "model": None, "error": "the job succeeded before registration existed"}
        return {"state": "pending", "model": None, "error": None}
    if ev["forwarded"] == -1:
        return {"state": "failed", "model": None, "error": ev["last_error"]}
    return {"state": "pending", "model": None,
            "error": f"retrying ({ev['attempts']} attempts): {ev['last_error']}" if ev["last_error"] else None}


# --- reading the registry --------------------------------------------------------------------------------------

def versions(ws: Workspace, name: str | None = None) -> list[ModelVersion]:
    """Every indexed version (of `name`), oldest first; `path` as recorded (not downloaded)."""
    ensure_schema(ws)
    q, args = "SELECT * FROM model_versions", ()
    if name:
        q, args = q + " WHERE name = ?", (name,)
    aliases: dict[str, dict[str, int]] = {}
    for r in ws.conn.execute("SELECT name, alias, version FROM model_aliases"):
        aliases.setdefault(r["name"], {})[r["alias"]] = r["version"]
    return [_row_to_version(ws, r, aliases.get(r["name"], {}))
            for r in ws.conn.execute(q + " ORDER BY name, version", args)]


def version_url(mv: ModelVersion) -> str | None:
    from jupyter_ft.core.tracking import ui_base

    return f"{ui_base(mv.tracking_uri)}/#/models/{mv.name}/versions/{mv.version}" if mv.tracking_uri else None


def version_dict(mv: ModelVersion, ws: Workspace | None = None) -> dict[str, Any]:
    """A version as REST shows it; with `ws`, also every tag, its folder and the evaluations linked to it."""
    d = {"name": mv.name, "version": mv.version, "ref": mv.ref, "base_model": mv.base_model,
         "base_revision": mv.base_revision, "kind": mv.kind, "technique": mv.technique, "job_id": mv.job_id,
         "run_id": mv.run_id, "dataset": mv.dataset, "created_at": mv.created_at, "metrics": mv.metrics,
         "aliases": mv.aliases, "mlflow_url": version_url(mv)}
    if ws is not None:
        d.update(tags=mv.tags, path=mv.path, source=mv.source,
                 evaluations=[t for k, t in links(ws, mv.ref, "evaluation")],
                 endpoints=[t for k, t in links(ws, mv.ref, "endpoint")])
    return d


def model_dict(ws: Workspace, name: str, vs: list[ModelVersion] | None = None) -> dict[str, Any]:
    vs = vs if vs is not None else versions(ws, name)
    if not vs:
        version_number(ws, name)  # raises UnknownModel listing the known ones
    desc = (f"{vs[-1].technique} on {vs[-1].base_model}" if vs else "")
    return {"name": name, "description": desc, "aliases": _aliases(ws, name), "latest_version": vs[-1].version,
            "versions": [version_dict(v) for v in vs]}


def list_models(ws: Workspace) -> list[dict[str, Any]]:
    """Registered models with their versions and aliases (the REST `GET models` shape)."""
    by: dict[str, list[ModelVersion]] = {}
    for v in versions(ws):
        by.setdefault(v.name, []).append(v)
    return [model_dict(ws, n, vs) for n, vs in sorted(by.items())]


# --- links: evaluations and endpoints that use a version --------------------------------------------------------

def link(ws: Workspace, ref: str, kind: str, target: str) -> None:
    ensure_schema(ws)
    with ws.write() as c:
        c.execute("INSERT OR REPLACE INTO model_links (ref, kind, target, at) VALUES (?, ?, ?, ?)",
                  (ref, kind, target, time.time()))


def unlink(ws: Workspace, kind: str, target: str) -> None:
    ensure_schema(ws)
    with ws.write() as c:
        c.execute("DELETE FROM model_links WHERE kind = ? AND target = ?", (kind, target))


def links(ws: Workspace, ref: str, kind: str | None = None) -> list[tuple[str, str]]:
    """[(kind, target)] linked to version `ref` (`name@N`), oldest first."""
    ensure_schema(ws)
    q, args = "SELECT kind, target FROM model_links WHERE ref = ?", [ref]
    if kind:
        q += " AND kind = ?"
        args.append(kind)
    return [(r["kind"], r["target"]) for r in ws.conn.execute(q + " ORDER BY at", args)]


def link_evaluation(ws: Workspace, job_id: str, models: list[str]) -> None:
    """An evaluation scoring registered versions links to each (by reference), and tags the versions in MLflow
    (`jupyter_ft.evaluation.<job id>`) when the registry can be reached now; the link in the workspace is what
    lineage and gating read."""
    refs = [m for m in models if is_ref(ws, m)]
    for r in refs:
        link(ws, r, "evaluation", job_id)
    for r in refs:
        try:
            from jupyter_ft.core.tracking import client

            mv = resolve(ws, r)
            client(mv.tracking_uri).set_model_version_tag(mv.name, str(mv.version), f"{TAG}evaluation.{job_id}",
                                                          ",".join(models))
        except Exception:
            pass  # the link above is the record; the MLflow tag is a convenience for the MLflow UI
