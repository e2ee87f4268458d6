"""The workspace: one folder that every process (kernel, Jupyter server, CLI, scheduler, job) shares.

    <root>/workspace.db      SQLite (WAL): jobs, their state, their event log
    <root>/jobs/<id>/        spec.yaml, job.log, checkpoints/, output/
    <root>/mlflow.db         embedded MLflow tracking store (unless a tracking URI is configured)
    <root>/mlartifacts/      MLflow artifacts
    <root>/datasets/<name>/<version>/   catalog versions: train.arrow, eval.arrow, meta.json (see `catalog`)

The root defaults to `<jupyter data dir>/jupyter_ft` and is overridden by `JUPYTER_FT_HOME`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT_ENV = "JUPYTER_FT_HOME"
TRACKING_ENV = "JUPYTER_FT_TRACKING_URI"

# Each entry upgrades the schema by one version (PRAGMA user_version). Append, never edit.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        technique TEXT NOT NULL,
        name TEXT,
        state TEXT NOT NULL,
        device TEXT NOT NULL,
        spec TEXT NOT NULL,            -- resolved spec (JSON), auto values filled in
        submitted TEXT NOT NULL,       -- the spec exactly as submitted (JSON)
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL DEFAULT 3,
        pid INTEGER,
        pid_started REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        cancel_at REAL,
        error TEXT,
        step INTEGER NOT NULL DEFAULT 0,
        total_steps INTEGER,
        progress_at REAL,
        mlflow_run_id TEXT,
        mlflow_experiment_id TEXT,
        tracking_uri TEXT
    );
    CREATE INDEX jobs_state ON jobs(state, created_at);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        kind TEXT NOT NULL,            -- metrics | artifact | input | tag | end
        step INTEGER,
        payload TEXT NOT NULL,         -- JSON
        ts REAL NOT NULL,
        forwarded INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX events_job ON events(job_id, kind, seq);
    CREATE INDEX events_pending ON events(forwarded, seq);
    """,
    # dataset catalog: one row per immutable, content-addressed version; files in <root>/datasets/<name>/<version>/
    """
    CREATE TABLE dataset_versions (
        name TEXT NOT NULL,
        version TEXT NOT NULL,         -- first 12 hex digits of the content digest
        kind TEXT NOT NULL,            -- sft | preference | prompt
        format TEXT NOT NULL,          -- TRL format of the stored rows (messages, prompt_completion, text, preference, prompt)
        num_rows INTEGER NOT NULL,
        created_at REAL NOT NULL,
        meta TEXT NOT NULL,            -- JSON: source, mapping, conversion, columns, split, problems, dropped, digest
        PRIMARY KEY (name, version)
    );
    CREATE INDEX dataset_versions_latest ON dataset_versions(name, created_at);
    """,
    # change cursor of the jobs list: every insert or update of a job row takes the next number of one counter.
    # Triggers, so no writer (scheduler, job process, kernel, CLI) can forget; `GET jobs?since=N` sends the rows
    # whose change_seq > N (see jobstore.changes).
    """
    ALTER TABLE jobs ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_change ON jobs(change_seq);
    CREATE TABLE job_change_counter (n INTEGER NOT NULL);
    INSERT INTO job_change_counter VALUES (0);
    CREATE TRIGGER jobs_changed_insert AFTER INSERT ON jobs BEGIN
        UPDATE job_change_counter SET n = n + 1;
        UPDATE jobs SET change_seq = (SELECT n FROM job_change_counter) WHERE id = NEW.id;
    END;
    CREATE TRIGGER jobs_changed_update AFTER UPDATE ON jobs WHEN NEW.change_seq = OLD.change_seq BEGIN
        UPDATE job_change_counter SET n = n + 1;
        UPDATE jobs SET change_seq = (SELECT n FROM job_change_counter) WHERE id = NEW.id;
    END;
    """,
    # what a job warns about while it runs (JSON list of {code, title, message, step}): every face shows it with
    # the job's summary; an update bumps the row's change_seq like any other
    """
    ALTER TABLE jobs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
    """,
]


def default_root() -> Path:
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()).resolve() / "jupyter_ft"


class Workspace:
    """Paths and the database of one workspace root. Cheap to create; safe to share between threads."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser().resolve() if root else default_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.jobs_dir.mkdir(exist_ok=True)
        self._local = threading.local()
        self._migrate()

    # --- paths -------------------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.root / "workspace.db"

    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    @property
    def scheduler_lock(self) -> Path:
        return self.root / "scheduler.lock"

    @property
    def scheduler_log(self) -> Path:
        return self.root / "scheduler.log"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI jobs use unless their spec names another."""
        return os.environ.get(TRACKING_ENV) or f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.root / "mlartifacts"

    # --- database ----------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 60000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """A connection for the calling thread (SQLite connections must not be shared across threads)."""
        c = getattr(self._local, "conn", None)
        if c is None or getattr(self._local, "pid", None) != os.getpid():
            c = self._local.conn = self._connect()
            self._local.pid = os.getpid()
        return c

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (BEGIN IMMEDIATE), so concurrent writers queue instead of failing."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        else:
            c.execute("COMMIT")

    def _migrate(self) -> None:
        with self.write() as c:
            version = c.execute("PRAGMA user_version").fetchone()[0]
            for i, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for stmt in _statements(script):
                    c.execute(stmt)
                c.execute(f"PRAGMA user_version = {i}")

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a migration script; a trigger's body (BEGIN ... END) holds `;` of its own."""
    buf = ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\n;"):
                yield buf
            buf = ""


_open: dict[Path, Workspace] = {}


def workspace(root: str | Path | Workspace | None = None) -> Workspace:
    """The workspace at `root`, or the default one (`JUPYTER_FT_HOME` or the Jupyter data dir); one object per
    folder in a process, so its connections and caches are shared by every caller."""
    if isinstance(root, Workspace):
        return root
    path = Path(root).expanduser().resolve() if root else default_root()
    if path not in _open:
        _open[path] = Workspace(path)
    return _open[path]
