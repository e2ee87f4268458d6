"""Supervised fine-tuning with TRL's `SFTTrainer`.

Loss on completions only by default: prompt/completion rows use TRL's completion mask; conversational rows use
the assistant mask when the chat template has `{% generation %}` markers (or TRL knows a training template for
it), and otherwise become prompt/completion pairs split before the last assistant turn, which every template
supports.
"""

from __future__ import annotations

from .context import TrainContext


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

    spec, opts = ctx.spec, ctx.spec.sft
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
    packing = bool(opts.packing)
    config = SFTConfig(**ctx.args, max_length=spec.max_length, packing=packing, **extra)
    return SFTTrainer(
        model=ctx.model,
        args=config,
        train_dataset=train,
        eval_dataset=evals,
        processing_class=ctx.tokenizer,
        peft_config=ctx.peft_config,
    )
