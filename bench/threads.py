"""Torch threads on a small CPU machine: a LoRA training step loop and an engine generation at 1 and at 2 threads,
alone and beside a competing process doing matrix products (another of our jobs, as it would be given the same
thread count), so the thread rule of `jupyter_ft.core.threads` rests on numbers measured here.

Each measurement is a fresh process started with OMP_NUM_THREADS/MKL_NUM_THREADS and `torch.set_num_threads` set
to the count under test (the competitor gets the same count). Training: LoRA r=8 on every linear layer, AdamW,
a fixed batch of random token ids (batch 2 x 128), one warm-up step, then steps until `--steps` or `--budget-s`.
Generation: `jupyter_ft.serve.engine.Engine` (the endpoint's engine), greedy, `--new-tokens` tokens, one warm-up
answer, then answers until `--answers` or `--budget-s`. The competitor's rate (matrix products per second) is
reported too: two workloads that each go slower may still get more done together.

    python bench/threads.py [--model DIR] [--steps 4] [--answers 3] [--budget-s 120] [--json OUT]

`--model` defaults to /work/cache/smollm2 when it exists (SmolLM2-135M-Instruct), else a tiny Llama built here.
The machine's load average is printed with each row: on a shared machine "alone" means "without our competitor".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = Path("/work/cache/smollm2")


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def train_loop(model_dir: str, n: int, steps: int, budget_s: float) -> dict:
    """Seconds per optimizer step of a LoRA fine-tuning loop (forward, backward, AdamW) on a fixed batch."""
    _threads(n)
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (2, 128))

    def step() -> None:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()

    step()  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < steps and time.perf_counter() - start < budget_s:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    per_step = sum(times) / len(times)
    return {"s_per_step": per_step, "tokens_per_s": ids.numel() / per_step, "steps": len(times)}


def generate_loop(model_dir: str, n: int, answers: int, new_tokens: int, budget_s: float) -> dict:
    """Generated tokens per second of the serving engine answering one prompt at a time."""
    _threads(n)
    from jupyter_ft.serve.engine import Engine

    engine = Engine(model_dir, device="cpu")
    try:
        prompt = "Tell me about the history of tea in three sentences."
        engine.generate(prompt, max_new_tokens=8)  # warm-up
        produced, spent = 0, 0.0
        start = time.perf_counter()
        done = 0
        while done < answers and time.perf_counter() - start < budget_s:
            t = time.perf_counter()
            out = engine.generate(prompt, max_new_tokens=new_tokens)
            spent += time.perf_counter() - t
            produced += out["completion_tokens"]
            done += 1
        return {"tokens_per_s": produced / spent, "answers": done}
    finally:
        engine.close()


def burn(n: int, report: str) -> None:
    """The competitor: matrix products until killed; writes its rate (products/s) to `report` every second."""
    _threads(n)
    import torch

    a = torch.randn(384, 384)
    count, start, last = 0, time.perf_counter(), 0.0
    while True:
        a = torch.tanh(a @ a)
        count += 1
        now = time.perf_counter()
        if now - last >= 1.0:
            last = now
            Path(report).write_text(json.dumps({"rate": count / (now - start)}))


def _env(n: int) -> dict:
    return dict(os.environ, OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n), TOKENIZERS_PARALLELISM="false",
                PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def measure(args: argparse.Namespace, workload: str, n: int, busy: bool) -> dict:
    """One row: run `workload` at `n` threads in its own process, with or without the competitor beside it."""
    competitor = None
    report = Path(tempfile.mkstemp(suffix=".json")[1])
    try:
        if busy:
            competitor = subprocess.Popen([sys.executable, __file__, "--burn", str(n), "--report", str(report)],
                                          env=_env(n), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3.0)  # let it reach its pace
            report.write_text("{}")
        load = os.getloadavg()[0]
        cmd = [sys.executable, __file__, "--one", workload, "--threads", str(n), "--model", args.model,
               "--steps", str(args.steps), "--answers", str(args.answers), "--new-tokens", str(args.new_tokens),
               "--budget-s", str(args.budget_s)]
        out = subprocess.run(cmd, env=_env(n), capture_output=True, text=True, timeout=args.budget_s * 4 + 300)
        if out.returncode != 0:
            raise RuntimeError(f"{workload} at {n} threads failed:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        if busy:
            row["competitor_rate"] = json.loads(report.read_text() or "{}").get("rate")
        return {"workload": workload, "threads": n, "busy": busy, "load1": load, **row}
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
        report.unlink(missing_ok=True)


def burn_alone(n: int, seconds: float = 8.0) -> float:
    """The competitor's rate with nothing of ours beside it."""
    report = Path(tempfile.mkstemp(suffix=".json")[1])
    p = subprocess.Popen([sys.executable, __file__, "--burn", str(n), "--report", str(report)], env=_env(n),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(seconds)
        return json.loads(report.read_text() or "{}").get("rate") or 0.0
    finally:
        p.kill()
        p.wait()
        report.unlink(missing_ok=True)


def table(rows: list[dict], burn_rates: dict[int, float]) -> str:
    def cell(workload: str, n: int, busy: bool) -> str:
        r = next(r for r in rows if r["workload"] == workload and r["threads"] == n and r["busy"] == busy)
        if workload == "train":
            return f"{r['s_per_step']:.2f} s/step ({r['tokens_per_s']:.0f} tok/s)"
        return f"{r['tokens_per_s']:.1f} tok/s"

    def comp(workload: str, n: int) -> str:
        r = next(r for r in rows if r["workload"] == workload and r["threads"] == n and r["busy"])
        rate = r.get("competitor_rate") or 0.0
        alone = burn_rates.get(n) or 0.0
        return f"{rate:.0f}/s ({rate / alone:.0%} of alone)" if alone else f"{rate:.0f}/s"

    lines = ["| workload | torch threads | alone | beside a competitor (same threads) | competitor's rate then |",
             "|---|---|---|---|---|"]
    for workload in ("train", "generate"):
        for n in (1, 2):
            lines.append(f"| {workload} | {n} | {cell(workload, n, False)} | {cell(workload, n, True)} | "
                         f"{comp(workload, n)} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(REAL) if REAL.is_dir() else "")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--answers", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--budget-s", type=float, default=120.0)
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument("--one", choices=("train", "generate"), help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--burn", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--report", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.burn:
        burn(args.burn, args.report)
        return 0
    if args.one:
        if args.one == "train":
            row = train_loop(args.model, args.threads, args.steps, args.budget_s)
        else:
            row = generate_loop(args.model, args.threads, args.answers, args.new_tokens, args.budget_s)
        print(json.dumps(row))
        return 0
    if not args.model:
        from jupyter_ft.training.tiny_model import make_tiny_model

        args.model = str(make_tiny_model(Path(tempfile.mkdtemp()) / "tiny-llama"))
    print(f"model {args.model} · {os.cpu_count()} CPUs · load {os.getloadavg()[0]:.2f}", flush=True)
    burn_rates = {n: burn_alone(n) for n in (1, 2)}
    print(f"competitor alone: {', '.join(f'{n} thread(s) {r:.0f}/s' for n, r in burn_rates.items())}", flush=True)
    rows = []
    for workload in ("train", "generate"):
        for n in (1, 2):
            for busy in (False, True):
                row = measure(args, workload, n, busy)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print()
    print(table(rows, burn_rates))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"model": args.model, "cpus": os.cpu_count(), "competitor_alone":
                                               burn_rates, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
