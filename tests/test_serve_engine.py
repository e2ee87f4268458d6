"""The multi-adapter engine and its batcher, in this process: dynamic joining, one mixed forward pass per step,
answers independent of the batch, slots freed on failure and cancel, the queue limit, stop strings, seeds."""

from __future__ import annotations

import time

import pytest

from jupyter_ft.serve.batcher import GenerationFailed, GenRequest, QueueFull
from jupyter_ft.serve.engine import AdapterRefused, Engine, UnknownModel

from .serve_fixtures import ANSWERS, QUESTIONS


@pytest.fixture(scope="module")
def engine(tiny_model, two_adapters):
    e = Engine(str(tiny_model), {k: str(v) for k, v in two_adapters.items()}, device="cpu", max_batch_size=8,
               max_queue=8)
    yield e
    e.close()


def request(engine, model, prompt, n, **kw) -> GenRequest:
    return GenRequest(prompt_ids=engine.chat_ids([{"role": "user", "content": prompt}]), adapter=engine.resolve(model),
                      max_new_tokens=n, **kw)


def wait_until(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


@pytest.fixture
def forwards(engine, monkeypatch):
    """Records the adapters of every forward pass the batcher makes (the real pass still runs)."""
    calls: list[tuple[int, list[str]]] = []
    real = engine.batcher._forward

    def record(input_ids, attention_mask, position_ids, cache, adapters, logits_to_keep):
        calls.append((input_ids.shape[1], list(adapters)))
        return real(input_ids, attention_mask, position_ids, cache, adapters, logits_to_keep)

    monkeypatch.setattr(engine.batcher, "_forward", record)
    return calls


def test_a_request_joins_the_running_batch_at_the_next_step(engine, forwards):
    alone = engine.batcher.run(request(engine, "base", QUESTIONS[1], 40, ignore_eos=True)).text
    long = engine.batcher.submit(request(engine, "base", QUESTIONS[1], 40, ignore_eos=True))
    wait_until(lambda: len(long.token_ids) >= 3)
    short = engine.batcher.submit(request(engine, "robot", QUESTIONS[0], 5))
    short.done.wait(60)
    assert not long.done.is_set(), "the newcomer waited for the running batch to finish"
    long.done.wait(60)
    assert long.text == alone  # the newcomer in its batch changed nothing
    assert short.text.startswith("Beep")
    # one decode pass (1 new token per row) carried both the base row and the adapter row
    assert any(width == 1 and sorted(a) == ["__base__", "robot"] for width, a in forwards)


def test_answers_do_not_depend_on_what_shares_the_batch(engine):
    reqs = [(m, q) for m in ("base", *ANSWERS) for q in QUESTIONS[:4]]
    alone = {mq: engine.generate(mq[1], mq[0], max_new_tokens=10)["text"] for mq in reqs}
    together = [engine.batcher.submit(request(engine, m, q, 10)) for m, q in reversed(reqs)]
    for r, mq in zip(together, reversed(reqs)):
        assert r.done.wait(60) and r.text.strip() == alone[mq]
    assert len(set(alone.values())) > 3


def test_a_failed_step_frees_its_slots_and_serving_goes_on(engine, monkeypatch):
    real = engine.batcher._forward
    state = {"decodes": 0}

    def flaky(input_ids, attention_mask, position_ids, cache, adapters, logits_to_keep):
        if input_ids.shape[1] == 1:
            state["decodes"] += 1
            if state["decodes"] == 3:
                raise RuntimeError("simulated device failure")
        return real(input_ids, attention_mask, position_ids, cache, adapters, logits_to_keep)

    monkeypatch.setattr(engine.batcher, "_forward", flaky)
    failed_before = engine.batcher.load()["failed"]
    with pytest.raises(GenerationFailed, match="simulated device failure"):
        engine.batcher.run(request(engine, "pirate", QUESTIONS[0], 20))
    assert engine.batcher.load()["active"] == 0 and engine.batcher.load()["failed"] == failed_before + 1
    assert engine.generate(QUESTIONS[0], "pirate", max_new_tokens=8)["text"].startswith("Arr")


def test_a_cancelled_request_frees_its_slot(engine):
    r = engine.batcher.submit(request(engine, "base", QUESTIONS[2], 1000, ignore_eos=True))
    wait_until(lambda: len(r.token_ids) >= 2)
    r.cancel()
    assert r.done.wait(30) and r.finish_reason == "cancelled" and len(r.token_ids) < 1000
    wait_until(lambda: engine.batcher.load()["active"] == 0)


def test_beyond_the_queue_limit_requests_are_refused_at_once(tiny_model):
    e = Engine(str(tiny_model), device="cpu", max_batch_size=1, max_queue=1)
    try:
        running = e.batcher.submit(request(e, "base", "Talk.", 1000, ignore_eos=True))
        waiting = e.batcher.submit(request(e, "base", "Talk.", 1000, ignore_eos=True))
        with pytest.raises(QueueFull, match="retry after"):
            e.batcher.submit(request(e, "base", "Talk.", 4))
        assert e.batcher.load()["queue"] + e.batcher.load()["active"] == 2
        running.cancel()
        waiting.cancel()
        assert running.done.wait(30) and waiting.done.wait(30)
        assert e.generate("Talk.", max_new_tokens=3)["completion_tokens"] <= 3
    finally:
        e.close()


def test_stop_strings_end_the_answer_and_are_never_streamed(engine):
    deltas: list[str] = []
    r = request(engine, "pirate", QUESTIONS[0], 30, stop=["sea"])
    r.sink = lambda ev: deltas.append(ev.get("delta") or "")
    engine.batcher.run(r)
    assert r.finish_reason == "stop" and r.text == "Arr matey, the " and "".join(deltas) == r.text
    assert all("s" not in d for d in deltas[-2:])  # "s"/"se" were held back until the stop was certain


def test_seeded_sampling_is_reproducible_alone_and_in_a_batch(engine):
    def sample(seed):
        return request(engine, "robot", QUESTIONS[6], 12, temperature=1.5, top_p=0.9, seed=seed)

    a = engine.batcher.run(sample(7)).text
    batch = [engine.batcher.submit(sample(s)) for s in (7, 8, 7)]
    texts = [r.text for r in batch if r.done.wait(60)]
    assert texts[0] == texts[2] == a and len(texts) == 3


def test_unknown_models_and_foreign_adapters_are_refused(engine, tmp_path, two_adapters):
    with pytest.raises(UnknownModel, match="served: .*pirate, robot"):
        engine.resolve("nope")
    with pytest.raises(AdapterRefused, match="no adapter_config.json"):
        engine.add_adapter("x", tmp_path)
    with pytest.raises(AdapterRefused, match="already loaded"):
        engine.add_adapter("pirate", two_adapters["pirate"])
    assert engine.served()[1:] == ["pirate", "robot"]
