"""Live chart: metric-to-chart latency and kernel responsiveness, over a real training run in a real kernel.

    python bench/chart_latency.py [--blocks 4] [--cells 25] [--interval 0.5]

One tiny-model SFT job logs a metric at every step (the most a chart ever gets) while a real ipykernel
(jupyter_client) alternates blocks of trivial cells (`pass`) without and with a live chart of that job. Reported:

- latency: from the moment the job process wrote a metric (its event timestamp) to the moment that point is in the
  chart's figure data, for every point the chart drew (target: median <= 1 s);
- responsiveness: a trivial cell's round-trip time (execute request -> reply) without and with the live chart, the
  baseline measured in the same run with the same job training beside it; the ratio is the chart's cost.
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


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run_cell(kc, code: str, timeout: float = 60) -> tuple[float, str]:
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))

    t = time.perf_counter()
    reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    dt = time.perf_counter() - t
    if reply["content"]["status"] != "ok":
        raise RuntimeError(reply["content"])
    return dt, "".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=3, help="alternating blocks of each kind")
    ap.add_argument("--cells", type=int, default=25, help="at least this many trivial cells per block")
    ap.add_argument("--seconds", type=float, default=10.0, help="and at least this long per block")
    ap.add_argument("--interval", type=float, default=0.5, help="the chart's update interval (its default)")
    a = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="jft-bench-chart-"))
    os.environ["JUPYTER_FT_HOME"] = str(root / "workspace")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("JUPYTER_FT_SCHEDULER_IDLE", "30")
    import jupyter_ft as ft
    from jupyter_ft.core.datasets import demo_data
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    model = ft.make_tiny_model(root / "tiny-llama")
    data = root / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_data.sft_rows(64)))
    ws = ft.workspace()

    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    job = None
    try:
        run_cell(kc, "import time, jupyter_ft as ft; lat = []; updates = []")
        job = ft.train(model=str(model), dataset=str(data), max_steps=1_000_000, logging_steps=1, learning_rate=1e-3)
        print(f"job {job.id}: waiting for training to start…", flush=True)
        while job.record.step < 5:
            if job.record.done:
                print(job.logs(tail=30))
                return 1
            time.sleep(0.2)

        without: list[float] = []
        with_chart: list[float] = []

        def block(into: list[float]) -> None:
            """Trivial cells for at least `--seconds`, so that the job logs several points meanwhile."""
            t_end = time.time() + a.seconds
            n = 0
            while n < a.cells or time.time() < t_end:
                into.append(run_cell(kc, "pass")[0])
                n += 1
                time.sleep(0.02)

        for b in range(a.blocks):
            block(without)
            run_cell(kc, f"c = ft.ui.chart({job.id!r}, interval={a.interval}, "
                         "on_points=lambda j, ps: lat.extend(time.time() - p.logged_at for p in ps "
                         "if p.metric == 'loss')); time.sleep(1.0)")  # let it draw the history first
            run_cell(kc, "lat.clear(); u0 = c.updates")  # the history drawn at attach is not live latency
            block(with_chart)
            run_cell(kc, "updates.append(c.updates - u0); c.stop(); c.wait(5)")
            print(f"block {b + 1}/{a.blocks}: step {job.record.step}", flush=True)
        _, out = run_cell(kc, "import json; print(json.dumps({'lat': lat, 'updates': updates}))")
        got = json.loads(out.strip().splitlines()[-1])
        lat = got["lat"]
    finally:
        if job is not None:
            job.cancel()
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        stop_scheduler(ws, kill_jobs=True)

    med_without, med_with = statistics.median(without), statistics.median(with_chart)
    steps_per_s = job.record.step / max(1e-9, (job.record.finished_at or time.time()) - job.record.started_at)
    if not lat:
        print("the job logged no points while a chart was live; use longer blocks (--seconds)")
        return 1
    result = {
        "latency_s": {"points": len(lat), "median": statistics.median(lat), "p90": quantile(lat, 0.9), "max": max(lat)},
        "chart_interval_s": a.interval,
        "figure_updates_per_live_block": got["updates"],
        "trivial_cell_s": {"without_chart_median": med_without, "with_chart_median": med_with,
                           "ratio": med_with / med_without,
                           "without_chart_p90": quantile(without, 0.9), "with_chart_p90": quantile(with_chart, 0.9),
                           "cells_each": len(without)},
        "job_steps_per_s": steps_per_s,
    }
    print()
    print(f"metric -> chart latency over {len(lat)} points (job logging every step, ~{steps_per_s:.1f} steps/s; "
          f"chart interval {a.interval}s):")
    print(f"  median {result['latency_s']['median']:.3f} s   p90 {result['latency_s']['p90']:.3f} s   "
          f"max {result['latency_s']['max']:.3f} s   (target: median <= 1 s)")
    print(f"trivial cell round trip, {len(without)} cells each, same job training beside it:")
    print(f"  without chart median {med_without * 1000:.2f} ms (p90 {result['trivial_cell_s']['without_chart_p90'] * 1000:.2f})")
    print(f"  with live chart median {med_with * 1000:.2f} ms (p90 {result['trivial_cell_s']['with_chart_p90'] * 1000:.2f})")
    print(f"  ratio {result['trivial_cell_s']['ratio']:.2f}x")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "chart_latency.json").write_text(json.dumps(result, indent=1))
    return 0 if result["latency_s"]["median"] <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
