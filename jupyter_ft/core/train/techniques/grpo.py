"""Group relative policy optimisation with TRL's `GRPOTrainer`, rewarded by verifiable reward functions.

The rewards of the spec (built-ins and notebook functions shipped as source) are loaded before the model trains,
so a function that cannot load, or a built-in that reads a column the dataset lacks, fails the job in its first
seconds. Each runs behind `rewards.RewardFunction`, so a reward that raises or returns the wrong thing fails the
job naming the function and the sample. TRL logs `rewards/<name>/mean` and `/std` per function, `reward` and
`reward_std` for the weighted sum, `kl` (when beta > 0) and `completions/mean_length`.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from jupyter_ft.core.spec.rewards import RewardSpec, check_reward_names, reward_entries
from jupyter_ft.core.spec.base import FieldError, Strict

from jupyter_ft.core.train.techniques import Technique


class GRPOOptions(Strict):
    """Group relative policy optimisation (TRL `GRPOTrainer`) with verifiable rewards: for each prompt the model
    samples `num_generations` completions; each is scored by the reward functions (weighted sum) and the policy
    moves toward the better ones in its group."""

    rewards: list[RewardSpec] = Field(default_factory=list, description="reward functions, summed with their weights")
    num_generations: int = Field(4, ge=2, le=512, description="completions sampled per prompt")
    max_completion_length: int = Field(256, gt=0, le=131072)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    beta: float = Field(0.04, ge=0, description="KL penalty toward the reference (adapter off); 0 skips the reference "
                                                 "pass and the kl metric")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    num_iterations: int = Field(1, ge=1, description="optimisation passes over each generated batch")
    mask_truncated_completions: bool = False

    _entries = field_validator("rewards", mode="before")(reward_entries)

    @model_validator(mode="after")
    def _unique_names(self) -> GRPOOptions:
        check_reward_names(self.rewards)
        return self


def check_groups(spec) -> None:
    """The completions of one prompt form a group, so an explicit batch × accumulation must hold whole groups."""
    if spec.batch_size and spec.grad_accum:
        g = spec.options.num_generations
        if (spec.batch_size * spec.grad_accum) % g:
            raise FieldError("batch_size", f"batch_size × grad_accum ({spec.batch_size} × {spec.grad_accum}) must be a "
                             f"multiple of {spec.technique}.num_generations ({g}): each prompt's completions form one group")


def check(spec) -> None:
    if not spec.options.rewards:
        raise FieldError(f"{spec.technique}.rewards", f"technique {spec.technique!r} needs at least one reward, e.g. "
                         "rewards: [numeric_answer] or rewards=[my_reward_function]")
    check_groups(spec)


def fit_groups(spec, device, upd: dict, why: dict[str, str]) -> None:
    """Round up whichever of batch size and accumulation was chosen automatically so that batch × accumulation is
    a multiple of `num_generations` (an explicit pair is checked by `check_groups`)."""
    g = spec.options.num_generations
    batch = upd.get("batch_size", spec.batch_size)
    accum = upd.get("grad_accum", spec.grad_accum)
    if (batch * accum) % g == 0:
        return
    if spec.grad_accum is None:
        step = g // math.gcd(batch, g)
        upd["grad_accum"] = -(-accum // step) * step
        why["grad_accum"] = (f"{upd['grad_accum']}: batch {batch} × accum must be a multiple of num_generations {g} "
                             f"(one group of completions per prompt)")
    else:
        step = g // math.gcd(accum, g)
        upd["batch_size"] = -(-batch // step) * step
        why["batch_size"] = (f"{upd['batch_size']}: batch × accum {accum} must be a multiple of num_generations {g} "
                             f"(one group of completions per prompt)")


TECHNIQUE = Technique(name="grpo", options=GRPOOptions, data="prompt", learning_rate=(2e-5, 1e-6),
                      build_trainer="jupyter_ft.training.techniques.grpo:build_trainer", check=check, auto=fit_groups, order=20)
