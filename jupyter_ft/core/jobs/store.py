"""Job rows and their state machine, over the workspace database.

    queued -> running -> succeeded | failed | cancelled
    running -> queued          (the process died; retried while attempts remain, resuming from a checkpoint)
    queued  -> cancelled

Every transition is one short write transaction, so the kernel, the server, the CLI, the scheduler and the
job process can all act on the same rows. Terminal transitions append an `end` event for the MLflow forwarder.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from jupyter_ft.core.workspace import Workspace

TERMINAL = ("succeeded", "failed", "cancelled")
STATES = ("queued", "running") + TERMINAL


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    technique: str
    name: str | None
    state: str
    device: str
    spec: dict[str, Any]
    submitted: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempt: int
    max_attempts: int
    pid: int | None
    pid_started: float | None
    cancel_requested: bool
    cancel_at: float | None
    error: str | None
    step: int
    total_steps: int | None
    progress_at: float | None
    mlflow_run_id: str | None
    mlflow_experiment_id: str | None
    tracking_uri: str | None
    change_seq: int = 0  # the workspace's job-change counter at this row's last write (see `changes`)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # [{code, title, message, step}] (see add_warning)

    @classmethod
    def from_row(cls, row) -> JobRecord:
        d = dict(row)
        d["spec"] = json.loads(d["spec"])
        d["submitted"] = json.loads(d["submitted"])
        d["cancel_requested"] = bool(d["cancel_requested"])
        d["warnings"] = parse_warnings(d.get("warnings"))
        return cls(**d)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary used by REST, the CLI and widgets."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["progress"] = self.progress
        d["dataset"] = self.spec.get("dataset")
        d["model"] = self.spec.get("model")
        return d

    @property
    def progress(self) -> float | None:
        if self.state == "succeeded":
            return 1.0
        if not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)


def new_job_id(technique: str) -> str:
    return f"{technique}-{time.strftime('%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def insert(ws: Workspace, *, job_id: str, kind: str, technique: str, name: str | None, device: str,
           spec: dict, submitted: dict, max_attempts: int) -> JobRecord:
    with ws.write() as c:
        c.execute(
            "INSERT INTO jobs (id, kind, technique, name, state, device, spec, submitted, created_at, max_attempts)"
            " VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
            (job_id, kind, technique, name, device, json.dumps(spec), json.dumps(submitted), time.time(), max_attempts),
        )
    return get(ws, job_id)


class JobNotFound(KeyError):
    def __str__(self) -> str:
        return f"no job with id {self.args[0]!r}"


def get(ws: Workspace, job_id: str) -> JobRecord:
    row = ws.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return JobRecord.from_row(row)


def list_jobs(ws: Workspace, states: Iterable[str] | None = None) -> list[JobRecord]:
    if states:
        states = list(states)
        q = f"SELECT * FROM jobs WHERE state IN ({','.join('?' * len(states))}) ORDER BY created_at, id"
        rows = ws.conn.execute(q, states).fetchall()
    else:
        rows = ws.conn.execute("SELECT * FROM jobs ORDER BY created_at, id").fetchall()
    return [JobRecord.from_row(r) for r in rows]


def cursor(ws: Workspace) -> int:
    """The workspace's job-change counter now: every insert or update of a job row takes its next value."""
    return int(ws.conn.execute("SELECT n FROM job_change_counter").fetchone()[0])


def changes(ws: Workspace, since: int) -> tuple[int, list[JobRecord], bool]:
    """(cursor, jobs written after `since`, reset). The cursor is read before the rows, so a write landing between
    the two is sent again next time rather than missed. A `since` ahead of the counter (another workspace, or a
    cursor made up by the client) is a reset: every job is sent."""
    now = cursor(ws)
    reset = since > now
    rows = ws.conn.execute("SELECT * FROM jobs WHERE change_seq > ? ORDER BY created_at, id",
                           (0 if reset else since,)).fetchall()
    return now, [JobRecord.from_row(r) for r in rows], reset


def last_event_seq(ws: Workspace, job_id: str, kind: str | None = None) -> int:
    """The newest event's seq of a job (0 when none): a client's `since` for the next poll."""
    q, args = "SELECT MAX(seq) FROM events WHERE job_id = ?", [job_id]
    if kind:
        q += " AND kind = ?"
        args.append(kind)
    return int(ws.conn.execute(q, args).fetchone()[0] or 0)


def set_fields(ws: Workspace, job_id: str, **fields: Any) -> None:
    cols = ", ".join(f"{k} = ?" for k in fields)
    with ws.write() as c:
        c.execute(f"UPDATE jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))


def claim_next(ws: Workspace, busy_devices: set[str]) -> JobRecord | None:
    """Atomically move the oldest queued job on a free device to `running` (attempt + 1)."""
    with ws.write() as c:
        rows = c.execute("SELECT id, device FROM jobs WHERE state = 'queued' ORDER BY created_at, id").fetchall()
        for row in rows:
            if row["device"] in busy_devices:
                continue
            c.execute(
                "UPDATE jobs SET state = 'running', attempt = attempt + 1, started_at = COALESCE(started_at, ?),"
                " pid = NULL, pid_started = NULL, error = NULL WHERE id = ?",
                (time.time(), row["id"]),
            )
            return JobRecord.from_row(c.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone())
    return None


def finish(ws: Workspace, job_id: str, state: str, error: str | None = None, *, only_from: tuple[str, ...] = ("running", "queued")) -> bool:
    """Move a job to a terminal state (once). Returns False if it was already elsewhere."""
    assert state in TERMINAL
    with ws.write() as c:
        cur = c.execute(
            f"UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state IN ({','.join('?' * len(only_from))})",
            (state, error, time.time(), job_id, *only_from),
        )
        if cur.rowcount:
            if state == "succeeded":
                _register_event(c, job_id)
            _append_event(c, job_id, "end", None, {"state": state, "error": error})
        return bool(cur.rowcount)


def _register_event(c, job_id: str) -> None:
    """A succeeded training job asks the forwarder to register its output (see `registry`), in the same
    transaction as its success, so no succeeded job is left unregistered and no failed one is registered."""
    row = c.execute("SELECT kind, spec FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None or row["kind"] != "train":
        return
    from jupyter_ft.core.registry.names import register_payload

    payload = register_payload(json.loads(row["spec"]))
    if payload is not None:
        _append_event(c, job_id, "register", None, payload)


def requeue(ws: Workspace, job_id: str, reason: str) -> None:
    """A running job whose process died goes back to the queue; the next attempt resumes from its checkpoint."""
    with ws.write() as c:
        c.execute(
            "UPDATE jobs SET state = 'queued', pid = NULL, pid_started = NULL, error = ? WHERE id = ? AND state = 'running'",
            (reason, job_id),
        )


# --- events: the job's append-only log of metrics and tracking work ---------------------------------------

def _append_event(c, job_id: str, kind: str, step: int | None, payload: dict) -> None:
    c.execute(
        "INSERT INTO events (job_id, kind, step, payload, ts) VALUES (?, ?, ?, ?, ?)",
        (job_id, kind, step, json.dumps(payload), time.time()),
    )


def append_event(ws: Workspace, job_id: str, kind: str, payload: dict, step: int | None = None) -> None:
    """Record a job event. A `warning` ({code, title, message, step}) also lands in the job row's `warnings`, in the
    same transaction, replacing an earlier one of the same code: the job process and the Ray driver (which relays
    its workers' events) both warn through here."""
    with ws.write() as c:
        _append_event(c, job_id, kind, step, payload)
        if kind == "warning":
            row = c.execute("SELECT warnings FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is not None:
                kept = [w for w in parse_warnings(row["warnings"]) if w.get("code") != payload.get("code")]
                c.execute("UPDATE jobs SET warnings = ? WHERE id = ?", (json.dumps(kept + [payload]), job_id))


def add_warning(ws: Workspace, job_id: str, code: str, title: str, message: str, step: int | None = None) -> None:
    """Warn about a job where its summary is shown (every face) and as an MLflow tag `jupyter_ft.warning.<code>`."""
    append_event(ws, job_id, "warning", warning(code, title, message, step), step=step)


def warning(code: str, title: str, message: str, step: int | None = None) -> dict[str, Any]:
    """The payload of a `warning` event: `code` names the check, `title` is the short line, `message` the whole."""
    return {"code": code, "title": title, "message": message, "step": step}


def parse_warnings(text: str | None) -> list[dict[str, Any]]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def events(ws: Workspace, job_id: str, kind: str | None = None, after_seq: int = 0) -> list[dict[str, Any]]:
    """Events of one job after `after_seq`, oldest first: [{'seq', 'kind', 'step', 'ts', **payload}]."""
    q = "SELECT seq, kind, step, payload, ts FROM events WHERE job_id = ? AND seq > ?"
    args: list[Any] = [job_id, after_seq]
    if kind:
        q += " AND kind = ?"
        args.append(kind)
    rows = ws.conn.execute(q + " ORDER BY seq", args).fetchall()
    return [{"seq": r["seq"], "kind": r["kind"], "step": r["step"], "ts": r["ts"], **json.loads(r["payload"])} for r in rows]


def jsonable(d: Any) -> Any:
    """`d` as plain JSON types (anything else as its string)."""
    return json.loads(json.dumps(d, default=str))
