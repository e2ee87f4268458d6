"""Speed choices (attention, Liger, packing, length bucketing, token metrics): chosen from the device and its
kernels, recorded with their reasons in the stored spec, overridable, and respected by the job; and the default
training path learns what plain TRL learns (same batches, same masked tokens, the same loss curve)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_ft.core.train import sizing
from jupyter_ft.core.devices import DeviceInfo
from jupyter_ft.core.spec.train import parse_spec

from .conftest import write_jsonl

GB = 1024**3
CPU = DeviceInfo("cpu", "cpu", "CPU", 24 * GB, False, 2)
H100_FLASH = DeviceInfo("cuda", "cuda:0", "H100", 80 * GB, True, 16, ("flash_attn", "liger_kernel"))
H100_BARE = DeviceInfo("cuda", "cuda:0", "H100", 80 * GB, True, 16)
SPEED_FIELDS = ("attention", "liger_kernel", "sft.packing", "sft.group_by_length", "sft.token_metrics")
BENCH = Path(__file__).resolve().parent.parent / "bench"


def shape_1b():
    return sizing.ModelShape(1_235_814_400, 2048, 16, 8192, 128256, "config.json")


def resolve(device: DeviceInfo, **fields):
    return sizing.resolve(parse_spec({"model": "m", "dataset": "d", **fields}), shape_1b(), device)


def test_cpu_never_packs_by_default_and_buckets_by_length():
    s = resolve(CPU)
    assert s.attention == "sdpa" and s.liger_kernel is False
    assert s.sft.packing is False and s.sft.group_by_length is True and s.sft.token_metrics is False
    assert s.lora.dropout == 0.0
    for f in SPEED_FIELDS:
        assert s.auto[f], f
    assert "block-diagonal" in s.auto["sft.packing"]
    # unknown model size (hub unreachable at submission) still gets the speed choices
    u = sizing.resolve(parse_spec({"model": "m", "dataset": "d"}), None, CPU)
    assert u.sft.packing is False and u.attention == "sdpa"


def test_cuda_with_kernels_packs_with_varlen_attention():
    s = resolve(H100_FLASH)
    assert s.attention == "flash_attention_2" and s.liger_kernel is True
    assert s.sft.packing is True and s.sft.packing_strategy == "bfd" and s.sft.group_by_length is False
    assert s.sft.token_metrics is True
    bare = resolve(H100_BARE)
    assert bare.attention == "sdpa" and bare.liger_kernel is False and bare.sft.packing is False
    assert "not installed" in bare.auto["attention"]
    # flash-attention needs half precision
    assert resolve(H100_FLASH, precision="fp32").attention == "sdpa"


def test_user_choices_are_kept_and_explained():
    s = resolve(CPU, sft={"packing": True})
    assert s.sft.packing is True and s.sft.packing_strategy == "wrapped" and s.sft.group_by_length is False
    assert "sft.packing" not in s.auto and "bfd" in s.auto["sft.packing_strategy"]
    s = resolve(CPU, sft={"packing": True, "packing_strategy": "bfd", "token_metrics": True}, attention="eager",
                liger_kernel=False)
    assert (s.sft.packing_strategy, s.sft.token_metrics, s.attention) == ("bfd", True, "eager")
    assert "sft.packing_strategy" not in s.auto and "attention" not in s.auto and "sft.token_metrics" not in s.auto
    # other techniques get attention and Liger, not the SFT-only choices
    d = resolve(CPU, technique="dpo")
    assert d.attention == "sdpa" and d.sft is None


def _chat(path: Path, n: int) -> Path:
    from jupyter_ft.core.datasets import demo_data

    return write_jsonl(path, [{"messages": r["prompt"] + r["chosen"]} for r in demo_data.preference_rows(n)])


@pytest.mark.slow
def test_default_job_learns_what_plain_trl_learns(ws, tiny_model, tmp_path):
    """The job's default path (model-own loss, no dropout, length buckets) against a plain TRL `SFTTrainer` told the
    same recorded choices: identical batches and masked tokens, the same loss curve."""
    import jupyter_ft as ft

    data = _chat(tmp_path / "chat.jsonl", 96)
    steps, batch, max_length = 6, 4, 256
    job = ft.submit({"model": str(tiny_model), "dataset": str(data), "max_steps": steps, "batch_size": batch,
                     "grad_accum": 1, "max_length": max_length, "logging_steps": 1, "learning_rate": 1e-3,
                     "lora": {"r": 8, "alpha": 16}, "eval_fraction": 0}, ws)  # plain TRL trains on every row
    plain = subprocess.run(
        [sys.executable, str(BENCH / "plain_trl_sft.py"), "--model", str(tiny_model), "--data", str(data),
         "--steps", str(steps), "--batch", str(batch), "--max-length", str(max_length), "--lr", "1e-3",
         "--lora-dropout", "0", "--sampling", "group_by_length", "--logging-steps", "1",
         "--out", str(tmp_path / "plain")], capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr[-3000:]
    ref = json.loads(plain.stdout.strip().splitlines()[-1])
    job.wait(timeout=600, raise_on_failure=True)
    spec = job.spec
    assert spec.sft.group_by_length is True and spec.sft.token_metrics is False and spec.sft.packing is False
    assert spec.lora.dropout == 0.0 and spec.attention == "sdpa"
    metrics = job.metrics()
    losses = [m["loss"] for m in metrics if "loss" in m]
    tokens = [m["num_tokens"] for m in metrics if "num_tokens" in m][-1]
    assert tokens == ref["tokens"]  # the same rows in the same batches
    assert len(losses) == len(ref["losses"]) == steps
    # step 1 is the base model on the same batch (LoRA B starts at zero): the loss over the same masked tokens
    assert losses[0] == pytest.approx(ref["losses"][0], abs=1e-4)
    for ours, theirs in zip(losses, ref["losses"]):
        assert ours == pytest.approx(theirs, rel=2e-3)
    assert not any("entropy" in m or "mean_token_accuracy" in m for m in metrics)


@pytest.mark.slow
def test_packing_on_cpu_is_respected(ws, tiny_model, tmp_path):
    """`sft.packing: true` on CPU: the recorded strategy (wrapped) is what runs: every row is max_length tokens."""
    import jupyter_ft as ft

    data = _chat(tmp_path / "chat.jsonl", 96)
    steps, batch, max_length = 3, 2, 128
    job = ft.submit({"model": str(tiny_model), "dataset": str(data), "max_steps": steps, "batch_size": batch,
                     "grad_accum": 1, "max_length": max_length, "logging_steps": 1, "sft": {"packing": True}}, ws)
    job.wait(timeout=600, raise_on_failure=True)
    assert job.spec.sft.packing_strategy == "wrapped" and "sft.packing_strategy" in job.spec.auto
    tokens = [m["num_tokens"] for m in job.metrics() if "num_tokens" in m][-1]
    assert tokens == steps * batch * max_length
