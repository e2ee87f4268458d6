"""Studio job view: the time from a job's logged step to its point in the main-area chart, in a real JupyterLab
and Chromium, against the old sidebar's 2-second polling measured in the same run.

    python bench/studio_chart_latency.py [--seconds 40]

One tiny-model SFT job logs a metric at every step. The job view (`jupyter-ft:open-job`) draws it; a
MutationObserver in the page notes (epoch ms) when each step first appears in the loss chart. Baseline, same run,
same job: a client polling `GET jobs/{id}/metrics` every 2 s, as `usePoll` + the jobs tab did before the cursors.
Latency = first seen - the event's timestamp in the workspace (when the server could first have sent it).
Target: median <= 1 s. Writes bench/results/studio_chart_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40.0, help="how long to watch the live job")
    ap.add_argument("--poll", type=float, default=2.0, help="the baseline's polling interval (the old sidebar's)")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jft-bench-studio-chart-"))
    os.environ["JUPYTER_FT_HOME"] = str(tmp / "workspace")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("JUPYTER_FT_SCHEDULER_IDLE", "30")
    import jupyter_ft as ft
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.datasets import demo_data
    from jupyter_ft.core.jobs.daemon import stop_scheduler
    from tests.browser import TOKEN, built_labextension, chromium_page, jupyter_lab, open_lab

    model = ft.make_tiny_model(tmp / "tiny-llama")
    data = tmp / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_data.sft_rows(64)))
    ws = ft.workspace()
    polled: dict[int, float] = {}
    job = None
    with jupyter_lab(tmp, built_labextension()) as server:
        try:
            server.wait_ready()
            job = ft.train(model=str(model), dataset=str(data), max_steps=1_000_000, logging_steps=1,
                           learning_rate=1e-3)
            while job.record.step < 3:
                if job.record.done:
                    print(job.logs(tail=30))
                    return 1
                time.sleep(0.2)
            stop = threading.Event()

            def baseline() -> None:  # the old way: the whole metric list every 2 s
                while not stop.is_set():
                    req = urllib.request.Request(f"{server.base}/jupyter-ft/api/jobs/{job.id}/metrics",
                                                 headers={"Authorization": f"token {TOKEN}"})
                    with urllib.request.urlopen(req, timeout=30) as r:
                        rows = json.loads(r.read())["metrics"]
                    now = time.time()
                    for row in rows:
                        polled.setdefault(int(row["step"]), now)
                    stop.wait(a.poll)

            with chromium_page() as page:
                open_lab(page, server)
                page.evaluate("""() => {
                    window.__ftSeen = {};
                    new MutationObserver(() => {
                        for (const el of document.querySelectorAll('.jp-ft-chart[data-panel="loss"]')) {
                            const s = el.getAttribute('data-last-step');
                            if (s && !(s in window.__ftSeen)) window.__ftSeen[s] = Date.now();
                        }
                    }).observe(document.body, {subtree: true, attributes: true, childList: true,
                                               attributeFilter: ['data-last-step']});
                }""")
                page.evaluate(f"() => window.jupyterapp.commands.execute('jupyter-ft:open-job', {{id: '{job.id}'}})")
                page.locator(".jp-ft-chart[data-panel='loss']").wait_for(timeout=60_000)
                t_live = time.time()  # points already logged when the view opened are history, not latency
                poller = threading.Thread(target=baseline, daemon=True)
                poller.start()
                time.sleep(a.seconds)
                seen = {int(k): v / 1000 for k, v in page.evaluate("() => window.__ftSeen").items()}
                stop.set()
                poller.join(timeout=30)
        finally:
            if job is not None:
                job.cancel()
            stop_scheduler(ws, kill_jobs=True)
    logged: dict[int, float] = {}
    for e in jobstore.events(ws, job.id, "metrics"):
        logged.setdefault(int(e["step"]), e["ts"])
    live = [s for s in logged if logged[s] > t_live + 1.0]  # logged while both watched
    chart = [seen[s] - logged[s] for s in live if s in seen]
    base = [polled[s] - logged[s] for s in live if s in polled]
    if not chart or not base:
        print(f"too few live points (chart {len(chart)}, baseline {len(base)}); run longer (--seconds)")
        return 1
    result = {"points": {"chart": len(chart), "baseline": len(base), "logged_live": len(live)},
              "chart_latency_s": {"median": statistics.median(chart), "p90": quantile(chart, 0.9), "max": max(chart)},
              "baseline_2s_poll_latency_s": {"median": statistics.median(base), "p90": quantile(base, 0.9),
                                             "max": max(base)},
              "ratio_median_chart_vs_baseline": statistics.median(chart) / statistics.median(base)}
    print(f"step logged -> point in the Studio job view's chart, {len(chart)} steps:")
    print(f"  median {result['chart_latency_s']['median']:.3f} s  p90 {result['chart_latency_s']['p90']:.3f} s  "
          f"max {result['chart_latency_s']['max']:.3f} s   (target: median <= 1 s)")
    print(f"baseline, 2 s polling of GET metrics, same run: median {result['baseline_2s_poll_latency_s']['median']:.3f} s"
          f"  p90 {result['baseline_2s_poll_latency_s']['p90']:.3f} s")
    print(f"ratio (chart / baseline, medians): {result['ratio_median_chart_vs_baseline']:.2f}x")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "studio_chart_latency.json").write_text(json.dumps(result, indent=1))
    return 0 if result["chart_latency_s"]["median"] <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
