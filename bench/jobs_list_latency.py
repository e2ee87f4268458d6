"""`GET /jupyter-ft/api/jobs` latency with 1,000 jobs in the workspace (the sidebar polls it every 2 s).

    python bench/jobs_list_latency.py [--jobs 1000] [--repeats 50] [--baseline-src /work/main]

The jobs are rows as submission leaves them, each with a fully resolved spec (every field, auto-sizing notes):
the list must carry summaries, not specs. Prints the median and p90 latency, the response size, and with
`--baseline-src` the same for another source tree in the same run (ratio). Target: median < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import psutil
from rest_server import jupyter_server

HERE = Path(__file__).resolve().parent.parent


def fill(root: Path, n: int) -> None:
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.workspace import workspace
    from jupyter_ft.core.spec.train import parse_spec

    ws = workspace(root)
    spec = parse_spec({"model": "/models/tiny-llama", "dataset": "chat@0123456789ab", "technique": "sft",
                       "max_steps": 200, "lora": {"r": 8}}).model_dump(mode="json")
    spec["auto"] = {k: "auto-sized: batch 4 x accum 4 fits 1.2B params (bf16, LoRA) in 80 GB on cuda:0 " * 2
                    for k in ("batch_size", "grad_accum", "learning_rate", "precision", "lora.r")}
    states = ["succeeded", "failed", "cancelled", "succeeded"]  # nothing for a scheduler to pick up
    for i in range(n):
        jid = f"sft-1201-{i:06d}-abcd"
        jobstore.insert(ws, job_id=jid, kind="train", technique="sft", name=f"run {i}", device="cpu",
                        spec={**spec, "name": f"run {i}"}, submitted={"model": spec["model"], "name": f"run {i}"},
                        max_attempts=3)
        jobstore.set_fields(ws, jid, state=states[i % 4], step=i % 200, total_steps=200,
                            started_at=time.time() - 100, finished_at=time.time() - 10 if i % 4 < 3 else None,
                            error="training diverged at step 7: loss = nan" if i % 4 == 1 else None)


def cpu_seconds(server) -> float:
    t = psutil.Process(server.proc.pid).cpu_times()
    return t.user + t.system


def measure(server, repeats: int) -> tuple[float, float, int, int, float]:
    """(median s, p90 s, bytes, jobs, server CPU s per request): CPU time does not grow with the machine's load."""
    server.request("jobs")
    times, size, count = [], 0, 0
    cpu0 = cpu_seconds(server)
    for _ in range(repeats):
        t0 = time.perf_counter()
        status, body = server.request("jobs")
        times.append(time.perf_counter() - t0)
        assert status == 200, status
        size, count = len(body), len(json.loads(body)["jobs"])
    cpu = (cpu_seconds(server) - cpu0) / repeats
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)], size, count, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--baseline-src", type=Path, default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp) / "workspace"
        fill(root, a.jobs)
        runs = [("jupyter_ft (this tree)", HERE)] + ([(f"baseline ({a.baseline_src})", a.baseline_src)]
                                                     if a.baseline_src else [])
        results = {}
        for label, src in runs:
            with jupyter_server(src, root) as server:
                med, p90, size, count, cpu = measure(server, a.repeats)
            results[label] = med
            print(f"{label}: GET /jobs with {count} jobs: median {med * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, "
                  f"server CPU {cpu * 1000:.1f} ms/request, {size / 1024:.0f} KiB", flush=True)
    mine = results[runs[0][0]]
    print(f"target: median < 100 ms: {'met' if mine < 0.1 else 'NOT met'} (load average now "
          f"{psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} CPUs)")
    if a.baseline_src:
        print(f"ratio to baseline (median): {mine / results[runs[1][0]]:.2f}")


if __name__ == "__main__":
    main()
