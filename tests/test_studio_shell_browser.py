"""The Studio's shell in a real browser: real `jupyter lab` on loopback serving this checkout's labextension,
Debian's Chromium driven by Playwright, one lab start for every check (in order, as a person would go):

1. Datasets: upload a preference file with one bad row by the file picker -> the problem by row; upload it again
   leaving the row out -> the conversion applied; drag-and-drop a second file; the list shows rows and splits.
2. Preview (main area): chosen and rejected side by side, paging, token statistics against the tiny model.
3. Customize (main area): the form from the server's TrainSpec schema, prefilled from the dataset; auto hints
   (value and why) for empty fields; a field error from the server's validation; switching technique swaps the
   options block (GRPO shows its reward list); submit a few DPO steps -> the job view opens.
4. Job view: the chart fills live (loss and reward-margin panels) to success; the time from a logged step to its
   point in the chart is measured in the page (printed, not asserted); clone into the form; dark theme.
5. Jobs tab: a job submitted from Python (as a kernel or the CLI would) appears without a click.
6. Commands: palette/launcher entries, the quick-start notebook, MLflow in a main-area frame.

Screenshots go to $JUPYTER_FT_TEST_ARTIFACTS/<test> or the test's tmp dir (printed).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytest

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.datasets import demo_data

from .browser import TOKEN, Phases, artifacts_dir, built_labextension, chromium_page, jupyter_lab, open_lab, \
    require_chromium, wait_until
from .test_sidebar import scheduler_paused

pytestmark = pytest.mark.slow

SIDEBAR = "#jupyter-ft-sidebar"


def preference_file(path: Path, n: int = 60, bad_row: int = 3) -> Path:
    """The shipped human-like preference rows, flattened to text columns (`question` is an alias of `prompt`),
    with one empty `chosen`: what a person's hand-made file looks like."""
    rows = []
    for r in demo_data.preference_rows(n):
        text = lambda v: v[0]["content"] if isinstance(v, list) else v  # noqa: E731
        rows.append({"question": text(r["prompt"]), "chosen": text(r["chosen"]), "rejected": text(r["rejected"])})
    rows[bad_row]["chosen"] = ""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_studio_shell_datasets_customize_job_view_commands(ws, tmp_path, tiny_model):
    labextension = built_labextension()
    require_chromium()
    shots = artifacts_dir(tmp_path, "studio_shell")
    print(f"screenshots: {shots}")
    phase = Phases()
    pref = preference_file(tmp_path / "human-like-pairs.jsonl")
    with jupyter_lab(tmp_path, labextension) as server:
        server.wait_ready()
        phase("jupyter lab answers")
        with chromium_page() as page:
            try:
                run_checks(page, server, ws, pref, tmp_path, tiny_model, shots, phase)
            finally:
                page.screenshot(path=str(shots / "last-page.png"))


def run_checks(page, server, ws, pref: Path, tmp_path: Path, tiny_model: Path, shots: Path, phase) -> None:
    open_lab(page, server)
    page.locator(f'.jp-SideBar [data-id="jupyter-ft-sidebar"]').click()
    sidebar = page.locator(SIDEBAR)
    phase("lab loaded, Fine-tuning opened")
    ref = check_datasets(page, sidebar, pref, tmp_path, shots, phase)
    check_preview(page, ref, tiny_model, shots, phase)
    job_id = check_customize(page, sidebar, ref, tiny_model, server, shots, phase)
    check_job_view(page, ws, job_id, shots, phase)
    check_jobs_tab_live(page, sidebar, ws, tiny_model, ref, phase)
    check_upload_command(page, tmp_path)
    check_commands(page, server, shots, phase)
    assert not [e for e in page.console_errors if "jupyter_ft" in e or "jp-ft" in e], page.console_errors


def check_datasets(page, sidebar, pref: Path, tmp_path: Path, shots: Path, phase) -> str:
    sidebar.locator('.jp-ft-tab[data-tab="datasets"]').click()
    sidebar.locator(".jp-ft-empty", has_text="catalog is empty").wait_for()

    # File picker: the bad row is named, nothing is added.
    sidebar.locator(".jp-ft-upload-name input").fill("pairs")
    sidebar.locator(".jp-ft-file-input").set_input_files(str(pref))
    problems = sidebar.locator(".jp-ft-upload-error")
    problems.wait_for()
    assert "row 4: chosen: 'chosen' is empty" in problems.inner_text()
    page.screenshot(path=str(shots / "1-upload-problems.png"))
    assert sidebar.locator(".jp-ft-dataset").count() == 0

    # Again without the invalid row: the version and the conversion applied.
    problems.locator(".jp-ft-drop-invalid", has_text="without the 1 invalid row").click()
    result = sidebar.locator(".jp-ft-upload-result")
    result.wait_for()
    text = result.inner_text()
    assert "pairs@" in text and "preference" in text and "59 rows" in text, text
    assert "column 'question' -> 'prompt'" in text and "dropped 1 invalid rows" in text, text
    ref = result.get_attribute("data-ref")
    row = sidebar.locator('.jp-ft-dataset[data-dataset="pairs"]')
    row.wait_for()
    assert "59 rows" in row.inner_text() and "eval 6" in row.inner_text(), row.inner_text()

    # Drag and drop a second file onto the drop zone.
    sft = tmp_path / "capitals.jsonl"
    sft.write_text("".join(json.dumps(r) + "\n" for r in demo_data.sft_rows(20)))
    sidebar.locator(".jp-ft-upload-name input").fill("")  # named after the file
    page.evaluate("""([name, text]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], name, {type: 'application/json'}));
        const zone = document.querySelector('#jupyter-ft-sidebar .jp-ft-dropzone');
        zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", ["capitals.jsonl", sft.read_text()])
    sidebar.locator('.jp-ft-dataset[data-dataset="capitals"]').wait_for()
    assert "sft" in sidebar.locator('.jp-ft-dataset[data-dataset="capitals"]').inner_text()
    page.screenshot(path=str(shots / "1-datasets.png"))
    phase(f"datasets: upload problems, drop_invalid, drag-and-drop ({ref})")
    return ref


def check_preview(page, ref: str, tiny_model: Path, shots: Path, phase) -> None:
    page.locator(f'{SIDEBAR} .jp-ft-dataset[data-dataset="pairs"] .jp-ft-preview').click()
    panel = page.locator(f'.jp-ft-preview-panel[data-ref="{ref}"]')
    panel.locator(".jp-ft-row").first.wait_for()
    first = panel.locator(".jp-ft-row").first
    assert first.locator(".jp-ft-side-chosen").count() == 1 and first.locator(".jp-ft-side-rejected").count() == 1
    assert first.locator('[data-column="prompt"]').count() == 1
    assert panel.locator(".jp-ft-row").count() == 10
    assert "rows 1–10 of 53" in panel.inner_text()
    before = first.inner_text()
    panel.locator(".jp-ft-next").click()
    panel.get_by_text("rows 11–20 of 53").wait_for()
    wait_until(lambda: panel.locator(".jp-ft-row").first.inner_text() != before, what="page 2 rows", timeout=10)

    # Token statistics against the tiny model's tokenizer (measured by the server in a child process).
    panel.locator(".jp-ft-tokens-max").fill("64")
    panel.locator(".jp-ft-tokens-model").fill("/no/such/model")
    panel.locator(".jp-ft-tokens-run").click()
    err = panel.locator(".jp-ft-tokens .jp-ft-error")
    err.wait_for()
    assert "model: no such model folder: /no/such/model" in err.inner_text(), err.inner_text()
    panel.locator(".jp-ft-tokens-model").fill(str(tiny_model))
    panel.locator(".jp-ft-tokens-run").click()
    check_token_stats(page, ref, shots, phase)
    page.screenshot(path=str(shots / "2-preview.png"))
    phase("preview: chosen|rejected side by side, paging, token statistics")


def check_token_stats(page, ref: str, shots: Path, phase) -> None:
    panel = page.locator(f'.jp-ft-preview-panel[data-ref="{ref}"]')
    stats = panel.locator(".jp-ft-tokens-result")
    stats.wait_for(timeout=120_000)
    text = stats.inner_text()
    assert "tokens per row" in text and "exceed max_length 64" in text, text
    assert panel.locator(".jp-ft-hist-bar").count() > 0
    panel.locator(".jp-ft-tokens").screenshot(path=str(shots / "2-token-stats.png"))
    phase("token statistics shown")


def check_customize(page, sidebar, ref: str, tiny_model: Path, server, shots: Path, phase) -> str:
    sidebar.locator('.jp-ft-dataset[data-dataset="pairs"] .jp-ft-train-on').click()
    form = page.locator(".jp-ft-customize")
    form.locator("#root_model").wait_for()
    assert form.get_attribute("data-technique") == "dpo"  # prefilled from the dataset's kind
    assert form.locator("#root_dataset").input_value() == ref
    assert form.locator(".jp-ft-advanced").get_attribute("open") is None  # Advanced starts folded
    form.locator("#root_model").fill(str(tiny_model))

    # Auto hints: what the server would choose for the empty fields, and why.
    lr = form.locator('.jp-ft-field[data-field="learning_rate"] .jp-ft-auto-hint')
    lr.wait_for(timeout=90_000)  # the first preview of a fresh server imports the sizing code
    assert "dpo" in lr.inner_text(), lr.inner_text()
    form.locator(".jp-ft-advanced > summary").click()
    form.locator('.jp-ft-group[data-group="LoRA"] > summary').click()
    r_hint = form.locator('.jp-ft-field[data-field="lora.r"] .jp-ft-auto-hint')
    r_hint.wait_for()
    assert "rank" in r_hint.inner_text(), r_hint.inner_text()
    page.screenshot(path=str(shots / "3-customize-auto.png"), full_page=True)

    # A field error from the server's validation, shown on that field.
    form.locator("#root_learning_rate").fill("5")
    lr_error = form.locator('.jp-ft-field[data-field="learning_rate"] .jp-ft-field-errors')
    lr_error.wait_for()
    assert "1" in lr_error.inner_text(), lr_error.inner_text()
    page.screenshot(path=str(shots / "3-customize-error.png"), full_page=True)
    form.locator("#root_learning_rate").fill("")
    lr_error.wait_for(state="detached")

    # Technique switch: GRPO's block (with its reward list) replaces DPO's.
    form.locator("#root_technique").select_option("grpo")
    form.locator('[data-field="grpo"]').wait_for()
    assert form.locator('[data-field="dpo"]').count() == 0
    assert form.locator('[data-field="grpo.rewards"]').count() == 1
    # The reward list takes the built-in reward functions: add one and pick its kind.
    rewards = form.locator('[data-field="grpo.rewards"]').first
    rewards.locator(".jp-ft-array-add").first.click()
    kinds = rewards.locator("select").first
    kinds.wait_for()
    options = kinds.locator("option").all_inner_texts()
    assert any("ExactMatch" in o for o in options) and any("Regex" in o for o in options), options
    page.screenshot(path=str(shots / "3-customize-grpo.png"), full_page=True)
    form.locator("#root_technique").select_option("dpo")
    form.locator('[data-field="dpo"]').wait_for()

    # Full fine-tuning: the LoRA block goes and the server sizes the job for all the weights (`lora: false`):
    # DPO's learning rate with LoRA is its short-run 5e-4 here (a few hundred pairs: under 300 steps); 5e-7 for full
    # weights.
    hint = "document.querySelector('.jp-ft-customize .jp-ft-field[data-field=\"learning_rate\"] .jp-ft-auto-hint')"
    page.wait_for_function(f"() => /0\\.0005|5e-4/.test({hint}?.textContent || '')", timeout=60_000)
    form.locator(".jp-ft-full-weights input").check()
    form.locator('.jp-ft-field[data-field="lora.r"]').wait_for(state="detached")
    page.wait_for_function(f"() => /5e-7|0\\.0000005|full weights/.test({hint}?.textContent || '')", timeout=60_000)
    print("full-weights hint:", lr.inner_text())
    page.screenshot(path=str(shots / "3-customize-full.png"), full_page=True)
    form.locator(".jp-ft-full-weights input").uncheck()
    page.wait_for_function(f"() => /0\\.0005|5e-4/.test({hint}?.textContent || '')", timeout=60_000)

    # A few steps, then submit: the job view opens.
    form.locator("#root_max_steps").fill("6")
    form.locator("#root_name").fill("studio-dpo")
    watch_chart(page)
    form.locator(".jp-ft-submit").click()
    view = page.locator(".jp-ft-jobview")
    wait_until(lambda: view.count() or form.locator(".jp-ft-submit-error, .jp-ft-form-errors").count(),
               what="the job view (or the server's refusal)", timeout=90)
    print("submit button:", form.locator(".jp-ft-submit").inner_text() if form.count() else "(form closed)")
    if not view.count():
        errors = [e.inner_text() for e in form.locator(".jp-ft-submit-error, .jp-ft-form-errors, .jp-ft-field-errors").all()]
        raise AssertionError(f"the submission was refused: {errors}")
    job_id = view.get_attribute("data-job-id")
    phase(f"customize: hints, field error, technique switch, submitted {job_id}")
    return job_id


def watch_chart(page) -> None:
    """Record in the page when each step first appears in a loss chart (epoch ms), to compare with the time the
    job logged it."""
    page.evaluate("""() => {
        window.__ftSeen = {};
        const mark = () => {
            for (const el of document.querySelectorAll('.jp-ft-chart[data-panel="loss"]')) {
                const step = el.getAttribute('data-last-step');
                if (step && !(step in window.__ftSeen)) window.__ftSeen[step] = Date.now();
            }
        };
        new MutationObserver(mark).observe(document.body, {subtree: true, attributes: true, childList: true,
                                                           attributeFilter: ['data-last-step']});
    }""")


def check_job_view(page, ws, job_id: str, shots: Path, phase) -> None:
    view = page.locator(f'.jp-ft-jobview[data-job-id="{job_id}"]')
    view.locator(".jp-ft-chart[data-panel='loss']").wait_for(timeout=120_000)
    view.locator(".jp-ft-state", has_text="succeeded").wait_for(timeout=180_000)
    wait_until(lambda: view.locator(".jp-ft-chart[data-panel='loss']").get_attribute("data-last-step"),
               until=lambda s: s == "6", what="the chart's last step", timeout=20)
    assert view.locator(".jp-ft-chart[data-panel='margins']").count() == 1  # DPO's reward margins
    assert "step 6/6" in view.locator(".jp-ft-jobview-progress").inner_text()
    assert "attempt 1" in view.locator(".jp-ft-attempts").inner_text()
    assert view.locator(".jp-ft-mlflow-link").count() == 1
    view.locator(".jp-ft-jobview-log pre").filter(has_text="succeeded").wait_for(timeout=20_000)
    page.screenshot(path=str(shots / "4-job-view.png"), full_page=True)

    # Latency from a logged step (the event's time in the workspace) to its point in the chart.
    seen = page.evaluate("() => window.__ftSeen")
    logged = {}
    for e in jobstore.events(ws, job_id, "metrics"):  # oldest first: the first row logged at each step
        logged.setdefault(str(e["step"]), e["ts"])
    lags = [seen[s] / 1000 - logged[s] for s in seen if s in logged]
    assert lags, (seen, logged)
    print(f"chart latency over {len(lags)} logged steps: median {statistics.median(lags):.3f} s, "
          f"max {max(lags):.3f} s (bench/studio_chart_latency.py measures it over many steps)")

    # Clone into the form: the same technique, dataset and steps.
    view.locator(".jp-ft-clone").click()
    form = page.locator(".jp-ft-customize")
    form.locator("#root_max_steps").wait_for()
    assert form.locator("#root_max_steps").input_value() == "6"
    assert form.get_attribute("data-technique") == "dpo"

    # Dark theme: the same view in JupyterLab's dark colours.
    page.evaluate(f"() => window.jupyterapp.shell.activateById('{main_widget_id('job-' + job_id)}')")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.screenshot(path=str(shots / "4-job-view-dark.png"), full_page=True)
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
    phase("job view: live chart to success, clone, dark theme")


def main_widget_id(key: str) -> str:
    """The DOM id of a Studio main-area panel opened with `openMain(key, ...)` (mainArea.tsx)."""
    import re

    return "jupyter-ft-main-" + re.sub(r"[^A-Za-z0-9_-]", "_", key)


def check_jobs_tab_live(page, sidebar, ws, tiny_model: Path, ref: str, phase) -> None:
    sidebar.locator('.jp-ft-tab[data-tab="jobs"]').click()
    sidebar.locator(".jp-ft-job").first.wait_for()
    with scheduler_paused(ws):
        job = ft.submit({"model": str(tiny_model), "dataset": ref, "technique": "dpo", "name": "from-python",
                         "max_steps": 2, "device": "cpu"}, ws)
        row = sidebar.locator(f'.jp-ft-job[data-job-id="{job.id}"]')
        t0 = time.monotonic()
        row.wait_for(timeout=10_000)  # the long-poll answers at the change, no click
        print(f"a job submitted from Python appeared in the Jobs tab after {time.monotonic() - t0:.2f} s")
        assert row.locator(".jp-ft-state").inner_text() == "queued"
        job.cancel()
        row.locator(".jp-ft-state", has_text="cancelled").wait_for(timeout=10_000)
    phase("jobs tab: a job from Python appeared and was cancelled, live")


def check_upload_command(page, tmp_path: Path) -> None:
    """'Upload dataset' from the command palette brings up the Datasets tab with its drop zone highlighted; its
    "choose a file…" button opens the browser's file picker, and the file chosen there is uploaded."""
    data = tmp_path / "from-picker.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_data.sft_rows(12)))
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("Upload dataset")
    page.keyboard.press("Enter")
    sidebar = page.locator(SIDEBAR)
    sidebar.locator('.jp-ft-tab[data-tab="datasets"][aria-selected="true"]').wait_for()
    sidebar.locator(".jp-ft-dropzone.jp-mod-flash").wait_for()
    with page.expect_file_chooser() as chooser:
        sidebar.locator(".jp-ft-pick").click()
    chooser.value.set_files(str(data))
    sidebar.locator('.jp-ft-dataset[data-dataset="from-picker"]').wait_for()


def check_commands(page, server, shots: Path, phase) -> None:
    labels = page.evaluate("""() => ['jupyter-ft:new-job', 'jupyter-ft:upload-dataset', 'jupyter-ft:open-mlflow',
        'jupyter-ft:new-quickstart-notebook'].map(c => window.jupyterapp.commands.label(c))""")
    assert labels == ["New fine-tuning job", "Upload dataset", "Open MLflow",
                      "New notebook from the quick-start template"], labels
    page.evaluate("() => window.jupyterapp.commands.execute('launcher:create').then(() => null)")
    launcher = page.locator(".jp-Launcher").last  # the one just created (the start page has one too)
    launcher.locator(".jp-LauncherCard", has_text="New fine-tuning job").wait_for()
    assert launcher.locator(".jp-LauncherCard", has_text="Open MLflow").count() == 1
    page.screenshot(path=str(shots / "6-launcher.png"))

    path = page.evaluate("() => window.jupyterapp.commands.execute('jupyter-ft:new-quickstart-notebook')")
    assert path == "dpo_human_like.ipynb", path
    nb = json.loads((server.root_dir / path).read_text())
    assert any("human-like" in "".join(c["source"]) for c in nb["cells"])
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")

    page.evaluate("() => window.jupyterapp.commands.execute('jupyter-ft:open-mlflow')")
    frame = page.locator(".jp-ft-mlflow iframe")
    frame.wait_for(state="attached")
    assert frame.get_attribute("src").endswith("/jupyter-ft/mlflow/")
    phase("commands: palette labels, launcher cards, quick-start notebook, MLflow frame")
