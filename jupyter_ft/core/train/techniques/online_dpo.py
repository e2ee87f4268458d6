"""Online DPO with TRL's `OnlineDPOTrainer` (in `trl.experimental`): preference pairs made during training from the
model's own answers, ranked by a judge (see `judge`) and/or verifiable rewards (see `rewards`), the same reward
functions GRPO and RLAIF use. With LoRA the reference is the base model with the adapter disabled."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from jupyter_ft.core.spec.rewards import JudgeSpec, RewardSpec, check_reward_names, reward_entries
from jupyter_ft.core.spec.base import FieldError, Strict

from jupyter_ft.core.train.techniques import Technique


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


TECHNIQUE = Technique(
    name="online_dpo", options=OnlineDPOOptions, data="prompt", learning_rate=(5e-5, 5e-7),
    build_trainer="jupyter_ft.training.techniques.online_dpo:build_trainer", order=22,
    needs=("judge", "technique 'online_dpo' needs a judge or rewards to rank its two answers, e.g. "
                    "online_dpo: {judge: {base_url: http://localhost:8000/v1, model: m}}"))
