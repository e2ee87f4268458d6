"""Model, tokenizer and LoRA config for a job: the same code for a local folder and a hub id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_ft.core.hub import looks_like_path
from jupyter_ft.core.spec.train import TrainSpec

from jupyter_ft.training.errors import JobInputError

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def preflight(spec: TrainSpec) -> None:
    p = Path(spec.model).expanduser()
    if looks_like_path(spec.model) or p.exists():
        if not p.exists():
            raise JobInputError(f"model: path {p} does not exist")
        if p.is_dir() and not (p / "config.json").is_file():
            raise JobInputError(f"model: folder {p} has no config.json (not a saved transformers model)")


def load_tokenizer(spec: TrainSpec):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(spec.model)
    except Exception as exc:
        raise JobInputError(f"model: cannot load a tokenizer from {spec.model!r}: {type(exc).__name__}: {exc}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(spec: TrainSpec, **kwargs: Any):
    import torch
    from transformers import AutoModelForCausalLM

    # LoRA keeps frozen base weights in the compute dtype; full fine-tuning keeps fp32 master weights and lets
    # the trainer's autocast run the matmuls in bf16/fp16.
    dtype = getattr(torch, DTYPES[spec.precision]) if spec.lora is not None else torch.float32
    if spec.attention:
        kwargs.setdefault("attn_implementation", spec.attention)
    try:
        return AutoModelForCausalLM.from_pretrained(spec.model, dtype=dtype, **kwargs)
    except Exception as exc:
        raise JobInputError(f"model: cannot load {spec.model!r}: {type(exc).__name__}: {exc}") from None


def lora_config(spec: TrainSpec):
    if spec.lora is None:
        return None
    from peft import LoraConfig

    lo = spec.lora
    return LoraConfig(
        r=lo.r, lora_alpha=lo.alpha, lora_dropout=lo.dropout, target_modules=lo.target_modules,
        task_type="CAUSAL_LM", bias="none",
    )
