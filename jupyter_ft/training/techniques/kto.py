"""The job side of `kto`: `build_trainer(ctx)` makes its TRL trainer (declaration: `jupyter_ft.core.train.techniques.kto`)."""

from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


def build_trainer(ctx: TrainContext):
    from trl import KTOConfig, KTOTrainer

    opts = ctx.spec.options
    config = KTOConfig(**ctx.args, max_length=ctx.spec.max_length, beta=opts.beta,
                       desirable_weight=opts.desirable_weight, undesirable_weight=opts.undesirable_weight)
    ctx.note("kto.reference", ctx.reference_note())
    return KTOTrainer(model=ctx.model, args=config, train_dataset=ctx.data.train, eval_dataset=ctx.data.eval,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config)
