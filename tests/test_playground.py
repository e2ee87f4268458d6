"""The playground's core and REST face: votes stored and read back, blind pairs whose models stay hidden until the
vote, votes turned into a DPO-ready catalog version (ties left out and counted), answers streamed from a real
OpenAI-compatible endpoint on loopback through the official `openai` client."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_ft as ft
from jupyter_ft.core.deploy import playground as pg
from jupyter_ft.core.deploy import chat
from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.workspace import Workspace

from .playground_server import server, two_models  # noqa: F401  (fixtures)


def _vote(ws, winner="a", answers=None, **kw):
    answers = answers or {"a": "Hey, doing great!", "b": "I am functioning within normal parameters."}
    return pg.record_vote(ws, kw.pop("prompt", "How are you today?"), answers,
                          kw.pop("models", {"a": "humanlike", "b": "base"}), winner,
                          kw.pop("settings", {"max_tokens": 32, "temperature": 0.0}), kw.pop("endpoint", "playground"))


def test_votes_are_stored_and_bad_votes_name_the_field(ws):
    vid = _vote(ws)
    again = pg.votes(Workspace(ws.root))  # another process's view of the same workspace
    assert [v.id for v in again] == [vid]
    v = again[0]
    assert v.winner == "a" and v.models == {"a": "humanlike", "b": "base"} and v.settings["max_tokens"] == 32
    assert v.endpoint == "playground" and v.prompt == "How are you today?"

    bad = [
        (dict(prompt="  "), "prompt"),
        (dict(prompt=[{"role": "assistant", "content": "hi"}]), "prompt"),
        (dict(answers={"a": "x"}), "answers"),
        (dict(models={"a": "m"}), "models"),
        (dict(winner="c"), "winner"),
        (dict(settings={"t": float("nan")}), "settings"),
        (dict(answers={"a": "x", "b": 3}), "answers.b"),
        (dict(answers={"a": "x", "tie": "y"}, models={"a": "m", "tie": "n"}), "answers"),
    ]
    for kw, field in bad:
        winner = kw.pop("winner", "a")
        with pytest.raises(pg.PlaygroundError) as ei:
            _vote(ws, winner, **kw)
        assert ei.value.field == field, (kw, str(ei.value))
    assert len(pg.votes(ws)) == 1  # nothing half-written

    with pytest.raises(pg.PlaygroundError) as ei:
        pg.parse_settings({"max_tokens": 0})
    assert ei.value.field == "settings.max_tokens"
    with pytest.raises(pg.PlaygroundError) as ei:
        pg.parse_settings({"temprature": 1})
    assert ei.value.field == "settings.temprature" and "unknown setting" in str(ei.value)


def test_votes_dataset_is_dpo_data_in_the_catalog_ties_left_out(ws, tiny_model):
    with pytest.raises(pg.PlaygroundError) as ei:
        pg.votes_dataset(ws)
    assert ei.value.field == "votes" and "no votes yet" in str(ei.value)
    _vote(ws, "a")
    _vote(ws, "b", prompt=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi there"}])
    _vote(ws, "tie")
    _vote(ws, "a", answers={"a": "same", "b": "same"})  # cannot make a pair
    three = pg.record_vote(ws, "Pick one", {"x": "Sure thing!", "y": "Affirmative.", "z": "ok"},
                           {"x": "humanlike", "y": "base", "z": "support"}, "x", {"max_tokens": 16})

    v = ft.playground.votes_dataset(name="pv", ws=ws)
    assert v.kind == "preference" and v.format == "preference" and v.conversational
    assert v.num_rows == 4  # a, b, and x over y and z
    assert v.source["ties_skipped"] == 1 and v.source["unusable_skipped"] == 1 and v.source["votes"] == 5
    assert v.source["models"]["humanlike"] == {"chosen": 3, "rejected": 1}  # rows it won and lost
    recs = {(r["vote_id"], r["rejected_model"]) for r in v.source["row_records"]}
    assert (three, "support") in recs and (three, "base") in recs
    rows = v.rows(0, 10)
    chosen = sorted(r["chosen"][0]["content"] for r in rows)
    assert chosen == sorted(["Hey, doing great!", "I am functioning within normal parameters.", "Sure thing!",
                             "Sure thing!"])
    assert any(r["prompt"][0] == {"role": "system", "content": "Be kind."} for r in rows)
    assert catalog.get(ws, v.ref).ref == v.ref
    # the version is what a DPO job takes: its spec validates and pins it (the catalog's technique checks)
    spec = ft.preview({"model": str(tiny_model), "dataset": v.ref, "technique": "dpo", "max_steps": 2}, ws)
    assert spec.dataset == v.ref and spec.technique == "dpo"

    with pytest.raises(pg.PlaygroundError) as ei:
        pg.votes_dataset(ws, "bad name!")
    assert ei.value.field == "name"


def test_blind_pair_hides_models_until_the_vote(ws):
    import random

    pair = pg.new_pair(ws, "How are you today?", ["humanlike", "base"], {"max_tokens": 8}, "playground",
                       rng=random.Random(3))
    assert set(pair.slots.values()) == {"humanlike", "base"}
    assert "humanlike" not in json.dumps(pair.public()) and "base" not in json.dumps(pair.public())
    with pytest.raises(pg.PlaygroundError) as ei:
        pg.vote_pair(ws, pair.id, "A")
    assert ei.value.status == 409  # no answers yet
    pg.set_answers(ws, pair.id, {"A": "answer one", "B": "answer two"})
    with pytest.raises(pg.PlaygroundError) as ei:
        pg.vote_pair(ws, pair.id, "C")
    assert ei.value.field == "winner"
    reveal = pg.vote_pair(ws, pair.id, "B")
    assert {reveal["A"], reveal["B"]} == {"humanlike", "base"} and reveal["A"] == pair.slots["A"]
    (vote,) = pg.votes(ws)
    assert vote.id == reveal["vote_id"] and vote.pair_id == pair.id and vote.winner == "B"
    assert vote.models == pair.slots and vote.answers == {"A": "answer one", "B": "answer two"}
    with pytest.raises(pg.PlaygroundError) as ei:
        pg.vote_pair(ws, pair.id, "A")
    assert ei.value.status == 409 and vote.id in str(ei.value)
    # two votes at once on a fresh pair (two browser tabs): exactly one is stored
    from concurrent.futures import ThreadPoolExecutor

    twice = pg.new_pair(ws, "q", ["m1", "m2"])
    pg.set_answers(ws, twice.id, {"A": "one", "B": "two"})

    def cast(winner):
        try:
            return pg.vote_pair(Workspace(ws.root), twice.id, winner)["vote_id"]
        except pg.PlaygroundError as exc:
            return exc.status

    outcomes = list(ThreadPoolExecutor(4).map(cast, ["A", "B", "tie", "A"]))
    assert sorted(o for o in outcomes if o == 409) == [409] * 3
    assert [v.pair_id for v in pg.votes(ws)].count(twice.id) == 1
    with pytest.raises(pg.PlaygroundError) as ei:
        pg.get_pair(ws, "pair-nope")
    assert ei.value.status == 404
    # either slot order comes up
    orders = {tuple(pg.new_pair(ws, "q", ["m1", "m2"]).slots.values()) for _ in range(40)}
    assert orders == {("m1", "m2"), ("m2", "m1")}


def test_answers_stream_from_an_endpoint_and_failures_are_one_line(ws, server):
    targets = chat.resolve_targets(ws, server.url)
    assert [t.model for t in targets] == ["tiny", "tiny-b"]
    (t,) = chat.resolve_targets(ws, f"{server.url}#tiny-b")
    assert t.label == "tiny-b" and t.url == server.url
    s = pg.ChatSettings(max_tokens=6)
    deltas = list(chat.stream_answer(targets[0], "How are you today?", s))
    assert len(deltas) > 1  # incremental chunks, not one block
    seen: list[str] = []
    text_b = chat.answer(targets[1], "How are you today?", s, on_text=seen.append)
    assert seen[-1] == text_b and len(seen) > 1 and all(text_b.startswith(x) for x in seen)
    assert "".join(deltas) != text_b  # two different models
    assert "".join(deltas) == chat.answer(targets[0], "How are you today?", s)  # greedy: the same again

    with pytest.raises(pg.PlaygroundError) as ei:
        chat.resolve_targets(ws, server.url, models=["tiny", "nope"])
    assert ei.value.status == 404 and "tiny-b" in str(ei.value)
    with pytest.raises(pg.PlaygroundError) as ei:  # the endpoint's own 404 names the served models
        list(chat.stream_answer(chat.Target("nope", server.url, "nope"), "hi", s))
    assert "404" in str(ei.value) and "tiny-b" in str(ei.value)
    with pytest.raises(pg.PlaygroundError) as ei:
        chat.served_models("http://127.0.0.1:9/v1")
    assert "unreachable" in str(ei.value)


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


async def _fails(jp_fetch, *path, body, code, field):
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "playground", *path, method="POST", body=json.dumps(body))
    reply = json.loads(ei.value.response.body)
    assert ei.value.code == code, reply
    assert reply["errors"][0]["field"] == field, reply
    return reply


async def test_rest_votes_blind_pairs_and_dataset(ws, jp_fetch, server):
    r = await jp_fetch("jupyter-ft", "api", "playground", "votes")
    assert json.loads(r.body) == {"votes": []}
    await _fails(jp_fetch, "votes", "dataset", body={"name": "pv"}, code=409, field="votes")
    await _fails(jp_fetch, "votes", body={"prompt": "hi", "answers": {"a": "x", "b": "y"},
                                          "models": {"a": "m"}, "winner": "a"}, code=400, field="models")
    await _fails(jp_fetch, "votes", body={"prompt": "hi"}, code=400, field="answers")
    await _fails(jp_fetch, "votes", body={"prompt": "hi", "answers": {}, "models": {}, "winner": "a", "x": 1},
                 code=400, field="x")
    vote = {"prompt": "hi", "answers": {"a": "Hey!", "b": "Hello."}, "models": {"a": "tiny-b", "b": "tiny"},
            "winner": "a", "settings": {"max_tokens": 8}, "endpoint": server.url}
    r = await jp_fetch("jupyter-ft", "api", "playground", "votes", method="POST", body=json.dumps(vote))
    assert r.code == 201 and json.loads(r.body)["vote"]["winner"] == "a"

    await _fails(jp_fetch, "blind", body={"endpoint": server.url, "prompt": "hi", "models": ["tiny"]},
                 code=400, field="models")
    await _fails(jp_fetch, "blind", body={"endpoint": server.url, "prompt": "hi", "models": ["tiny", "nope"]},
                 code=404, field="models")
    await _fails(jp_fetch, "blind", body={"endpoint": server.url, "prompt": "hi", "models": ["tiny", "tiny-b"],
                                          "settings": {"top_p": 0}}, code=400, field="settings.top_p")
    await _fails(jp_fetch, "blind", body={"endpoint": "no-such-endpoint", "prompt": "hi",
                                          "models": ["tiny", "tiny-b"]}, code=404, field="endpoint")
    r = await jp_fetch("jupyter-ft", "api", "playground", "blind", method="POST", request_timeout=120,
                       body=json.dumps({"endpoint": server.url, "prompt": "How are you today?",
                                        "models": ["tiny", "tiny-b"], "settings": {"max_tokens": 4}}))
    blind = json.loads(r.body)
    assert r.code == 201 and [a["slot"] for a in blind["answers"]] == ["A", "B"]
    assert all(a["text"] for a in blind["answers"]) and "tiny" not in r.body.decode().replace("max_tokens", "")
    await _fails(jp_fetch, "blind", blind["pair_id"], "vote", body={"winner": "C"}, code=400, field="winner")
    await _fails(jp_fetch, "blind", "pair-nope", "vote", body={"winner": "A"}, code=404, field="pair_id")
    r = await jp_fetch("jupyter-ft", "api", "playground", "blind", blind["pair_id"], "vote", method="POST",
                       body=json.dumps({"winner": "tie"}))
    reveal = json.loads(r.body)
    assert {reveal["A"], reveal["B"]} == {"tiny", "tiny-b"}
    await _fails(jp_fetch, "blind", blind["pair_id"], "vote", body={"winner": "A"}, code=409, field="pair_id")
    r = await jp_fetch("jupyter-ft", "api", "playground", "votes")
    assert [v["winner"] for v in json.loads(r.body)["votes"]] == ["a", "tie"]

    r = await jp_fetch("jupyter-ft", "api", "playground", "votes", "dataset", method="POST",
                       body=json.dumps({"name": "pv"}))
    out = json.loads(r.body)
    assert out["rows"] == 1 and out["ties_skipped"] == 1 and out["dataset"].startswith("pv@")
    assert catalog.get(ws, out["dataset"]).num_rows == 1


def test_widget_streams_columns_judges_and_blind_votes(ws, server):
    from jupyter_ft.serve.stand_in_judge import StandInJudge

    with pytest.raises(pg.PlaygroundError) as ei:
        ft.ui.playground(server.url, models=["tiny", "gpt-9"])
    assert ei.value.field == "models" and "tiny-b" in str(ei.value)
    with pytest.raises(pg.PlaygroundError) as ei:
        ft.ui.playground(server.url, temperature=-1)
    assert ei.value.field == "settings.temperature"

    with StandInJudge() as judge:
        ui = ft.ui.playground(server.url, judge=f"{judge.url}#stand-in", max_tokens=6)
        assert [c.target.model for c in ui.columns] == ["tiny", "tiny-b"]
        with pytest.raises(pg.PlaygroundError):
            ui.vote("tiny")  # nothing asked yet
        ui.ask("How are you today?").wait(60)
        assert ui.error is None and all(ui.answers.values()) and ui.answers["tiny"] != ui.answers["tiny-b"]
        assert all(c.deltas > 1 for c in ui.columns)  # streamed in pieces
        assert all(isinstance(s, float) for s in ui.scores.values()) and judge.requests == 2
        assert "judge" in ui.columns[0].meta.value and "max_tokens 6" in ui.status.value
        assert [b.description for b in ui.votes_box.children] == ["tiny is best", "tiny-b is best", "Tie"]
        vid = ui.vote("tiny-b")
    (v,) = pg.votes(ws)
    assert v.id == vid and v.winner == "tiny-b" and v.models == {"tiny": "tiny", "tiny-b": "tiny-b"}
    assert v.settings["max_tokens"] == 6 and v.answers == ui.answers

    ui.w_mode.value = "Blind A/B"
    assert [c.title.value for c in ui.columns] == [
        "<b>Answer A</b> <span style='color:#999'>(model hidden)</span>",
        "<b>Answer B</b> <span style='color:#999'>(model hidden)</span>"]
    ui.w_seed.value = "x"
    with pytest.raises(pg.PlaygroundError) as ei:
        ui.ask("How are you today?")
    assert ei.value.field == "settings.seed"
    ui.ask("How are you today?", seed=3).wait(60)
    assert set(ui.answers) == {"A", "B"} and "tiny" not in "".join(c.title.value for c in ui.columns)
    assert [b.description for b in ui.votes_box.children] == ["A is better", "B is better", "Tie"]
    ui.votes_box.children[0].click()  # the button, as a person clicks it
    assert ui.revealed is not None and {ui.revealed["A"], ui.revealed["B"]} == {"tiny", "tiny-b"}
    assert ui.revealed["A"] in ui.reveal.value and "preferred" in ui.columns[0].title.value
    with pytest.raises(pg.PlaygroundError):
        ui.vote("B")  # once per answers
    blind = pg.votes(ws)[-1]
    assert blind.pair_id == ui.pair.id and blind.winner == "A" and blind.models["A"] == ui.revealed["A"]
    assert blind.settings["seed"] == 3
    assert ft.playground.votes_dataset(ws=ws).num_rows == 2

    bad = ft.ui.playground([f"{server.url}#tiny", "http://127.0.0.1:9/v1#gone"])
    bad.ask("hi").wait(30)
    assert bad.answers["tiny"] and "unreachable" in bad.answers["gone"] and "failed" in bad.status.value


def test_ft_chat_streams_from_an_endpoint(ws, server, capsys, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_cell("%load_ext jupyter_ft", store_history=False)
    shown = []
    monkeypatch.setattr(sh.display_pub, "publish", lambda data, **kw: shown.append(data))  # what a notebook renders
    result = sh.run_cell(f"%%ft_chat --endpoint {server.url} --models tiny,tiny-b --wait --max-new-tokens 4\n"
                         "How are you today?\n---\nName a colour.", store_history=False)
    out, err = capsys.readouterr()
    assert result.success, err
    texts = [d["text/plain"] for d in shown]
    assert len(texts) == 2 and "prompt: How are you today?" in texts[0] and "prompt: Name a colour." in texts[1]
    assert all("  tiny: '" in t and "  tiny-b: '" in t and "max_tokens 4" in t for t in texts)
    for code, message in [
        (f"%%ft_chat --endpoint {server.url} --models nope\nhi", "['nope'] not served by"),
        ("%%ft_chat --blind --models base\nhi", "--blind and --seed need --endpoint"),
        (f"%%ft_chat --endpoint {server.url} --models tiny --blind\nhi", "blind A/B needs two models"),
        ("%%ft_chat\nhi", "the following arguments are required: --models"),
    ]:
        result = sh.run_cell(code, store_history=False)
        out, err = capsys.readouterr()
        assert message in err and "Traceback" not in err + out, (code, err)


def test_widget_stop_keeps_partial_answers_and_allows_no_vote(ws, server):
    ui = ft.ui.playground(f"{server.url}#tiny", max_tokens=200)
    ui.ask("Tell me a long story.")
    import time

    deadline = time.time() + 60
    while not ui.columns[0].text and time.time() < deadline:  # the first tokens are in
        time.sleep(0.05)
    ui.stop()
    ui.wait(30)
    assert ui.columns[0].text and "stopped after" in ui.status.value and not ui.votes_box.children
    with pytest.raises(pg.PlaygroundError):
        ui.vote("tiny")
    ui.ask("Again?", max_tokens=4).wait(60)  # the playground is usable again
    assert ui.answers["tiny"] and "done in" in ui.status.value
