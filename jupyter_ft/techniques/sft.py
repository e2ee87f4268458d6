"""Supervised fine-tuning with TRL's `SFTTrainer`.

Loss on completions only by default: prompt/completion rows use TRL's completion mask; conversational rows use
the assistant mask when the chat template has `{% generation %}` markers (or TRL knows a training template for
it), and otherwise become prompt/completion pairs split before the last assistant turn, which every template
supports.

On devices without a varlen attention kernel, rows of similar length share a batch instead of being packed (see
`auto`: the choices are made at submission and recorded in `spec.auto`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from jupyter_ft.core.spec_base import Strict

from . import Technique

if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


class SFTOptions(Strict):
    """Supervised fine-tuning (TRL `SFTTrainer`)."""

    completion_only_loss: bool = Field(True, description="loss on the assistant/completion tokens only")
    packing: bool | None = Field(None, description="pack several rows into one sequence; auto: on where a varlen "
                                                    "attention kernel makes it pay (CUDA + flash-attention), else off")
    packing_strategy: Literal["bfd", "wrapped"] | None = Field(
        None, description="bfd: whole rows, each attends only to itself (needs a varlen kernel to be fast); wrapped: "
                          "rows concatenated and cut at max_length, attending across boundaries. Auto by kernels")
    group_by_length: bool | None = Field(None, description="batch rows of similar length together (less padding); "
                                                           "auto: on when not packing")
    token_metrics: bool | None = Field(None, description="log entropy and mean_token_accuracy each step through TRL's "
                                                         "fused LM head; auto: on CUDA only (on CPU the model's own "
                                                         "loss is faster)")


def auto(spec, device, upd: dict, why: dict[str, str]) -> None:
    """Packing, its strategy, length bucketing and the per-step token metrics, from the attention kernel chosen for
    this device: pack only where a varlen kernel makes a packed batch cost what its tokens cost (CUDA +
    flash-attention); elsewhere a packed batch needs a block-diagonal mask quadratic in its length."""
    from jupyter_ft.core.speed import VARLEN_ATTENTION

    o = spec.options
    attention = upd.get("attention", spec.attention)
    varlen = attention in VARLEN_ATTENTION
    new: dict = {}
    packing = o.packing
    if packing is None:
        packing = varlen
        why[f"{spec.technique}.packing"] = (
            "on: the varlen attention kernel keeps packed rows apart at no extra cost, and no padding is computed"
            if varlen else
            f"off: without a varlen attention kernel ({attention} on {device.kind}) a packed batch needs a "
            "block-diagonal mask that costs more than the padding it saves")
        new["packing"] = packing
    if packing and o.packing_strategy is None:
        strategy = "bfd" if varlen else "wrapped"
        new["packing_strategy"] = strategy
        why[f"{spec.technique}.packing_strategy"] = (
            "bfd: whole rows packed best-fit, each attending only to itself (varlen kernel)" if varlen else
            f"wrapped: rows concatenated and cut at max_length; bfd's block-diagonal mask is quadratic in the "
            f"packed batch without a varlen kernel ({attention}). Rows attend across their boundaries "
            "(as in LLaMA-Factory's packing); set packing_strategy: bfd to keep them apart")
    if o.group_by_length is None:
        new["group_by_length"] = not packing
        why[f"{spec.technique}.group_by_length"] = ("off: packed rows are all max_length" if packing else
                                                    "on: rows of similar length share a batch, so less padding is computed")
    if o.token_metrics is None:
        on = device.kind == "cuda"
        new["token_metrics"] = on
        why[f"{spec.technique}.token_metrics"] = (
            "on: TRL's fused LM head (no full logits in memory) also gives entropy and mean_token_accuracy" if on else
            f"off: on {device.kind} the model's own loss is faster than TRL's chunked log-prob head with entropy "
            "and accuracy; same loss, same masked tokens")
    upd[spec.technique] = o.model_copy(update=new)


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
    # Speed choices (filled and explained by core.speed at submission; a spec stored before them means "off").
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


TECHNIQUE = Technique(name="sft", options=SFTOptions, data="sft", learning_rate=(2e-4, 2e-5),
                      build_trainer=build_trainer, auto=auto, order=0)
