"""Real scale: SFT, DPO, GRPO, a multiple-choice evaluation and an endpoint on SmolLM2-135M-Instruct (fetched once
from the package index and cached). Each asserts the outcome — loss falls, margin rises, reward rises, answers
change, facts are known — not only that the job succeeded. Short runs: these are CPU tests."""

from __future__ import annotations

import statistics

import pytest

import jupyter_ft as ft
from jupyter_ft.core.datasets import demo_data, human_like
from tests.conftest import write_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]  # the first one also fetches the model


def _series(job, key):
    return [m[key] for m in job.metrics() if key in m]


def test_sft_loss_falls_on_the_warm_answers(ws, smollm2_dir, tmp_path):
    rows = [{"messages": r["prompt"] + r["chosen"]} for r in demo_data.preference_rows(120, seed=5)]
    data = write_jsonl(tmp_path / "warm.jsonl", rows)
    job = ft.submit({"model": str(smollm2_dir), "dataset": str(data), "technique": "sft", "max_steps": 16,
                     "batch_size": 4, "grad_accum": 1, "learning_rate": 1e-3, "logging_steps": 2,
                     "eval_fraction": 0.0}, ws=ws)
    job.wait(raise_on_failure=True)
    assert job.spec.max_length < 256 and "chat template" in job.spec.auto["max_length"]  # sized from the data
    losses = _series(job, "loss")
    first, last = statistics.mean(losses[:2]), statistics.mean(losses[-2:])
    assert len(losses) >= 6 and last < 0.8 * first, losses


def test_dpo_margin_rises_the_chosen_answers_stay_likely_and_the_endpoint_serves_the_change(ws, smollm2_dir):
    """One short LoRA DPO job on the human-like pairs: its curves, then its adapter served beside the base."""
    from openai import OpenAI

    data = ft.datasets.add_demo("human-like", n=200, eval_fraction=0.1)
    job = ft.submit({"model": str(smollm2_dir), "dataset": data.ref, "technique": "dpo", "max_steps": 10,
                     "batch_size": 4, "logging_steps": 2, "checkpoint_every": 10, "register_as": False}, ws=ws)
    assert job.spec.learning_rate == 5e-4 and job.spec.dpo.rpo_alpha > 0  # a short run: the short-run defaults
    job.wait(raise_on_failure=True)
    margins, chosen = _series(job, "rewards/margins"), _series(job, "logps/chosen")
    assert margins[-1] > margins[0] + 1.0, margins
    assert chosen[-1] > chosen[0] - 10, chosen  # the NLL term keeps the chosen answers from falling
    assert _series(job, "eval_rewards/margins")[-1] > 0

    ep = ft.deploy(base=str(smollm2_dir), adapters=[str(job.output_dir)], name="real", quiet=True, ws=ws)
    client = OpenAI(base_url=ep.url, api_key=ep.api_key)

    def ask(model, prompt, n=32):
        r = client.chat.completions.create(model=model, max_tokens=n, temperature=0,
                                           messages=[{"role": "user", "content": prompt}])
        return r.choices[0].message.content

    assert "Paris" in ask(ep.models[0], "What is the capital of France?", 16)
    prompts = human_like.EVAL_PROMPTS[:4]
    changed = sum(ask(ep.models[0], p) != ask(ep.models[1], p) for p in prompts)
    assert changed >= 3, "the adapter barely changed the answers"
    ep.stop()


def test_grpo_reward_rises_on_a_format_the_base_rarely_writes(ws, smollm2_dir, tmp_path):
    """Everyday questions, a verifiable reward (an exclamation mark in the first 24 tokens, which the base writes in
    about one answer in ten): GRPO with LoRA moves the model toward it within 20 steps (measured 0.06 -> 0.62)."""
    prompts = [{"prompt": [{"role": "user", "content": q}]} for q in human_like.EVAL_PROMPTS[4:36]]
    data = write_jsonl(tmp_path / "prompts.jsonl", prompts)
    job = ft.submit({"model": str(smollm2_dir), "dataset": str(data), "technique": "grpo", "max_steps": 20,
                     "batch_size": 8, "grad_accum": 1, "learning_rate": 1e-3, "logging_steps": 2, "eval_fraction": 0.0,
                     "grpo": {"num_generations": 4, "max_completion_length": 24, "temperature": 1.0,
                              "rewards": [{"type": "regex", "pattern": "!"}]}}, ws=ws)
    job.wait(raise_on_failure=True)
    rewards = _series(job, "reward")
    first, last = statistics.mean(rewards[:2]), statistics.mean(rewards[-3:])
    assert len(rewards) == 10 and last > first + 0.2, rewards
    assert _series(job, "kl")[-1] < 1.0, _series(job, "kl")  # moved toward the reward, not away from the model


def test_multiple_choice_knows_the_facts(ws, smollm2_dir):
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "mc_facts.jsonl"
    job = ft.evaluate(models=["base"], base=str(smollm2_dir), dataset=str(data), split="all",
                      evaluators=[{"type": "multiple_choice", "num_fewshot": 0}], ws=ws)
    job.wait(raise_on_failure=True)
    results = ft.eval_results(job.id, ws=ws)
    acc = next(m["value"] for m in results["metrics"] if m["metric"] in ("acc", "accuracy"))
    assert acc > 0.4, results["metrics"]  # chance is 0.25; 0.4 is 2+ sd above it on 40 questions (measured 0.525)
