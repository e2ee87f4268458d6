"""The Studio's whole no-code flow in a real browser: a real `jupyter lab` on loopback serving this checkout's
labextension, Debian's Chromium driven by Playwright, and NO notebook opened at any point (checked at the end: no
notebook panel, no kernel session).

1. upload the human-like preference file through the Datasets tab's file picker;  2. preview it (chosen and
rejected side by side);  3. pick the tiny base model in Models (a tiny Llama folder under the server root, so the
base-model catalog lists it);  4. Customize it with DPO on the uploaded dataset, defaults kept but a few steps;
5. submit and watch the job to success in its chart;  6. see the registered version in Models with its lineage;
7. evaluate it against the base with the stand-in judge (`StandInJudge`, an OpenAI-compatible heuristic server);
8. deploy it and get a streamed answer in the playground;  9. cast one blind vote.

Every step is done by clicking and typing in the page; REST is only read to check what the page did. A screenshot
of each step goes to `$JUPYTER_FT_TEST_ARTIFACTS/<test>/` (else `<tmp_path>/screenshots/`, printed).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from jupyter_ft.core.datasets import demo_data
from jupyter_ft.serve.stand_in_judge import StandInJudge

from .browser import (TOKEN, LabServer, Phases, artifacts_dir, built_labextension, chromium_page, jupyter_lab,
                      open_lab, wait_until)
from .conftest import write_jsonl

pytestmark = pytest.mark.slow

ROWS = 120            # preference rows uploaded (the catalog holds out an eval split)
STEPS = 4             # DPO steps: defaults kept but these
EVAL_LIMIT = 3        # prompts the judge compares
NEW_TOKENS = 16       # answer length in the evaluation and the playground
JOB_TIMEOUT_S = 240
UI_TIMEOUT_MS = 90_000  # a waiting limit, not a sleep: on a loaded 2-core machine a submission can take a minute


def rest(server: LabServer, path: str, method: str = "GET", body: dict | None = None):
    req = urllib.request.Request(f"{server.base}/jupyter-ft/api/{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


class Flow:
    """The page, the server and where screenshots go; `shot` keeps one PNG per step."""

    def __init__(self, page, server: LabServer, shots: Path, phase: Phases):
        self.page, self.server, self.shots, self.phase = page, server, shots, phase
        self.sidebar = page.locator("#jupyter-ft-sidebar")

    def shot(self, name: str, locator=None) -> None:
        path = self.shots / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        self.phase(f"screenshot {path.name}")

    def tab(self, tab_id: str) -> None:
        self.sidebar.locator(f'button.jp-ft-tab[data-tab="{tab_id}"]').click()
        self.sidebar.locator(f'section.jp-ft-content[data-tab="{tab_id}"]').wait_for()

    def main_panel(self, selector: str):
        """The visible main-area panel holding `selector`."""
        loc = self.page.locator(f"#jp-main-dock-panel .lm-Widget:not(.lm-mod-hidden) {selector}").last
        loc.wait_for()
        return loc


def test_no_code_flow_in_jupyterlab(ws, tiny_model, tmp_path, request):
    phase = Phases()
    shots = artifacts_dir(tmp_path, request.node.name)
    print(f"screenshots: {shots}")
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copytree(tiny_model, root / "tiny-llama")  # under the server root: the base-model catalog lists it
    data = write_jsonl(tmp_path / "human_like.jsonl", demo_data.preference_rows(ROWS, seed=3))
    with StandInJudge() as judge, jupyter_lab(tmp_path, built_labextension()) as server:
        server.wait_ready()
        phase("jupyter lab answers")
        try:
            with chromium_page(timeout_ms=UI_TIMEOUT_MS) as page:
                open_lab(page, server)
                page.locator('.jp-SideBar [data-id="jupyter-ft-sidebar"]').click()
                flow = Flow(page, server, shots, phase)
                try:
                    run_flow(flow, data, judge)
                finally:
                    with contextlib.suppress(Exception):
                        page.screenshot(path=str(shots / "last-page.png"))
                    # no notebook was opened at any point, and no kernel runs
                    notebooks = page.evaluate("() => document.querySelectorAll('.jp-NotebookPanel').length")
                    sessions = server.get("api/sessions")
                assert notebooks == 0 and sessions == [], (notebooks, sessions)
                ours = [e for e in page.console_errors if "jupyter-ft" in e or "jupyter_ft" in e]
                assert ours == [], ours
        finally:
            with contextlib.suppress(Exception):
                for ep in rest(server, "endpoints").get("endpoints", []):
                    rest(server, f"endpoints/{ep['name']}", "DELETE")


def run_flow(flow: Flow, data: Path, judge: StandInJudge) -> None:
    page, server = flow.page, flow.server

    # 1. upload the preference file through the Datasets tab's file picker
    flow.tab("datasets")
    flow.sidebar.locator(".jp-ft-file-input").set_input_files(str(data))
    result = flow.sidebar.locator(".jp-ft-upload-result")
    result.wait_for(timeout=60_000)
    ref = result.get_attribute("data-ref")
    assert ref and ref.startswith("human_like@"), ref
    assert f"{ROWS} rows" in result.inner_text()
    (version,) = [v for v in rest(server, "datasets")["datasets"] if v["ref"] == ref]
    assert version["kind"] == "preference"
    flow.shot("1-upload", flow.sidebar)

    # 2. preview it: chosen and rejected side by side
    result.locator(".jp-ft-preview").click()
    preview = flow.main_panel(f'.jp-ft-preview-panel[data-ref="{ref}"]')
    first = preview.locator(".jp-ft-row").first
    first.locator(".jp-ft-sides .jp-ft-side-chosen").wait_for()
    assert first.locator(".jp-ft-sides .jp-ft-side-rejected").count() == 1
    flow.shot("2-preview")

    # 3. pick the tiny base model in Models
    flow.tab("models")
    base = flow.sidebar.locator('.jp-ft-base-model[data-model-id*="tiny-llama"]').first
    base.wait_for(timeout=30_000)
    meta = base.inner_text()
    assert "llama" in meta.lower() and "params" in meta, meta
    flow.shot("3-base-model", flow.sidebar)
    base.locator(".jp-ft-act-customize").click()

    # 4. customize with DPO on the uploaded dataset, defaults kept but a few steps
    form = flow.main_panel(".jp-ft-customize")
    form.locator("#root_technique").select_option("dpo")
    page.wait_for_function("() => document.querySelector('.jp-ft-customize[data-technique=\"dpo\"]')")
    model_field = form.locator("#root_model")
    assert "tiny-llama" in model_field.input_value()  # prefilled by "Customize…" on the base model
    form.locator("#root_dataset").fill(ref)
    form.locator("#root_max_steps").fill(str(STEPS))
    flow.shot("4-customize")
    jobs_before = {j["id"] for j in rest(server, "jobs")["jobs"]}
    form.locator(".jp-ft-submit").click()

    # 5. submit and watch the job to success in its chart
    job_id = wait_until(lambda: [j["id"] for j in rest(server, "jobs")["jobs"] if j["id"] not in jobs_before],
                        timeout=UI_TIMEOUT_MS / 1000, what="the submitted job")[0]
    job = rest(server, f"jobs/{job_id}")["job"]
    assert job["technique"] == "dpo" and job["spec"]["max_steps"] == STEPS and job["spec"]["dataset"] == ref
    view = flow.main_panel(f'[data-job-id="{job_id}"]')
    view.locator('.jp-ft-state', has_text="succeeded").first.wait_for(timeout=JOB_TIMEOUT_S * 1000)
    view.locator(".uplot").first.wait_for()
    flow.shot("5-job-succeeded")
    flow.phase("DPO job succeeded")

    # 6. the version in Models with its lineage
    flow.tab("models")
    tuned = flow.sidebar.locator(".jp-ft-tuned-model").first
    tuned.wait_for(timeout=60_000)
    tuned.locator(".jp-ft-row-head").first.click()
    version_row = wait_until(lambda: _version_for_job(server, job_id), timeout=60, what="the registered version")
    model_ref = version_row
    row = flow.sidebar.locator(f'.jp-ft-mversion[data-ref="{model_ref}"]')
    row.wait_for()
    row.locator(".jp-ft-lineage-open").click()
    graph = flow.main_panel(".jp-ft-lineage-svg")
    kinds = graph.locator(".jp-ft-lineage-node").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert {"dataset", "job", "model_version"} <= set(kinds), kinds
    graph.locator('.jp-ft-lineage-node[data-kind="dataset"]').first.click()
    details = flow.main_panel(".jp-ft-lineage-details")
    assert "human_like" in details.inner_text()
    flow.shot("6-lineage")

    # 7. evaluate it against the base with the stand-in judge
    flow.tab("models")
    row.locator(".jp-ft-act-evaluate").click()
    eval_form = flow.main_panel(".jp-ft-eval-form")
    eval_form.locator("#jp-ft-eval_dataset").fill(ref)
    eval_form.locator(".jp-ft-eval-advanced > summary").click()  # `limit` is folded under Advanced
    eval_form.locator("#jp-ft-eval-adv_limit").fill(str(EVAL_LIMIT))
    eval_form.locator("#jp-ft-eval-adv_generation_max_new_tokens").fill(str(NEW_TOKENS))
    eval_form.locator("#jp-ft-eval_evaluators_0_judge_base_url").fill(judge.url)
    # the judge's model left empty: the server's 400 names `evaluators.0.judge.model`, shown on that field
    eval_form.locator(".jp-ft-do-submit").click()
    model_input = eval_form.locator("#jp-ft-eval_evaluators_0_judge_model")
    field = model_input.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' form-group ')][1]")
    field.locator(".validationErrors", has_text="Field required").wait_for()
    assert "evaluators.0.judge.model" in eval_form.locator(".jp-ft-form-error").inner_text()
    model_input.fill("stand-in")
    flow.shot("7a-eval-form")
    eval_form.locator(".jp-ft-do-submit").click()
    results = flow.main_panel(".jp-ft-eval-results")
    results.locator(".jp-ft-state", has_text="succeeded").wait_for(timeout=JOB_TIMEOUT_S * 1000)
    results.locator(".jp-ft-pairwise tbody tr").first.wait_for()
    pair = results.locator(".jp-ft-pairwise tbody tr").first.inner_text()
    assert model_ref in pair and "base" in pair, pair
    assert results.locator(".jp-ft-sample-table tbody tr").count() == EVAL_LIMIT
    flow.shot("7b-eval-results")
    flow.phase("evaluation succeeded")

    # 8. deploy it and get an answer in the playground
    flow.tab("models")
    row.locator(".jp-ft-act-deploy").click()
    deploy = flow.main_panel(".jp-ft-deploy-form")
    assert model_ref in deploy.locator("#jp-ft-deploy-adapters").input_value()
    deploy.locator("#jp-ft-deploy-name").fill("studio")
    deploy.locator(".jp-ft-do-submit").click()
    done = deploy.locator('.jp-ft-deployed[data-endpoint="studio"]')
    done.wait_for(timeout=120_000)
    flow.shot("8a-deployed")
    flow.tab("endpoints")
    ep_row = flow.sidebar.locator('.jp-ft-endpoint[data-endpoint="studio"]')
    ep_row.wait_for()
    ep_row.locator(".jp-ft-open-playground").click()
    play = flow.main_panel('.jp-ft-playground[data-endpoint="studio"]')
    play.locator(".jp-ft-num").first.fill(str(NEW_TOKENS))  # max tokens (the blind pair uses it too)
    play.locator(".jp-ft-send").click()
    columns = play.locator(".jp-ft-columns").first.locator(".jp-ft-column")
    wait_until(lambda: columns.evaluate_all("els => els.map(e => e.dataset.state)"),
               until=lambda s: bool(s) and all(x in ("done", "error") for x in s), timeout=120,
               what="the playground's streamed answers")
    states = columns.evaluate_all("els => els.map(e => [e.dataset.model, e.dataset.state, "
                                  "e.querySelector('.jp-ft-answer').textContent])")
    assert all(s == "done" and text.strip() for _, s, text in states), states
    flow.shot("8b-playground")
    flow.phase("playground answered")

    # 9. one blind vote
    blind = play.locator(".jp-ft-blind")
    blind.locator(".jp-ft-blind-ask").click()
    blind.locator(".jp-ft-blind-answer").nth(1).wait_for(timeout=120_000)
    votes_before = len(rest(server, "playground/votes")["votes"])
    blind.locator('.jp-ft-blind-vote button[data-winner="A"]').click()
    revealed = blind.locator(".jp-ft-blind-revealed")
    revealed.wait_for()
    votes = rest(server, "playground/votes")["votes"]
    assert len(votes) == votes_before + 1 and votes[-1]["winner"] == "A"
    assert Path(votes[-1]["models"]["A"]).name in revealed.inner_text()  # the served name (a base's folder: its name)
    flow.shot("9-blind-vote")

    # the same panels in the dark theme (JupyterLab's CSS variables only)
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_selector("#jupyterlab-splash", state="detached")  # the theme-change splash dims the whole page
    flow.shot("10-dark-theme")

    # copy the proxied URL, then stop the endpoint from the Endpoints tab (after its confirmation)
    ep_row.locator(".jp-ft-copy-proxy").click()
    copied = flow.sidebar.locator(".jp-ft-copied").inner_text()
    assert copied.rstrip().endswith("/jupyter-ft/endpoints/studio/v1") and copied.count("http") == 1, copied
    ep_row.locator(".jp-ft-stop").click()
    page.locator(".jp-Dialog button", has_text="Stop endpoint").click()
    wait_until(lambda: rest(server, "endpoints/studio")["endpoint"]["state"], until=lambda s: s == "stopped",
               timeout=60, what="the endpoint stopped from the UI")
    flow.sidebar.locator('.jp-ft-endpoint[data-endpoint="studio"][data-state="stopped"]').wait_for()
    play.locator("h2 .jp-ft-state", has_text="stopped").wait_for()  # the open playground follows it too
    assert play.locator(".jp-ft-send").is_disabled()


def _version_for_job(server: LabServer, job_id: str) -> str | None:
    for m in rest(server, "models")["models"]:
        for v in m["versions"]:
            if v.get("job_id") == job_id:
                return f"{m['name']}@{v['version']}"
    return None
