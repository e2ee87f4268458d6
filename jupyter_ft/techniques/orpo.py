"""Odds-ratio preference optimisation with TRL's `ORPOTrainer` (in `trl.experimental`): supervised and preference
loss in one pass over preference pairs, without a reference model."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from pydantic import Field

from jupyter_ft.core.spec_base import Strict

from . import Technique

if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


class ORPOOptions(Strict):
    """Odds-ratio preference optimisation (TRL `ORPOTrainer`): SFT and preference in one loss, no reference model."""

    beta: float = Field(0.1, gt=0, description="weight of the odds-ratio term (lambda in the paper)")


def build_trainer(ctx: TrainContext):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the experimental-API notice; the job log notes the trainer instead
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    opts = ctx.spec.options
    config = ORPOConfig(**ctx.args, max_length=ctx.spec.max_length, beta=opts.beta)
    ctx.note("orpo.trainer", "trl.experimental.orpo.ORPOTrainer (no reference model)")
    return ORPOTrainer(model=ctx.model, args=config, train_dataset=ctx.data.train, eval_dataset=ctx.data.eval,
                       processing_class=ctx.tokenizer, peft_config=ctx.peft_config)


TECHNIQUE = Technique(name="orpo", options=ORPOOptions, data="preference", learning_rate=(5e-5, 8e-6),
                      build_trainer=build_trainer, order=11)
