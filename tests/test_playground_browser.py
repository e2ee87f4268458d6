"""The playground in real JupyterLab, read from what Chromium draws: a prompt typed into the box and sent with the
button, both columns filled token by token (the DOM is watched while it streams), then blind A/B mode: two
answers with their models hidden, a vote clicked, the models revealed and the vote in the workspace."""

from __future__ import annotations

import re

import pytest

from jupyter_ft.core.deploy import playground as pg

from .browser import Notebook, lab, notebook, page  # noqa: F401  (fixtures)
from .playground_server import server, two_models  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

# Records every text the answer cells show while they change (a streaming column shows several).
WATCH_JS = r"""root => {
  window.__pgSeen = [];
  const obs = new MutationObserver(() => {
    root.querySelectorAll('.jft-pg-answer').forEach((e, i) => window.__pgSeen.push([i, e.innerText]));
  });
  obs.observe(root, {subtree: true, childList: true, characterData: true});
  window.__pgObs = obs;
}"""


def test_playground_streams_and_blind_votes_in_jupyterlab(ws, server, notebook: Notebook):
    cell = notebook.run(f"import jupyter_ft as ft\nui = ft.ui.playground({server.url!r}, max_tokens=24)\nui")
    out = cell.output
    out.locator(".jft-playground").wait_for()
    assert out.locator(".jft-pg-col").count() == 2
    heads = out.locator(".jft-pg-col").all_inner_texts()
    assert heads[0].startswith("tiny\n") and heads[1].startswith("tiny-b\n")
    settings = out.locator(".jft-pg-settings").inner_text()
    for name in ("max tokens", "temperature", "top_p", "seed"):
        assert name in settings
    assert out.locator(".jft-pg-settings input").first.input_value() == "24"

    out.locator(".jft-playground").evaluate(WATCH_JS)
    out.locator(".jft-pg-prompt textarea").fill("How are you today?")
    out.get_by_role("button", name="Send").click()
    out.locator(".jft-pg-status").get_by_text(re.compile("done in")).wait_for(timeout=60_000)
    answers = out.locator(".jft-pg-answer").all_inner_texts()
    assert all(a.strip() and "waiting" not in a for a in answers) and answers[0] != answers[1]
    seen = notebook.page.evaluate("() => { window.__pgObs.disconnect(); return window.__pgSeen; }")
    for i in (0, 1):
        texts = [t for j, t in seen if j == i and t.strip() and "waiting" not in t]
        assert len(set(texts)) > 1 and texts[-1] == answers[i], texts  # partial answers shown before the whole
        assert all(answers[i].startswith(t.strip()) for t in texts)
    assert "max_tokens 24 · greedy" in out.locator(".jft-pg-status").inner_text()
    notebook.screenshot(cell, "playground-side-by-side")

    out.get_by_role("button", name="Blind A/B").click()
    out.get_by_text("(model hidden)").first.wait_for()
    out.get_by_role("button", name="Send").click()
    out.get_by_role("button", name="A is better").wait_for(timeout=60_000)
    heads = out.locator(".jft-pg-col").all_inner_texts()
    assert "tiny" not in " ".join(h.split("\n")[0] for h in heads)  # models hidden before the vote
    assert [h.split("\n")[0] for h in heads] == ["Answer A (model hidden)", "Answer B (model hidden)"]
    notebook.screenshot(cell, "playground-blind-before-vote")
    out.get_by_role("button", name="B is better").click()
    reveal = out.locator(".jft-pg-reveal")
    reveal.get_by_text(re.compile("A was")).wait_for()
    (vote,) = [v for v in pg.votes(ws) if v.pair_id]
    assert vote.winner == "B" and f"A was {vote.models['A']}, B was {vote.models['B']}" in reveal.inner_text()
    assert out.locator(".jft-pg-col").nth(1).inner_text().startswith(f"Answer B: {vote.models['B']}")
    assert out.get_by_role("button", name="A is better").count() == 0  # one vote per pair
    notebook.screenshot(cell, "playground-blind-revealed")
