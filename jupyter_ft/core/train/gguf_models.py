"""GGUF files as base models: each converted once into a plain HF folder in the workspace, keyed by its sha256.

A GGUF (llama.cpp's format) is what many models ship as, and what the package index carries for a real model
offline. Training, evaluation and serving read HF folders, so a `.gguf` named as a model (or a folder holding exactly
one `.gguf` and no config.json) becomes `<workspace>/models/gguf/<sha256[:16]>/` the first time, and that folder
every time after: the same bytes under another path or name are not converted again.

Converting needs torch, which core never imports: `convert` runs `python -m jupyter_ft.training.gguf_convert` in a
child process and relays its stages as progress. The child writes under a temporary name and renames at the end;
the folder counts as converted only once it holds `SOURCE_FILE` (what it was made from), written inside it before
the rename, so a crash never leaves a half folder that looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from jupyter_ft.core.workspace import Workspace

GGUF_DIR = ("models", "gguf")
SOURCE_FILE = "jupyter_ft_source.json"  # inside a converted folder: the file, its sha256, and (fetched) the name
MAGIC = b"GGUF"
INSTALL_HINT = "pip install 'jupyter_ft[gguf]' (or pip install gguf)"
CONVERTER = "jupyter_ft.training.gguf_convert"

Progress = Callable[[str, "float | None"], None]  # (message, fraction done or None)


class ModelSourceError(ValueError):
    """A model source that cannot be used; the message names the file (callers add the spec field)."""


# --- what is a GGUF --------------------------------------------------------------------------------------------

def is_gguf(path: Path) -> bool:
    """A file whose first four bytes are GGUF's magic."""
    try:
        with path.open("rb") as fh:
            return fh.read(4) == MAGIC
    except OSError:
        return False


def gguf_file(path: Path) -> Path | None:
    """The GGUF `path` names: a `.gguf` file (or any file starting with GGUF's magic), or a folder holding exactly
    one `.gguf` and no config.json. None for anything else (a model folder, a missing path)."""
    if path.is_file():
        if path.suffix.lower() == ".gguf" or is_gguf(path):
            return path
        return None
    if path.is_dir() and not (path / "config.json").exists():
        found = sorted(p for p in path.glob("*.gguf") if p.is_file())
        if len(found) > 1:
            raise ModelSourceError(f"folder {path} holds {len(found)} .gguf files ({', '.join(p.name for p in found[:4])}"
                                   f"{', ...' if len(found) > 4 else ''}): name the one to use")
        return found[0] if found else None
    return None


def header(path: Path, wanted: tuple[str, ...] = ("general.architecture", "general.name")) -> dict[str, Any]:
    """`wanted` keys of a GGUF's metadata, read with `struct` from its first bytes (no `gguf` package needed), plus
    `version`, `tensors` and `metadata` counts. Raises ModelSourceError for a file that is not a readable GGUF."""
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    out: dict[str, Any] = {}
    try:
        with path.open("rb") as fh:
            def read(fmt: str) -> Any:
                size = struct.calcsize("<" + fmt)
                data = fh.read(size)
                if len(data) != size:
                    raise EOFError
                return struct.unpack("<" + fmt, data)[0]

            def string() -> str:
                n = read("Q")
                if n > 1 << 24:
                    raise ValueError(f"a string of {n} bytes")
                data = fh.read(n)
                if len(data) != n:
                    raise EOFError
                return data.decode("utf-8", "replace")

            def value(kind: int) -> Any:
                if kind in scalar:
                    return read(scalar[kind])
                if kind == 8:
                    return string()
                if kind == 9:
                    inner, n = read("I"), read("Q")
                    if inner in scalar:
                        fh.seek(n * struct.calcsize("<" + scalar[inner]), os.SEEK_CUR)
                    else:
                        for _ in range(n):
                            value(inner)
                    return None
                raise ValueError(f"unknown metadata type {kind}")

            if fh.read(4) != MAGIC:
                raise ModelSourceError(f"{path}: not a GGUF file (it does not start with the GGUF magic bytes)")
            out["version"], out["tensors"], out["metadata"] = read("I"), read("Q"), read("Q")
            for _ in range(out["metadata"]):
                key = string()
                got = value(read("I"))
                if key in wanted:
                    out[key] = got
                    if all(k in out for k in wanted):
                        break
    except ModelSourceError:
        raise
    except EOFError:
        raise ModelSourceError(f"{path}: truncated GGUF file (its header ends early)") from None
    except (OSError, ValueError, struct.error) as exc:
        raise ModelSourceError(f"{path}: not a readable GGUF file: {exc}") from None
    return out


# --- the cache -------------------------------------------------------------------------------------------------

def cache_dir(ws: Workspace) -> Path:
    return ws.root.joinpath(*GGUF_DIR)


def converted_folder(ws: Workspace, sha256: str) -> Path:
    return cache_dir(ws) / sha256[:16]


def source_of(folder: str | Path) -> dict[str, Any] | None:
    """What a converted folder was made from (`SOURCE_FILE`), or None for any other folder."""
    try:
        data = json.loads((Path(folder) / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_converted(folder: Path) -> bool:
    return (folder / "config.json").is_file() and source_of(folder) is not None


def sha256_file(path: Path, progress: Progress | None = None, label: str | None = None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    last = time.monotonic()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
            done += len(chunk)
            if progress and time.monotonic() - last > 1:
                last = time.monotonic()
                progress(f"hashing {label or path.name}", done / total if total else None)
    return h.hexdigest()


def _hash_index(ws: Workspace) -> Path:
    return cache_dir(ws) / "hashes.json"


def file_sha256(ws: Workspace, path: Path, progress: Progress | None = None) -> str:
    """sha256 of `path`, remembered per (path, size, mtime) so naming the same file again costs a `stat`."""
    st = path.stat()
    key = str(path.resolve())
    index = _hash_index(ws)
    try:
        known = json.loads(index.read_text())
    except (OSError, ValueError):
        known = {}
    hit = known.get(key) if isinstance(known, dict) else None
    if isinstance(hit, dict) and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return str(hit["sha256"])
    sha = sha256_file(path, progress)
    known = known if isinstance(known, dict) else {}
    known[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    _write_json(index, known)
    return sha


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (another process converting or fetching the same thing waits for it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            import fcntl
        except ImportError:  # no advisory locks here: two simultaneous conversions each write their own temp folder
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- converting ------------------------------------------------------------------------------------------------

def check_gguf_installed() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise ModelSourceError(f"reading GGUF files needs the `gguf` package, which is not installed: {INSTALL_HINT}")


def ensure_converted(ws: Workspace, gguf: Path, progress: Progress | None = None,
                     source: dict[str, Any] | None = None, sha256: str | None = None) -> tuple[Path, str]:
    """(the converted folder of `gguf`, the file's sha256): converted now unless the workspace already holds it."""
    gguf = gguf.resolve()
    sha = sha256 or file_sha256(ws, gguf, progress)
    folder = converted_folder(ws, sha)
    if is_converted(folder):
        return folder, sha
    with locked(cache_dir(ws) / f".{sha[:16]}.lock"):
        if is_converted(folder):  # converted by another process while this one waited
            return folder, sha
        info = header(gguf)
        check_gguf_installed()
        record = {"gguf": str(gguf), "gguf_sha256": sha, "architecture": info.get("general.architecture"),
                  "gguf_name": info.get("general.name"), "label": gguf.stem, "converted_at": time.time(),
                  **(source or {})}
        convert(gguf, folder, record, progress)
    return folder, sha


def convert(gguf: Path, folder: Path, record: dict[str, Any], progress: Progress | None = None) -> None:
    """Run the job-side converter on `gguf` into `folder`; ModelSourceError with its message when it fails."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message, fraction=None: None)
    say(f"converting {gguf.name} to a model folder (once per workspace)", None)
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", CONVERTER, "--gguf", str(gguf), "--out", str(folder),
                                 "--source", json.dumps(record)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True)
        error = None
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "error" in msg:
                error = str(msg["error"])
            elif "message" in msg:
                say(str(msg["message"]), None)
        rc = proc.wait()
        if rc != 0:
            if error is None:
                err.seek(0)
                tail = " ".join(err.read().strip().splitlines()[-3:])[-600:]
                error = f"{gguf}: the converter stopped (exit status {rc}): {tail or 'no message'}"
            raise ModelSourceError(error)
    if not is_converted(folder):
        raise ModelSourceError(f"{gguf}: the converter ended without writing {folder}")


# --- progress for people ---------------------------------------------------------------------------------------

class StderrStatus:
    """Progress as lines on stderr: each new message once, fractions as a percentage at most once a second."""

    def __init__(self, prefix: str = "", stream=None):
        self.prefix, self.stream = prefix, stream or sys.stderr
        self.last_message: str | None = None
        self.last_at = 0.0

    def __call__(self, message: str, fraction: float | None = None) -> None:
        now = time.monotonic()
        if message == self.last_message and (fraction is None or now - self.last_at < 1):
            return
        self.last_message, self.last_at = message, now
        pct = f" {fraction:.0%}" if fraction is not None else ""
        self.stream.write(f"{self.prefix}{message}{pct}\n")
        self.stream.flush()
