"""The RLAIF judge client against a real OpenAI-compatible HTTP server on loopback: scores, batching, cache, and
every failure path (unreachable, timeout, unparseable, refused) ending in a clear error after bounded retries."""

from __future__ import annotations

import time

import pytest

from jupyter_ft.core.procs import free_port

from jupyter_ft.core.spec.train import JudgeSpec
from jupyter_ft.serve.stand_in_judge import StandInJudge, warmth
from jupyter_ft.training.judge import JudgeError, JudgeReward, parse_score


def spec(url: str, **kw) -> JudgeSpec:
    return JudgeSpec(kind="openai", base_url=url, model="stand-in", **kw)


@pytest.fixture
def judge():
    with StandInJudge() as j:
        yield j


@pytest.mark.parametrize("answer, score", [
    ("7", 7), ("Score: 8", 8), ("**Rating:** 6/10", 6), ('{"score": 9, "why": "warm"}', 9), ("8 out of 10", 8),
    ("<think>maybe 3? no</think>\n5", 5), ("I'd give it a 4.", 4), ("3/5", pytest.approx(6.4)), ("10", 10),
    ("11", None), ("0", None), ("between 6 and 8", None), ("great answer", None), ("", None),
])
def test_parse_score(answer, score):
    assert parse_score(answer, 1, 10) == score


def test_scores_are_normalised_batched_and_cached(judge, tmp_path):
    cache = tmp_path / "judge_cache.jsonl"
    reward = JudgeReward(spec(judge.url, concurrency=4), cache_path=cache)
    warm, stiff = "Honestly, I love it! You've got this!", "Regarding your inquiry, it should be noted that it varies."
    prompts = [[{"role": "user", "content": "Thoughts on coffee?"}]] * 4
    scores = reward(prompts=prompts, completions=[warm, stiff, warm, stiff])
    assert scores[0] == scores[2] > 0.5 > scores[1] == scores[3] >= 0.0
    assert scores[0] == pytest.approx((warmth("", warm) - 1) / 9)
    assert judge.requests == 2  # duplicates in a batch are asked once
    body = judge.bodies[0]
    assert body["model"] == "stand-in" and body["temperature"] == 0.0
    assert "how human, warm and natural" in body["messages"][0]["content"]
    assert "user: Thoughts on coffee?" in body["messages"][1]["content"]
    # the cache answers again, in this process and in a new one (a resumed job) reading the file
    assert reward(prompts=prompts[:1], completions=[warm]) == scores[:1] and judge.requests == 2
    again = JudgeReward(spec(judge.url), cache_path=cache)
    assert again(prompts=prompts[:2], completions=[warm, stiff]) == scores[:2] and judge.requests == 2
    # a different rubric is a different judge: no stale cache hits
    other = JudgeReward(spec(judge.url, rubric="Rate how formal it is from {min} to {max}."), cache_path=cache)
    other(prompts=prompts[:1], completions=[warm])
    assert judge.requests == 3


def test_concurrent_requests_are_bounded():
    with StandInJudge(delay_s=0.3) as slow:
        reward = JudgeReward(spec(slow.url, concurrency=4))
        t = time.time()
        reward(prompts=["p"] * 8, completions=[f"answer {i}!" for i in range(8)])
        took = time.time() - t
    assert slow.requests == 8
    assert 0.5 < took < 2.0, took  # 8 requests of 0.3 s, 4 at a time: about 0.6 s, not 2.4 s


def test_transient_errors_are_retried(tmp_path):
    with StandInJudge(fail_first=2) as flaky:
        reward = JudgeReward(spec(flaky.url, max_retries=2, concurrency=1))
        assert reward(prompts=["p"], completions=["Love it!"])[0] > 0
        assert flaky.requests == 3


def test_unreachable_judge_fails_with_reason_after_bounded_retries():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    reward = JudgeReward(spec(url, max_retries=2, timeout_s=2))
    t = time.time()
    with pytest.raises(JudgeError) as ei:
        reward(prompts=["Thoughts?"], completions=["Nice!"])
    msg = str(ei.value)
    assert "is unreachable (ConnectError" in msg and "gave up after 3 attempt(s)" in msg
    assert "prompt 'Thoughts?', completion 'Nice!'" in msg
    assert time.time() - t < 6


def test_slow_judge_times_out():
    with StandInJudge(delay_s=3) as slow:
        reward = JudgeReward(spec(slow.url, timeout_s=0.4, max_retries=1))
        t = time.time()
        with pytest.raises(JudgeError, match=r"timed out \(no answer within timeout_s=0.4 s\); gave up after 2"):
            reward(prompts=["p"], completions=["c"])
        assert time.time() - t < 3
        assert slow.requests == 2


def test_unparseable_answers_fail_never_zero():
    with StandInJudge(reply="What a lovely, heartfelt answer.") as vague:
        reward = JudgeReward(spec(vague.url, max_retries=1))
        with pytest.raises(JudgeError, match=r"answered unparseably: 'What a lovely, heartfelt answer.' \(expected a "
                                             r"score from 1 to 10\); gave up after 2"):
            reward(prompts=["p"], completions=["c"])
        assert vague.requests == 2
        assert reward.cache == {}


def test_refusal_is_not_retried(monkeypatch):
    with StandInJudge(status=401) as refusing:
        reward = JudgeReward(spec(refusing.url, max_retries=3))
        with pytest.raises(JudgeError, match=r"refused the request: HTTP 401.*check model, api_key_env"):
            reward(prompts=["p"], completions=["c"])
        assert refusing.requests == 1
    monkeypatch.delenv("JUDGE_KEY", raising=False)
    with pytest.raises(JudgeError, match="JUDGE_KEY"):
        JudgeReward(spec("http://127.0.0.1:9/v1", api_key_env="JUDGE_KEY"))


def test_local_judge_scores_by_rubric_probabilities(tiny_model):
    local = JudgeSpec(kind="local", model=str(tiny_model), min_score=1, max_score=5)
    reward = JudgeReward(local)
    a = reward(prompts=["Hi?", "Hi?"], completions=["Hello there!", "Greetings."])
    assert all(0.0 <= s <= 1.0 for s in a) and a[0] != a[1]
    assert JudgeReward(local)(prompts=["Hi?"], completions=["Hello there!"]) == pytest.approx(a[:1])  # deterministic
    with pytest.raises(JudgeError, match="cannot load local model"):
        JudgeReward(JudgeSpec(kind="local", model=str(tiny_model) + "-missing"))
