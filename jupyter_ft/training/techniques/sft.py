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


def _has_assistant_mask(tokenizer) -> bool:
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if not template:
        return False
    if has_generation_markers(template):
        return True
    try:
        return get_training_chat_template(tokenizer) is not None
    except Exception:
        return False


def _last_turn_as_completion(row: dict) -> dict:
    msgs = row["messages"]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    return {"prompt": msgs[:last], "completion": [msgs[last]]}


def build_trainer(ctx: TrainContext):
    from trl import SFTConfig, SFTTrainer

    spec, opts = ctx.spec, ctx.spec.options
    train, evals = ctx.data.train, ctx.data.eval
    extra: dict = {}
    if ctx.data.format == "messages" and opts.completion_only_loss:
        if _has_assistant_mask(ctx.tokenizer):
            extra["assistant_only_loss"] = True
            ctx.note("sft.loss_mask", "assistant tokens of every turn (chat template generation markers)")
        else:
            cols = [c for c in train.column_names if c != "messages"]
            train = train.map(_last_turn_as_completion, remove_columns=["messages", *cols])
            if evals is not None:
                evals = evals.map(_last_turn_as_completion, remove_columns=["messages", *cols])
            extra["completion_only_loss"] = True
            ctx.note("sft.loss_mask", "last assistant turn (the chat template has no generation markers)")
    elif ctx.data.format == "prompt_completion":
        extra["completion_only_loss"] = opts.completion_only_loss
        ctx.note("sft.loss_mask", "completion tokens" if opts.completion_only_loss else "whole sequence")
    elif ctx.data.format == "text" and opts.completion_only_loss:
        ctx.note("sft.loss_mask", "whole sequence (plain text has no completion to mask)")
    else:
        ctx.note("sft.loss_mask", "whole sequence")
    # Speed choices (filled and explained by core.train.speed at submission; a spec stored before them means "off").
    if opts.packing:
        extra.update(packing=True, packing_strategy=opts.packing_strategy or "bfd")
    if opts.group_by_length and not opts.packing:
        extra["train_sampling_strategy"] = "group_by_length"
    config = SFTConfig(**ctx.args, max_length=spec.max_length, **extra)
    trainer_cls = SFTTrainer if opts.token_metrics in (True, None) else _model_loss_trainer()
    return trainer_cls(
        model=ctx.model,
        args=config,
        train_dataset=train,
        eval_dataset=evals,
        processing_class=ctx.tokenizer,
        peft_config=ctx.peft_config,
    )
