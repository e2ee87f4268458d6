"""Preference and RL techniques as detached jobs: DPO (+ ORPO, KTO), GRPO with verifiable rewards, RLAIF with a
judge on loopback. Real TRL trainers on the tiny model with LoRA, a few steps each; metrics checked in MLflow."""

from __future__ import annotations

import json
import re

import pytest

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.datasets import demo_data
from jupyter_ft.serve.stand_in_judge import StandInJudge

from .conftest import write_jsonl
from .test_jobs import wait_forwarded


@pytest.fixture
def preference_file(tmp_path):
    return write_jsonl(tmp_path / "human_like.jsonl", demo_data.preference_rows(160))


@pytest.fixture
def prompt_file(tmp_path):
    return write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": r["prompt"]} for r in demo_data.preference_rows(64)])


def metric_names(job) -> set[str]:
    from mlflow.tracking import MlflowClient

    return set(MlflowClient(job.record.tracking_uri).get_run(job.run_id).data.metrics)


def series(job, key: str) -> list[float]:
    return [m[key] for m in job.metrics() if key in m]


def test_dpo_reward_margin_rises_and_metrics_reach_mlflow(ws, tiny_model, preference_file):
    job = ft.train(model=str(tiny_model), dataset=str(preference_file), technique="dpo", lora=True, max_steps=20,
                   learning_rate=5e-3, logging_steps=5, eval_fraction=0.1, max_length=128, batch_size=8, grad_accum=1)
    job.wait(timeout=400)
    assert job.status == "succeeded", job.logs(tail=40)
    margins, accuracies = series(job, "rewards/margins"), series(job, "rewards/accuracies")
    assert len(margins) == 4 and margins[-1] > margins[0] > -1, margins
    assert accuracies[-1] >= accuracies[0] and accuracies[-1] > 0.5, accuracies
    assert series(job, "eval_rewards/margins")[-1] > 0
    assert job.record.warnings == [] and job.record.step == 20  # a sound run: the over-optimisation guard stays quiet
    assert job.spec.learning_rate == 5e-3 and job.spec.dpo.loss_type == ["sigmoid"]
    wait_forwarded(ws, job)
    names = metric_names(job)
    for key in ("loss", "eval_loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                "eval_rewards/margins"):
        assert key in names, (key, sorted(names))
    tags = {k: v for e in jobstore.events(ws, job.id, "tag") for k, v in e.items()}
    assert "adapter disabled" in tags["jupyter_ft.dpo.reference"]


def test_grpo_notebook_reward_rises(ws, tiny_model, prompt_file):
    """A reward typed into a notebook cell reaches the job as source; the policy learns to emit the letter."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("LETTER = 'e'\ndef emits_letter(completions, **row):\n"
                       "    return [c.count(LETTER) / 8 for c in completions]\n").raise_error()
        fn = shell.user_ns["emits_letter"]
    finally:
        InteractiveShell.clear_instance()
    job = ft.train(model=str(tiny_model), dataset=str(prompt_file), technique="grpo", rewards=[fn], max_steps=40,
                   learning_rate=1e-1, logging_steps=5, batch_size=8, grad_accum=1,
                   grpo={"num_generations": 4, "max_completion_length": 8})
    assert job.record.submitted["grpo"]["rewards"][0]["source"].startswith("LETTER = 'e'")
    job.wait(timeout=400)
    assert job.status == "succeeded", job.logs(tail=40)
    rewards = series(job, "rewards/emits_letter/mean")
    assert len(rewards) == 8
    assert sum(rewards[-2:]) / 2 > sum(rewards[:2]) / 2 + 0.1, rewards
    wait_forwarded(ws, job)
    names = metric_names(job)
    for key in ("rewards/emits_letter/mean", "rewards/emits_letter/std", "reward", "reward_std", "kl",
                "completions/mean_length"):
        assert key in names, (key, sorted(names))


def test_reward_that_raises_fails_the_job_naming_function_and_sample(ws, tiny_model, prompt_file):
    def strict(completions, **row):
        return [1.0 / len(c.split("@@")[1]) for c in completions]  # no '@@' in the text: IndexError

    job = ft.train(model=str(tiny_model), dataset=str(prompt_file), technique="grpo", rewards=[strict], max_steps=5,
                   batch_size=4, grad_accum=1, grpo={"num_generations": 2, "max_completion_length": 4})
    job.wait(timeout=300)
    assert job.status == "failed"
    assert "reward function 'strict' raised IndexError: list index out of range on sample 1 of 4" in job.error
    # the prompt is shown as the user's text (quoted by repr), not as a rendered "user: ..." turn
    assert re.search(r"\(prompt ['\"](?!user: )", job.error) and "completion " in job.error, job.error
    assert "line 2:" in job.error and job.record.attempt == 1  # not retried


def test_rlaif_with_a_judge_on_loopback(ws, tiny_model, prompt_file):
    with StandInJudge(score=lambda prompt, response: min(10, 1 + response.count("e"))) as judge:
        job = ft.train(model=str(tiny_model), dataset=str(prompt_file), technique="rlaif", max_steps=10,
                       learning_rate=5e-2, logging_steps=5, batch_size=8, grad_accum=1,
                       rlaif={"judge": {"base_url": judge.url, "model": "stand-in", "max_retries": 1},
                              "rewards": [{"type": "length_penalty", "target": 6, "weight": 0.1}],
                              "num_generations": 4, "max_completion_length": 8})
        job.wait(timeout=400)
        assert job.status == "succeeded", job.logs(tail=40)
        assert judge.requests >= 1 + 8  # the probe, then at least the first batch (repeats come from the cache)
    judge_means = series(job, "rewards/judge/mean")
    assert len(judge_means) == 2 and all(0.0 <= v <= 1.0 for v in judge_means)
    assert series(job, "rewards/length_penalty/mean")
    assert series(job, "judge/cache_hit_rate")
    cache = (job.dir / "judge_cache.jsonl").read_text().splitlines()
    assert len(cache) >= 8 and all(0.0 <= json.loads(line)["value"] <= 1.0 for line in cache)
    tags = {k: v for e in jobstore.events(ws, job.id, "tag") for k, v in e.items()}
    assert tags["jupyter_ft.rlaif.judge"].startswith("openai judge 'stand-in'")


def test_unparseable_judge_fails_the_job_with_the_reason(ws, tiny_model, prompt_file):
    """Never silently zero: a judge that answers without a score fails the job, after bounded retries, saying so.
    (Unreachable and slow judges end the same way; test_judge.py exercises each against a loopback server.)"""
    with StandInJudge(reply="A lovely answer, very warm.") as vague:
        job = ft.train(model=str(tiny_model), dataset=str(prompt_file), technique="rlaif", max_steps=5, batch_size=4,
                       grad_accum=1, rlaif={"judge": {"base_url": vague.url, "model": "j", "max_retries": 1},
                                            "num_generations": 2, "max_completion_length": 4})
        job.wait(timeout=300)
        assert vague.requests == 2
    assert job.status == "failed" and "answered unparseably: 'A lovely answer, very warm.'" in job.error
    assert "gave up after 2 attempt(s)" in job.error and job.record.attempt == 1
    assert "[jupyter_ft] training:" not in job.logs()  # the probe failed it before training began


def test_wrong_kind_of_data_is_refused_at_submission(ws, tiny_model, preference_file, prompt_file, tmp_path):
    with pytest.raises(ft.SpecError) as ei:
        ft.train(model=str(tiny_model), dataset=str(preference_file), technique="sft")
    msg = dict(ei.value.errors)["dataset"]
    assert "sft data (sft) is one of: 'messages'" in msg and "'prompt' + 'completion', 'text'" in msg
    assert "prompt (messages), chosen (messages), rejected (messages)" in msg and "technique dpo, orpo, kto" in msg
    with pytest.raises(ft.SpecError) as ei:
        ft.train(model=str(tiny_model), dataset=str(prompt_file), technique="dpo")
    msg = dict(ei.value.errors)["dataset"]
    assert "dpo data (preference) is one of: 'prompt' + 'chosen' + 'rejected'" in msg
    assert "The dataset has prompt (messages)" in msg and "fit" in msg and "grpo, rlaif" in msg
    csv = tmp_path / "chat.csv"
    csv.write_text("score,label\n1,2\n")
    with pytest.raises(ft.SpecError, match=r"grpo data \(prompt\) is one of: 'prompt'.*score \(text\), label \(text\)"):
        ft.train(model=str(tiny_model), dataset=str(csv), technique="grpo", rewards=["exact_match"])
    assert ft.jobs() == []


@pytest.mark.slow
@pytest.mark.parametrize("technique, metric", [("orpo", "rewards/margins"), ("kto", "kl")])
def test_orpo_and_kto_run_as_peers(ws, tiny_model, preference_file, technique, metric):
    job = ft.train(model=str(tiny_model), dataset=str(preference_file), technique=technique, max_steps=6,
                   logging_steps=3, learning_rate=5e-3, max_length=128, batch_size=8, grad_accum=1)
    job.wait(timeout=300)
    assert job.status == "succeeded", job.logs(tail=40)
    assert len(series(job, metric)) == 2 and (job.output_dir / "adapter_config.json").is_file()


@pytest.mark.slow
def test_rlaif_job_killed_mid_run_resumes_with_its_judge_cache(ws, tiny_model, prompt_file):
    import signal

    from jupyter_ft.core import procs

    from .test_jobs import wait_for

    with StandInJudge() as judge:
        # 80 steps: on an idle machine 20 steps take ~2 s, too little for the kill to land mid-run
        job = ft.train(model=str(tiny_model), dataset=str(prompt_file), technique="rlaif", max_steps=80,
                       checkpoint_every=8, logging_steps=4, learning_rate=5e-2, batch_size=8, grad_accum=1,
                       rlaif={"judge": {"base_url": judge.url, "model": "stand-in"}, "num_generations": 4,
                              "max_completion_length": 8})
        wait_for(lambda: job.record.step >= 11, timeout=300, what="step 11")
        cached_before = len((job.dir / "judge_cache.jsonl").read_text().splitlines())
        assert procs.signal_group(job.record.pid, signal.SIGKILL)
        job.wait(timeout=400)
    rec = job.record
    assert rec.state == "succeeded" and rec.attempt == 2 and rec.step == 80, job.logs(tail=30)
    resumed = re.search(r"resuming from checkpoint-(\d+)", job.logs())
    assert resumed and int(resumed[1]) >= 8 and int(resumed[1]) % 8 == 0, job.logs(tail=30)
    assert f"starting at step {resumed[1]}" in job.logs()
    assert len((job.dir / "judge_cache.jsonl").read_text().splitlines()) > cached_before >= 8 * 8
    assert [m["step"] for m in job.metrics() if "rewards/judge/mean" in m] == list(range(4, 81, 4))


@pytest.mark.slow
def test_online_dpo_ranks_its_own_answers_with_the_judge(ws, tiny_model, prompt_file):
    with StandInJudge() as judge:
        job = ft.train(model=str(tiny_model), dataset=str(prompt_file), technique="online_dpo", max_steps=4,
                       logging_steps=2, learning_rate=5e-3, batch_size=4, grad_accum=1,
                       online_dpo={"judge": {"base_url": judge.url, "model": "stand-in"}, "max_new_tokens": 8})
        job.wait(timeout=300)
        assert job.status == "succeeded", job.logs(tail=30)
        assert judge.requests >= 1 + 4 * 2  # the probe, then two answers per prompt
    assert len(series(job, "objective/scores")) == 2 and series(job, "rewards/margins")
