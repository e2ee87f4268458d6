"""Side-by-side compare (`ft.ui.compare(models=[...], prompts=[...])`): one column per model, one row per prompt,
the generation settings shown above. Loading and generating run on a worker thread: the panel says what it is
doing, each answer appears as it lands, and the kernel stays usable."""

from __future__ import annotations

import html
import threading
import time
from typing import Any

import ipywidgets as widgets

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.registry.model_refs import ModelRef, resolve_models

WORKING = "<i style='color:#888'>…</i>"


def _prompt_text(p: Any) -> str:
    if isinstance(p, str):
        return p
    return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in p)


class ComparePanel(widgets.VBox):
    """Answers of each model to each prompt. `wait()` blocks until all are in; `results` holds them;
    `text()` is the same table as plain text."""

    def __init__(self, models: list[str], prompts: str | list[Any], *, ws: Any = None, base: str | None = None,
                 max_new_tokens: int = 64, temperature: float = 0.0, top_p: float = 1.0, start: bool = True):
        from jupyter_ft.serve.compare import GenerationSettings  # no torch here: that loads in the worker

        self.ws = ws or api.workspace()
        self.prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not self.prompts:
            raise ValueError("prompts: give at least one prompt")
        self.refs: list[ModelRef] = resolve_models(list(models), self.ws, base=base)
        self.settings = GenerationSettings(max_new_tokens, temperature, top_p)
        self.results: list[list[dict[str, Any] | None]] = [[None] * len(self.refs) for _ in self.prompts]
        self.error: str | None = None
        self.seconds: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        self.status = widgets.HTML()
        cols = len(self.refs) + 1
        header = [widgets.HTML("<b>prompt</b>")] + [
            widgets.HTML(f"<b>{html.escape(r.label)}</b><br><span style='color:#777;font-size:85%'>"
                         f"{html.escape(r.source)}</span>") for r in self.refs]
        self.cells = [[widgets.HTML(WORKING, layout=widgets.Layout(overflow="auto")) for _ in self.refs]
                      for _ in self.prompts]
        body: list[widgets.Widget] = []
        for i, p in enumerate(self.prompts):
            body.append(widgets.HTML(f"<div style='white-space:pre-wrap'>{html.escape(_prompt_text(p))}</div>"))
            body.extend(self.cells[i])
        self.grid = widgets.GridBox(header + body, layout=widgets.Layout(
            grid_template_columns=f"minmax(160px,1fr) repeat({cols - 1}, minmax(200px,2fr))", grid_gap="6px 12px"))
        settings = widgets.HTML(f"<span style='color:#555'>generation: {html.escape(self.settings.describe())}</span>")
        super().__init__([settings, self.status, self.grid])
        if start:
            self.start()

    def start(self) -> ComparePanel:
        if self._thread is None:
            self._say("working: starting…")
            self._thread = threading.Thread(target=self._work, name="jupyter_ft-compare", daemon=True)
            self._thread.start()
        return self

    def _say(self, text: str, color: str = "#1565c0") -> None:
        self.status.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def _work(self) -> None:
        from jupyter_ft.serve.compare import Comparer

        t = time.time()
        try:
            Comparer(self.refs, self.settings).run(self.prompts, self._answer, lambda s: self._say(f"working: {s}"),
                                                    self._stop)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        self.seconds = time.time() - t
        failures = [r["error"] for row in self.results for r in row if r and r["error"]]
        if self.error or failures:
            self._say(f"done with errors in {self.seconds:.1f} s: {self.error or failures[0]}", "#c62828")
        else:
            self._say(f"done in {self.seconds:.1f} s", "#2e7d32")

    def _answer(self, i: int, j: int, result: dict[str, Any]) -> None:
        self.results[i][j] = result
        if result["error"]:
            self.cells[i][j].value = f"<span style='color:#c62828'>{html.escape(result['error'])}</span>"
        else:
            meta = f"{result.get('completion_tokens') or '?'} tokens · {result['seconds']:.1f} s"
            self.cells[i][j].value = (f"<div style='white-space:pre-wrap'>{html.escape(result['text'])}</div>"
                                      f"<span style='color:#999;font-size:80%'>{meta}</span>")

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> ComparePanel:
        """Block until every answer is in (or `timeout` seconds: TimeoutError)."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"compare still working after {timeout} s")
        return self

    def stop(self) -> None:
        self._stop.set()

    def answers(self) -> list[dict[str, str]]:
        """[{'prompt': ..., '<model label>': answer, ...}] for each prompt (errors as 'error: ...')."""
        out = []
        for p, row in zip(self.prompts, self.results):
            d = {"prompt": _prompt_text(p)}
            for ref, r in zip(self.refs, row):
                d[ref.label] = None if r is None else (f"error: {r['error']}" if r["error"] else r["text"])
            out.append(d)
        return out

    def text(self) -> str:
        lines = [f"generation: {self.settings.describe()}"]
        for a in self.answers():
            lines.append(f"prompt: {a['prompt']}")
            for ref in self.refs:
                v = a[ref.label]
                lines.append(f"  {ref.label}: {'(working…)' if v is None else v!r}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.text()
        return data
