"""Endpoint rows in the workspace database, and the endpoint's folder.

    <root>/endpoints/<name>/   serve.json (the server's config, 0600), api_key (0600), server.log, ready.json

States: starting -> running -> restarting -> running ... ; stopped (asked to stop) ; failed (gave up).
An endpoint *wants to run* while it is starting, running or restarting: the scheduler supervises those.

The table is created on first use (`CREATE TABLE IF NOT EXISTS`) rather than as a numbered migration, so it does
not depend on the order in which other features append their migrations to `workspace.MIGRATIONS`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_ft.core.workspace import Workspace

WANT_RUNNING = ("starting", "running", "restarting")
STATES = (*WANT_RUNNING, "stopped", "failed")

_TABLE = """
CREATE TABLE IF NOT EXISTS endpoints (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,              -- the DeploySpec as submitted (JSON)
    engine TEXT NOT NULL,            -- local | vllm
    state TEXT NOT NULL,
    base_model TEXT NOT NULL,        -- resolved base: folder or hub id
    models TEXT NOT NULL,            -- JSON {served name: {path, entry, ref, base}} of the adapters
    host TEXT NOT NULL,
    port INTEGER,
    pid INTEGER,
    pid_started REAL,
    api_key_path TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,                 -- when the current process was started
    ready_at REAL,                   -- when a process last became ready
    restarts INTEGER NOT NULL DEFAULT 0,
    streak INTEGER NOT NULL DEFAULT 0,  -- starts in a row that died before becoming ready
    next_restart_at REAL,
    last_error TEXT,
    notes TEXT NOT NULL DEFAULT '[]'    -- JSON list of things the user should know (port moved, exposed host)
)
"""
_ready: set[Path] = set()


def ensure_table(ws: Workspace) -> None:
    if ws.db_path in _ready:
        return
    with ws.write() as c:
        c.execute(_TABLE)
    _ready.add(ws.db_path)


def endpoints_dir(ws: Workspace) -> Path:
    return ws.root / "endpoints"


def endpoint_dir(ws: Workspace, name: str) -> Path:
    return endpoints_dir(ws) / name


@dataclass(frozen=True)
class EndpointRecord:
    name: str
    spec: dict[str, Any]
    engine: str
    state: str
    base_model: str
    models: dict[str, dict[str, Any]]
    host: str
    port: int | None
    pid: int | None
    pid_started: float | None
    api_key_path: str
    created_at: float
    started_at: float | None
    ready_at: float | None
    restarts: int
    streak: int
    next_restart_at: float | None
    last_error: str | None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row) -> EndpointRecord:
        d = dict(row)
        d["spec"] = json.loads(d["spec"])
        d["models"] = json.loads(d["models"])
        d["notes"] = json.loads(d["notes"] or "[]")
        return cls(**d)

    @property
    def wants_running(self) -> bool:
        return self.state in WANT_RUNNING

    @property
    def dir(self) -> Path:
        return Path(self.api_key_path).parent

    @property
    def connect_host(self) -> str:
        """Where a client on this machine reaches the port (a wildcard bind is reached on loopback)."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "[::]", "") else self.host

    @property
    def url(self) -> str | None:
        if not self.port:
            return None
        host = f"[{self.connect_host}]" if ":" in self.connect_host and not self.connect_host.startswith("[") \
            else self.connect_host
        return f"http://{host}:{self.port}/v1"


class EndpointNotFound(KeyError):
    """No endpoint of that name; the message lists the known ones."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        known = ", ".join(self.known) if self.known else "none yet"
        return f"no endpoint named {self.name!r}; known endpoints: {known}"


def get(ws: Workspace, name: str) -> EndpointRecord:
    ensure_table(ws)
    row = ws.conn.execute("SELECT * FROM endpoints WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise EndpointNotFound(name, names(ws))
    return EndpointRecord.from_row(row)


def find(ws: Workspace, name: str) -> EndpointRecord | None:
    try:
        return get(ws, name)
    except EndpointNotFound:
        return None


def names(ws: Workspace) -> list[str]:
    ensure_table(ws)
    return [r[0] for r in ws.conn.execute("SELECT name FROM endpoints ORDER BY created_at, name")]


def list_records(ws: Workspace, states: tuple[str, ...] | None = None) -> list[EndpointRecord]:
    ensure_table(ws)
    if states:
        q = f"SELECT * FROM endpoints WHERE state IN ({','.join('?' * len(states))}) ORDER BY created_at, name"
        rows = ws.conn.execute(q, states).fetchall()
    else:
        rows = ws.conn.execute("SELECT * FROM endpoints ORDER BY created_at, name").fetchall()
    return [EndpointRecord.from_row(r) for r in rows]


def put(ws: Workspace, *, name: str, spec: dict, engine: str, base_model: str, models: dict, host: str,
        port: int | None, api_key_path: str, notes: list[str]) -> EndpointRecord:
    """Insert (or replace a stopped/failed) endpoint row in state `starting`."""
    ensure_table(ws)
    with ws.write() as c:
        c.execute("DELETE FROM endpoints WHERE name = ? AND state IN ('stopped', 'failed')", (name,))
        c.execute(
            "INSERT INTO endpoints (name, spec, engine, state, base_model, models, host, port, api_key_path,"
            " created_at, notes) VALUES (?, ?, ?, 'starting', ?, ?, ?, ?, ?, ?, ?)",
            (name, json.dumps(spec), engine, base_model, json.dumps(models), host, port, api_key_path,
             time.time(), json.dumps(notes)),
        )
    return get(ws, name)


def update(ws: Workspace, name: str, *, where_state: tuple[str, ...] | None = None,
           where_pid: int | None | bool = False, **fields: Any) -> bool:
    """Set fields of one endpoint, optionally only while it is in `where_state` (and has pid `where_pid`), so
    concurrent supervisors (the scheduler, a waiting `deploy`) never both act on one transition."""
    for key in ("models", "notes", "spec"):
        if key in fields:
            fields[key] = json.dumps(fields[key])
    cols = ", ".join(f"{k} = ?" for k in fields)
    q, args = f"UPDATE endpoints SET {cols} WHERE name = ?", [*fields.values(), name]
    if where_state:
        q += f" AND state IN ({','.join('?' * len(where_state))})"
        args += list(where_state)
    if where_pid is not False:
        q += " AND pid IS ?"
        args.append(where_pid)
    with ws.write() as c:
        return bool(c.execute(q, args).rowcount)


def add_note(ws: Workspace, name: str, note: str) -> None:
    rec = get(ws, name)
    update(ws, name, notes=[*rec.notes[-9:], note])
