"""Direct preference optimisation with TRL's `DPOTrainer`.

Rows are preference pairs (`prompt` + `chosen` + `rejected`, text or conversations, or whole `chosen`/`rejected`
conversations sharing a prefix). With LoRA the reference model is the base with the adapter disabled, so DPO
costs no second copy of the model; full fine-tuning loads a frozen reference copy.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from jupyter_ft.core.spec.base import FieldError, Strict

from jupyter_ft.core.train.techniques import Technique


DPO_LOSSES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
              "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm")


class DPOOptions(Strict):
    """Direct preference optimisation (TRL `DPOTrainer`). With LoRA the reference model is the base model with the
    adapter switched off: no second copy in memory."""

    beta: float = Field(0.1, gt=0, description="how far the policy may move from the reference (IPO: tau)")
    loss_type: list[str] = Field(["sigmoid"], min_length=1, description=f"one or more of {', '.join(DPO_LOSSES)}")
    loss_weights: list[float] | None = Field(None, description="weights when several loss types are combined")
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="robust/EXO: share of flipped labels")

    @field_validator("loss_type", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("loss_type")
    @classmethod
    def _known_losses(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in DPO_LOSSES]
        if bad:
            raise ValueError(f"unknown loss {bad[0]!r}; expected one of {', '.join(DPO_LOSSES)}")
        return v

    @model_validator(mode="after")
    def _weights_match(self) -> DPOOptions:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise FieldError("loss_weights", f"has {len(self.loss_weights)} values for {len(self.loss_type)} loss types")
        return self


TECHNIQUE = Technique(name="dpo", options=DPOOptions, data="preference", learning_rate=(5e-5, 5e-7),
                      short_run_lr=5e-4, build_trainer="jupyter_ft.training.techniques.dpo:build_trainer", order=10)
