"""Endpoints: a base model and its LoRA adapters served behind one OpenAI-compatible API, as a detached process.

    ep = ft.deploy(adapters=["humanlike@3", "support@champion"], name="playground")
    ep.url, ep.proxy_url, ep.models, ep.state, ep.load
    ep.client().chat.completions.create(model="humanlike@3", messages=[...])
    ep.add_adapters(["other@1"]); ep.stop()

An endpoint is recorded in the workspace (`core.deploy.store`) and its server runs in its own session with its
output in `<root>/endpoints/<name>/server.log`, so it survives the kernel and the Jupyter server. The workspace's
scheduler supervises it (`supervise`, called on every scheduler pass): a server that dies is restarted on the same
port, with back-off when it keeps dying before it is ready. The direct port binds 127.0.0.1 unless the spec says
otherwise and needs the endpoint's API key, generated here and kept in a file only its owner can read.

The server itself is `python -m jupyter_ft.serve --config serve.json --ready-file ready.json`
(engine "local") or `vllm serve ...` (engine "vllm", see `jupyter_ft.core.deploy.vllm_plan`).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from jupyter_ft.core.deploy import store
from jupyter_ft.core import procs, threads
from jupyter_ft.core.spec.deploy import BASE_ALIAS, DeploySpec, ServeConfig, parse_deploy_spec
from jupyter_ft.core.deploy.refs import (AdapterSource, DeployError, adapter_rank, check_bases, check_served_names, resolve_adapter, resolve_base)
from jupyter_ft.core.deploy.store import EndpointNotFound, EndpointRecord
from jupyter_ft.core.workspace import Workspace

__all__ = ["DeployError", "Endpoint", "EndpointNotFound", "deploy", "endpoints", "get", "stop", "supervise"]

PROXY_PREFIX = "/jupyter-ft/endpoints"
START_TIMEOUT_ENV = "JUPYTER_FT_ENDPOINT_START_TIMEOUT"
RESTART_DELAYS_S = (0.0, 2.0, 5.0, 15.0, 30.0)  # after 0, 1, 2, ... starts in a row died before becoming ready
MAX_STREAK = len(RESTART_DELAYS_S)              # then the endpoint is `failed`
STOP_GRACE_S = 10.0
PORT_RELEASE_WAIT_S = 5.0  # how long a restart waits for its old port before taking another one
Progress = Callable[[str], None]


def start_timeout() -> float:
    return float(os.environ.get(START_TIMEOUT_ENV, "300"))


# --- ports and keys -------------------------------------------------------------------------------------------

def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (SO_REUSEADDR as servers bind, so TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable even for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def _read_key(rec: EndpointRecord) -> str:
    return Path(rec.api_key_path).read_text().strip()


# --- talking to a running server ------------------------------------------------------------------------------

def _http(rec: EndpointRecord, method: str, path: str, body: dict | None = None, timeout: float = 30.0) -> Any:
    """A JSON call to the endpoint's direct port with its key; raises DeployError with the server's message."""
    if not rec.url:
        raise DeployError(None, f"endpoint {rec.name!r} has no port yet (state {rec.state})")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(rec.url.removesuffix("/v1") + path, data=data, method=method, headers={
        "Authorization": f"Bearer {_read_key(rec)}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            err = json.loads(raw)
            msg = (err.get("error") or {}).get("message") if isinstance(err.get("error"), dict) else err.get("detail")
        except ValueError:
            msg = None
        raise DeployError(None, f"endpoint {rec.name!r} answered {exc.code}: {msg or raw[:300].decode(errors='replace')}") \
            from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeployError(None, f"endpoint {rec.name!r} is not reachable at {rec.url}: {exc}") from None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def _load(rec: EndpointRecord) -> dict[str, Any] | None:
    if rec.state != "running":
        return None
    try:
        out = _http(rec, "GET", "/metrics_json", timeout=2.0)
    except DeployError:
        return None
    return out if isinstance(out, dict) else None


def _log_tail(rec: EndpointRecord, lines: int = 4) -> str:
    path = rec.dir / "server.log"
    try:
        text = path.read_bytes()[-20000:].decode(errors="replace")
    except OSError:
        return ""
    kept = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("[jupyter_ft]")]
    return " | ".join(kept[-lines:])


def _note_log(rec: EndpointRecord, text: str) -> None:
    with open(rec.dir / "server.log", "a") as fh:
        fh.write(f"[jupyter_ft] {time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


# --- launching --------------------------------------------------------------------------------------------------

def _argv_and_env(rec: EndpointRecord, port: int) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    adapters = {served: m["path"] for served, m in rec.models.items()}
    spec = rec.spec
    if rec.engine == "vllm":
        from jupyter_ft.core.deploy import vllm_plan

        argv = vllm_plan.build_command(rec.base_model, adapters, host=rec.host, port=port,
                                       ranks=[adapter_rank(p) for p in adapters.values()],
                                       max_loras=spec.get("max_loras"), max_lora_rank=spec.get("max_lora_rank"),
                                       max_num_seqs=spec.get("max_batch_size"))
        env.update(vllm_plan.env_for(_read_key(rec)))
        return argv, env
    config = ServeConfig(base_model=rec.base_model, adapters=adapters, host=rec.host, port=port,
                         api_key=_read_key(rec), max_batch_size=spec.get("max_batch_size", 8),
                         max_queue=spec.get("max_queue", 256), device=spec.get("device", "auto"))
    cfg = rec.dir / "serve.json"
    _write_private(cfg, config.model_dump_json(indent=2))
    return [sys.executable, "-m", "jupyter_ft.serve", "--config", str(cfg),
            "--ready-file", str(rec.dir / "ready.json")], env


def _launch(ws: Workspace, rec: EndpointRecord, why: str) -> EndpointRecord:
    """Start the server process for `rec` (on its recorded port when that is free) and record its pid."""
    (rec.dir / "ready.json").unlink(missing_ok=True)
    port = rec.port
    # a SIGKILLed server's threads may still hold its socket for a moment after its main thread shows as dead
    deadline = time.time() + PORT_RELEASE_WAIT_S
    while port and not port_free(rec.host, port) and time.time() < deadline:
        time.sleep(0.1)
    if not port or not port_free(rec.host, port):
        new = procs.free_port(rec.host)
        if port:
            note = (f"port {port} on {rec.host} was in use by another program; endpoint {rec.name!r} now listens "
                    f"on port {new}")
            store.add_note(ws, rec.name, note)
            _note_log(rec, note)
        port = new
    argv, env = _argv_and_env(rec, port)
    _note_log(rec, f"{why}: {' '.join(a if not a.startswith('--api-key') else '--api-key ***' for a in argv)}")
    if rec.engine == "local":  # the engine's torch threads, sized before it starts (see core.threads)
        choice = threads.for_workload(ws, f"endpoint {rec.name}", rec.spec, rec.spec.get("device", "auto"))
        if choice is not None:
            env.update(choice.env())
            if choice.by_rule:
                env.update(threads.resize_env(ws, f"endpoint {rec.name}", rec.dir))
            threads.record(rec.dir, choice)
            _note_log(rec, choice.line())
    pid = procs.spawn_detached(argv, rec.dir / "server.log", env=env)
    store.update(ws, rec.name, pid=pid, pid_started=procs.create_time(pid), port=port, started_at=time.time(),
                 next_restart_at=None)
    return store.get(ws, rec.name)


def _is_ready(rec: EndpointRecord) -> int | None:
    """The port the server listens on once it is ready, else None."""
    if rec.engine == "vllm":
        try:
            with urllib.request.urlopen(rec.url.removesuffix("/v1") + "/health", timeout=1.0) as resp:
                return rec.port if resp.status == 200 else None
        except (urllib.error.URLError, OSError, AttributeError):
            return None
    try:
        ready = json.loads((rec.dir / "ready.json").read_text())
    except (OSError, ValueError):
        return None
    if int(ready.get("pid") or 0) not in (0, rec.pid):
        return None  # a previous process's file
    return int(ready.get("port") or rec.port or 0) or None


def _signal_stop(pid: int | None, started: float | None, grace: float = STOP_GRACE_S) -> None:
    if not pid or not procs.alive(pid, started):
        return
    procs.signal_group(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and procs.alive(pid, started):
        time.sleep(0.05)
    if procs.alive(pid, started):
        procs.signal_group(pid, signal.SIGKILL)


# --- the state machine: one step for one endpoint ---------------------------------------------------------------

def refresh(ws: Workspace, name: str, log: Callable[[str], None] | None = None) -> EndpointRecord:
    """Advance one endpoint's state from what its process does now: ready -> running, died -> restarting/failed.
    Safe to call from several processes at once (every transition is conditional on the state and pid it saw)."""
    rec = store.get(ws, name)
    now = time.time()
    if rec.state in ("starting", "restarting") and rec.pid:
        port = _is_ready(rec)
        if port and procs.alive(rec.pid, rec.pid_started):
            if store.update(ws, name, where_state=("starting", "restarting"), where_pid=rec.pid,
                            state="running", port=port, ready_at=now, streak=0):
                _note_log(rec, f"ready on port {port} (pid {rec.pid}) after {now - (rec.started_at or now):.1f} s")
                log and log(f"endpoint {name} ready on port {port}")
        else:
            dead = not procs.alive(rec.pid, rec.pid_started)
            if not dead and now - (rec.started_at or now) > start_timeout():
                _signal_stop(rec.pid, rec.pid_started, grace=2.0)
                dead, why = True, f"not ready after {start_timeout():.0f} s (stopped)"
            else:
                why = "exited before it was ready"
            if dead:
                err = f"the server process {why}: {_log_tail(rec) or 'no output'}"
                first = rec.state == "starting" and rec.ready_at is None and rec.restarts == 0
                streak = rec.streak + 1
                if first or streak >= MAX_STREAK:
                    final = err if first else f"{err} (gave up after {streak} failed starts in a row)"
                    store.update(ws, name, where_state=("starting", "restarting"), where_pid=rec.pid,
                                 state="failed", pid=None, last_error=final)
                    _note_log(rec, final)
                else:
                    store.update(ws, name, where_state=("starting", "restarting"), where_pid=rec.pid,
                                 state="restarting", pid=None, streak=streak, last_error=err,
                                 next_restart_at=now + RESTART_DELAYS_S[min(streak, MAX_STREAK - 1)])
                log and log(f"endpoint {name}: {err}")
    elif rec.state == "running" and not procs.alive(rec.pid, rec.pid_started):
        err = f"the server process {rec.pid} died at {time.strftime('%H:%M:%S')}; restarting it"
        if store.update(ws, name, where_state=("running",), where_pid=rec.pid, state="restarting", pid=None,
                        last_error=err, next_restart_at=now):
            _note_log(rec, err)
            log and log(f"endpoint {name}: {err}")
    return store.get(ws, name)


def supervise(ws: Workspace, log: Callable[[str], None] | None = None) -> bool:
    """One supervision pass over every endpoint that wants to run (called by the scheduler, the only process that
    restarts servers). Returns True while any endpoint wants to run, so the scheduler stays alive."""
    wanted = store.list_records(ws, store.WANT_RUNNING)
    for rec in wanted:
        rec = refresh(ws, rec.name, log)
        if rec.state == "restarting" and rec.pid is None and (rec.next_restart_at or 0) <= time.time():
            if not store.update(ws, rec.name, where_state=("restarting",), where_pid=None,
                                restarts=rec.restarts + 1):
                continue  # stopped meanwhile
            new = _launch(ws, store.get(ws, rec.name), f"restart {rec.restarts + 1}")
            if not new.wants_running:  # stopped while it was being launched: do not leave it running
                _signal_stop(new.pid, new.pid_started, grace=2.0)
                store.update(ws, rec.name, pid=None)
                continue
            log and log(f"endpoint {rec.name}: restarted (restart {rec.restarts + 1})")
        elif rec.state == "starting" and rec.pid is None and time.time() - rec.created_at > 60:
            _launch(ws, rec, "start (the deploying process left it unstarted)")
    return bool(wanted) and any(r.wants_running for r in store.list_records(ws, store.WANT_RUNNING))


def wanted(ws: Workspace) -> bool:
    """True when some endpoint should be running (the Jupyter server then makes sure the scheduler runs)."""
    return bool(store.list_records(ws, store.WANT_RUNNING))


# --- lineage -----------------------------------------------------------------------------------------------------

def _lineage(ws: Workspace, name: str, refs: list[str] | None) -> None:
    from jupyter_ft.core.registry import lineage

    try:
        if refs is None:
            lineage.unregister_endpoint_use(ws, name)
        elif refs:
            lineage.register_endpoint_use(ws, name, refs)
    except Exception as exc:  # lineage is a record of use; serving does not depend on it
        print(f"[jupyter_ft] lineage not updated for endpoint {name}: {exc}", file=sys.stderr)


def _refs(rec: EndpointRecord) -> list[str]:
    refs = [m["ref"] for m in rec.models.values() if m.get("ref")]
    if rec.spec.get("_base_ref"):
        refs.insert(0, rec.spec["_base_ref"])
    return refs


def _base_source(base: str) -> dict[str, Any]:
    """A base converted from a GGUF (or fetched): the file and its sha256, kept with the endpoint's record."""
    from jupyter_ft.core.train.gguf_models import source_of
    from jupyter_ft.core.train.model_source import LINEAGE_KEYS

    src = source_of(base) if Path(base).is_dir() else None
    return {"_base_source": {k: src[k] for k in LINEAGE_KEYS if src.get(k)}} if src else {}


# --- the public operations -------------------------------------------------------------------------------------

def deploy(spec: DeploySpec | dict | str, ws: Workspace, *, wait: bool = True, timeout: float | None = None,
           progress: Progress | None = None, base_dir: str | Path | None = None) -> Endpoint:
    """Start an endpoint from a `DeploySpec` (or its fields). With `wait`, return once it answers (or raise
    `DeployError` with the server's last words); `progress` gets a line now and then while it starts."""
    from jupyter_ft.core.jobs.daemon import ensure_scheduler

    spec = parse_deploy_spec(spec)
    existing = store.find(ws, spec.name)
    if existing is not None and existing.wants_running:
        raise DeployError("name", f"endpoint {spec.name!r} is already {existing.state} at {existing.url}; stop it "
                                  f"first, or add adapters to it (Endpoint.add_adapters / POST endpoints/"
                                  f"{spec.name}/adapters)")
    adapters = [resolve_adapter(ws, e, f"adapters.{i}", base_dir) for i, e in enumerate(spec.adapters)]
    base, base_ref = resolve_base(ws, spec.base, adapters, base_dir)
    check_bases(base, adapters)
    check_served_names(adapters, {base, BASE_ALIAS})
    if spec.engine == "vllm":
        from jupyter_ft.core.deploy import vllm_plan

        from jupyter_ft.core import devices

        try:
            if not vllm_plan.vllm_importable():  # said before the (slow) accelerator probe
                raise vllm_plan.VllmUnavailable(vllm_plan.INSTALL_HINT)
            device = devices.resolve(spec.device, ws.root / "devices.json")
            vllm_plan.check_runnable(device.kind)
        except ValueError as exc:
            raise DeployError("engine", str(exc)) from None
    notes = []
    if spec.exposed:
        notes.append(f"the direct port binds {spec.host}, so it is reachable beyond this machine (the API key is "
                     "still required); host='127.0.0.1' keeps it local")
    port = spec.port
    try:
        new = procs.free_port(spec.host)
    except OSError as exc:
        raise DeployError("host", f"cannot listen on {spec.host}: {exc.strerror or exc} (use an address of this "
                                  "machine, e.g. 127.0.0.1 or 0.0.0.0)") from None
    if port and not port_free(spec.host, port):
        notes.append(f"port {port} on {spec.host} is in use by another program; endpoint {spec.name!r} listens on "
                     f"port {new} instead")
        port = new
    folder = store.endpoint_dir(ws, spec.name)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    key_path = folder / "api_key"
    _write_private(key_path, secrets.token_urlsafe(32))
    stored = {**spec.model_dump(mode="json"), "_base_ref": base_ref, **_base_source(base)}
    rec = store.put(ws, name=spec.name, spec=stored, engine=spec.engine, base_model=base,
                    models={a.served: a.to_dict() for a in adapters}, host=spec.host, port=port or None,
                    api_key_path=str(key_path), notes=notes)
    for note in notes:
        _note_log(rec, note)
    rec = _launch(ws, rec, "start")
    ensure_scheduler(ws)
    _lineage(ws, spec.name, _refs(rec))
    ep = Endpoint(spec.name, ws)
    if progress:
        for note in notes:
            progress(f"note: {note}")
        progress(f"endpoint {spec.name}: starting {spec.engine} server (pid {rec.pid}) for {base} with "
                 f"{len(adapters)} adapter(s) on port {rec.port}; log: {rec.dir / 'server.log'}")
    if wait:
        ep.wait_ready(timeout=timeout, progress=progress)
    return ep


def get(ws: Workspace, name: str) -> Endpoint:
    store.get(ws, name)  # EndpointNotFound names the known ones
    return Endpoint(name, ws)


def endpoints(ws: Workspace) -> list[Endpoint]:
    """Every recorded endpoint (stopped and failed ones too), oldest first. Makes sure a supervisor runs for those
    that want to run (it may have ended with the machine)."""
    recs = store.list_records(ws)
    if any(r.wants_running for r in recs):
        from jupyter_ft.core.jobs.daemon import ensure_scheduler

        ensure_scheduler(ws, wake=False)
    return [Endpoint(r.name, ws) for r in recs]


def stop(ws: Workspace, name: str) -> EndpointRecord:
    """Stop an endpoint's server (SIGTERM, then SIGKILL after a grace period) and mark it stopped."""
    rec = store.get(ws, name)
    store.update(ws, name, state="stopped", next_restart_at=None)
    now = store.get(ws, name)  # a supervisor may have launched a new process in between: stop that one too
    for pid, started in {(rec.pid, rec.pid_started), (now.pid, now.pid_started)}:
        _signal_stop(pid, started)
    store.update(ws, name, pid=None)
    if rec.wants_running:
        _note_log(rec, "stopped")
    _lineage(ws, name, None)
    return store.get(ws, name)


def stop_all(ws: Workspace) -> None:
    """Stop every endpoint of the workspace (tests, `jupyter-ft endpoint stop --all`)."""
    for rec in store.list_records(ws, store.WANT_RUNNING):
        stop(ws, rec.name)


def add_adapters(ws: Workspace, name: str, entries: list[str], base_dir: str | Path | None = None) -> list[str]:
    """Load adapters into a running endpoint without a restart (`POST /v1/load_lora_adapter`) and record them, so
    a restarted server loads them too. Returns the served names added."""
    rec = store.get(ws, name)
    if rec.state != "running":
        raise DeployError("name", f"endpoint {name!r} is {rec.state}; adapters are added to a running endpoint")
    if not entries:
        raise DeployError("adapters", "name at least one adapter")
    new = [resolve_adapter(ws, e, f"adapters.{i}", base_dir) for i, e in enumerate(entries)]
    check_bases(rec.base_model, new)
    check_served_names(new, {rec.base_model, BASE_ALIAS, *rec.models})
    added: list[AdapterSource] = []
    try:
        for a in new:
            _http(rec, "POST", "/v1/load_lora_adapter", {"lora_name": a.served, "lora_path": a.path})
            added.append(a)
    finally:
        if added:
            models = dict(store.get(ws, name).models)
            models.update({a.served: a.to_dict() for a in added})
            spec = {**rec.spec, "adapters": [*rec.spec.get("adapters", []), *[a.entry for a in added]]}
            store.update(ws, name, models=models, spec=spec)
            _lineage(ws, name, _refs(store.get(ws, name)))
    return [a.served for a in added]


def remove_adapters(ws: Workspace, name: str, served: list[str]) -> None:
    """Unload adapters from a running endpoint (`POST /v1/unload_lora_adapter`) and forget them."""
    rec = store.get(ws, name)
    unknown = [s for s in served if s not in rec.models]
    if unknown:
        raise DeployError("adapters", f"{unknown} not served by {name!r}; it serves {sorted(rec.models)}")
    if rec.state == "running":
        for s in served:
            _http(rec, "POST", "/v1/unload_lora_adapter", {"lora_name": s})
    models = {k: v for k, v in rec.models.items() if k not in served}
    entries = {v["entry"] for k, v in rec.models.items() if k in served}
    spec = {**rec.spec, "adapters": [e for e in rec.spec.get("adapters", []) if e not in entries]}
    store.update(ws, name, models=models, spec=spec)
    _lineage(ws, name, None)
    _lineage(ws, name, _refs(store.get(ws, name)))


class Endpoint:
    """A handle on one endpoint. Every property reads the workspace, so it is current and survives restarts."""

    def __init__(self, name: str, ws: Workspace):
        self.name = name
        self.ws = ws

    @property
    def record(self) -> EndpointRecord:
        return store.get(self.ws, self.name)

    @property
    def state(self) -> str:
        return refresh(self.ws, self.name).state

    @property
    def url(self) -> str | None:
        """The direct URL (`http://127.0.0.1:PORT/v1`); needs `api_key`."""
        return self.record.url

    @property
    def proxy_url(self) -> str:
        """The path under the Jupyter server's base URL that proxies to this endpoint behind Jupyter's login."""
        return f"{PROXY_PREFIX}/{self.name}/v1"

    @property
    def api_key(self) -> str:
        return _read_key(self.record)

    @property
    def base_model(self) -> str:
        return self.record.base_model

    @property
    def models(self) -> list[str]:
        """Served model names: the base first, then each adapter."""
        rec = self.record
        return [rec.base_model, *rec.models]

    @property
    def load(self) -> dict[str, Any] | None:
        """The server's queue/active/served counts (`/metrics_json`), None unless running."""
        return _load(refresh(self.ws, self.name))

    @property
    def error(self) -> str | None:
        return self.record.last_error

    @property
    def notes(self) -> list[str]:
        return self.record.notes

    def wait_ready(self, timeout: float | None = None, progress: Progress | None = None) -> Endpoint:
        """Block until the server answers; raise DeployError if it fails, TimeoutError after `timeout` s."""
        t0 = time.time()
        limit = timeout if timeout is not None else start_timeout() + 30
        last_said = t0
        while True:
            rec = refresh(self.ws, self.name)
            if rec.state == "running":
                if progress:
                    progress(f"endpoint {self.name}: ready at {rec.url} ({time.time() - t0:.1f} s); through "
                             f"Jupyter: <base_url>{self.proxy_url.lstrip('/')}")
                return self
            if rec.state in ("failed", "stopped"):
                raise DeployError(None, f"endpoint {self.name!r} {rec.state}: {rec.last_error or 'stopped'}; log: "
                                        f"{rec.dir / 'server.log'}")
            if time.time() - t0 > limit:
                raise TimeoutError(f"endpoint {self.name!r} still {rec.state} after {limit:.0f} s; see "
                                   f"{rec.dir / 'server.log'}")
            if progress and time.time() - last_said >= 5:
                progress(f"endpoint {self.name}: {rec.state} ({time.time() - t0:.0f} s, loading the model)")
                last_said = time.time()
            time.sleep(0.2)

    def stop(self) -> Endpoint:
        stop(self.ws, self.name)
        return self

    def add_adapters(self, entries: list[str]) -> list[str]:
        return add_adapters(self.ws, self.name, list(entries))

    def remove_adapters(self, served: list[str]) -> None:
        remove_adapters(self.ws, self.name, list(served))

    def client(self, **kwargs: Any):
        """An official `openai.OpenAI` client for the direct port, with the endpoint's key."""
        try:
            import openai
        except ImportError:
            raise DeployError(None, "Endpoint.client() needs the official OpenAI client: pip install openai") from None
        rec = self.record
        if not rec.url:
            raise DeployError(None, f"endpoint {self.name!r} has no port yet (state {rec.state})")
        return openai.OpenAI(base_url=rec.url, api_key=_read_key(rec), **kwargs)

    def logs(self, tail: int | None = None) -> str:
        path = self.record.dir / "server.log"
        text = path.read_text(errors="replace") if path.is_file() else ""
        return "\n".join(text.splitlines()[-tail:]) if tail else text

    def to_dict(self, load: bool = True) -> dict[str, Any]:
        """JSON-ready summary for REST, the CLI and widgets (never the API key)."""
        rec = refresh(self.ws, self.name)
        return {
            "name": rec.name, "state": rec.state, "url": rec.url, "proxy_url": self.proxy_url,
            "models": [rec.base_model, *rec.models], "base_model": rec.base_model, "engine": rec.engine,
            "load": _load(rec) if load else None, "created_at": rec.created_at,
            "adapters": {k: {"entry": v.get("entry"), "ref": v.get("ref")} for k, v in rec.models.items()},
            "host": rec.host, "port": rec.port, "pid": rec.pid, "restarts": rec.restarts,
            "last_error": rec.last_error, "notes": rec.notes, "ready_at": rec.ready_at,
        }

    def __repr__(self) -> str:
        rec = self.record
        return f"<Endpoint {rec.name} {rec.state} {rec.url or ''} models={[rec.base_model, *rec.models]}>"
