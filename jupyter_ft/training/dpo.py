"""Direct preference optimisation with TRL's `DPOTrainer`.

Rows are preference pairs (`prompt` + `chosen` + `rejected`, text or conversations, or whole `chosen`/`rejected`
conversations sharing a prefix). With LoRA the reference model is the base with the adapter disabled, so DPO
costs no second copy of the model; full fine-tuning loads a frozen reference copy.
"""

from __future__ import annotations

from .context import TrainContext


def reference_note(ctx: TrainContext) -> str:
    return ("the base model with the LoRA adapter disabled (no second copy)" if ctx.peft_config is not None
            else "a frozen copy of the initial model")


def build_trainer(ctx: TrainContext):
    from trl import DPOConfig, DPOTrainer

    opts = ctx.spec.dpo
    config = DPOConfig(**ctx.args, max_length=ctx.spec.max_length, beta=opts.beta, loss_type=list(opts.loss_type),
                       loss_weights=opts.loss_weights, label_smoothing=opts.label_smoothing)
    ctx.note("dpo.reference", reference_note(ctx))
    ctx.note("dpo.loss", " + ".join(opts.loss_type) + f", beta {opts.beta:g}")
    return DPOTrainer(model=ctx.model, args=config, train_dataset=ctx.data.train, eval_dataset=ctx.data.eval,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config)
