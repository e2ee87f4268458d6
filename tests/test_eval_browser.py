"""The evaluation widgets in a real browser (tests/browser.py: real `jupyter lab`, a real kernel, Debian Chromium
driven by Playwright). A real evaluation job (the tiny model and a LoRA adapter on the shipped multiple-choice set)
is opened in the results widget while it runs; the test reads what the page draws once it ends (bar traces named per
model, error bars, a panel per evaluator, table rows, the disagreement filter changing the row count), then opens the
evaluation form and types a bad value (the error shows on its field). Screenshots are kept in the artifacts folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import jupyter_ft as ft
from jupyter_ft.core.evaluate import view as eval_view

from .browser import lab, notebook, page  # noqa: F401  (fixtures)
from .test_widgets import random_adapter  # noqa: F401

pytestmark = pytest.mark.slow
MC_FILE = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "mc_facts.jsonl"
ROWS = 8


@pytest.fixture
def mc_eval(ws, tiny_model, random_adapter):  # noqa: F811
    """A real evaluation, submitted before JupyterLab starts so that both boot at once."""
    return ft.evaluate(models=["base", str(random_adapter)], base=str(tiny_model), dataset=str(MC_FILE), split="all",
                       limit=ROWS, evaluators=["multiple_choice"], bootstrap=200, name="browser-mc")


def test_eval_results_and_form_in_jupyterlab(mc_eval, notebook, ws):  # noqa: F811
    page = notebook.page
    cell = notebook.run(f"import jupyter_ft as ft\nview = ft.ui.eval_results({mc_eval.id!r})\nview")
    out = cell.output.locator(".jft-eval-results")
    out.wait_for()
    out.locator(".jft-state", has_text="succeeded").wait_for(timeout=300_000)  # followed live until the job ended
    assert mc_eval.status == "succeeded", mc_eval.error
    results = ft.eval_results(mc_eval.id)
    models = results["models"]
    disagreeing = len(eval_view.filter_samples(results, disagree_only=True))
    assert models == ["base", "adapter"] and len(results["samples"]) == ROWS
    assert 0 < disagreeing < ROWS  # the random adapter picks other answers on some questions: the filter must bite

    plot = out.locator(".js-plotly-plot")
    plot.wait_for()
    traces = plot.evaluate("gd => gd.data.map(t => ({name: t.name, type: t.type, err: !!(t.error_y && "
                           "t.error_y.visible), x: t.x, xaxis: t.xaxis || 'x'}))")
    assert {t["type"] for t in traces} == {"bar"}
    assert [t["name"] for t in traces] == models * 2                  # named per model, not "trace 0"
    assert [t["xaxis"] for t in traces] == ["x", "x", "x2", "x2"]     # accuracy, then the per-subject panel
    assert all(t["err"] for t in traces) and traces[0]["x"] == ["acc", "acc_norm"]
    legend = plot.locator(".legend .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert legend == models
    assert plot.locator(".errorbar path.yerror").count() > 0          # the intervals are drawn
    rows = out.locator("table.jft-samples tr.jft-sample")
    assert rows.count() == ROWS
    notebook.screenshot(cell, "eval-results", out)

    out.get_by_text("only samples where the models disagree").click()
    page.wait_for_function("n => document.querySelectorAll('.jft-eval-results table.jft-samples tr.jft-sample')"
                           ".length === n", arg=disagreeing)
    assert f"{disagreeing} of {ROWS} samples" in out.locator(".jft-count").inner_text()
    assert rows.count() == disagreeing
    notebook.screenshot(cell, "eval-results-disagree", out)

    form_cell = notebook.run(f"form = ft.ui.evaluate({mc_eval.id!r})\nform.add_class('jft-eval-form')\nform")
    form = form_cell.output.locator(".jft-eval-form")
    form.wait_for()
    assert "Evaluation" in form.inner_text() and "multiple_choice" in form.locator("textarea").first.input_value()
    form.get_by_text("Advanced", exact=True).click()                  # split and limit sit under Advanced
    limit = form.locator(".widget-text", has_text="limit").locator("input")
    assert limit.input_value() == str(ROWS)                           # cloned from the job
    limit.fill("0")
    limit.press("Enter")
    form.get_by_text("limit: Input should be greater than 0").first.wait_for()
    notebook.screenshot(form_cell, "eval-form", form)
