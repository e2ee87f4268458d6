"""Supervised fine-tuning with TRL's `SFTTrainer`.

Loss on completions only by default: prompt/completion rows use TRL's completion mask; conversational rows train
every assistant turn, through TRL's assistant mask when the chat template has `{% generation %}` markers (or TRL
knows a training template for it), else through a mask found by rendering the conversation turn by turn (see
`jupyter_ft.training.masking`); a row the template does not render prefix-stably trains its last assistant turn.

On devices without a varlen attention kernel, rows of similar length share a batch instead of being packed (see
`auto`: the choices are made at submission and recorded in `spec.auto`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from jupyter_ft.core.spec.base import Strict

from jupyter_ft.core.train.techniques import Technique


class SFTOptions(Strict):
    """Supervised fine-tuning (TRL `SFTTrainer`)."""

    completion_only_loss: bool = Field(True, description="loss on the assistant/completion tokens only; "
                                                         "conversations train every assistant turn (the chat "
                                                         "template's generation markers, else rendered turn by turn)")
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
    from jupyter_ft.core.train.speed import VARLEN_ATTENTION

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


TECHNIQUE = Technique(name="sft", options=SFTOptions, data="sft", learning_rate=(2e-4, 2e-5),
                      build_trainer="jupyter_ft.training.techniques.sft:build_trainer", auto=auto, order=0)
