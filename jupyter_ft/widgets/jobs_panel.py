"""The jobs panel (`ft.ui.jobs()`): every job in the workspace with its status, progress, duration, technique and
dataset, and per job: open its live chart, cancel it, open its MLflow run, clone its spec into a form."""

from __future__ import annotations

import html
import os
import time
from typing import Any

import ipywidgets as widgets

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs import progress
from jupyter_ft.core.jobs.metrics import recent_pace
from jupyter_ft.core.jobs.summary import job_summary

from jupyter_ft.widgets._ticker import Ticker
from jupyter_ft.widgets.chart import BAR_STYLE, STATE_COLOR, warnings_html

COLUMNS = ("job", "technique", "status", "progress", "duration", "dataset", "")
# Text columns share what is left; the actions column is as wide as its buttons and link, never cut: at 1,500 px
# with the file browser open, fixed widths clipped the buttons to "Ch…", "Ca…", "Clo…" and hid the MLflow link.
GRID = "minmax(150px,2fr) max-content max-content 190px max-content minmax(110px,1fr) max-content"
ACTION = dict(width="auto", flex="0 0 auto", margin="0 4px 0 0")


def _short_ref(ref: str) -> str:
    """A dataset as a column shows it: a local file by its name (the full path is the tooltip); catalog names and
    hub ids as they are."""
    if os.path.isabs(ref) or ref.startswith(("./", "../", "~")):
        return os.path.basename(ref.rstrip("/")) or ref
    return ref


def _cell(text: str = "") -> widgets.HTML:
    return widgets.HTML(text, layout=widgets.Layout(overflow="hidden"))


class _Row:
    """The widgets of one job's row; `update` only assigns values, so a refresh never rebuilds the table."""

    def __init__(self, panel: JobsPanel, job_id: str):
        self.job_id = job_id
        self.name = _cell()
        self.technique = _cell()
        self.state = _cell()
        self.bar = widgets.IntProgress(min=0, max=1, value=0, layout=widgets.Layout(width="110px"))
        self.steps = widgets.HTML()
        self.duration = _cell()
        self.dataset = _cell()
        self.chart_button = widgets.Button(description="Chart", icon="line-chart", tooltip="open the live chart",
                                           layout=widgets.Layout(**ACTION))
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", tooltip="cancel this job",
                                            layout=widgets.Layout(**ACTION))
        self.clone_button = widgets.Button(description="Clone", icon="copy", tooltip="edit a copy of this job's spec",
                                           layout=widgets.Layout(**ACTION))
        self.mlflow = widgets.HTML(layout=widgets.Layout(flex="0 0 auto"))
        self.chart_button.on_click(lambda _: panel.open_chart(job_id))
        self.cancel_button.on_click(lambda _: panel.cancel(job_id))
        self.clone_button.on_click(lambda _: panel.open_form(job_id))
        actions = widgets.HBox([self.chart_button, self.cancel_button, self.clone_button, self.mlflow],
                               layout=widgets.Layout(align_items="center", overflow="visible"))
        self.cells = [self.name, self.technique, self.state, widgets.HBox([self.bar, self.steps]), self.duration,
                      self.dataset, actions]
        for cell, role in zip(self.cells, COLUMNS[:-1] + ("actions",)):  # addressable in the page (browser tests)
            cell.add_class("jft-job-cell")
            cell.add_class(f"jft-job-{role}")
            cell.add_class(f"jft-row-{job_id}")
        for button, role in ((self.chart_button, "chart"), (self.cancel_button, "cancel"), (self.clone_button, "clone"),
                             (self.mlflow, "mlflow")):
            button.add_class(f"jft-{role}")
        self.data: dict[str, Any] = {}

    def update(self, row: dict[str, Any]) -> None:
        self.data = row
        label = f"<code>{html.escape(row['id'])}</code>"
        if row["name"]:
            label = f"{html.escape(row['name'])}<br>{label}"
        self.name.value = label
        self.technique.value = html.escape(row["technique"])
        tip = html.escape(row["error"] or "", quote=True)
        self.state.value = (f"<span title='{tip}' style='color:{STATE_COLOR.get(row['state'], '#555')}'>"
                            f"{html.escape(row['state'])}</span>" + warnings_html(row["warnings"], full=False))
        total = row["total_steps"]
        self.bar.max, self.bar.value = (total, min(row["step"], total)) if total else (1, 1 if row["state"] == "succeeded" else 0)
        self.bar.bar_style = BAR_STYLE.get(row["state"], "")
        self.steps.value = f"{row['step']}/{total}" if total else ""
        eta = f"<br><span style='color:#777'>ETA {progress.fmt_duration(row['eta_s'])}</span>" if row["eta_s"] is not None else ""
        self.duration.value = progress.fmt_duration(row["duration_s"]) + eta
        ref = str(row["dataset"])
        self.dataset.value = f"<span title='{html.escape(ref, quote=True)}'>{html.escape(_short_ref(ref))}</span>"
        self.cancel_button.disabled = row["done"]
        url = row["run_url"]
        self.mlflow.value = (f"<a href='{html.escape(url, quote=True)}' target='_blank' title='open the MLflow run'>MLflow ↗</a>"
                             if url else "")


class JobsPanel(widgets.VBox):
    """All jobs, refreshed on a background thread while any is queued or running (and for `linger` seconds after)."""

    def __init__(self, ws: Any = None, *, interval: float = 2.0, states: list[str] | None = None,
                 live: bool = True, linger: float = 600.0):
        self.ws = ws or api.workspace()
        self.interval = interval
        self.states = states
        self.linger = linger
        self.rows: dict[str, _Row] = {}
        self.order: list[str] = []
        self._last_active = time.time()
        self._ticker: Ticker | None = None
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", layout=widgets.Layout(width="100px"))
        self.refresh_button.on_click(lambda _: (self.refresh(), self.start()))
        self.title = widgets.HTML()
        self.message = widgets.HTML()
        header = [widgets.HTML(f"<b>{c}</b>") for c in COLUMNS]
        self._header = header
        self.table = widgets.GridBox(header, layout=widgets.Layout(grid_template_columns=GRID, grid_gap="2px 8px",
                                                                   align_items="center", overflow_x="auto"))
        self.table.add_class("jft-jobs-table")
        self.detail = widgets.VBox()
        super().__init__([widgets.HBox([self.title, self.refresh_button]), self.table, self.message, self.detail])
        self.refresh()
        if live:
            self.start()

    def start(self) -> JobsPanel:
        if self._ticker is None or not self._ticker.alive:
            self._last_active = time.time()
            self._ticker = Ticker(self._tick, self.interval, "jupyter_ft-jobs").start()
        return self

    def stop(self) -> None:
        if self._ticker:
            self._ticker.stop()

    def _tick(self) -> bool:
        active = self.refresh()
        if active:
            self._last_active = time.time()
        return time.time() - self._last_active < self.linger

    def refresh(self) -> bool:
        """Re-read every job; returns True while any is queued or running."""
        now = time.time()
        recs = list(reversed(jobstore.list_jobs(self.ws, self.states)))  # newest first
        for rec in recs:
            if rec.id not in self.rows:
                self.rows[rec.id] = _Row(self, rec.id)
            pace = recent_pace(self.ws, rec.id) if rec.state == "running" else None
            self.rows[rec.id].update(job_summary(rec, now, pace))
        order = [r.id for r in recs]
        if order != self.order:
            self.order = order
            self.table.children = self._header + [c for jid in order for c in self.rows[jid].cells]
        active = sum(not r.done for r in recs)
        self.title.value = (f"<b>{len(recs)} job{'s' if len(recs) != 1 else ''}</b>"
                            + (f", {active} queued or running" if active else "") + f" · <code>{html.escape(str(self.ws.root))}</code>")
        return active > 0

    # --- actions (the buttons call these; so can code) ---------------------------------------------------------
    def open_chart(self, job_id: str):
        from jupyter_ft.widgets.chart import LiveChart

        chart = LiveChart(job_id, ws=self.ws)
        self._show(f"Live chart of {job_id}", chart)
        return chart

    def open_form(self, job_id: str):
        from jupyter_ft.widgets.form import JobForm

        form = JobForm(self.ws, job=job_id, on_submit=lambda job: (self.refresh(), self.start()))
        self._show(f"New job from {job_id}'s spec", form)
        return form

    def cancel(self, job_id: str) -> str:
        try:
            state = api.cancel(job_id, self.ws)
        except jobstore.JobNotFound as exc:
            state = str(exc)
        self.message.value = f"{html.escape(job_id)}: {html.escape(state)}"
        self.refresh()
        self.start()
        return state

    def _show(self, title: str, widget: widgets.Widget) -> None:
        old = list(self.detail.children)
        close = widgets.Button(description="Close", icon="times", layout=widgets.Layout(width="90px"))
        close.on_click(lambda _: self._close_detail())
        self.detail.children = [widgets.HBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), close]), widget]
        for w in old:
            if hasattr(w, "stop"):
                w.stop()

    def _close_detail(self) -> None:
        for w in self.detail.children:
            if hasattr(w, "stop"):
                w.stop()
        self.detail.children = []

    def text(self) -> str:
        lines = [f"{'ID':<26} {'TECH':<6} {'STATUS':<10} {'STEP':>9} {'TIME':>7}  DATASET"]
        for jid in self.order:
            d = self.rows[jid].data
            step = f"{d['step']}/{d['total_steps']}" if d["total_steps"] else "-"
            lines.append(f"{d['id']:<26} {d['technique']:<6} {d['state']:<10} {step:>9} "
                         f"{progress.fmt_duration(d['duration_s']):>7}  {d['dataset']}")
        return "\n".join(lines) if self.order else "no jobs yet"

    def close(self) -> None:
        self.stop()
        super().close()

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.text()
        return data
