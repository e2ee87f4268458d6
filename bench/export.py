"""Export of a merged model: `ft.export(merge=True)` beside a plain PEFT script (`PeftModel.from_pretrained` +
`merge_and_unload()` + `save_pretrained` + the tokenizer), same model, same adapter, same run, alternating.

Each side runs as a fresh process started from here; wall time and peak RSS come from `os.wait4` (the peak of the
process tree: ft.export's kernel-side process and its worker). The model is a random Llama built locally (no hub)
at a size where the weights, not the imports, take the time; `--hidden/--layers` scale it.

    python bench/export.py                      # ~150M parameters (0.6 GB fp32), 2 rounds
    python bench/export.py --hidden 2048 --layers 16 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = r"""
import sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
base, adapter, out = sys.argv[1:4]
model = AutoModelForCausalLM.from_pretrained(base, dtype="auto")
model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
model.save_pretrained(out, safe_serialization=True)
AutoTokenizer.from_pretrained(adapter).save_pretrained(out)
"""

OURS = r"""
import sys
import jupyter_ft as ft
ft.export(sys.argv[2], sys.argv[3], merge=True, gguf=False, progress=None)
"""


def build(root: Path, hidden: int, layers: int, rank: int) -> tuple[Path, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from jupyter_ft.training.tiny_model import build_tokenizer

    tok = build_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=int(hidden * 2.75),
                      num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                      num_key_value_heads=max(1, hidden // 128), bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id)
    base = root / "base"
    model.save_pretrained(base)
    tok.save_pretrained(base)
    model.name_or_path = model.config._name_or_path = str(base)  # the adapter names its base, as a trained one does
    peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, init_lora_weights=False,
                                            target_modules="all-linear", task_type="CAUSAL_LM"))
    adapter = root / "adapter"
    peft.save_pretrained(adapter)
    tok.save_pretrained(adapter)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: hidden {hidden}, {layers} layers, {params / 1e6:.0f}M parameters "
          f"({sum(f.stat().st_size for f in base.glob('*.safetensors')) / 2**20:.0f} MiB); adapter r={rank} "
          f"({sum(f.stat().st_size for f in adapter.glob('*.safetensors')) / 2**20:.1f} MiB)", flush=True)
    return base, adapter


def measure(script: str, base: Path, adapter: Path, out: Path, env: dict[str, str]) -> tuple[float, float]:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", script, str(base), str(adapter), str(out)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{err[-3000:]}")
    return wall, usage.ru_maxrss / 2**20  # KiB -> GiB


def same_weights(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    wa = {k: v for f in sorted(a.glob("*.safetensors")) for k, v in load_file(f).items()}
    wb = {k: v for f in sorted(b.glob("*.safetensors")) for k, v in load_file(f).items()}
    return wa.keys() == wb.keys() and all((wa[k] == wb[k]).all().item() for k in wa)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-export-"))
    env = dict(os.environ, JUPYTER_FT_HOME=str(root / "workspace"), HF_HUB_OFFLINE="1",
               TRANSFORMERS_VERBOSITY="error")
    try:
        base, adapter = build(root, a.hidden, a.layers, a.rank)
        results: dict[str, list[tuple[float, float]]] = {"plain PEFT": [], "ft.export": []}
        for r in range(a.rounds):
            for name, script in (("plain PEFT", PLAIN), ("ft.export", OURS)):
                wall, rss = measure(script, base, adapter, root / name.replace(" ", "-").replace(".", "-"), env)
                results[name].append((wall, rss))
                print(f"round {r + 1}: {name:<11} {wall:6.2f} s  peak RSS {rss:.2f} GiB", flush=True)
        identical = same_weights(root / "plain-PEFT", root / "ft-export")
        med = {k: (statistics.median(w for w, _ in v), max(m for _, m in v)) for k, v in results.items()}
        (pw, pm), (ow, om) = med["plain PEFT"], med["ft.export"]
        print(json.dumps({"plain_peft_s": round(pw, 2), "ft_export_s": round(ow, 2), "time_ratio": round(ow / pw, 3),
                          "plain_peft_peak_gib": round(pm, 3), "ft_export_peak_gib": round(om, 3),
                          "memory_ratio": round(om / pm, 3), "identical_weights": identical}))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
