"""Speed choices for a job, from the device and the kernels installed there: attention implementation and Liger.
A technique's own speed choices (SFT: packing, its strategy, length bucketing, per-step token metrics) are made
by its unit's `auto`, after these (see `jupyter_ft.core.train.techniques.sft`).

Each choice left empty in the spec is filled here and explained in `spec.auto`, so the stored spec says how the
run was made and replays the same way. The rule of thumb: pack only where a varlen attention kernel makes a packed
batch cost what its tokens cost (CUDA + flash-attention); elsewhere (CPU, MPS) a packed batch needs a
block-diagonal mask that is quadratic in the packed length, so batch rows of similar length instead.
"""

from __future__ import annotations

from jupyter_ft.core.devices import DeviceInfo
from jupyter_ft.core.spec.train import TrainSpec

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
