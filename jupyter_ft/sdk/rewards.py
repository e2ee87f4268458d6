"""Reward functions for GRPO/RLAIF jobs, for use in a notebook: the built-ins, and a dry run that shows what each
reward scores on a few completions before a job is launched (through the code the job will run).

    import jupyter_ft as ft
    def my_reward(completions, **row):
        return [1.0 if "####" in c else 0.0 for c in completions]
    ft.rewards.dry_run(rewards=[my_reward, "numeric_answer"], dataset="gsm8k.jsonl", model="./tiny-llama")
    job = ft.train(model="./tiny-llama", dataset="gsm8k.jsonl", technique="grpo", rewards=[my_reward, "numeric_answer"])

Importing this module loads no torch (sampling completions from a model in `dry_run` does).
"""

from __future__ import annotations

from jupyter_ft.core.spec.reward_code import RewardCodeError, describe
from jupyter_ft.core.spec.train import BUILTIN_REWARDS
from jupyter_ft.training.rewards import (BUILTINS, DryRun, ExactMatch, LengthPenalty, NumericAnswer, Regex, RewardError, RewardFunction, dry_run, extract_number)

__all__ = ["BUILTINS", "BUILTIN_REWARDS", "DryRun", "ExactMatch", "LengthPenalty", "NumericAnswer", "Regex",
           "RewardCodeError", "RewardError", "RewardFunction", "describe", "dry_run", "extract_number"]
