"""The live chart (`job.chart()`, `ft.ui.chart(job_id, ...)`): every metric a job logs, in panels by kind, with a
progress bar and status per run; several runs overlay in the same panels.

A background thread polls each job's event log from a cursor (`core.jobs.metrics.MetricHistory`) and applies everything
new in one `batch_update` per tick, so the figure changes at most once per `interval` however fast metrics arrive,
and the kernel stays free. A chart built later (after a kernel restart, in another notebook) reads from cursor 0:
the whole history, then live points.

The page is sent the whole figure as state (a plotly output in an `Output` widget), not plotly's `FigureWidget`
edit messages: those travel as traitlets set and reset at once, and in JupyterLab they were lost whenever the page
was busy or still loading plotly's code (a chart drawn as one empty panel, or with names missing). State is never
lost: a view shows the latest figure whenever it is drawn, in this cell or another.
"""

from __future__ import annotations

import html
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs import progress
from jupyter_ft.core.jobs.metrics import MetricHistory, Point, group_order, metric_group

from jupyter_ft.widgets._ticker import Ticker

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
BAR_STYLE = {"queued": "", "running": "info", "succeeded": "success", "failed": "danger", "cancelled": "warning"}
STATE_COLOR = {"queued": "#777", "running": "#1565c0", "succeeded": "#2e7d32", "failed": "#c62828",
               "cancelled": "#ef6c00"}
WARNING_COLOR = "#b26b00"


def warnings_html(warnings: list[dict[str, Any]], full: bool = True) -> str:
    """A job's warnings (`JobRecord.warnings`): with `full`, a line per warning with its title and whole message;
    else one short mark for a table cell ('⚠ 1 warning', titles and messages as its tooltip), so the jobs table
    does not grow sideways."""
    if not warnings:
        return ""
    if not full:
        tip = html.escape("\n".join(f"{w.get('title') or w.get('code')}: {w.get('message') or ''}" for w in warnings),
                          quote=True)
        n = len(warnings)
        return (f"<div class='jft-job-warning' style='color:{WARNING_COLOR}'><span title='{tip}'>⚠ {n} "
                f"warning{'s' if n != 1 else ''}</span></div>")
    lines = []
    for w in warnings:
        title = html.escape(str(w.get("title") or w.get("code")))
        message = html.escape(str(w.get("message") or ""))
        lines.append(f"<div class='jft-job-warning' style='color:{WARNING_COLOR}'><b>⚠ {title}</b>: {message}</div>")
    return "".join(lines)


@dataclass(eq=False)
class _Run:
    job_id: str
    label: str
    history: MetricHistory
    record: jobstore.JobRecord
    bar: widgets.IntProgress = field(default_factory=lambda: widgets.IntProgress(min=0, max=1, value=0,
                                                                                layout=widgets.Layout(width="240px")))
    info: widgets.HTML = field(default_factory=widgets.HTML)


PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def _unit(x: float) -> float:
    return min(1.0, max(0.0, round(x, 6)))


def _job_id(job: Any) -> str:
    return job.id if isinstance(job, api.Job) else str(job)


class LiveChart(widgets.VBox):
    """Live metrics of one or more jobs. `add(job)` overlays another run; `wait()` returns once every run has
    ended and its last points are drawn; `stop()` ends the updates (the jobs are not affected)."""

    def __init__(self, jobs: Any, ws: Any = None, *, interval: float = 0.5, panel_height: int = 240,
                 on_points: Callable[[str, list[Point]], None] | None = None, start: bool = True):
        self.ws = ws or api.workspace()
        self.interval = interval
        self.panel_height = panel_height
        self.on_points = on_points
        self.runs: list[_Run] = []
        self.panels: list[str] = []
        self._rows = 1
        self.updates = 0  # figure updates so far (one per tick with new points)
        self._traces: dict[tuple[str, str], Any] = {}
        self._slots: list[str] = []  # metric names (without eval_) in order of first appearance
        self._lock = threading.RLock()
        self._ticker: Ticker | None = None
        self.figure = go.Figure(layout=go.Layout(
            template="plotly_white", height=160, margin=dict(l=55, r=20, t=30, b=40), hovermode="x unified",
        ))
        self.status = widgets.HTML()
        self.bars = widgets.VBox()
        self.plot = widgets.Output()  # shows `figure`, sent whole after each change (see the module docstring)
        self.plot.add_class("jft-chart-plot")
        super().__init__([self.bars, self.status, self.plot])
        for job in ([jobs] if isinstance(jobs, (str, api.Job)) else list(jobs)):
            self.add(job)
        if start:
            self.start()

    # --- runs ----------------------------------------------------------------------------------------------
    def add(self, job: Any) -> LiveChart:
        """Overlay another job (id or Job) in the same panels; restarts the updates if they had stopped."""
        job_id = _job_id(job)
        rec = jobstore.get(self.ws, job_id)  # JobNotFound names the id
        with self._lock:
            if any(r.job_id == job_id for r in self.runs):
                return self
            labels = {r.label for r in self.runs}
            label = rec.name if rec.name and rec.name not in labels else rec.id
            run = _Run(job_id, label, MetricHistory(self.ws, job_id), rec)
            self.runs.append(run)
            self.bars.children = [widgets.HBox([r.bar, r.info]) for r in self.runs]
            self._restyle()
        if self._ticker is not None and not self._ticker.alive:
            self.start()
        return self

    @property
    def job_ids(self) -> list[str]:
        return [r.job_id for r in self.runs]

    # --- the loop ------------------------------------------------------------------------------------------
    def start(self) -> LiveChart:
        if self._ticker is None or not self._ticker.alive:
            self._ticker = Ticker(self.refresh, self.interval, "jupyter_ft-chart").start()
        return self

    def stop(self) -> None:
        if self._ticker:
            self._ticker.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every run has ended and its last points are drawn. True if so, False on timeout."""
        return self._ticker.join(timeout) if self._ticker else True

    @property
    def live(self) -> bool:
        return bool(self._ticker and self._ticker.alive)

    def refresh(self) -> bool:
        """One tick: read new points and states, draw them in one batch. Returns False once all runs have ended
        (their final points included: the state is read before the points)."""
        with self._lock:
            new: dict[_Run, list[Point]] = {}
            changed: dict[_Run, set[str]] = {}
            for run in self.runs:
                run.record = jobstore.get(self.ws, run.job_id)
                up = run.history.poll()
                if up:
                    new[run] = up.points
                    changed[run] = up.changed
            if changed:
                self._draw(changed)
            self._draw_progress()
            done = all(r.record.done for r in self.runs)
        if self.on_points:
            for run, points in new.items():
                self.on_points(run.job_id, points)
        return not done

    def _show(self) -> None:
        """Send the page the whole figure, as the state of the plot output."""
        spec = json.loads(pio.to_json(self.figure, validate=False))
        spec["config"] = PLOT_CONFIG
        self.plot.outputs = ({"output_type": "display_data", "metadata": {},
                              "data": {PLOTLY_MIME: spec, "text/plain": self.summary()}},)

    # --- drawing -------------------------------------------------------------------------------------------
    def _draw(self, changed: dict[_Run, set[str]]) -> None:
        panels = self._panel_set()
        traces_before = len(self._traces)
        with self.figure.batch_update():
            if panels != self.panels:
                self.panels = panels
                self._layout()
            for run, names in changed.items():
                for name in sorted(names):
                    if metric_group(name) is None:
                        continue
                    s = run.history.series[name]
                    trace = self._traces.get((run.job_id, name))
                    if trace is None:
                        # Built whole, so the front end gets name, axes and style in the one add-traces message.
                        self.figure.add_trace(go.Scatter(x=list(s.steps), y=list(s.values), mode="lines+markers",
                                                         **self._trace_props(run, name)))
                        self._traces[(run.job_id, name)] = self.figure.data[-1]
                    else:
                        trace.x, trace.y = list(s.steps), list(s.values)
            if len(self._traces) != traces_before:
                self._fit_height()
        self._show()
        self.updates += 1

    def _panel_set(self) -> list[str]:
        groups: set[str] = set()
        for run in self.runs:
            groups.update(run.history.charted())
        return group_order(groups)

    def _axis(self, panel: str) -> int:
        return self.panels.index(panel) + 1

    def _layout(self) -> None:
        """Place one x/y axis pair per panel on a grid of two columns (the set of panels only grows). Each axis is
        assigned whole, so nothing of an earlier grid (a domain, a title) lingers on a moved panel."""
        n = len(self.panels)
        cols = 1 if n == 1 else 2
        rows = self._rows = math.ceil(n / cols)
        plot_px = rows * self.panel_height
        vgap, hgap = min(0.3, 70 / plot_px), 0.1
        w = (1 - hgap * (cols - 1)) / cols
        h = (1 - vgap * (rows - 1)) / rows
        notes = []
        for k, panel in enumerate(self.panels):
            r, c = divmod(k, cols)
            x0, y1 = c * (w + hgap), 1 - r * (h + vgap)
            i = "" if k == 0 else str(k + 1)
            bottom = k + cols >= n  # no panel below this one: it carries the step axis title
            self.figure.layout[f"xaxis{i}"] = go.layout.XAxis(
                domain=[_unit(x0), _unit(x0 + w)], anchor=f"y{i}", title=dict(text="step" if bottom else ""))
            self.figure.layout[f"yaxis{i}"] = go.layout.YAxis(
                domain=[_unit(y1 - h), _unit(y1)], anchor=f"x{i}",
                exponentformat="e" if panel == "learning rate" else "B")
            notes.append(dict(text=f"<b>{html.escape(panel)}</b>", x=x0 + w / 2, y=y1, xref="paper", yref="paper",
                              xanchor="center", yanchor="bottom", showarrow=False))
        self.figure.layout.annotations = [go.layout.Annotation(**n) for n in notes]  # replace, not merge
        self._fit_height()
        for (job_id, name), trace in self._traces.items():
            trace.xaxis, trace.yaxis = self._axes(name)

    def _fit_height(self) -> None:
        """Grow the figure so the panels keep their height whatever the legend below them needs."""
        top, below_axes = 30, 45
        per_row = 2 if len(self.runs) > 1 else 4
        legend_px = 22 * math.ceil(len(self._traces) / per_row) + 10
        plot_px = self._rows * self.panel_height
        self.figure.update_layout(height=top + plot_px + below_axes + legend_px,
                                  margin=dict(t=top, b=below_axes + legend_px, l=55, r=20),
                                  legend=dict(orientation="h", x=0, yanchor="top", y=-below_axes / plot_px))

    def _axes(self, name: str) -> tuple[str, str]:
        i = self._axis(metric_group(name))
        return ("x", "y") if i == 1 else (f"x{i}", f"y{i}")

    def _slot(self, base: str) -> tuple[int, int]:
        """A metric's stable (index overall, index within its panel), in order of first appearance, so a trace keeps
        its colour and dash however many metrics arrive after it."""
        if base not in self._slots:
            self._slots.append(base)
        panel = metric_group(base)
        same_panel = [b for b in self._slots if metric_group(b) == panel]
        return self._slots.index(base), same_panel.index(base)

    def _trace_props(self, run: _Run, name: str) -> dict[str, Any]:
        """Name, axes and style of one run's metric: one colour per metric for a single run; for several runs one
        colour per run and a dash per metric, so a panel shared by two jobs still tells them apart. Train and eval
        of the same metric share a colour; eval is dotted with diamonds."""
        is_eval = name.startswith("eval_")
        overall, in_panel = self._slot(name[5:] if is_eval else name)
        if len(self.runs) == 1:
            color = PALETTE[overall % len(PALETTE)]
            dash, label, group = "dot" if is_eval else "solid", name, None
        else:
            color = PALETTE[self.runs.index(run) % len(PALETTE)]
            dash = DASHES[(in_panel + (3 if is_eval else 0)) % len(DASHES)]
            label, group = f"{run.label} · {name}", run.label
        xaxis, yaxis = self._axes(name)
        return dict(name=label, legendgroup=group, xaxis=xaxis, yaxis=yaxis,
                    line=dict(color=color, dash=dash, width=1.8),
                    marker=dict(color=color, size=5 if is_eval else 3, symbol="diamond" if is_eval else "circle"),
                    hovertemplate=f"{html.escape(label)}: %{{y:.4g}}<extra></extra>")

    def _restyle(self) -> None:
        if not self._traces:
            return
        by_id = {r.job_id: r for r in self.runs}
        with self.figure.batch_update():
            for (job_id, name), trace in self._traces.items():
                trace.update(self._trace_props(by_id[job_id], name))
        self._show()

    def _draw_progress(self) -> None:
        now = time.time()
        for run in self.runs:
            rec = run.record
            if rec.total_steps:
                run.bar.max, run.bar.value = rec.total_steps, min(rec.step, rec.total_steps)
            else:
                run.bar.max, run.bar.value = 1, 1 if rec.state == "succeeded" else 0
            run.bar.bar_style = BAR_STYLE.get(rec.state, "")
            color = STATE_COLOR.get(rec.state, "#555")
            run.info.value = (f"<b>{html.escape(run.label)}</b> <span style='color:{color}'>"
                              f"{html.escape(progress.describe(rec, now, run.history.pace()))}</span>"
                              + warnings_html(rec.warnings))
        if not any(r.history.series for r in self.runs):
            waiting = any(not r.record.done for r in self.runs)
            self.status.value = "<i>waiting for the first metrics…</i>" if waiting else "<i>no metrics were logged</i>"
        elif self.status.value:
            self.status.value = ""
        if self._ticker is not None and self._ticker.error:
            self.status.value = f"<span style='color:#c62828'>chart stopped: {html.escape(self._ticker.error)}</span>"

    # --- reading back ------------------------------------------------------------------------------------------
    def trace_points(self, job: Any, metric: str) -> list[tuple[int, float]]:
        """The (step, value) points the figure holds for one run's metric."""
        trace = self._traces.get((_job_id(job), metric))
        return list(zip(trace.x, trace.y)) if trace is not None and trace.x is not None else []

    def metrics_shown(self, job: Any) -> list[str]:
        jid = _job_id(job)
        return sorted(name for (j, name) in self._traces if j == jid)

    def summary(self) -> str:
        now = time.time()
        lines = []
        for run in self.runs:
            shown = ", ".join(f"{n} ({len(run.history.series[n].steps)})" for n in self.metrics_shown(run.job_id))
            lines.append(f"{run.label}: {progress.describe(run.record, now, run.history.pace())}"
                         + (f"\n  {shown}" if shown else ""))
        return "\n".join(lines) + (f"\npanels: {', '.join(self.panels)}" if self.panels else "")

    def close(self) -> None:
        self.stop()
        super().close()

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = "LiveChart\n" + self.summary()
        return data


def chart(jobs: Any, ws: Any = None, **options: Any) -> LiveChart:
    """`ft.ui.chart(job_id)`, `ft.ui.chart([id1, id2])` (overlay), or `ft.ui.chart(job)`."""
    if isinstance(jobs, Iterable) and not isinstance(jobs, (str, api.Job)):
        jobs = list(jobs)
    return LiveChart(jobs, ws=ws, **options)
