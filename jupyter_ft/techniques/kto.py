"""Kahneman-Tversky optimisation with TRL's `KTOTrainer`. Each preference pair becomes one desirable and one
undesirable example (TRL unpairs the dataset); with LoRA the reference is the base with the adapter disabled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from jupyter_ft.core.spec_base import Strict

from . import Technique

if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


class KTOOptions(Strict):
    """Kahneman-Tversky optimisation (TRL `KTOTrainer`). Paired rows are split into one desirable and one
    undesirable example each."""

    beta: float = Field(0.1, gt=0)
    desirable_weight: float = Field(1.0, gt=0)
    undesirable_weight: float = Field(1.0, gt=0)


def build_trainer(ctx: TrainContext):
    from trl import KTOConfig, KTOTrainer

    opts = ctx.spec.options
    config = KTOConfig(**ctx.args, max_length=ctx.spec.max_length, beta=opts.beta,
                       desirable_weight=opts.desirable_weight, undesirable_weight=opts.undesirable_weight)
    ctx.note("kto.reference", ctx.reference_note())
    return KTOTrainer(model=ctx.model, args=config, train_dataset=ctx.data.train, eval_dataset=ctx.data.eval,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config)


TECHNIQUE = Technique(name="kto", options=KTOOptions, data="preference", learning_rate=(5e-5, 5e-7),
                      build_trainer=build_trainer, order=12)
