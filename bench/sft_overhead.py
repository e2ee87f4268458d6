"""SFT through jupyter_ft's job system vs a plain TRL script, same model/data/settings, one run.

Prints tokens/s for each and their ratio (target >= 0.95), and submit->first-step latency against the plain
script's process-start->first-step (target: at most 2 s extra). Median of --repeats runs, alternating order.

    python bench/sft_overhead.py [--steps 60] [--rows 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def chat_rows(n: int) -> list[dict]:
    """Chat rows of varied length (the demo preference prompts with their warm answers)."""
    from jupyter_ft.core.datasets import demo_data

    return [{"messages": r["prompt"] + r["chosen"]} for r in demo_data.preference_rows(n)]


def run_plain(model: Path, data: Path, a) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "plain_trl_sft.py"), "--model", str(model), "--data", str(data),
                          "--steps", str(a.steps), "--batch", str(a.batch), "--max-length", str(a.max_length)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_job(ws, model: Path, data: Path, a) -> dict:
    import jupyter_ft as ft
    from jupyter_ft.core.jobs import store as jobstore

    t0 = time.time()
    job = ft.submit({"model": str(model), "dataset": str(data), "technique": "sft", "max_steps": a.steps,
                     "batch_size": a.batch, "grad_accum": 1, "max_length": a.max_length, "logging_steps": 10,
                     "lora": {"r": 8, "alpha": 16}}, ws)
    submit_s = time.time() - t0
    job.wait(timeout=900, raise_on_failure=True)
    first = next(e for e in jobstore.events(ws, job.id, "tag") if "jupyter_ft.first_step_at" in e)
    metrics = job.metrics()
    tokens = [m["num_tokens"] for m in metrics if "num_tokens" in m][-1]
    runtime = [m["train_runtime"] for m in metrics if "train_runtime" in m][-1]
    return {"tokens": tokens, "train_runtime": runtime, "tokens_per_s": tokens / runtime, "submit_s": submit_s,
            "submit_to_first_step_s": first["jupyter_ft.first_step_at"] - t0,
            "final_loss": [m["loss"] for m in metrics if "loss" in m][-1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jft-bench-"))
    os.environ["JUPYTER_FT_HOME"] = str(tmp / "workspace")
    import jupyter_ft as ft
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    model = ft.make_tiny_model(tmp / "tiny")
    data = tmp / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in chat_rows(a.rows)))
    ws = ft.workspace(tmp / "workspace")
    import mlflow  # noqa: F401  (a kernel that has submitted once has it loaded; the cold cost is reported apart)

    plain, ours = [], []
    try:
        for i in range(a.repeats):
            order = (run_plain, run_job) if i % 2 == 0 else (run_job, run_plain)
            for fn in order:
                r = fn(model, data, a) if fn is run_plain else fn(ws, model, data, a)
                (plain if fn is run_plain else ours).append(r)
                print(f"  run {i + 1} {'plain TRL ' if fn is run_plain else 'jupyter_ft'}: "
                      f"{r['tokens_per_s']:8.0f} tok/s  first step after "
                      f"{r.get('start_to_first_step_s', r.get('submit_to_first_step_s')):.2f} s", flush=True)
    finally:
        stop_scheduler(ws, kill_jobs=True)

    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    p_tps, o_tps = med(plain, "tokens_per_s"), med(ours, "tokens_per_s")
    p_lat, o_lat = med(plain, "start_to_first_step_s"), med(ours, "submit_to_first_step_s")
    print("\nSFT, tiny Llama, LoRA r=8, batch %d, max_length %d, %d steps, %d rows, median of %d"
          % (a.batch, a.max_length, a.steps, a.rows, a.repeats))
    print(f"{'':24}{'tokens/s':>10}{'to 1st step (s)':>18}")
    print(f"{'plain TRL script':24}{p_tps:>10.0f}{p_lat:>18.2f}")
    print(f"{'jupyter_ft job':24}{o_tps:>10.0f}{o_lat:>18.2f}   (submit call {med(ours, 'submit_s'):.2f} s)")
    print(f"throughput ratio jupyter_ft / plain = {o_tps / p_tps:.3f}   (target >= 0.95)")
    print(f"extra latency to first step = {o_lat - p_lat:+.2f} s   (target <= 2 s)")


if __name__ == "__main__":
    main()
