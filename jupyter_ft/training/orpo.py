"""Odds-ratio preference optimisation with TRL's `ORPOTrainer` (in `trl.experimental`): supervised and preference
loss in one pass over preference pairs, without a reference model."""

from __future__ import annotations

import warnings

from .context import TrainContext


def build_trainer(ctx: TrainContext):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the experimental-API notice; the job log notes the trainer instead
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    opts = ctx.spec.orpo
    config = ORPOConfig(**ctx.args, max_length=ctx.spec.max_length, beta=opts.beta)
    ctx.note("orpo.trainer", "trl.experimental.orpo.ORPOTrainer (no reference model)")
    return ORPOTrainer(model=ctx.model, args=config, train_dataset=ctx.data.train, eval_dataset=ctx.data.eval,
                       processing_class=ctx.tokenizer, peft_config=ctx.peft_config)
