"""Every notebook panel in real JupyterLab, read from what Chromium draws (DOM and plotly's drawn state), not from
the Python objects behind it: the job form, the live chart of a running job, two jobs overlaid, the jobs panel at
a 1,500-px-wide window, side-by-side compare and a dataset preview. One JupyterLab, one notebook, two real tiny
SFT jobs (a short one that finishes, a long one that is still running and is cancelled from the jobs panel).

Screenshots of each panel: `$JUPYTER_FT_TEST_ARTIFACTS/<test>/` when set, else `<tmp_path>/screenshots/`.
"""

from __future__ import annotations

import re

import pytest

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore

from .browser import Notebook, Phases, lab, notebook, page, wait_until  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

PANELS_SFT = ["loss", "learning rate", "grad norm", "tokens seen", "throughput"]  # an SFT job on CPU, panel order

# The figure as plotly.js drew it: traces with their axes and point counts, subplots, panel titles, axis titles.
DRAWN_JS = r"""g => ({
  traces: g._fullData.map(t => ({name: t.name, xaxis: t.xaxis, yaxis: t.yaxis, n: (t.x || []).length})),
  subplots: g.querySelectorAll('.cartesianlayer > .subplot').length,
  legend: [...g.querySelectorAll('.legendtext')].map(e => e.textContent),
  titles: [...g.querySelectorAll('.annotation-text')].map(e => e.textContent),
  xtitles: [...g.querySelectorAll('text')].filter(e => /^x\d*title$/.test(e.getAttribute('class')))
           .map(e => e.textContent),
  yranges: Object.fromEntries(Object.keys(g._fullLayout).filter(k => /^yaxis\d*$/.test(k))
                              .map(k => [k, g._fullLayout[k].range])),
})"""


# Each row action as the page lays it out: `cut` when it is narrower than the same element at its natural width
# (Chromium draws "Ch…" for any overflow, even under a pixel) or spills out of its cell; `outside` when it reaches
# past the cell output's edge.
CUT_JS = r"""t => [...t.querySelectorAll('.jft-job-actions button, .jft-job-actions a')].map(e => {
    const r = e.getBoundingClientRect(), area = e.closest('.jp-OutputArea-output').getBoundingClientRect();
    const holder = (e.closest('.widget-html') || e).getBoundingClientRect();
    const natural = e.cloneNode(true);  // the same element at its natural width: what it needs to show in full
    Object.assign(natural.style, {width: 'max-content', position: 'absolute', visibility: 'hidden'});
    e.parentNode.appendChild(natural);
    const need = natural.getBoundingClientRect().width;
    natural.remove();
    return {text: e.innerText.trim(), cut: need - r.width > 0.05 || r.right > holder.right + 1,
            outside: r.right > area.right + 1 || r.left < area.left - 1};
})"""


@pytest.fixture
def two_jobs(ws, tiny_model, sft_file):
    """Submitted before JupyterLab starts, so they train while it boots (one job at a time on the CPU)."""
    short = ft.train(model=str(tiny_model), dataset=str(sft_file), name="short run", max_steps=16, logging_steps=2,
                     learning_rate=5e-3, eval_fraction=0.25, device="cpu")
    # logs every 32 steps (a few seconds): on one torch thread the tiny model runs several steps a second, and the
    # chart sends a whole new figure at each tick with new points, which a loaded browser cannot draw twice a second
    long = ft.train(model=str(tiny_model), dataset=str(sft_file), name="long run", max_steps=5000, logging_steps=32,
                    learning_rate=5e-3, device="cpu")
    return short, long


def drawn(cell) -> dict:
    plot = cell.output.locator(".js-plotly-plot")
    plot.wait_for()
    return plot.evaluate(DRAWN_JS)


def axis_of(trace: dict) -> str:
    return trace["yaxis"]


def test_every_panel_in_jupyterlab(ws, tiny_model, sft_file, tmp_path, two_jobs, notebook: Notebook):
    phase = Phases()
    short, long = two_jobs
    browser_page = notebook.page
    phase("JupyterLab loaded, notebook kernel idle")
    notebook.run("import jupyter_ft as ft")

    # --- the job form: chat data with technique=dpo is refused on the dataset field, the other hints stay ----------
    form = notebook.run(f"form = ft.ui.train(model={str(tiny_model)!r}, dataset={str(sft_file)!r}, "
                        f"technique='dpo'); form")
    dataset_error = form.output.locator(".jft-field-dataset .jft-error")
    dataset_error.filter(has_text="dpo data (preference) is one of").wait_for()
    assert "These columns fit sft data (technique sft)" in dataset_error.inner_text()
    batch_hint = form.output.locator(".jft-field-batch_size .jft-hint")
    batch_hint.filter(has_text="auto:").wait_for()
    assert re.search(r"auto: \d+ — batch \d+ × accum \d+: fits .* on cpu", batch_hint.inner_text())
    assert "usual for dpo with LoRA" in form.output.locator(".jft-field-learning_rate .jft-hint").inner_text()
    assert "rank for a" in form.output.locator(".jft-field-lora-r .jft-hint").inner_text()
    assert "Please fix: dataset:" in form.output.inner_text()
    notebook.screenshot(form, "form-wrong-kind-dataset")
    # the user picks sft in the page: the dataset fits, the error goes, the hints follow the technique
    form.output.locator(".jft-field-technique select").select_option("sft")
    dataset_error.filter(has_text="dpo data (preference) is one of").wait_for(state="detached")
    form.output.locator(".jft-field-learning_rate .jft-hint").filter(has_text="usual for sft").wait_for()
    assert "Please fix" not in form.output.inner_text()
    notebook.screenshot(form, "form-sft")
    phase("form checked")

    # --- dataset preview --------------------------------------------------------------------------------------
    preview = notebook.run(f"ft.ui.datasets({str(sft_file)!r})")
    preview.output.get_by_text("The capital of France is Paris.").first.wait_for()
    notebook.screenshot(preview, "dataset-preview")
    phase("dataset preview checked")

    # --- live chart of a running job: one panel per metric kind, named traces, its own y-axis each -------------
    wait_until(lambda: (long.record.state, len(long.metrics())), until=lambda s: s[0] == "running" and s[1] >= 3,
               timeout=240, poll=0.5, what="the long job to run and log (state, points)")
    live = notebook.run(f"live = ft.ui.chart({long.id!r}, interval=0.5); live")
    state = wait_until(lambda: drawn(live), until=lambda d: d["subplots"] == len(PANELS_SFT), timeout=60,
                       what="four panels drawn")
    py = notebook.run("print(live.panels, sorted(t.name for t in live.figure.data))").text
    assert py.startswith(str(PANELS_SFT)), py
    names = sorted(t["name"] for t in state["traces"])
    assert names == ["grad_norm", "learning_rate", "loss", "num_tokens", "tokens_per_s"], names
    assert not any(n.startswith("trace ") for n in state["legend"]) and sorted(state["legend"]) == names
    assert state["titles"] == PANELS_SFT
    assert "step" in state["xtitles"]
    by_name = {t["name"]: t for t in state["traces"]}
    assert len({axis_of(t) for t in state["traces"]}) == 5  # tokens and loss never share a y-axis
    loss_axis = by_name["loss"]["yaxis"].replace("y", "yaxis")
    tokens_axis = by_name["num_tokens"]["yaxis"].replace("y", "yaxis")
    assert state["yranges"][loss_axis][1] < 50 < 1000 < state["yranges"][tokens_axis][1]
    first = by_name["loss"]["n"]
    wait_until(lambda: next(t["n"] for t in drawn(live)["traces"] if t["name"] == "loss"), timeout=60,
               until=lambda n: n > first, what="new points drawn while the job runs")
    notebook.run("live.stop()")  # the picture needs a figure that is not being re-drawn while it is taken
    notebook.screenshot(live, "chart-live")
    phase("live chart checked")

    # --- two jobs overlaid: the same panels, each run named in the legend ----------------------------------------
    assert short.wait(timeout=120).status == "succeeded", short.logs(tail=20)
    overlay = notebook.run(f"both = ft.ui.chart([{short.id!r}, {long.id!r}], interval=0.5); both")
    state = wait_until(lambda: drawn(overlay), timeout=60, what="overlay drawn",
                       until=lambda d: d["subplots"] == len(PANELS_SFT) and
                       any(t["name"] == "short run · eval_loss" for t in d["traces"]))
    legend = set(state["legend"])
    assert {"short run · loss", "long run · loss", "short run · eval_loss", "short run · num_tokens",
            "long run · num_tokens"} <= legend, legend
    by_name = {t["name"]: t for t in state["traces"]}
    assert by_name["short run · loss"]["yaxis"] == by_name["long run · loss"]["yaxis"] == \
        by_name["short run · eval_loss"]["yaxis"]
    assert by_name["short run · num_tokens"]["yaxis"] != by_name["short run · loss"]["yaxis"]
    assert state["titles"] == PANELS_SFT
    notebook.run("both.stop()")
    notebook.screenshot(overlay, "chart-overlay")
    phase("overlay checked")

    # --- jobs panel at 1,500 px: nothing cut; Cancel from the page cancels the running job ------------------------
    assert browser_page.viewport_size["width"] == 1500
    jobs = notebook.run("panel = ft.ui.jobs(interval=0.5); panel")
    table = jobs.output.locator(".jft-jobs-table")
    table.locator(f".jft-row-{long.id}.jft-job-status", has_text="running").wait_for()
    jobstore.add_warning(ws, short.id, "eval_margin_saturated", "over-optimising: the held-out margin stopped "
                         "improving", "the held-out reward margin has not beaten 2.00 (step 3) in 3 evaluations")
    warned = table.locator(f".jft-row-{short.id}.jft-job-status .jft-job-warning")
    warned.wait_for()  # the next refresh shows it, with the whole message as tooltip
    assert warned.inner_text() == "⚠ 1 warning"
    tip = warned.locator("span").get_attribute("title")
    assert tip.startswith("over-optimising: the held-out margin") and "has not beaten 2.00" in tip
    cut = table.evaluate(CUT_JS)
    assert [c["text"] for c in cut] == ["Chart", "Cancel", "Clone", "MLflow ↗"] * 2, cut
    assert not [c for c in cut if c["cut"] or c["outside"]], cut
    assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1"), "the jobs table scrolls sideways at 1500 px"
    table.locator(f".jft-row-{long.id} .jft-cancel").click()
    table.locator(f".jft-row-{long.id}.jft-job-status", has_text="cancelled").wait_for(timeout=60_000)
    assert jobstore.get(ws, long.id).state == "cancelled"
    notebook.screenshot(jobs, "jobs-panel-1500px")  # once no row changes at every refresh: a stable picture
    phase("jobs panel checked, long job cancelled from the page")

    # --- compare: base and the short job's adapter side by side -------------------------------------------------
    compare = notebook.run(f"cmp = ft.ui.compare(models=['base', {short.id!r}], "
                           "prompts=['What is the capital of France?'], max_new_tokens=8); cmp")
    compare.output.get_by_text(re.compile("done in")).wait_for(timeout=180_000)
    text = compare.output.inner_text()
    assert "What is the capital of France?" in text and "base" in text and short.id in text
    assert "max_new_tokens 8" in text and "working" not in text
    notebook.screenshot(compare, "compare")
    phase("compare checked")
    assert not [e for e in browser_page.console_errors if "plotly" in e.lower() or "setting state" in e.lower()], \
        browser_page.console_errors
