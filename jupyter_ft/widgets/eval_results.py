"""The evaluation results panel (`ft.ui.eval_results(job_id)`): grouped bars per metric across models with
confidence-interval error bars, the pairwise judge's win/tie/loss and win rate with intervals, position consistency
and mean answer lengths, each model's differences from the baseline with paired intervals and the style verdicts,
and a per-sample side-by-side table that can be narrowed to the samples where the models disagree.

It reads only the results dict (`jupyter_ft.core.evaluate.submit.results`); the grouping and the disagreement rule come
from `core.evaluate.view`. Given a job id it follows the job live on a background thread (like the training chart) and
stops once the job has ended and its last results are drawn.
"""

from __future__ import annotations

import html
import math
import threading
from typing import Any, Callable

import ipywidgets as widgets
import plotly.graph_objects as go

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.evaluate import view as eval_view
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs import progress
from jupyter_ft.core.evaluate.view import ANY_SCORE, Panel, fmt

from jupyter_ft.widgets._ticker import Ticker
from jupyter_ft.widgets.chart import PALETTE, STATE_COLOR

PAGE_SIZE = 25
PANEL_HEIGHT = 260
DONE_STATES = ("succeeded", "failed", "cancelled")
WIN, TIE, LOSS = "#2e7d32", "#9e9e9e", "#c62828"
TABLE_CSS = """<style>
.jft-eval-table {border-collapse:collapse;font-size:12px;width:100%}
.jft-eval-table th,.jft-eval-table td {border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
.jft-eval-table th {background:#f5f5f5}
.jft-eval-table td .jft-text {white-space:pre-wrap;max-height:9em;overflow:auto}
.jft-eval-table .jft-score {color:#333;font-family:monospace;white-space:nowrap}
.jft-eval-table .jft-reason {color:#555;font-style:italic}
.jft-wtl {display:flex;height:10px;width:160px;border-radius:2px;overflow:hidden}
</style>"""


def _esc(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _loader(source: Any, ws: Any) -> tuple[Callable[[], dict[str, Any]], str | None]:
    """(function returning the current results dict, job id or None) for a job id / Job / results dict / callable."""
    if isinstance(source, dict):
        return (lambda: source), source.get("job_id")
    if callable(source) and not isinstance(source, api.Job):
        return source, None
    job_id = source.id if isinstance(source, api.Job) else str(source)

    def load() -> dict[str, Any]:
        from jupyter_ft.core.evaluate import submit as evaluation

        return evaluation.results(ws or api.workspace(), job_id)

    return load, job_id


class EvalResults(widgets.VBox):
    """Results of one evaluation. `refresh()` re-reads them; `wait()` returns once a live view has drawn the job's
    final results; `show(disagree_only=..., criterion=..., search=..., page=...)` sets the sample filter as the
    controls do; `stop()` ends the updates."""

    def __init__(self, source: Any, ws: Any = None, *, interval: float = 1.0, page_size: int = PAGE_SIZE,
                 live: bool | None = None):
        self.ws = ws
        self.interval = interval
        self.page_size = page_size
        self._load, self.job_id = _loader(source, ws)
        self._from_job = isinstance(source, (str, api.Job))
        self.results: dict[str, Any] = {}
        self.panels: list[Panel] = []
        self.shown: list[dict[str, Any]] = []   # the samples the filter keeps (all pages)
        self.page = 0
        self.redraws = 0                         # figures sent to the front end (only when something changed)
        self._drawn: dict | None = None          # the plotly JSON last sent to the front end
        self._lock = threading.RLock()
        self._ticker: Ticker | None = None

        self.header = widgets.HTML()
        self.status = widgets.HTML()
        self.errors = widgets.HTML()
        self.figure: go.Figure | None = None      # what the bars show (the Python object of the drawn figure)
        self.plot = widgets.Output()
        self.figure_box = widgets.VBox()
        self.pairwise = widgets.HTML()
        self.differences = widgets.HTML()
        self.disagree = widgets.Checkbox(value=False, description="only samples where the models disagree",
                                         indent=False, layout=widgets.Layout(width="300px"))
        self.criterion = widgets.Dropdown(options=[ANY_SCORE], value=ANY_SCORE, description="on",
                                          style={"description_width": "24px"}, layout=widgets.Layout(width="260px"))
        self.search = widgets.Text(value="", placeholder="search prompts and answers", continuous_update=False,
                                   layout=widgets.Layout(width="240px"))
        self.count = widgets.HTML()
        self.prev_button = widgets.Button(icon="chevron-left", tooltip="previous page", layout=widgets.Layout(width="36px"))
        self.next_button = widgets.Button(icon="chevron-right", tooltip="next page", layout=widgets.Layout(width="36px"))
        self.table = widgets.HTML()
        for w in (self.disagree, self.criterion, self.search):
            w.observe(lambda _: self._filter(reset_page=True), names="value")
        self.prev_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(+1))
        controls = widgets.HBox([self.disagree, self.criterion, self.search, self.prev_button, self.next_button,
                                 self.count], layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        super().__init__([self.header, self.status, self.errors, self.figure_box, self.pairwise, self.differences,
                          widgets.HTML("<b>Samples</b>"), controls, self.table])
        self.add_class("jft-eval-results")
        self.refresh()
        if live if live is not None else (self.job_id is not None and not isinstance(source, dict)):
            if self.results.get("state") not in DONE_STATES:
                self._ticker = Ticker(self._tick, interval, "jupyter_ft-eval-results").start()

    # --- the loop ------------------------------------------------------------------------------------------
    def _tick(self) -> bool:
        try:
            self.refresh()
        except Exception as exc:  # shown on the panel, and polled again: the last results drawn stay
            self.status.value = (f"<span class='jft-eval-status' style='color:#c62828'>could not read the results: "
                                 f"{_esc(type(exc).__name__)}: {_esc(exc)}</span>")
            return True
        if self.status.value:
            self.status.value = ""
        return self.results.get("state") not in DONE_STATES

    def refresh(self) -> dict[str, Any]:
        """Read the results again and redraw what changed."""
        with self._lock:
            try:
                results = self._load() or {}
            except FileNotFoundError:
                results = {"job_id": self.job_id, "state": "queued", "models": []}
            self.results = results
            self._draw_header()
            self._draw_bars()
            self._draw_pairwise()
            self._draw_differences()
            options = eval_view.criteria(results)
            if list(self.criterion.options) != options:
                keep = self.criterion.value if self.criterion.value in options else ANY_SCORE
                self.criterion.options = options
                self.criterion.value = keep
            self._filter(reset_page=False)
        return results

    @property
    def live(self) -> bool:
        return bool(self._ticker and self._ticker.alive)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the live view has drawn the job's final results. True if so (or not live), False on timeout."""
        return self._ticker.join(timeout) if self._ticker else True

    def stop(self) -> None:
        if self._ticker:
            self._ticker.stop()

    def close(self) -> None:
        self.stop()
        super().close()

    # --- header and errors -------------------------------------------------------------------------------------
    def _draw_header(self) -> None:
        r = self.results
        state = str(r.get("state") or "?")
        color = STATE_COLOR.get(state, "#555")
        partial = (" <span class='jft-partial' style='background:#fff3e0;color:#e65100;padding:0 4px;"
                   "border-radius:3px'>partial results</span>") if r.get("partial") else ""
        refs = r.get("model_refs") or {}
        models = ", ".join(f"<span title='{_esc(refs.get(m, ''))}'>{_esc(m)}</span>" for m in r.get("models") or [])
        where = ""
        if self._from_job:
            try:
                where = f" · {_esc(progress.describe(jobstore.get(self.ws or api.workspace(), self.job_id)))}"
            except jobstore.JobNotFound:
                pass
        failure = (f"<div class='jft-job-error' style='color:#c62828'>the job failed: {_esc(r['job_error'])}</div>"
                   if r.get("job_error") else "")
        self.header.value = (
            f"<h4 style='margin:4px 0'>Evaluation {_esc(r.get('job_id') or '')} "
            f"<span class='jft-state' style='color:{color}'>{_esc(state)}</span>{partial}</h4>"
            f"<span style='color:#555'>{_esc(r.get('num_samples', '?'))} samples of {_esc(r.get('dataset', '?'))}"
            f" · models: {models}{where}</span>{failure}")
        errors = r.get("errors") or []
        if errors:
            items = "".join(f"<li>{_esc(e.get('model'))} · {_esc(e.get('evaluator'))}"
                            + (f" · sample {_esc(e.get('sample'))}" if e.get("sample") is not None else "")
                            + f": {_esc(e.get('message'))}</li>" for e in errors[:20])
            more = f"<li>… and {len(errors) - 20} more</li>" if len(errors) > 20 else ""
            self.errors.value = (f"<div class='jft-eval-errors' style='color:#c62828'>{len(errors)} error(s); "
                                 f"the other results stand:<ul style='margin:2px 0'>{items}{more}</ul></div>")
        else:
            self.errors.value = ""

    # --- bars --------------------------------------------------------------------------------------------------
    def _colors(self) -> dict[str, str]:
        models = list(self.results.get("models") or [])
        for p in self.panels:
            models += [b.model for b in p.bars if b.model not in models]
        return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}

    def _draw_bars(self) -> None:
        self.panels = eval_view.panels(self.results)
        if not self.panels:
            note = "waiting for the first scores…" if self.results.get("state") not in DONE_STATES else "no metrics"
            self.figure, self._drawn = None, None
            self.figure_box.children = [widgets.HTML(f"<i>{note}</i>")]
            return
        fig = self._build_figure()
        spec = fig.to_plotly_json()
        if spec == self._drawn:
            return
        # Sent as plotly's own output (rendered by jupyterlab-plotly) inside an Output widget, replaced by value:
        # a FigureWidget here lost its data or layout in real JupyterLab about half the time (plotly 7 over
        # anywidget: state that arrives before its view renders is dropped), whichever way it was filled.
        self.plot.outputs = ({"output_type": "display_data", "metadata": {},
                              "data": {"application/vnd.plotly.v1+json": spec,
                                       "text/plain": f"bars: {', '.join(p.title for p in self.panels)}"}},)
        if self.figure_box.children != (self.plot,):
            self.figure_box.children = [self.plot]
        self.figure, self._drawn = fig, spec
        self.redraws += 1

    @staticmethod
    def _error_y(bars: Any) -> dict[str, Any]:
        return dict(type="data", symmetric=False, visible=any(e is not None for e in bars.err_plus),
                    array=[e if e is not None else 0 for e in bars.err_plus],
                    arrayminus=[e if e is not None else 0 for e in bars.err_minus], thickness=1.2, width=4)

    @staticmethod
    def _custom(panel: Panel, bars: Any) -> list[list[str]]:
        return [[fmt(v - m) if v is not None and m is not None else "–",
                 fmt(v + p) if v is not None and p is not None else "–", str(n if n is not None else "–")]
                for v, p, m, n in zip(bars.values, bars.err_plus, bars.err_minus, bars.n)]

    def _build_figure(self) -> go.Figure:
        """One axis pair per panel (two columns), one bar trace per model and panel, legend entry once per model."""
        n = len(self.panels)
        cols = 1 if n == 1 else 2
        rows = math.ceil(n / cols)
        plot_px = rows * PANEL_HEIGHT
        vgap, hgap = min(0.3, 80 / plot_px), 0.1
        w, h = (1 - hgap * (cols - 1)) / cols, (1 - vgap * (rows - 1)) / rows
        colors = self._colors()
        axes: dict[str, Any] = {}
        notes, traces, legend_shown = [], [], set()
        for k, panel in enumerate(self.panels):
            r, c = divmod(k, cols)
            x0, y1 = c * (w + hgap), 1 - r * (h + vgap)
            i = "" if k == 0 else str(k + 1)
            axes[f"xaxis{i}"] = dict(domain=[max(0, x0), min(1, x0 + w)], anchor=f"y{i}", type="category")
            axes[f"yaxis{i}"] = dict(domain=[max(0, y1 - h), min(1, y1)], anchor=f"x{i}", rangemode="tozero")
            notes.append(dict(text=f"<b>{html.escape(panel.title)}</b>", x=x0 + w / 2, y=y1, xref="paper",
                              yref="paper", xanchor="center", yanchor="bottom", showarrow=False))
            for bars in panel.bars:
                traces.append(go.Bar(
                    name=bars.model, legendgroup=bars.model, showlegend=bars.model not in legend_shown,
                    x=list(panel.metrics), y=bars.values, error_y=self._error_y(bars),
                    marker=dict(color=colors[bars.model]), offsetgroup=bars.model,
                    xaxis=f"x{i}", yaxis=f"y{i}", customdata=self._custom(panel, bars),
                    hovertemplate=(f"{html.escape(bars.model)} · %{{x}}: %{{y:.4g}}"
                                   "<br>95% CI [%{customdata[0]}, %{customdata[1]}] · n %{customdata[2]}<extra></extra>")))
                legend_shown.add(bars.model)
        top, bottom, legend_px = 30, 40, 30
        return go.Figure(data=traces, layout=go.Layout(
            template="plotly_white", barmode="group", annotations=notes, height=top + plot_px + bottom + legend_px,
            margin=dict(l=55, r=20, t=top, b=bottom + legend_px),
            legend=dict(orientation="h", x=0, yanchor="top", y=-bottom / plot_px), **axes))

    # --- pairwise ----------------------------------------------------------------------------------------------
    def _draw_pairwise(self) -> None:
        rows = eval_view.pairwise_rows(self.results)
        if not rows:
            self.pairwise.value = ""
            return

        def cell(v: float | None, ci: tuple[float, float] | None) -> str:
            interval = f" <span style='color:#777'>[{fmt(ci[0])}, {fmt(ci[1])}]</span>" if ci else ""
            return f"<td class='jft-score'>{fmt(v)}{interval}</td>"

        body = []
        for r in rows:
            bar = "".join(f"<div style='width:{100 * (r[k] or 0):.1f}%;background:{color}'></div>"
                          for k, color in (("win", WIN), ("tie", TIE), ("loss", LOSS)))
            human = fmt(r["human_agreement"]) if r["human_agreement"] is not None else "–"
            body.append(
                f"<tr class='jft-pair'><td>{_esc(r['evaluator'])}</td><td><b>{_esc(r['model'])}</b> vs "
                f"{_esc(r['baseline'])}</td><td><div class='jft-wtl'>{bar}</div></td>"
                + cell(r["win"], r["win_ci"]) + cell(r["tie"], r["tie_ci"]) + cell(r["loss"], r["loss_ci"])
                + cell(r["win_rate"], r["win_rate_ci"])
                + f"<td class='jft-score'>{fmt(r['consistency'])}</td>"
                f"<td class='jft-score'>{fmt(r['length_model'], 4)} / {fmt(r['length_baseline'], 4)}</td>"
                f"<td class='jft-score'>{human}</td><td>{_esc(r['n'])}</td></tr>")
        self.pairwise.value = (
            TABLE_CSS + "<b>Pairwise judge</b> <span style='color:#666'>(each pair judged in both orders; orders that "
            "disagree count as a tie; 95% bootstrap intervals)</span>"
            "<table class='jft-eval-table jft-pairwise'><tr><th>judge</th><th>model vs baseline</th><th></th>"
            f"<th style='color:{WIN}'>win</th><th>tie</th><th style='color:{LOSS}'>loss</th>"
            "<th title='win share plus half the ties'>win rate</th>"
            "<th title='share of pairs whose two orders agree'>position consistency</th>"
            "<th title='mean answer length: model / baseline'>mean length</th><th>human agreement</th><th>n</th></tr>"
            + "".join(body) + "</table>")

    # --- differences from the baseline and the style verdicts ----------------------------------------------------
    def _draw_differences(self) -> None:
        rows = eval_view.difference_rows(self.results)
        verdicts = self.results.get("style_verdicts") or []
        if not rows and not verdicts:
            self.differences.value = ""
            return
        parts = [TABLE_CSS]
        for v in verdicts:
            color = WIN if v.get("human_like") else "#e65100"
            reasons = "".join(f"<li>{_esc(r)}</li>" for r in v.get("reasons") or [])
            parts.append(f"<div class='jft-style-verdict' style='border-left:3px solid {color};padding-left:6px;"
                         f"margin:4px 0'>{_esc(v.get('evaluator'))}: <b>{_esc(v.get('model'))}</b> vs "
                         f"{_esc(v.get('baseline'))}: <b class='jft-verdict' style='color:{color}'>"
                         f"{_esc(v.get('verdict'))}</b> (n {_esc(v.get('n'))})<ul style='margin:2px 0'>{reasons}</ul>"
                         "</div>")
        if rows:
            body = []
            for d in rows:
                color = {"up": WIN, "down": LOSS}.get(d["direction"] or "", "#333")
                ci = f"[{fmt(d['ci'][0])}, {fmt(d['ci'][1])}]" if d["ci"] else "–"
                side = {"up": "above zero", "down": "below zero"}.get(d["direction"] or "", "holds zero")
                body.append(
                    f"<tr class='jft-diff' data-metric='{_esc(d['metric'])}' "
                    f"data-direction='{_esc(d['direction'] or '')}'>"
                    f"<td>{_esc(d['evaluator'])}</td><td><b>{_esc(d['model'])}</b> − {_esc(d['baseline'])}</td>"
                    f"<td>{_esc(d['metric'])}</td><td class='jft-score' style='color:{color}'>{d['value']:+.3g}</td>"
                    f"<td class='jft-score'>{ci} <span style='color:#777'>{side if d['ci'] else ''}</span></td>"
                    f"<td class='jft-score'>{fmt(d['model_mean'])} vs {fmt(d['baseline_mean'])}</td>"
                    f"<td>{_esc(d['n'])}</td></tr>")
            parts.append("<b>Differences from the baseline</b> <span style='color:#666'>(mean of model − baseline "
                         "over the samples both answered; paired bootstrap 95% intervals)</span>"
                         "<table class='jft-eval-table jft-differences'><tr><th>evaluator</th><th>model − baseline"
                         "</th><th>metric</th><th>difference</th><th>95% interval</th><th>means</th><th>n</th></tr>"
                         + "".join(body) + "</table>")
        self.differences.value = "".join(parts)

    # --- samples -----------------------------------------------------------------------------------------------
    def show(self, *, disagree_only: bool | None = None, criterion: str | None = None, search: str | None = None,
             page: int | None = None) -> list[dict[str, Any]]:
        """Set the sample filter (as the controls do) and return the samples on the page shown."""
        with self._lock:
            if criterion is not None:
                if criterion not in self.criterion.options:
                    raise ValueError(f"criterion: {criterion!r} is not one of {list(self.criterion.options)}")
                self.criterion.value = criterion
            if disagree_only is not None:
                self.disagree.value = disagree_only
            if search is not None:
                self.search.value = search
            if page is not None:
                self.page = page
                self._filter(reset_page=False)
            return self.page_samples

    @property
    def page_samples(self) -> list[dict[str, Any]]:
        return self.shown[self.page * self.page_size:(self.page + 1) * self.page_size]

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.shown) / self.page_size))

    def _turn(self, step: int) -> None:
        self.show(page=min(self.pages - 1, max(0, self.page + step)))

    def _filter(self, reset_page: bool) -> None:
        with self._lock:
            self.shown = eval_view.filter_samples(self.results, disagree_only=self.disagree.value,
                                                  criterion=self.criterion.value, search=self.search.value)
            if reset_page:
                self.page = 0
            self.page = min(self.page, self.pages - 1)
            total = len(self.results.get("samples") or [])
            self.count.value = (f"<span class='jft-count'>{len(self.shown)} of {total} samples"
                                + (f" · page {self.page + 1}/{self.pages}" if self.pages > 1 else "") + "</span>")
            self.prev_button.disabled = self.page == 0
            self.next_button.disabled = self.page >= self.pages - 1
            self._draw_table()

    def _draw_table(self) -> None:
        models = list(self.results.get("models") or [])
        judged = bool(eval_view.judge_names(self.results))  # the judge column only when a pairwise judge ran
        head = ("<tr><th>#</th><th>prompt</th>" + "".join(f"<th>{_esc(m)}</th>" for m in models)
                + "<th>reference</th>" + ("<th>judge</th>" if judged else "") + "</tr>")
        rows = [self._row(s, models, judged) for s in self.page_samples]
        if not rows:
            note = "no sample matches" if self.results.get("samples") else "no samples scored yet"
            rows = [f"<tr><td colspan='{len(models) + 3 + judged}'><i>{note}</i></td></tr>"]
        self.table.value = TABLE_CSS + "<table class='jft-eval-table jft-samples'>" + head + "".join(rows) + "</table>"

    @staticmethod
    def _row(s: dict[str, Any], models: list[str], judged: bool) -> str:
        answers, scores, reasons = s.get("answers") or {}, s.get("scores") or {}, s.get("reasons") or {}
        cells = []
        for m in models:
            sc = " · ".join(f"{_esc(k)} {fmt(eval_view._num(v))}" for k, v in (scores.get(m) or {}).items())
            why = "".join(f"<div class='jft-reason'>{_esc(k)}: {_esc(v)}</div>" for k, v in (reasons.get(m) or {}).items())
            answer = answers.get(m)
            text = f"<div class='jft-text'>{_esc(answer)}</div>" if answer is not None else ""
            cells.append(f"<td data-model='{_esc(m)}'>{text}<div class='jft-score'>{sc}</div>{why}</td>")
        verdicts = []
        for judge, pairs in (s.get("verdicts") or {}).items():
            for pair, v in (pairs or {}).items():
                v = v if isinstance(v, dict) else {"final": v}
                orders = f" (orders {_esc(v.get('ab'))}/{_esc(v.get('ba'))})" if "ab" in v or "ba" in v else ""
                verdicts.append(f"<div>{_esc(judge)} · {_esc(pair)}: <b>{_esc(v.get('final'))}</b>{orders}</div>")
        disagree = " data-disagree='1'" if eval_view.disagrees(s) else ""
        return (f"<tr class='jft-sample' data-sample-id='{_esc(s.get('id'))}'{disagree}><td>{_esc(s.get('id'))}</td>"
                f"<td><div class='jft-text'>{_esc(s.get('prompt'))}</div></td>" + "".join(cells)
                + f"<td><div class='jft-text'>{_esc(s.get('reference'))}</div></td>"
                + (f"<td>{''.join(verdicts)}</td>" if judged else "") + "</tr>")

    # --- text ----------------------------------------------------------------------------------------------------
    def summary(self) -> str:
        return eval_view.summary(self.results)

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = "EvalResults\n" + self.summary()
        return data


def eval_results(source: Any, ws: Any = None, **options: Any) -> EvalResults:
    """`ft.ui.eval_results(job_id)` (live while the job runs), or a results dict."""
    return EvalResults(source, ws, **options)
