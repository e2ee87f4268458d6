"""The job side of `sft`: `build_trainer(ctx)` makes its TRL trainer (declaration: `jupyter_ft.core.train.techniques.sft`)."""

from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


def _model_loss_trainer():
    """`SFTTrainer` whose loss is the model's own forward with labels (plain cross-entropy over the full logits),
    without TRL's per-step entropy and token-accuracy metrics. Same labels, so the same masked tokens and the same
    loss; on CPU it is ~25% faster per step than TRL's chunked log-prob head, which also scores every position
    there. Chosen by `sft.token_metrics: false` (the auto choice off CUDA)."""
    from transformers import Trainer
    from trl import SFTTrainer

    class ModelLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs["use_cache"] = False
            if model.training:  # the `num_tokens` metric, counted as TRL counts it
                if "attention_mask" in inputs:
                    n = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
                else:
                    n = inputs["position_ids"].size(1) * self.accelerator.num_processes
                self._total_train_tokens += n
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return ModelLossSFTTrainer


def build_trainer(ctx: TrainContext):
    from trl import SFTConfig, SFTTrainer

    from jupyter_ft.training import masking, truncation

    spec, opts = ctx.spec, ctx.spec.options
    extra: dict = {}
    # Which tokens carry the loss (every assistant turn of a conversation; see `training.masking`).
    mask = masking.LossMask(ctx.data.format, ctx.tokenizer, opts.completion_only_loss)
    train, evals = mask.prepare(ctx.data.train), mask.prepare(ctx.data.eval)
    extra.update(mask.config)
    ctx.note("sft.loss_mask", mask.text)
    # Speed choices (filled and explained by core.train.speed at submission; a spec stored before them means "off").
    if opts.packing:
        extra.update(packing=True, packing_strategy=opts.packing_strategy or "bfd")
    if opts.group_by_length and not opts.packing:
        extra["train_sampling_strategy"] = "group_by_length"
    config = SFTConfig(**ctx.args, max_length=spec.max_length, **extra)
    trainer_cls = SFTTrainer if opts.token_metrics in (True, None) else _model_loss_trainer()
    trainer = trainer_cls(
        model=ctx.model,
        args=config,
        train_dataset=train,
        eval_dataset=evals,
        processing_class=ctx.tokenizer,
        peft_config=ctx.peft_config,
    )
    truncation.settle(trainer, ctx, mask.prepare, mask.cut)  # rows truncation left untrained: counted, eval refilled
    return trainer
