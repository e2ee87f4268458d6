"""Evaluation speed, measured against baselines in the same run on the same model.

1. Batched generation for evaluation (left padding, `generate` on batches, prompts sorted by length) against a
   per-sample `generate` loop: answers/s of both, the ratio (target >= 3x) and how many answers agree.
2. One evaluation of base + 4 adapters (the base loaded once, adapters switched) against 5 separate single-model
   evaluations: wall time from the first submission to the last result, and base-model loads, both real
   evaluation jobs through the scheduler.

    python bench/eval_generation.py [--prompts 64] [--batch-size 16] [--max-new-tokens 32] [--hidden 256]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_model(folder: Path, hidden: int) -> Path:
    from jupyter_ft.training.tiny_model import make_tiny_model

    return make_tiny_model(folder, hidden_size=hidden, num_layers=4, num_heads=4)


def bench_generation(model_dir: Path, n: int, batch_size: int, max_new_tokens: int, threads: int = 0) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jupyter_ft.core.datasets import demo_data
    from jupyter_ft.evaluation.generate import generate_batched, generate_one_by_one, render

    if threads:
        torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    prompts = [r["prompt"] for r in demo_data.preference_rows(n)]
    texts = [render(tok, p, True) for p in prompts]
    settings = {"max_new_tokens": max_new_tokens, "temperature": 0.0, "top_p": 1.0, "batch_size": batch_size}
    generate_batched(model, tok, texts[:batch_size], settings, "cpu", True)  # warm-up
    t = time.perf_counter()
    loop = generate_one_by_one(model, tok, texts, settings, "cpu", True)
    t_loop = time.perf_counter() - t
    t = time.perf_counter()
    batched = generate_batched(model, tok, texts, settings, "cpu", True)
    t_batch = time.perf_counter() - t
    same = sum(a == b for a, b in zip(loop, batched))
    print(f"generation, {n} prompts, max_new_tokens {max_new_tokens}, greedy, CPU threads {torch.get_num_threads()}:")
    print(f"  per-sample generate loop : {t_loop:7.2f} s  {n / t_loop:7.2f} answers/s")
    print(f"  batched (batch {batch_size:3d})      : {t_batch:7.2f} s  {n / t_batch:7.2f} answers/s")
    print(f"  ratio batched / loop     : {t_loop / t_batch:5.2f}x   (target >= 3x); identical answers {same}/{n}",
          flush=True)


def make_adapters(model_dir: Path, out: Path, k: int) -> list[str]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    paths = []
    for i in range(k):
        torch.manual_seed(100 + i)
        base = AutoModelForCausalLM.from_pretrained(model_dir)
        m = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False))
        p = out / f"adapter{i}"
        m.save_pretrained(p)
        paths.append(str(p))
    return paths


def bench_many_models(model_dir: Path, root: Path, samples: int, max_new_tokens: int, threads: int = 0) -> None:
    os.environ["JUPYTER_FT_HOME"] = str(root / "ws")
    if threads:  # every job process (started by the scheduler this process starts) inherits it
        os.environ["OMP_NUM_THREADS"] = str(threads)
    import jupyter_ft as ft
    from jupyter_ft.core.datasets import catalog, demo_data
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    ws = ft.workspace()
    adapters = make_adapters(model_dir, root, 4)
    v = catalog.add(ws, demo_data.preference_rows(samples * 10), name="bench", eval_fraction=0.1)
    common = dict(dataset=v.ref, limit=samples, evaluators=["rouge", "eval_loss"],
                  generation={"max_new_tokens": max_new_tokens, "batch_size": 16}, base=str(model_dir), bootstrap=200)
    models = ["base", *adapters]
    try:
        # warm the device probe and OS caches (other generation settings: no cached answer is reused below)
        ft.evaluate(models=["base"], **{**common, "limit": 2, "generation": {"max_new_tokens": 2}}).wait(timeout=900)
        t = time.perf_counter()
        one = ft.evaluate(models=models, **common)
        one.wait(timeout=1800)
        t_one = time.perf_counter() - t
        r1 = one.results()
        # the answers are cached per model: the separate runs start from an empty cache, so they pay for generation
        # the same way the single run did
        import shutil

        shutil.move(str(ws.root / "eval_cache"), str(ws.root / "eval_cache.first"))
        t = time.perf_counter()
        jobs = [ft.evaluate(models=[m], **common, tracking={"experiment": "separate"}) for m in models]
        for j in jobs:
            j.wait(timeout=1800)
        t_sep = time.perf_counter() - t
        loads_one = sum(x["base_loads"] for x in r1["model_loads"].values())
        loads_sep = sum(x["base_loads"] for j in jobs for x in j.results()["model_loads"].values())
        print(f"evaluation of base + 4 adapters, {samples} samples, rouge + eval_loss, max_new_tokens {max_new_tokens}:")
        print(f"  one evaluation, 5 models   : {t_one:7.2f} s  base loads {loads_one}  state {one.status}")
        print(f"  5 separate evaluations     : {t_sep:7.2f} s  base loads {loads_sep}  "
              f"states {sorted({j.status for j in jobs})}")
        print(f"  ratio separate / one       : {t_sep / t_one:5.2f}x")
        agree = all(abs(a["value"] - b["value"]) < 1e-6 for a in r1["metrics"] for j in jobs
                    for b in j.results()["metrics"] if (a["model"], a["metric"]) == (b["model"], b["metric"]))
        print(f"  same metrics both ways     : {agree}")
    finally:
        stop_scheduler(ws)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--skip-jobs", action="store_true")
    ap.add_argument("--skip-generation", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); on a shared machine 1 avoids threads spinning on each other")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = build_model(root / "model", a.hidden)
        if not a.skip_generation:
            bench_generation(model_dir, a.prompts, a.batch_size, a.max_new_tokens, a.threads)
        if not a.skip_jobs:
            bench_many_models(model_dir, root, a.samples, a.max_new_tokens, a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
