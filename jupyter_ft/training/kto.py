"""Kahneman-Tversky optimisation with TRL's `KTOTrainer`. Each preference pair becomes one desirable and one
undesirable example (TRL unpairs the dataset); with LoRA the reference is the base with the adapter disabled."""

from __future__ import annotations

from .context import TrainContext
from .dpo import reference_note


def build_trainer(ctx: TrainContext):
    from trl import KTOConfig, KTOTrainer

    opts = ctx.spec.kto
    config = KTOConfig(**ctx.args, max_length=ctx.spec.max_length, beta=opts.beta,
                       desirable_weight=opts.desirable_weight, undesirable_weight=opts.undesirable_weight)
    ctx.note("kto.reference", reference_note(ctx))
    return KTOTrainer(model=ctx.model, args=config, train_dataset=ctx.data.train, eval_dataset=ctx.data.eval,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config)
