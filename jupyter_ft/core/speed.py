"""Speed choices for a job, from the device and the kernels installed there: attention implementation, Liger,
and (SFT) packing, its strategy, length bucketing and the per-step token metrics.

Each choice left empty in the spec is filled here and explained in `spec.auto`, so the stored spec says how the
run was made and replays the same way. The rule of thumb: pack only where a varlen attention kernel makes a packed
batch cost what its tokens cost (CUDA + flash-attention); elsewhere (CPU, MPS) a packed batch needs a
block-diagonal mask that is quadratic in the packed length, so batch rows of similar length instead.
"""

from __future__ import annotations

from .devices import DeviceInfo
from .specs import TrainSpec

VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3")


def _attention(spec: TrainSpec, device: DeviceInfo, precision: str) -> tuple[str, str]:
    if device.kind == "cuda" and "flash_attn" in device.kernels and precision in ("bf16", "fp16"):
        return "flash_attention_2", "flash_attention_2: flash-attn is installed on this GPU (varlen kernels)"
    if device.kind == "cuda" and "flash_attn" in device.kernels:
        return "sdpa", "sdpa: flash-attention needs bf16/fp16"
    where = {"cuda": "flash-attn is not installed", "cpu": "no flash-attention kernel on CPU",
             "mps": "no flash-attention kernel on MPS"}.get(device.kind, device.kind)
    return "sdpa", f"sdpa: {where}"


def choose(spec: TrainSpec, device: DeviceInfo, upd: dict, why: dict[str, str]) -> None:
    """Fill the speed fields left empty (None) into `upd`, with their reasons in `why`."""
    precision = upd.get("precision", spec.precision)
    attention = spec.attention
    if attention is None:
        attention, why["attention"] = _attention(spec, device, precision)
        upd["attention"] = attention
    if spec.liger_kernel is None:
        on = device.kind == "cuda" and "liger_kernel" in device.kernels
        upd["liger_kernel"] = on
        why["liger_kernel"] = ("on: liger-kernel is installed on this GPU" if on else
                               "off: liger-kernel is not installed" if device.kind == "cuda" else
                               f"off: Liger's Triton kernels need CUDA (device {device.name})")
    if spec.technique == "sft":
        upd["sft"] = _sft(spec, device, attention, why)


def _sft(spec: TrainSpec, device: DeviceInfo, attention: str, why: dict[str, str]):
    o = spec.sft
    varlen = attention in VARLEN_ATTENTION
    new: dict = {}
    packing = o.packing
    if packing is None:
        packing = varlen
        why["sft.packing"] = ("on: the varlen attention kernel keeps packed rows apart at no extra cost, and no "
                              "padding is computed" if varlen else
                              f"off: without a varlen attention kernel ({attention} on {device.kind}) a packed batch "
                              "needs a block-diagonal mask that costs more than the padding it saves")
        new["packing"] = packing
    if packing and o.packing_strategy is None:
        strategy = "bfd" if varlen else "wrapped"
        new["packing_strategy"] = strategy
        why["sft.packing_strategy"] = (
            "bfd: whole rows packed best-fit, each attending only to itself (varlen kernel)" if varlen else
            f"wrapped: rows concatenated and cut at max_length; bfd's block-diagonal mask is quadratic in the "
            f"packed batch without a varlen kernel ({attention}). Rows attend across their boundaries "
            "(as in LLaMA-Factory's packing); set packing_strategy: bfd to keep them apart")
    if o.group_by_length is None:
        new["group_by_length"] = not packing
        why["sft.group_by_length"] = ("off: packed rows are all max_length" if packing else
                                      "on: rows of similar length share a batch, so less padding is computed")
    if o.token_metrics is None:
        on = device.kind == "cuda"
        new["token_metrics"] = on
        why["sft.token_metrics"] = (
            "on: TRL's fused LM head (no full logits in memory) also gives entropy and mean_token_accuracy" if on else
            f"off: on {device.kind} the model's own loss is faster than TRL's chunked log-prob head with entropy "
            "and accuracy; same loss, same masked tokens")
    return o.model_copy(update=new)
