"""The job side of `orpo`: `build_trainer(ctx)` makes its TRL trainer (declaration: `jupyter_ft.core.train.techniques.orpo`)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


def build_trainer(ctx: TrainContext):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the experimental-API notice; the job log notes the trainer instead
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    opts = ctx.spec.options
    config = ORPOConfig(**ctx.args, max_length=ctx.spec.max_length, beta=opts.beta)
    ctx.note("orpo.trainer", "trl.experimental.orpo.ORPOTrainer (no reference model)")
    return ORPOTrainer(model=ctx.model, args=config, train_dataset=ctx.data.train, eval_dataset=ctx.data.eval,
                       processing_class=ctx.tokenizer, peft_config=ctx.peft_config)
