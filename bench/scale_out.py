"""The same SFT job on the local path and on a Ray cluster, and 2-process DDP vs 1 process.

Runs, in one invocation on this machine (a Ray head started here on loopback with 2 CPUs):
  local 1 process (batch 8)           vs  ray 1 worker (batch 8):            the Ray path's start-up and tokens/s
  local 2 processes DDP (2 × batch 4) vs  ray 2 workers (2 × batch 4):       the same, data parallel
  local 2 processes DDP               vs  local 1 process:                   what DDP buys on 2 cores (honestly)
Every run does the same work (global batch 8, same steps, same rows). Prints submit → first step (start-up
overhead: process start, imports, and for Ray connecting and placing the workers) and tokens/s over the training
(num_tokens counted over all ranks / train_runtime), the median of --repeats, and the ratios.

    python bench/scale_out.py [--steps 100] [--rows 2000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def run(ws, model: Path, data: Path, a, processes: int, ray_address: str | None) -> dict:
    import jupyter_ft as ft
    from jupyter_ft.core.jobs import store as jobstore

    spec = {"model": str(model), "dataset": str(data), "technique": "sft", "max_steps": a.steps, "device": "cpu",
            "batch_size": 8 // processes, "grad_accum": 1, "max_length": a.max_length, "logging_steps": 10,
            "lora": {"r": 8, "alpha": 16}, "checkpoint_minutes": 60}
    if processes > 1 or ray_address:
        spec["compute"] = {"processes": processes, "strategy": "ddp"}
    if ray_address:
        spec["executor"] = {"kind": "ray", "address": ray_address}
    t0 = time.time()
    job = ft.submit(spec, ws)
    job.wait(timeout=1800, raise_on_failure=True)
    first = next(e for e in jobstore.events(ws, job.id, "tag") if "jupyter_ft.first_step_at" in e)
    metrics = job.metrics()
    tokens = [m["num_tokens"] for m in metrics if "num_tokens" in m][-1]
    runtime = [m["train_runtime"] for m in metrics if "train_runtime" in m][-1]
    return {"tokens_per_s": tokens / runtime, "first_step_s": first["jupyter_ft.first_step_at"] - t0,
            "wall_s": time.time() - t0, "final_loss": [m["loss"] for m in metrics if "loss" in m][-1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()

    from jupyter_ft.core.workspace import workspace
    from jupyter_ft.core.jobs.daemon import stop_scheduler
    from jupyter_ft.training.tiny_model import make_tiny_model
    from tests.ray_cluster import LoopbackCluster

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-out-"))
    model = make_tiny_model(tmp / "tiny-llama")
    from jupyter_ft.core.datasets import demo_data

    data = tmp / "chat.jsonl"
    data.write_text("".join(json.dumps({"messages": r["prompt"] + r["chosen"]}) + "\n"
                            for r in demo_data.preference_rows(a.rows)))
    ws = workspace(tmp / "ws")
    t = time.time()
    cluster = LoopbackCluster(cpus=2).start()
    print(f"ray head up on {cluster.address} in {time.time() - t:.1f} s", flush=True)
    setups = {"local-1": (1, None), "ray-1": (1, cluster.address), "local-ddp-2": (2, None),
              "ray-2": (2, cluster.address)}
    results: dict[str, list[dict]] = {k: [] for k in setups}
    try:
        for i in range(a.repeats):
            for name, (n, addr) in setups.items():
                r = run(ws, model, data, a, n, addr)
                results[name].append(r)
                print(f"[{i + 1}/{a.repeats}] {name:12s} {r['tokens_per_s']:8.0f} tokens/s  first step after "
                      f"{r['first_step_s']:5.1f} s  wall {r['wall_s']:5.1f} s  final loss {r['final_loss']:.3f}",
                      flush=True)
    finally:
        stop_scheduler(ws, kill_jobs=True)
        cluster.stop()
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("tokens_per_s", "first_step_s", "wall_s")}
           for k, v in results.items()}
    print("\nmedian of", a.repeats, "| tokens/s | submit→first step (s)")
    for k, v in med.items():
        print(f"  {k:12s} {v['tokens_per_s']:8.0f} {v['first_step_s']:8.1f}")
    print(f"ray vs local, 1 process:   tokens/s {med['ray-1']['tokens_per_s'] / med['local-1']['tokens_per_s']:.2f}x, "
          f"start-up +{med['ray-1']['first_step_s'] - med['local-1']['first_step_s']:.1f} s")
    print(f"ray vs local, 2 processes: tokens/s {med['ray-2']['tokens_per_s'] / med['local-ddp-2']['tokens_per_s']:.2f}x, "
          f"start-up +{med['ray-2']['first_step_s'] - med['local-ddp-2']['first_step_s']:.1f} s")
    print(f"DDP 2 processes vs 1 process on {os.cpu_count()} cores: tokens/s "
          f"{med['local-ddp-2']['tokens_per_s'] / med['local-1']['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
