"""LLM-as-judge for evaluation against a real OpenAI-compatible judge server on loopback (the stand-in judge, scripted
where a test needs exact verdicts): pairwise in both orders, inconsistent pairs as ties, the consistency rate and
bootstrap intervals, human agreement, rubric scores with reasons, the cache a resumed evaluation reads, and the
failures that name the evaluator and the sample."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import stats

from jupyter_ft.core.spec.eval import parse_eval_spec
from jupyter_ft.core.spec.train import JudgeSpec
from jupyter_ft.core.procs import free_port
from jupyter_ft.evaluation.judges import (JudgePool, bootstrap_mean, bootstrap_shares, judge_pairwise, judge_rubric,
                                        parse_rubric, parse_verdict, run_pairwise, run_rubric)
from jupyter_ft.serve.stand_in_judge import StandInJudge, relevance, warmth
from jupyter_ft.training.judge import OpenAIJudge

PAIR = re.compile(r"\[Question\]\n(.*?)\n\n\[Answer A\]\n(.*?)\n\[End of answer A\]\n\n\[Answer B\]\n(.*?)\n", re.S)


def client(url: str, **kw) -> OpenAIJudge:
    return OpenAIJudge(JudgeSpec(kind="openai", base_url=url, model="stand-in", **kw))


def shown(body: dict) -> tuple[str, str, str]:
    """(question, answer A, answer B) of a pairwise request the judge received."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return PAIR.search(user).groups()


# --- parsing --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, verdict", [
    ("[[A]] A answers the question.", "A"), ("After thinking: [[B]]", "B"), ("[[C]] equally good", "tie"),
    ("[[tie]]", "tie"), ("Verdict: B", "B"), ("The better answer is A.", "A"), ("A", "A"), ("**B**", "B"),
    ("<think>[[A]]? no</think>[[B]]", "B"), ("[[A]] ... on reflection [[B]]", None), ("both are fine", None),
    ("", None),
])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


def test_parse_rubric():
    crit = ["relevance", "human-likeness"]
    assert parse_rubric('```json\n{"Relevance": {"score": 7, "reason": "on topic"}, "human_likeness": '
                        '{"rating": 3, "explanation": "stiff"}}\n```', crit, 1, 10) == {
        "relevance": (7.0, "on topic"), "human-likeness": (3.0, "stiff")}
    assert parse_rubric("Relevance: 8/10 - stays on topic\nHuman likeness: 2 - robotic", crit, 1, 10) == {
        "relevance": (8.0, "stays on topic"), "human-likeness": (2.0, "robotic")}
    assert parse_rubric('{"relevance": 7}', crit, 1, 10) is None            # a criterion missing
    assert parse_rubric('{"relevance": 7, "human-likeness": 11}', crit, 1, 10) is None   # out of range
    assert parse_rubric('{"score": 6, "reason": "ok"}', ["relevance"], 1, 10) == {"relevance": (6.0, "ok")}


# --- pairwise -------------------------------------------------------------------------------------------------------

def test_pairwise_swaps_positions_and_reports_lengths():
    warm = [f"Honestly, I love question {i}! You've got this!" for i in range(6)]
    stiff = [f"Regarding your inquiry {i}, it should be noted." for i in range(6)]
    prompts = [f"Question {i}?" for i in range(6)]
    with StandInJudge() as judge:
        out = judge_pairwise(client(judge.url), evaluator="judge", model="dpo", baseline="base",
                             samples=list(range(6)), prompts=prompts, answers=warm, baseline_answers=stiff,
                             bootstrap=200, seed=1)
        bodies = list(judge.bodies)
    assert len(bodies) == 12  # every pair twice
    seen = {}
    for body in bodies:
        q, a, b = shown(body)
        seen.setdefault(q, set()).add((a, b))
    for i, q in enumerate(prompts):
        assert seen[q] == {(warm[i], stiff[i]), (stiff[i], warm[i])}  # the swap happened for every pair
    s = out.summary
    assert (s["win"], s["tie"], s["loss"], s["consistency"], s["n"]) == (1.0, 0.0, 0.0, 1.0, 6)
    assert s["win_ci"] == [1.0, 1.0] and s["loss_ci"] == [0.0, 0.0]
    assert s["mean_length"] == {"dpo": pytest.approx(np.mean([len(a) for a in warm])),
                                "base": pytest.approx(np.mean([len(a) for a in stiff]))}
    assert s["partial"] is False and out.errors == []
    assert out.verdicts[0]["ab"] == "A" and out.verdicts[0]["ba"] == "B" and out.verdicts[0]["final"] == "win"
    assert "scores" in out.verdicts[0]["reason_ab"]  # the judge's sentence is kept


def test_position_biased_judge_gives_ties_and_zero_consistency():
    with StandInJudge(answer=lambda messages: "[[A]] The first answer is better.") as biased:
        out = judge_pairwise(client(biased.url), evaluator="judge", model="m", baseline="base",
                             samples=list(range(5)), prompts=["q"] * 5, answers=[f"a{i}" for i in range(5)],
                             baseline_answers=[f"b{i}" for i in range(5)], bootstrap=100)
    s = out.summary
    assert (s["win"], s["tie"], s["loss"], s["consistency"]) == (0.0, 1.0, 0.0, 0.0)
    assert all(v == {"ab": "A", "ba": "A", "final": "tie", "consistent": False,
                     "reason_ab": "The first answer is better", "reason_ba": "The first answer is better"}
               for v in out.verdicts.values())


KINDS = ["model", "baseline", "tie", "first", "model_or_tie"]


def scripted(messages: list[dict]) -> str:
    """Verdict by sample kind: consistent (model / baseline / tie), or inconsistent (prefers whatever is shown first;
    prefers the model as A but calls it a tie as B)."""
    q, a, b = PAIR.search(messages[1]["content"]).groups()
    kind = KINDS[int(q.split()[1]) % len(KINDS)]
    model_at = "A" if a.startswith("model") else "B"
    other = "B" if model_at == "A" else "A"
    return {"model": f"[[{model_at}]]", "baseline": f"[[{other}]]", "tie": "[[C]]", "first": "[[A]]",
            "model_or_tie": "[[A]]" if model_at == "A" else "[[C]]"}[kind]


def test_consistency_rate_and_intervals_on_a_scripted_judge():
    n = 60
    samples = list(range(n))
    with StandInJudge(answer=scripted) as judge:
        out = judge_pairwise(client(judge.url, concurrency=8), evaluator="judge", model="m", baseline="base",
                             samples=samples, prompts=[f"q {i}" for i in samples],
                             answers=[f"model answer {i}" for i in samples],
                             baseline_answers=[f"base answer {i}" for i in samples], bootstrap=4000, seed=7)
        assert judge.requests == 2 * n
    kinds = [KINDS[i % len(KINDS)] for i in samples]
    expected_final = ["win" if k == "model" else "loss" if k == "baseline" else "tie" for k in kinds]
    assert [out.verdicts[i]["final"] for i in samples] == expected_final
    s = out.summary
    assert s["win"] == pytest.approx(12 / 60) and s["loss"] == pytest.approx(12 / 60)
    assert s["tie"] == pytest.approx(36 / 60)
    assert s["consistency"] == pytest.approx(36 / 60)  # model, baseline and tie pairs agree across orders
    assert s["win_rate"] == pytest.approx(0.2 + 0.6 / 2)
    # the intervals: a percentile bootstrap over pairs, as scipy computes it on the same outcomes
    for label in ("win", "tie", "loss"):
        indicator = np.array([f == label for f in expected_final], dtype=float)
        ref = stats.bootstrap((indicator,), np.mean, n_resamples=4000, method="percentile", confidence_level=0.95,
                              random_state=0).confidence_interval
        lo, hi = s[f"{label}_ci"]
        assert lo <= s[label] <= hi
        assert lo == pytest.approx(ref.low, abs=0.034) and hi == pytest.approx(ref.high, abs=0.034), label
        p = indicator.mean()
        assert (hi - lo) / 2 == pytest.approx(1.96 * np.sqrt(p * (1 - p) / n), abs=0.03)  # ~ the normal width
    # seeded: the same draws again
    assert bootstrap_shares(expected_final, ["win", "tie", "loss"], 4000, 7) == {
        k: tuple(s[f"{k}_ci"]) for k in ("win", "tie", "loss")}


def test_human_agreement():
    samples = list(range(6))
    answers = [f"model answer {i}" for i in samples]
    base = [f"base answer {i}" for i in samples]
    # the scripted judge's finals for samples 0..5: win, loss, tie, tie, tie, win
    humans = ["A", "B", "tie", "A", None, base[5]]  # agree, agree, agree, disagree, unlabelled, disagree (by text)
    with StandInJudge(answer=scripted) as judge:
        out = judge_pairwise(client(judge.url), evaluator="judge", model="m", baseline="base", samples=samples,
                             prompts=[f"q {i}" for i in samples], answers=answers, baseline_answers=base,
                             human_labels=humans, bootstrap=0)
    assert out.summary["human_n"] == 5 and out.summary["human_agreement"] == pytest.approx(3 / 5)
    assert out.summary["win_ci"] is None  # bootstrap 0: no intervals


def test_unparseable_verdict_names_evaluator_and_sample_and_others_stand():
    def sometimes_vague(messages):
        q = PAIR.search(messages[1]["content"]).group(1)
        return "Both have merits." if q == "q 3" else scripted(messages)

    with StandInJudge(answer=sometimes_vague) as judge:
        out = judge_pairwise(client(judge.url, max_retries=1), evaluator="judge-eval", model="m", baseline="base",
                             samples=list(range(5)), prompts=[f"q {i}" for i in range(5)],
                             answers=[f"model {i}" for i in range(5)], baseline_answers=[f"base {i}" for i in range(5)],
                             bootstrap=0)
    assert sorted(out.verdicts) == [0, 1, 2, 4] and out.summary["n"] == 4 and out.summary["partial"] is True
    assert len(out.errors) == 2  # sample 3, in each order
    e = out.errors[0]
    assert e["evaluator"] == "judge-eval" and e["sample"] == 3 and e["model"] == "m"
    assert e["message"].startswith("judge-eval: sample 3 (")
    assert "answered unparseably: 'Both have merits.' (expected a verdict [[A]], [[B]] or [[C]])" in e["message"]


def test_verdicts_are_cached_for_a_resumed_evaluation(tmp_path):
    cache = tmp_path / "judge-pairs.jsonl"
    kw = dict(evaluator="judge", model="m", baseline="base", bootstrap=0)
    rows = dict(prompts=[f"q {i}" for i in range(8)], answers=[f"model {i}" for i in range(8)],
                baseline_answers=[f"base {i}" for i in range(8)])
    with StandInJudge(answer=scripted) as judge:
        first = judge_pairwise(client(judge.url), samples=list(range(5)), cache_path=cache,
                               **kw, **{k: v[:5] for k, v in rows.items()})
        assert judge.requests == 10
        again = judge_pairwise(client(judge.url), samples=list(range(8)), cache_path=cache, **kw, **rows)
        assert judge.requests == 10 + 6  # only the three new pairs are asked
    assert {k: again.verdicts[k] for k in range(5)} == first.verdicts


def test_unreachable_judge_ends_the_evaluator_partial_naming_it(tmp_path):
    cache = tmp_path / "judge.jsonl"
    prompts, answers, base = [f"q {i}" for i in range(4)], [f"model {i}" for i in range(4)], [f"b {i}" for i in range(4)]
    port = free_port()
    with StandInJudge(answer=scripted, port=port) as judge:  # two pairs judged while the judge was up
        judge_pairwise(client(judge.url), evaluator="judge", model="m", baseline="base", samples=[0, 1],
                       prompts=prompts[:2], answers=answers[:2], baseline_answers=base[:2], cache_path=cache)
    dead = f"http://127.0.0.1:{port}/v1"  # then it went away
    out = judge_pairwise(client(dead, max_retries=0, timeout_s=2), evaluator="judge", model="m", baseline="base",
                         samples=list(range(4)), prompts=prompts, answers=answers, baseline_answers=base,
                         cache_path=cache, bootstrap=0)
    assert sorted(out.verdicts) == [0, 1] and out.summary["partial"] is True and out.summary["n"] == 2
    (err,) = out.errors
    assert err["evaluator"] == "judge" and err["sample"] == 2
    assert err["message"].startswith("judge: stopped at sample 2: judge 'stand-in' at http://127.0.0.1:")
    assert "is unreachable (ConnectError" in err["message"]


# --- rubric -------------------------------------------------------------------------------------------------------

def test_rubric_scores_criteria_and_keeps_reasons():
    prompts = ["What do you think about coffee mornings?", "Any tips for learning guitar chords?",
               "How should I prepare for a marathon?", "Is it worth visiting Lisbon in winter?"]
    answers = ["Honestly, I love coffee mornings! They're fun.", "Regarding your inquiry, please consult a teacher.",
               "Totally doable! You've got this: prepare slowly for the marathon.", "Lisbon in winter is great!"]
    human = [{"human-likeness": 9}, {"human-likeness": 2}, {"human-likeness": 7}, {"human-likeness": 5}]
    with StandInJudge() as judge:
        out = judge_rubric(client(judge.url), evaluator="rubric", model="dpo",
                           criteria=["relevance", "human-likeness"], samples=[10, 11, 12, 13], prompts=prompts,
                           answers=answers, human_scores=human, bootstrap=500, seed=3)
        request = judge.bodies[0]
    assert out.errors == [] and not out.partial
    assert "[Criteria]\n- relevance\n- human-likeness" in request["messages"][1]["content"]
    for s, p, a in zip([10, 11, 12, 13], prompts, answers):
        assert out.scores[s] == {"relevance": relevance(p, a), "human-likeness": warmth(p, a)}
        assert out.reasons[s]["relevance"].startswith("relevance: uses the question's words")
        assert out.reasons[s]["human-likeness"].startswith("human-likeness: how warm")
    by = {r["metric"]: r for r in out.metrics}
    hl = [warmth(p, a) for p, a in zip(prompts, answers)]
    assert by["human-likeness"]["value"] == pytest.approx(np.mean(hl)) and by["human-likeness"]["n"] == 4
    assert by["human-likeness"]["ci_low"] <= np.mean(hl) <= by["human-likeness"]["ci_high"]
    assert by["mean"]["value"] == pytest.approx(np.mean([np.mean(list(v.values())) for v in out.scores.values()]))
    assert by["human_spearman/human-likeness"]["value"] == pytest.approx(
        stats.spearmanr(hl, [9, 2, 7, 5]).statistic)
    assert by["human_mae/human-likeness"]["value"] == pytest.approx(np.mean(np.abs(np.subtract(hl, [9, 2, 7, 5]))))
    assert "human_spearman/relevance" not in by  # the humans scored human-likeness only


def test_rubric_answer_missing_a_criterion_names_the_sample():
    def forgetful(messages):
        if "guitar" in messages[1]["content"]:
            return '{"relevance": {"score": 6, "reason": "ok"}}'
        return '{"relevance": {"score": 6, "reason": "ok"}, "accuracy": {"score": 4, "reason": "meh"}}'

    with StandInJudge(answer=forgetful) as judge:
        out = judge_rubric(client(judge.url, max_retries=0), evaluator="rubric", model="base",
                           criteria=["relevance", "accuracy"], samples=[0, 1], prompts=["coffee?", "guitar?"],
                           answers=["yes", "no"], bootstrap=0)
    assert list(out.scores) == [0] and out.partial
    (err,) = out.errors
    assert err["sample"] == 1 and err["evaluator"] == "rubric"
    assert "expected a JSON object with a score from 1 to 10 for each of relevance, accuracy" in err["message"]


def test_bootstrap_mean_interval_matches_scipy():
    values = list(np.random.default_rng(0).integers(1, 11, size=50).astype(float))
    lo, hi = bootstrap_mean(values, 4000, seed=0)
    ref = stats.bootstrap((np.array(values),), np.mean, n_resamples=4000, method="percentile",
                          random_state=1).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.15) and hi == pytest.approx(ref.high, abs=0.15)


# --- the engine's entry points, from an EvalSpec --------------------------------------------------------------------

def test_entry_points_from_an_eval_spec(tmp_path):
    with StandInJudge() as judge:
        spec = parse_eval_spec({
            "models": ["base", "dpo"], "dataset": "x",
            "evaluators": [
                {"type": "pairwise_judge", "name": "judge", "baseline": "base", "human_label_column": "preferred",
                 "judge": {"kind": "openai", "base_url": judge.url, "model": "stand-in"}},
                {"type": "rubric_judge", "name": "rubric", "criteria": ["human-likeness"],
                 "judge": {"kind": "openai", "base_url": judge.url, "model": "stand-in"}}]})
        pairwise, rubric = spec.evaluators
        pool = JudgePool()
        rows = [{"preferred": "A"}, {"preferred": "B"}]
        try:
            out = run_pairwise(pairwise, pool, evaluator="judge", model="dpo", samples=[0, 1], prompts=["hi", "yo"],
                               answers=["Aw, love it!", "Ha, fun!"], baseline_answers=["Noted.", "Regarding that."],
                               rows=rows, cache_dir=tmp_path, bootstrap=100)
            rub = run_rubric(rubric, pool, evaluator="rubric", model="dpo", samples=[0, 1], prompts=["hi", "yo"],
                             answers=["Aw, love it!", "Noted."], rows=rows, cache_dir=tmp_path, bootstrap=100)
            assert pool.get(pairwise.judge) is pool.get(rubric.judge)  # one client for one judge
        finally:
            pool.close()
        assert judge.bodies[0]["max_tokens"] == 400  # room for the reason (RLAIF's 64 left for RLAIF)
    assert out.summary["win"] == 1.0 and out.summary["human_agreement"] == 0.5 and out.summary["human_n"] == 2
    assert rub.scores[0]["human-likeness"] > rub.scores[1]["human-likeness"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["judge-judge.jsonl", "judge-rubric.jsonl"]
    assert len((tmp_path / "judge-judge.jsonl").read_text().splitlines()) == 2 * 2  # two pairs, both orders
    assert all(json.loads(line)["value"] for line in (tmp_path / "judge-rubric.jsonl").read_text().splitlines())


def test_local_judge_pairwise_and_rubric(tiny_model):
    pool = JudgePool()
    spec = JudgeSpec(kind="local", model=str(tiny_model))
    try:
        pw = judge_pairwise(pool.get(spec), evaluator="judge", model="m", baseline="base", samples=[0, 1, 2],
                            prompts=["Hi?", "Capital of France?", "2+2?"], answers=["Hello there!", "Paris.", "4"],
                            baseline_answers=["Greetings.", "London.", "5"], bootstrap=50)
        rb = judge_rubric(pool.get(spec), evaluator="rubric", model="m", criteria=["relevance"], samples=[0, 1],
                          prompts=["Hi?", "Capital?"], answers=["Hello there!", "Paris."], bootstrap=50)
        again = judge_rubric(pool.get(spec), evaluator="rubric", model="m", criteria=["relevance"], samples=[0, 1],
                             prompts=["Hi?", "Capital?"], answers=["Hello there!", "Paris."], bootstrap=50)
    finally:
        pool.close()
    assert pw.summary["n"] == 3 and not pw.errors
    assert all(v["ab"] in ("A", "B", "tie") and v["reason_ab"].startswith("local judge: p(A)=")
               for v in pw.verdicts.values())
    assert pw.summary["win"] + pw.summary["tie"] + pw.summary["loss"] == pytest.approx(1.0)
    assert all(1 <= rb.scores[s]["relevance"] <= 10 for s in (0, 1))
    assert rb.reasons[0]["relevance"].startswith("local judge: expected ")
    assert again.scores == rb.scores  # deterministic


# --- in an evaluation job ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_evaluation_job_with_pairwise_and_rubric_judges(ws, tiny_model, tmp_path):
    """ft.evaluate with both judge evaluators on base and an adapter: the job process asks the judge (a real server
    in this process) on loopback, results.json carries the pairwise row, the per-sample verdicts and reasons, MLflow
    gets the figures, and the judge's answers are cached in the job folder (a resumed attempt asks nothing again)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    import jupyter_ft as ft

    from .test_jobs import mlflow_run, wait_forwarded

    torch.manual_seed(0)
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "tuned")
    rows = [{"prompt": f"Tell me something nice about day {i}.", "preferred": "AB"[i % 2], "human": 3 + i % 5}
            for i in range(6)]
    with StandInJudge() as judge:
        spec = {"kind": "openai", "base_url": judge.url, "model": "stand-in", "concurrency": 4}
        evaluators = [{"type": "pairwise_judge", "name": "judge", "baseline": "base", "judge": spec,
                       "human_label_column": "preferred"},
                      {"type": "rubric_judge", "name": "rubric", "judge": spec, "human_score_column": "human",
                       "criteria": [{"name": "relevance"}, {"name": "human-likeness"}]}]
        job = ft.evaluate(models=["base", str(tmp_path / "tuned")], base=str(tiny_model), dataset=rows,
                          evaluators=evaluators, generation={"max_new_tokens": 8, "batch_size": 6}, bootstrap=200)
        job.wait(timeout=400)
        assert job.status == "succeeded", job.logs(tail=40)
        asked = judge.requests
        assert asked == 6 * 2 + 6 * 2  # 6 pairs in both orders, 6 answers of each model on the rubric

        r = ft.eval_results(job.id)
        assert r["models"] == ["base", "tuned"] and not r["partial"] and r["errors"] == []
        (pw,) = r["pairwise"]
        assert (pw["evaluator"], pw["model"], pw["baseline"], pw["n"]) == ("judge", "tuned", "base", 6)
        assert pw["win"] + pw["tie"] + pw["loss"] == pytest.approx(1.0) and 0.0 <= pw["consistency"] <= 1.0
        assert pw["win_ci"][0] <= pw["win"] <= pw["win_ci"][1] and pw["human_n"] == 6
        answers = {label: [s["answers"][label] for s in r["samples"]] for label in ("base", "tuned")}
        assert pw["mean_length"]["tuned"] == pytest.approx(np.mean([len(a) for a in answers["tuned"]]))
        for s in r["samples"]:
            v = s["verdicts"]["judge"]["tuned vs base"]
            assert v["final"] in ("win", "tie", "loss") and v["ab"] in ("A", "B", "tie")
            assert v["consistent"] == ((v["ab"] == "A" and v["ba"] == "B") or (v["ab"] == "B" and v["ba"] == "A")
                                       or v["ab"] == v["ba"] == "tie")
            for label in ("base", "tuned"):
                assert s["scores"][label]["human-likeness"] == warmth(s["prompt"], s["answers"][label])
                assert s["reasons"][label]["relevance"].startswith("relevance: uses the question's words")
        got = {(m["model"], m["evaluator"], m["metric"]) for m in r["metrics"]}
        assert {("tuned", "judge", "win_vs_base"), ("tuned", "judge", "consistency"), ("base", "rubric", "relevance"),
                ("tuned", "rubric", "human-likeness"), ("tuned", "rubric", "mean"),
                ("tuned", "rubric", "human_mae/mean")} <= got
        wait_forwarded(ws, job)
        run = mlflow_run(job)
        assert run.data.metrics["tuned/judge/win_vs_base"] == pytest.approx(pw["win"])
        assert run.data.metrics["tuned/judge/consistency"] == pytest.approx(pw["consistency"])
        assert "base/rubric/human-likeness_ci_high" in run.data.metrics

        assert len((job.dir / "judge-judge.jsonl").read_text().splitlines()) == 12
        assert len((job.dir / "judge-rubric.jsonl").read_text().splitlines()) == 12
