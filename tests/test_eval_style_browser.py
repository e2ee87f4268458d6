"""The style comparison where people see it: a real evaluation with the `style` evaluator (the tiny model against a
random LoRA adapter on it, and a pairwise judge: the stand-in judge server) opened in real JupyterLab with Chromium
(tests/browser.py), once in the notebook's results widget and once in the Studio's results view (this checkout's
built labextension). The test reads the page: the style and degeneration bar panels, the differences table (one row
per difference the server computed, the direction of each), the style verdict with its reasons, the judge's win rate
with its interval, and keeps screenshots in the artifacts folder."""

from __future__ import annotations

import re

import pytest

import jupyter_ft as ft
from jupyter_ft.core.evaluate import view as eval_view

from jupyter_ft.serve.stand_in_judge import StandInJudge

from .browser import Notebook, artifacts_dir, built_labextension, chromium_page, jupyter_lab, open_lab
from .test_widgets import random_adapter  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
ROWS = 8


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


@pytest.fixture
def style_eval(ws, tiny_model, random_adapter):  # noqa: F811
    """A real style evaluation with a pairwise judge, submitted before JupyterLab starts so that both boot at once."""
    rows = [{"prompt": f"Tell me something about the number {i}!", "answer": "It's fun, you'll see!"}
            for i in range(ROWS)]
    with StandInJudge() as judge:
        yield ft.evaluate(models=["base", str(random_adapter)], base=str(tiny_model), dataset=rows,
                          evaluators=["style", {"type": "pairwise_judge", "name": "judge",
                                                "judge": {"base_url": judge.url, "model": "stand-in"}}],
                          generation={"max_new_tokens": 24, "batch_size": ROWS}, bootstrap=200, name="browser-style")


def test_style_results_in_the_widget_and_the_studio(style_eval, ws, tmp_path, request):
    shots = artifacts_dir(tmp_path, request.node.name)
    with jupyter_lab(tmp_path, built_labextension()) as server, chromium_page() as page:
        server.wait_ready()
        open_lab(page, server)
        style_eval.wait(timeout=300)
        assert style_eval.status == "succeeded", style_eval.logs(tail=30)
        results = eval_view.with_view(ft.eval_results(style_eval.id))
        diffs = results["difference_rows"]
        (verdict,) = results["style_verdicts"]
        (pair,) = results["pairwise_rows"]
        rate = [pair["win_rate"], *pair["win_rate_ci"]]          # drawn to 3 significant digits
        assert {d["evaluator"] for d in diffs} == {"style", "degeneration"}
        assert len(diffs) == 8                                               # six style metrics, two degeneration

        # the notebook's results widget
        nb = Notebook(page, server, shots=shots)
        cell = nb.run(f"import jupyter_ft as ft\nview = ft.ui.eval_results({style_eval.id!r})\nview")
        out = cell.output.locator(".jft-eval-results")
        out.locator(".jft-state", has_text="succeeded").wait_for()
        table = out.locator("table.jft-differences")
        table.wait_for()
        assert table.locator("tr.jft-diff").count() == len(diffs)
        shown = table.locator("tr.jft-diff").evaluate_all(
            "rows => rows.map(r => [r.dataset.metric, r.dataset.direction])")
        assert shown == [[d["metric"], d["direction"] or ""] for d in diffs]
        assert verdict["verdict"] in out.locator(".jft-style-verdict").inner_text()
        assert "fewer than the 50 needed" in out.locator(".jft-style-verdict").inner_text()
        plot = out.locator(".js-plotly-plot")
        plot.wait_for()
        titles = plot.locator(".annotation-text").evaluate_all("els => els.map(e => e.textContent)")
        assert any(t.startswith("style") for t in titles) and any(t.startswith("degeneration") for t in titles)
        cells = out.locator("table.jft-pairwise tr.jft-pair td.jft-score").all_inner_texts()
        assert numbers(cells[3]) == pytest.approx(rate, abs=1e-3)    # win, tie, loss, win rate
        nb.screenshot(cell, "style-widget", out)
        nb.screenshot(cell, "style-widget-differences", out.locator(".jft-style-verdict").locator(".."))

        # the Studio: Evaluations tab -> Results
        page.locator('.jp-SideBar [data-id="jupyter-ft-sidebar"]').click()
        sidebar = page.locator("#jupyter-ft-sidebar")
        sidebar.locator('button.jp-ft-tab[data-tab="evaluations"]').click()
        sidebar.locator(f'.jp-ft-evaluation[data-job-id="{style_eval.id}"] .jp-ft-open-results').click()
        view = page.locator(f'#jp-main-dock-panel .jp-ft-eval-results[data-job-id="{style_eval.id}"]')
        view.locator(".jp-ft-state", has_text="succeeded").wait_for()
        rows = view.locator("table.jp-ft-differences tbody tr")
        rows.first.wait_for()
        assert rows.count() == len(diffs)
        assert rows.evaluate_all("rows => rows.map(r => r.dataset.metric)") == [d["metric"] for d in diffs]
        text = view.locator(".jp-ft-style-verdict").inner_text()
        assert verdict["verdict"] in text and verdict["reasons"][0] in text
        assert numbers(view.locator(".jp-ft-pairwise .jp-ft-win-rate").inner_text()) == pytest.approx(rate, abs=1e-3)
        panels = view.locator("figure.jp-ft-bar-panel").evaluate_all("els => els.map(e => e.dataset.evaluator)")
        assert {"style", "degeneration"} <= set(panels)
        view.screenshot(path=str(shots / "style-studio.png"))
        table = view.locator("table.jp-ft-differences")
        table.scroll_into_view_if_needed()
        table.screenshot(path=str(shots / "style-studio-differences.png"))
        print(f"screenshots: {shots}")
        ours = [e for e in page.console_errors if "jupyter-ft" in e or "jupyter_ft" in e]
        assert ours == [], ours
