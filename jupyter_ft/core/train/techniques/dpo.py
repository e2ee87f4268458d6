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

    beta: float | None = Field(None, gt=0, description="how far the policy may move from the reference (IPO: tau); "
                                                         "auto: 0.1, larger for short runs at a high learning rate")
    rpo_alpha: float | None = Field(None, ge=0, le=10,
                                    description="weight of a negative log-likelihood term on the chosen answers (RPO: "
                                                "TRL's `sft` loss added to the preference loss), which keeps the "
                                                "chosen answers likely while the rejected ones are pushed down; auto: "
                                                "on for short runs, 0 otherwise")
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


# A short, high-learning-rate LoRA run (a laptop's time budget): plain DPO gets its margin mostly by pushing the
# rejected answers down, and the chosen ones fall with them (answers get shorter, stop helping, loop); an NLL term
# on the chosen answers and a firmer tie to the reference keep the change to what the preference is about.
SHORT_RUN_BETA = 0.5
SHORT_RUN_RPO_ALPHA = 1.0


def _auto(spec: Any, device: Any, upd: dict, why: dict[str, str]) -> None:
    from jupyter_ft.core.train.budget import SHORT_RUN

    o = spec.options
    steps = upd.get("max_steps") or spec.max_steps
    lr = upd.get("learning_rate") or spec.learning_rate or 0.0
    short = spec.lora is not None and steps is not None and steps < SHORT_RUN and lr >= 1e-4
    new: dict = {}
    if o.beta is None:
        new["beta"] = SHORT_RUN_BETA if short else 0.1
        why[f"{spec.technique}.beta"] = (f"{new['beta']:g}: a short run at learning rate {lr:g}" if short else
                                         "0.1: the usual strength of the tie to the reference")
    if o.rpo_alpha is None:
        uses_nll = "sft" in o.loss_type
        new["rpo_alpha"] = SHORT_RUN_RPO_ALPHA if short and not uses_nll else 0.0
        why[f"{spec.technique}.rpo_alpha"] = (
            f"{new['rpo_alpha']:g}: an NLL term on the chosen answers keeps them likely in a short run at learning "
            f"rate {lr:g}, where the preference loss alone mostly pushes the rejected answers down and the chosen "
            "ones fall with them" if new["rpo_alpha"] else
            "0: the loss already has an sft term" if uses_nll else
            "0: a long run at a modest learning rate keeps the chosen answers likely without it")
    if new:
        upd[spec.technique] = o.model_copy(update=new)


TECHNIQUE = Technique(name="dpo", options=DPOOptions, data="preference", learning_rate=(5e-5, 5e-7),
                      short_run_lr=5e-4, auto=_auto, build_trainer="jupyter_ft.training.techniques.dpo:build_trainer",
                      order=10)
