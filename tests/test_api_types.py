"""The Studio's TypeScript types are generated from the server's OpenAPI document, and this test keeps them fresh.

`labextension/openapi.json` is a snapshot of the document a real server serves (`GET /jupyter-ft/api/openapi.json`,
with the base URL and the package version set to fixed values, since the types depend on neither), and
`labextension/src/api/schema.d.ts` is what `openapi-typescript` makes of it. The test fetches the live document over
HTTP and fails when either file differs from what the live server gives, so a change of a route's shape cannot
reach main without the Studio's types following it. Regenerate both with `make api-types`
(`JUPYTER_FT_WRITE_API_TYPES=1 python -m pytest tests/test_api_types.py`).
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "labextension"
SNAPSHOT = LAB / "openapi.json"
SCHEMA_TS = LAB / "src" / "api" / "schema.d.ts"
GENERATOR = LAB / "node_modules" / ".bin" / "openapi-typescript"
REGENERATE = "make api-types  (or: JUPYTER_FT_WRITE_API_TYPES=1 python -m pytest tests/test_api_types.py)"
WRITE = os.environ.get("JUPYTER_FT_WRITE_API_TYPES") == "1"


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


async def live_document(jp_fetch) -> dict:
    """The document the server serves, with what varies per server fixed: its base URL and the package version."""
    r = await jp_fetch("jupyter-ft", "api", "openapi.json")
    assert r.code == 200, r.code
    document = json.loads(r.body)
    document["servers"] = [{"url": "/"}]
    document["info"] = {**document["info"], "version": "0"}
    return document


def as_text(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generator_flags() -> list[str]:
    """The options of package.json's `gen:api` script (`openapi-typescript openapi.json -o <out> [options]`), so the
    test generates exactly as `jlpm gen:api` does."""
    script = json.loads((LAB / "package.json").read_text())["scripts"]["gen:api"]
    words = shlex.split(script)
    assert words[:2] == ["openapi-typescript", "openapi.json"] and words[2] == "-o", script
    return words[4:]


def generate(document_file: Path, out: Path) -> str:
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: run `cd labextension && jlpm install` first (openapi-typescript is a "
                    "devDependency of the labextension)")
    done = subprocess.run([str(GENERATOR), str(document_file), "-o", str(out), *generator_flags()], cwd=LAB, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"})
    assert done.returncode == 0, f"openapi-typescript failed:\n{done.stdout}\n{done.stderr}"
    return out.read_text()


def diff(committed: str, live: str, name: str) -> str:
    lines = list(difflib.unified_diff(committed.splitlines(), live.splitlines(), f"{name} (committed)",
                                      f"{name} (from the live server)", lineterm="", n=1))
    return "\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else "")


async def test_openapi_snapshot_is_the_live_document(ws, jp_fetch):
    live = as_text(await live_document(jp_fetch))
    if WRITE:
        SNAPSHOT.write_text(live)
    committed = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    assert committed == live, (
        f"labextension/openapi.json is not the document the server serves: the REST API changed and the Studio's "
        f"types were not regenerated. Run: {REGENERATE}\n{diff(committed, live, 'openapi.json')}")


async def test_generated_types_are_openapi_typescript_of_the_live_document(ws, jp_fetch, tmp_path):
    document = tmp_path / "openapi.json"
    document.write_text(as_text(await live_document(jp_fetch)))
    generated = generate(document, tmp_path / "schema.d.ts")
    if WRITE:
        shutil.copyfile(tmp_path / "schema.d.ts", SCHEMA_TS)
    committed = SCHEMA_TS.read_text() if SCHEMA_TS.exists() else ""
    assert committed == generated, (
        f"labextension/src/api/schema.d.ts is not what openapi-typescript makes of the live OpenAPI document. "
        f"Run: {REGENERATE}\n{diff(committed, generated, 'schema.d.ts')}")
