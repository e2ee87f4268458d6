"""Online DPO with TRL's `OnlineDPOTrainer` (in `trl.experimental`): preference pairs made during training from the
model's own answers, ranked by a judge (see `judge`) and/or verifiable rewards (see `rewards`), the same reward
functions GRPO and RLAIF use. With LoRA the reference is the base model with the adapter disabled."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from jupyter_ft.core.reward_specs import JudgeSpec, RewardSpec, check_reward_names, reward_entries
from jupyter_ft.core.spec_base import FieldError, Strict

from . import Technique

if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


class OnlineDPOOptions(Strict):
    """Online DPO (TRL `OnlineDPOTrainer`, in `trl.experimental`): for each prompt the model writes two answers; the
    judge and/or the rewards pick the better one, and the pair trains the model like DPO. Preference pairs made on
    line, from the model's own answers, instead of a fixed dataset."""

    rewards: list[RewardSpec] = Field(default_factory=list, description="verifiable rewards (summed with the judge's)")
    judge: JudgeSpec | None = Field(None, description="a judge whose score ranks the two answers")
    max_new_tokens: int = Field(64, gt=0, le=131072)
    temperature: float = Field(0.9, gt=0)
    beta: float = Field(0.1, gt=0)
    loss_type: Literal["sigmoid", "ipo"] = "sigmoid"

    _entries = field_validator("rewards", mode="before")(reward_entries)

    @model_validator(mode="after")
    def _something_ranks(self) -> OnlineDPOOptions:
        if not self.rewards and self.judge is None:
            raise FieldError("judge", "online_dpo needs a judge or at least one reward to rank the two answers")
        check_reward_names(self.rewards, self.judge)
        return self


def build_trainer(ctx: TrainContext):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the experimental-API notice
        from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    from jupyter_ft.training import rewards as rewards_mod
    from jupyter_ft.training.judge import JudgeReward

    opts = ctx.spec.options
    funcs = rewards_mod.build(opts.rewards)
    if opts.judge is not None:
        judge = JudgeReward(opts.judge, cache_path=ctx.job_dir / "judge_cache.jsonl", device=ctx.spec.device)
        judge.judge.score([("Say hello.", "Hello! Nice to meet you.")])  # probe: fail now, not mid-training
        funcs.append(judge)
    rewards_mod.check_columns(funcs, ctx.data.train.column_names)
    config = OnlineDPOConfig(**ctx.args, max_new_tokens=opts.max_new_tokens, max_length=ctx.spec.max_length,
                             temperature=opts.temperature, beta=opts.beta, loss_type=opts.loss_type,
                             reward_weights=[f.weight for f in funcs])
    ctx.note("online_dpo.rankers", ", ".join(f"{f.__name__} × {f.weight:g}" for f in funcs))
    ctx.note("online_dpo.reference", ctx.reference_note())
    return OnlineDPOTrainer(model=ctx.model, reward_funcs=funcs, args=config, train_dataset=ctx.data.train,
                            eval_dataset=ctx.data.eval, processing_class=ctx.tokenizer, peft_config=ctx.peft_config)


TECHNIQUE = Technique(
    name="online_dpo", options=OnlineDPOOptions, data="prompt", learning_rate=(5e-5, 5e-7),
    build_trainer=build_trainer, order=22,
    needs=("judge", "technique 'online_dpo' needs a judge or rewards to rank its two answers, e.g. "
                    "online_dpo: {judge: {base_url: http://localhost:8000/v1, model: m}}"))
