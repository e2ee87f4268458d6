"""The job side of `dpo`: `build_trainer(ctx)` makes its TRL trainer (declaration: `jupyter_ft.core.train.techniques.dpo`)."""

from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


def build_trainer(ctx: TrainContext):
    from trl import DPOConfig, DPOTrainer

    opts = ctx.spec.options
    config = DPOConfig(**ctx.args, max_length=ctx.spec.max_length, beta=opts.beta, loss_type=list(opts.loss_type),
                       loss_weights=opts.loss_weights, label_smoothing=opts.label_smoothing)
    ctx.note("dpo.reference", ctx.reference_note())
    ctx.note("dpo.loss", " + ".join(opts.loss_type) + f", beta {opts.beta:g}")
    return DPOTrainer(model=ctx.model, args=config, train_dataset=ctx.data.train, eval_dataset=ctx.data.eval,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config)
