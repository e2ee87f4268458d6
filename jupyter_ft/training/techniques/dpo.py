"""The job side of `dpo`: `build_trainer(ctx)` makes its TRL trainer (declaration: `jupyter_ft.core.train.techniques.dpo`)."""

from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


def build_trainer(ctx: TrainContext):
    from trl import DPOConfig, DPOTrainer

    opts = ctx.spec.options
    beta = 0.1 if opts.beta is None else opts.beta
    losses, weights = list(opts.loss_type), opts.loss_weights
    if opts.rpo_alpha:  # RPO: TRL's `sft` loss (NLL of the chosen answers) beside the preference loss
        weights = [*(weights or [1.0] * len(losses)), opts.rpo_alpha]
        losses.append("sft")
    config = DPOConfig(**ctx.args, max_length=ctx.spec.max_length, beta=beta, loss_type=losses,
                       loss_weights=weights, label_smoothing=opts.label_smoothing)
    ctx.note("dpo.reference", ctx.reference_note())
    parts = [f"{w:g}×{t}" for t, w in zip(losses, weights)] if weights else losses
    ctx.note("dpo.loss", " + ".join(parts) + f", beta {beta:g}")
    return DPOTrainer(model=ctx.model, args=config, train_dataset=ctx.data.train, eval_dataset=ctx.data.eval,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config)
