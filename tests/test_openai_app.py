"""The OpenAI-compatible endpoint as a real server process on loopback, driven by the official `openai` client:
the tiny base and two adapters trained here (TRL SFT) behind one endpoint, mixed in one batch."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from .serve_fixtures import QUESTIONS, start_server

KEY = "test-key-123"
PROMPTS = [QUESTIONS[0], "Something nobody asked before, at some length?"]
N = 12  # greedy tokens per answer


@pytest.fixture(scope="module")
def server(tiny_model, two_adapters, tmp_path_factory):
    srv = start_server({"base_model": str(tiny_model), "adapters": {k: str(v) for k, v in two_adapters.items()},
                        "api_key": KEY, "max_batch_size": 8, "max_queue": 32}, tmp_path_factory.mktemp("srv"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client()


@pytest.fixture(scope="module")
def offline(tiny_model, two_adapters):
    """Greedy answers from plain PEFT `generate` in this process: {(model, prompt): text}."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    out = {}
    for name in ["base", *two_adapters]:
        model = AutoModelForCausalLM.from_pretrained(tiny_model)
        if name != "base":
            model = PeftModel.from_pretrained(model, str(two_adapters[name]))
        model.eval()
        for p in PROMPTS:
            ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                          return_tensors="pt", return_dict=True)
            with torch.inference_mode():
                gen = model.generate(**ids, max_new_tokens=N, do_sample=False, pad_token_id=tok.pad_token_id)
            out[(name, p)] = tok.decode(gen[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)
    return out


def chat(client, model, prompt, **kw):
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                       max_tokens=kw.pop("max_tokens", N), temperature=kw.pop("temperature", 0), **kw)
    return r.choices[0].message.content


def base_id(server):
    return server.config["base_model"]


def test_models_lists_base_and_adapters_with_parent(client, server):
    data = {m.id: m for m in client.models.list().data}
    assert set(data) == {base_id(server), "pirate", "robot"}
    assert data[base_id(server)].parent is None
    assert data["pirate"].parent == data["robot"].parent == base_id(server)


def test_base_and_two_adapters_give_different_greedy_answers(client, server):
    answers = {m: chat(client, m, QUESTIONS[0]) for m in (base_id(server), "pirate", "robot")}
    assert len(set(answers.values())) == 3, answers
    assert answers["pirate"].startswith("Arr matey") and answers["robot"].startswith("Beep boop")
    assert chat(client, "base", QUESTIONS[0]) == answers[base_id(server)]  # "base" is the base too


def test_adapter_answers_equal_offline_peft_alone_and_in_a_mixed_batch(client, server, offline):
    name = {"base": base_id(server), "pirate": "pirate", "robot": "robot"}
    alone = {(m, p): chat(client, name[m], p) for (m, p) in offline}
    assert alone == offline
    # All six at once, twice over, with neighbours of other adapters and prompt lengths in the batch.
    jobs = list(offline) * 2
    with ThreadPoolExecutor(len(jobs)) as pool:
        mixed = list(pool.map(lambda mp: chat(client, name[mp[0]], mp[1]), jobs))
    assert mixed == [offline[j] for j in jobs]
    load = httpx.get(f"{server.root}/metrics_json").json()
    assert load["served"] >= len(jobs) + len(offline) and load["active"] == 0


def test_answers_do_not_depend_on_batch_neighbours(client, server):
    """The same greedy request next to long base generations, next to short adapter ones, and alone."""
    target = ("pirate", QUESTIONS[5])
    alone = chat(client, *target, max_tokens=20)
    for neighbour, tokens in ((base_id(server), 24), ("robot", 3)):
        with ThreadPoolExecutor(4) as pool:
            noise = [pool.submit(chat, client, neighbour, f"{q} " * (i + 1), max_tokens=tokens)
                     for i, q in enumerate(QUESTIONS[:3])]
            time.sleep(0.05)  # the target joins a batch already running
            got = pool.submit(chat, client, *target, max_tokens=20).result()
            [f.result() for f in noise]
        assert got == alone


def test_streaming_yields_incremental_chunks(client, server):
    full = chat(client, base_id(server), QUESTIONS[1], max_tokens=16)
    stream = client.chat.completions.create(model=base_id(server), messages=[{"role": "user", "content": QUESTIONS[1]}],
                                            max_tokens=16, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 8  # one per token (a few held back for partial characters)
    assert "".join(pieces) == full
    assert chunks[-1].usage.completion_tokens == 16
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_completions_echo_logprobs_are_the_prompt_loglikelihood(client, tiny_model, two_adapters):
    """echo + logprobs + max_tokens 0 (what log-likelihood scoring sends) equals the log-probs of a forward pass."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    text = "Question: 3 + 4 = ? Answer: 7"
    r = client.completions.create(model="robot", prompt=text, max_tokens=0, echo=True, logprobs=1)
    lp = r.choices[0].logprobs
    assert r.choices[0].text == text and "".join(lp.tokens) == text and lp.token_logprobs[0] is None
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(two_adapters["robot"]))
    ids = tok(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        ref = torch.log_softmax(model(ids).logits[0, :-1].float(), -1).gather(1, ids[0, 1:, None])[:, 0]
    assert lp.token_logprobs[1:] == pytest.approx(ref.tolist(), abs=1e-4)
    # several prompts (token ids too) in one request, generated together, each with its top alternatives
    r = client.completions.create(model="pirate", prompt=[text, "Hello"], max_tokens=3, logprobs=2, temperature=0,
                                  extra_body={"ignore_eos": True})
    assert [c.index for c in r.choices] == [0, 1] and all(len(c.logprobs.top_logprobs[0]) == 2 for c in r.choices)
    r2 = client.completions.create(model="pirate", prompt=tok(text)["input_ids"], max_tokens=3, temperature=0,
                                   extra_body={"ignore_eos": True})
    assert r2.choices[0].text == r.choices[0].text and r.usage.completion_tokens == 6


def test_load_and_unload_at_run_time_and_base_unchanged(client, server, two_adapters, tmp_path):
    h = server.headers()
    with_adapters = chat(client, base_id(server), PROMPTS[1])
    robot = chat(client, "robot", PROMPTS[1])
    for name in ("robot", "pirate"):
        r = httpx.post(f"{server.url}/unload_lora_adapter", json={"lora_name": name}, headers=h)
        assert r.status_code == 200, r.text
    assert [m.id for m in client.models.list().data] == [base_id(server)]
    assert chat(client, base_id(server), PROMPTS[1]) == with_adapters  # no adapter loaded: same greedy answer
    with pytest.raises(openai.NotFoundError) as e:
        chat(client, "robot", PROMPTS[1])
    assert "robot" in str(e.value) and base_id(server) in e.value.body["message"]
    try:
        for name in ("robot", "pirate"):
            r = httpx.post(f"{server.url}/load_lora_adapter", json={"lora_name": name,
                                                                     "lora_path": str(two_adapters[name])}, headers=h)
            assert r.status_code == 200, r.text
        assert chat(client, "robot", PROMPTS[1]) == robot
        assert chat(client, base_id(server), PROMPTS[1]) == with_adapters
        # loaded twice, missing folder, unknown unload: 4xx naming the field, nothing changes
        r = httpx.post(f"{server.url}/load_lora_adapter", json={"lora_name": "robot", "lora_path": str(two_adapters["robot"])},
                       headers=h)
        assert r.status_code == 400 and r.json()["error"]["param"] == "lora_name"
        r = httpx.post(f"{server.url}/load_lora_adapter", json={"lora_name": "x", "lora_path": str(tmp_path)}, headers=h)
        assert r.status_code == 400 and "adapter_config.json" in r.json()["error"]["message"]
        r = httpx.post(f"{server.url}/unload_lora_adapter", json={"lora_name": "nope"}, headers=h)
        assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    finally:  # the module's other tests expect both adapters
        for name in ("robot", "pirate"):
            httpx.post(f"{server.url}/load_lora_adapter", json={"lora_name": name, "lora_path": str(two_adapters[name])},
                       headers=h)


def test_adapter_of_another_base_is_refused_naming_both(server, two_adapters, tmp_path):
    from jupyter_ft.training.tiny_model import make_tiny_model

    other = make_tiny_model(tmp_path / "other-base", seed=1)
    foreign = shutil.copytree(two_adapters["pirate"], tmp_path / "foreign")
    cfg = json.loads((foreign / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = str(other)
    (foreign / "adapter_config.json").write_text(json.dumps(cfg))
    r = httpx.post(f"{server.url}/load_lora_adapter", json={"lora_name": "foreign", "lora_path": str(foreign)},
                   headers=server.headers())
    assert r.status_code == 400
    msg = r.json()["error"]["message"]
    assert str(other) in msg and server.config["base_model"] in msg


def test_bad_requests_get_openai_errors_naming_the_field_and_serving_goes_on(client, server):
    h = {**server.headers(), "Content-Type": "application/json"}
    url = f"{server.url}/chat/completions"
    msgs = [{"role": "user", "content": "hi"}]
    cases = [
        (b"{not json", 400, "body"),
        (json.dumps({"model": "pirate"}), 400, "messages"),
        (json.dumps({"model": "pirate", "messages": msgs, "temperature": -1}), 400, "temperature"),
        (json.dumps({"model": "pirate", "messages": msgs, "n": 2}), 400, "n"),
        (json.dumps({"model": "pirate", "messages": [{"role": "wizard", "content": "x"}]}), 400, "messages[0].role"),
        (json.dumps({"model": "pirate", "messages": msgs, "max_tokens": 10**6}), 400, "max_tokens"),
        (json.dumps({"model": "nope", "messages": msgs}), 404, "model"),
    ]
    for body, status, param in cases:
        r = httpx.post(url, content=body, headers=h)
        assert r.status_code == status, (body, r.text)
        err = r.json()["error"]
        assert err["param"] == param and err["message"] and err["type"], err
    err = httpx.post(url, content=json.dumps({"model": "nope", "messages": msgs}), headers=h).json()["error"]
    assert all(m in err["message"] for m in ("pirate", "robot", base_id(server)))
    r = httpx.post(f"{server.url}/completions", json={"model": "pirate", "prompt": [10**7]}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"
    assert chat(client, "pirate", QUESTIONS[0]).startswith("Arr")


def test_api_key_is_required(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        r = httpx.get(f"{server.url}/models", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url, api_key="wrong", max_retries=0).models.list()
    assert httpx.get(f"{server.root}/health").status_code == 200


def test_client_disconnecting_mid_stream_frees_its_slot(client, server):
    body = {"model": base_id(server), "messages": [{"role": "user", "content": "Go on and on."}], "max_tokens": 2000,
            "temperature": 0, "stream": True, "ignore_eos": True}
    with httpx.Client(timeout=30) as c:
        with c.stream("POST", f"{server.url}/chat/completions", json=body, headers=server.headers()) as r:
            lines = r.iter_lines()
            got = [next(lines) for _ in range(6)]
            assert any(line.startswith("data: ") for line in got)
            assert httpx.get(f"{server.root}/metrics_json").json()["active"] >= 1
    deadline = time.monotonic() + 20
    while httpx.get(f"{server.root}/metrics_json").json()["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(f"{server.root}/metrics_json").json()["active"] == 0
    assert chat(client, "robot", QUESTIONS[0]).startswith("Beep")


@pytest.fixture(scope="module")
def small_server(tiny_model, server, tmp_path_factory):
    """A second endpoint asked for the first one's port, with one slot and a queue of one."""
    srv = start_server({"base_model": str(tiny_model), "port": server.info["port"], "max_batch_size": 1,
                        "max_queue": 1}, tmp_path_factory.mktemp("small"))
    yield srv
    srv.stop()


def test_port_in_use_gets_a_clear_message_and_another_port(small_server, server):
    assert small_server.info["port"] != server.info["port"]
    assert f"port {server.info['port']} on 127.0.0.1 is already in use" in small_server.log.read_text()
    assert small_server.client().models.list().data[0].id == small_server.config["base_model"]


def test_requests_beyond_the_queue_get_429_with_retry_after(small_server):
    """One slot and a queue of one: two open streams hold both, a third request is refused at once."""
    body = {"model": "base", "messages": [{"role": "user", "content": "Talk."}], "max_tokens": 2000,
            "temperature": 0, "stream": True, "ignore_eos": True}
    with httpx.Client(timeout=30) as c, contextlib.ExitStack() as held:
        readers = []  # kept: a dropped line iterator closes its response, which is a disconnect
        for _ in range(2):
            r = held.enter_context(c.stream("POST", f"{small_server.url}/chat/completions", json=body))
            readers.append(r.iter_lines())
            assert r.status_code == 200 and next(readers[-1]).startswith("data: ")
        refused = c.post(f"{small_server.url}/chat/completions", json={**body, "stream": False})
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1 and refused.json()["error"]["code"] == "queue_full"
        with pytest.raises(openai.RateLimitError):  # what the official client raises for it
            small_server.client().chat.completions.create(model="base", messages=body["messages"], max_tokens=2)
    # the streams are closed: both slots come back and the endpoint answers again
    deadline = time.monotonic() + 30
    while httpx.get(f"{small_server.root}/metrics_json").json()["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert small_server.client().chat.completions.create(model="base", messages=body["messages"],
                                                         max_tokens=2).usage.completion_tokens <= 2


def test_sigterm_stops_the_server_cleanly(small_server):
    ready = small_server.log.with_name("ready.json")
    assert ready.exists()
    assert small_server.stop() == 0
    assert not ready.exists() and "stopped" in small_server.log.read_text()
