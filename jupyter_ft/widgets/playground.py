"""The playground (`ft.ui.playground(endpoint)`): a prompt box and one column per model, the answers streaming in
token by token from an OpenAI-compatible endpoint, the generation settings shown and editable, optionally a
judge's score under each answer. Blind A/B mode shows two answers with their models hidden (a random pair in a
random order), asks which is better, stores the vote and only then reveals the models.

Every column streams on its own worker thread (the endpoint batches them); threads update the widgets by value,
never through `with out:`, so output lands in the right cell and the kernel stays usable. Votes go to the
workspace through `core.deploy.playground` the moment they are cast; `ft.playground.votes_dataset()` makes them DPO data.
"""

from __future__ import annotations

import html
import random
import threading
import time
from typing import Any

import ipywidgets as widgets

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.deploy import playground as core
from jupyter_ft.core.deploy import chat
from jupyter_ft.core.deploy.playground import ChatSettings, PlaygroundError

SIDE_BY_SIDE, BLIND = "Side by side", "Blind A/B"
REFRESH_S = 0.05  # at most ~20 front-end updates a second per column while tokens stream
WAITING = "<i style='color:#888'>waiting…</i>"


def _esc(text: str) -> str:
    return html.escape(text)


class _Column:
    """One answer's widgets and state."""

    def __init__(self) -> None:
        self.title = widgets.HTML()
        self.body = widgets.HTML(WAITING, layout=widgets.Layout(min_height="3em"))
        self.body.add_class("jft-pg-answer")
        self.meta = widgets.HTML()
        self.box = widgets.VBox([self.title, self.body, self.meta], layout=widgets.Layout(
            flex="1 1 0", min_width="220px", border="1px solid #ddd", padding="6px", margin="0 6px 0 0"))
        self.box.add_class("jft-pg-col")
        self.target: chat.Target | None = None
        self.text = ""
        self.error: str | None = None
        self.done = False
        self.seconds: float | None = None
        self.first_token_s: float | None = None
        self.deltas = 0
        self.score: float | None = None

    def show(self, final: bool = False) -> None:
        if self.error:
            self.body.value = f"<span style='color:#c62828'>{_esc(self.error)}</span>"
        elif self.text or final:
            self.body.value = f"<div style='white-space:pre-wrap'>{_esc(self.text) or '<i>(empty answer)</i>'}</div>"


class Playground(widgets.VBox):
    """`ask(prompt)` streams every column's answer; `wait()` blocks until they are in; `answers` holds them;
    `vote(label | "A" | "B" | "tie")` stores a vote (and in blind mode reveals the models)."""

    def __init__(self, source: Any, *, models: list[str] | None = None, blind: bool = False, judge: Any = None,
                 ws: Any = None, prompt: str = "", api_key: str | None = None, max_tokens: int = 64,
                 temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None):
        self.ws = ws or api.workspace()
        self.targets = chat.resolve_targets(self.ws, source, models, api_key=api_key)
        self.judge_spec = _judge_spec(judge)
        self._judge = None
        core.parse_settings({"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
                             "seed": seed})  # names a bad value now, not at the first Send
        self.error: str | None = None
        self.prompt: Any = None
        self.settings: ChatSettings | None = None
        self.pair: core.BlindPair | None = None
        self.revealed: dict[str, str] | None = None
        self.vote_id: str | None = None
        self.seconds: float | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending = 0
        self._started = 0.0
        self._ready = False  # every answer in and the round closed: votes allowed

        label = {"description_width": "initial"}
        self.w_max_tokens = widgets.BoundedIntText(max_tokens, min=1, max=4096, description="max tokens", style=label,
                                                   layout=widgets.Layout(width="170px"))
        self.w_temperature = widgets.BoundedFloatText(temperature, min=0, max=2, step=0.1, description="temperature",
                                                      style=label, layout=widgets.Layout(width="170px"))
        self.w_top_p = widgets.BoundedFloatText(top_p, min=0.01, max=1, step=0.05, description="top_p",
                                                layout=widgets.Layout(width="150px"))
        self.w_seed = widgets.Text("" if seed is None else str(seed), placeholder="none", description="seed",
                                   layout=widgets.Layout(width="150px"))
        self.w_mode = widgets.ToggleButtons(options=[SIDE_BY_SIDE, BLIND], value=BLIND if blind else SIDE_BY_SIDE)
        self.w_prompt = widgets.Textarea(prompt, placeholder="Ask something…", layout=widgets.Layout(width="100%",
                                                                                                      height="4em"))
        self.w_prompt.add_class("jft-pg-prompt")
        self.w_send = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.w_send.add_class("jft-pg-send")
        self.status = widgets.HTML()
        self.status.add_class("jft-pg-status")
        self.columns_box = widgets.HBox(layout=widgets.Layout(width="100%", align_items="stretch"))
        self.votes_box = widgets.HBox()
        self.votes_box.add_class("jft-pg-votes")
        self.reveal = widgets.HTML()
        self.reveal.add_class("jft-pg-reveal")
        self.columns: list[_Column] = []
        self.w_send.on_click(lambda _: self._send_clicked())
        self.w_mode.observe(lambda ch: self._mode_changed(), names="value")

        where = sorted({t.endpoint or t.url for t in self.targets})
        head = widgets.HTML(f"<b>Playground</b> <span style='color:#777'>· {_esc(', '.join(where))} · "
                            f"{len(self.targets)} model(s): {_esc(', '.join(t.label for t in self.targets))}"
                            + (" · judge " + _esc(self.judge_spec.model) if self.judge_spec else "") + "</span>")
        settings_row = widgets.HBox([self.w_max_tokens, self.w_temperature, self.w_top_p, self.w_seed])
        settings_row.add_class("jft-pg-settings")
        super().__init__([head, self.w_mode, settings_row, self.w_prompt, widgets.HBox([self.w_send, self.status]),
                          self.columns_box, self.votes_box, self.reveal])
        self.add_class("jft-playground")
        if blind and len(self.targets) < 2:
            raise PlaygroundError("models", f"blind A/B needs two models; {len(self.targets)} given")
        self._layout_columns()

    # --- layout ---------------------------------------------------------------------------------------------
    @property
    def blind(self) -> bool:
        return self.w_mode.value == BLIND

    def _layout_columns(self) -> None:
        n = 2 if self.blind else len(self.targets)
        self.columns = [_Column() for _ in range(n)]
        for i, col in enumerate(self.columns):
            if self.blind:
                col.title.value = f"<b>Answer {core.SLOTS[i]}</b> <span style='color:#999'>(model hidden)</span>"
            else:
                t = self.targets[i]
                col.target = t
                col.title.value = (f"<b>{_esc(t.label)}</b><br><span style='color:#777;font-size:85%'>"
                                   f"{_esc(t.source)}</span>")
        self.columns_box.children = [c.box for c in self.columns]
        self.votes_box.children = []
        self.reveal.value = ""

    def _mode_changed(self) -> None:
        if self.busy:
            return
        if self.blind and len(self.targets) < 2:
            self._say(f"blind A/B needs two models; this playground has {len(self.targets)}", "#c62828")
            self.w_mode.value = SIDE_BY_SIDE
            return
        self.pair = self.revealed = self.vote_id = None
        self._layout_columns()

    def _say(self, text: str, color: str = "#1565c0") -> None:
        self.status.value = f"<span style='color:{color}'>{_esc(text)}</span>"

    # --- asking ---------------------------------------------------------------------------------------------
    def read_settings(self) -> ChatSettings:
        """The settings in the boxes; a bad value raises `PlaygroundError` naming the setting."""
        seed_text = self.w_seed.value.strip()
        seed: Any = None
        if seed_text:
            try:
                seed = int(seed_text)
            except ValueError:
                raise PlaygroundError("settings.seed", f"must be a whole number or empty, got {seed_text!r}") from None
        return core.parse_settings({"max_tokens": self.w_max_tokens.value, "temperature": self.w_temperature.value,
                                    "top_p": self.w_top_p.value, "seed": seed})

    @property
    def busy(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _send_clicked(self) -> None:
        try:
            self.ask(self.w_prompt.value)
        except PlaygroundError as exc:
            self._say(str(exc), "#c62828")

    def ask(self, prompt: Any = None, **settings: Any) -> Playground:
        """Ask every column (blind: a random pair of models in a random order) and stream the answers in.
        Keyword settings (max_tokens, temperature, top_p, seed) update the boxes first."""
        if self.busy:
            raise PlaygroundError("prompt", "still answering the last prompt; wait for it (or stop())")
        for k, v in settings.items():
            box = {"max_tokens": self.w_max_tokens, "temperature": self.w_temperature, "top_p": self.w_top_p,
                   "seed": self.w_seed}.get(k)
            if box is None:
                raise PlaygroundError(f"settings.{k}", "unknown setting (known: max_tokens, temperature, top_p, seed)")
            box.value = ("" if v is None else str(v)) if k == "seed" else v
        if prompt is None:
            prompt = self.w_prompt.value
        elif isinstance(prompt, str):
            self.w_prompt.value = prompt
        self.prompt = core.check_prompt(prompt)
        self.settings = self.read_settings()
        self._layout_columns()
        self.error = self.revealed = self.vote_id = self.pair = None
        if self.blind:
            chosen = random.SystemRandom().sample(self.targets, 2)
            by_label = {t.label: t for t in chosen}
            endpoints = sorted({t.endpoint or t.url for t in chosen})
            self.pair = core.new_pair(self.ws, self.prompt, [t.label for t in chosen], self.settings,
                                      endpoints[0] if len(endpoints) == 1 else ", ".join(endpoints))
            for slot, col in zip(core.SLOTS, self.columns):
                col.target = by_label[self.pair.slots[slot]]
        self._stop.clear()
        self._ready = False
        self._pending = len(self.columns)
        self._started = time.time()
        self.w_send.disabled = True
        self._say(f"streaming {len(self.columns)} answer(s)…")
        self._threads = [threading.Thread(target=self._stream, args=(col,), name=f"jupyter_ft-playground-{i}",
                                          daemon=True) for i, col in enumerate(self.columns)]
        for t in self._threads:
            t.start()
        return self

    def _stream(self, col: _Column) -> None:
        assert col.target is not None and self.settings is not None
        t0 = time.time()
        last = 0.0

        def on_text(text: str) -> None:
            nonlocal last
            col.text = text
            col.deltas += 1
            if col.first_token_s is None:
                col.first_token_s = time.time() - t0
            now = time.time()
            if now - last >= REFRESH_S:
                last = now
                col.show()
                col.meta.value = f"<span style='color:#999;font-size:80%'>{col.deltas} chunks…</span>"

        try:
            col.text = chat.answer(col.target, self.prompt, self.settings, on_text, self._stop)
        except PlaygroundError as exc:
            col.error = exc.message
        except Exception as exc:  # a face shows the failure in its column; the other columns go on
            col.error = f"{type(exc).__name__}: {exc}"
        col.seconds = time.time() - t0
        col.done = True
        col.show(final=True)
        col.meta.value = self._meta(col)
        if self.judge_spec is not None and not col.error:
            self._score(col)
        with self._lock:
            self._pending -= 1
            last_one = self._pending == 0
        if last_one:
            self._finished()

    def _meta(self, col: _Column) -> str:
        parts = [f"{col.deltas} chunks", f"{col.seconds:.1f} s"]
        if col.first_token_s is not None:
            parts.insert(1, f"first token {col.first_token_s:.2f} s")
        if col.score is not None:
            parts.append(f"<b>judge {col.score:g}/{self.judge_spec.max_score}</b>")
        return f"<span style='color:#999;font-size:80%'>{' · '.join(parts)}</span>"

    def _score(self, col: _Column) -> None:
        try:
            with self._lock:
                if self._judge is None:
                    from jupyter_ft.training.judge import make_judge

                    self._judge = make_judge(self.judge_spec)
            (col.score,) = self._judge.score([(self.prompt, col.text)])
        except Exception as exc:
            col.meta.value = (self._meta(col) + "<br><span style='color:#c62828;font-size:80%'>"
                              f"judge: {_esc(str(exc))}</span>")
            return
        col.meta.value = self._meta(col)

    def _finished(self) -> None:
        self.seconds = time.time() - self._started
        failed = [c for c in self.columns if c.error]
        if self._stop.is_set():  # stopped by the user: partial answers are shown, nothing to vote on
            self._say(f"stopped after {self.seconds:.1f} s", "#e65100")
            self.w_send.disabled = False
            return
        if failed:
            self.error = failed[0].error
            self._say(f"done in {self.seconds:.1f} s; {len(failed)} answer(s) failed: {failed[0].error}", "#c62828")
        else:
            self._say(f"done in {self.seconds:.1f} s · {self.settings.describe()}", "#2e7d32")
        if self.blind and self.pair is not None:
            self.pair = core.set_answers(self.ws, self.pair.id, {s: c.text for s, c in zip(core.SLOTS, self.columns)})
            if not failed:
                self._vote_buttons([("A is better", "A"), ("B is better", "B"), ("Tie", core.TIE)])
        elif not failed and len(self.columns) > 1:
            self._vote_buttons([(f"{c.target.label} is best", c.target.label) for c in self.columns]
                               + [("Tie", core.TIE)])
        self._ready = True
        self.w_send.disabled = False

    def _vote_buttons(self, choices: list[tuple[str, str]]) -> None:
        buttons = []
        for text, winner in choices:
            b = widgets.Button(description=text, icon="thumbs-up" if winner != core.TIE else "balance-scale",
                               layout=widgets.Layout(width="auto"))
            b.on_click(lambda _, w=winner: self._vote_clicked(w))
            buttons.append(b)
        self.votes_box.children = buttons

    def _vote_clicked(self, winner: str) -> None:
        try:
            self.vote(winner)
        except PlaygroundError as exc:
            self._say(str(exc), "#c62828")

    # --- voting ---------------------------------------------------------------------------------------------
    def vote(self, winner: str) -> str:
        """Store the vote on the current answers: in blind mode "A", "B" or "tie" (then the models are revealed),
        side by side a column's label or "tie". Returns the vote id."""
        if not self._ready:
            raise PlaygroundError("winner", "vote once every answer is in")
        if self.vote_id:
            raise PlaygroundError("winner", f"already voted on these answers (vote {self.vote_id}); ask again")
        if any(c.error for c in self.columns):
            raise PlaygroundError("winner", "an answer failed; nothing to vote on")
        if self.blind:
            self.revealed = core.vote_pair(self.ws, self.pair.id, winner)
            self.vote_id = self.revealed["vote_id"]
            for slot, col in zip(core.SLOTS, self.columns):
                col.title.value = (f"<b>Answer {slot}: {_esc(self.revealed[slot])}</b>"
                                   + (" <span style='color:#2e7d32'>✔ preferred</span>" if winner == slot else ""))
            said = "a tie" if winner == core.TIE else f"{winner} ({self.revealed[winner]}) is better"
            self.reveal.value = (f"<span style='color:#2e7d32'>Vote stored ({_esc(self.vote_id)}): {_esc(said)}. "
                                 f"A was <b>{_esc(self.revealed['A'])}</b>, B was <b>{_esc(self.revealed['B'])}</b>."
                                 "</span>")
        else:
            labels = {c.target.label: c for c in self.columns}
            self.vote_id = core.record_vote(
                self.ws, self.prompt, {k: c.text for k, c in labels.items()},
                {k: c.target.model for k, c in labels.items()}, winner, self.settings,
                ", ".join(sorted({c.target.endpoint or c.target.url for c in self.columns})))
            said = "a tie" if winner == core.TIE else f"{winner} is best"
            self.reveal.value = f"<span style='color:#2e7d32'>Vote stored ({_esc(self.vote_id)}): {_esc(said)}.</span>"
        self.votes_box.children = []
        return self.vote_id

    # --- reading --------------------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> Playground:
        """Block until every answer is in (or `timeout` seconds: TimeoutError)."""
        deadline = None if timeout is None else time.time() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.time()))
            if t.is_alive():
                raise TimeoutError(f"playground still answering after {timeout} s")
        return self

    def stop(self) -> None:
        """Stop streaming (the endpoint sees the client go and frees the slots)."""
        self._stop.set()

    @property
    def answers(self) -> dict[str, str]:
        """{column title: answer} (blind: {"A": ..., "B": ...}); errors as 'error: ...'."""
        keys = core.SLOTS if self.blind else [c.target.label for c in self.columns]
        return {k: (f"error: {c.error}" if c.error else c.text) for k, c in zip(keys, self.columns)}

    @property
    def scores(self) -> dict[str, float | None]:
        keys = core.SLOTS if self.blind else [c.target.label for c in self.columns]
        return {k: c.score for k, c in zip(keys, self.columns)}

    def text(self) -> str:
        lines = [f"playground: {', '.join(t.label for t in self.targets)}"
                 + (f" · {self.settings.describe()}" if self.settings else "")]
        if self.prompt is not None:
            lines.append(f"prompt: {core.prompt_text(self.prompt)}")
            for k, v in self.answers.items():
                lines.append(f"  {k}: {v!r}")
        if self.revealed:
            lines.append(f"revealed: A = {self.revealed['A']}, B = {self.revealed['B']}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.text()
        return data


def _judge_spec(judge: Any):
    """A `JudgeSpec` from a spec, a dict, or an endpoint URL `http://host/v1#model`."""
    if judge is None:
        return None
    from jupyter_ft.core.spec.rewards import JudgeSpec

    if isinstance(judge, JudgeSpec):
        return judge
    if isinstance(judge, str):
        url, _, model = judge.partition("#")
        if not url.startswith(("http://", "https://")) or not model:
            raise PlaygroundError("judge", f"give a JudgeSpec, a dict, or 'http://host/v1#model'; got {judge!r}")
        judge = {"kind": "openai", "base_url": url, "model": model}
    if not isinstance(judge, dict):
        raise PlaygroundError("judge", f"must be a JudgeSpec, a dict or a URL, got {type(judge).__name__}")
    try:
        return JudgeSpec.model_validate(judge)
    except Exception as exc:
        raise PlaygroundError("judge", str(exc).splitlines()[-1] if str(exc) else type(exc).__name__) from None
