"""The sidebar's network cost while idle, and the step-to-route latency of a live job, over a real jupyter server.

    python bench/sidebar_network.py [--jobs 200] [--window 30] [--steps 60] [--wait 25]

1. Idle cost with `--jobs` jobs in the workspace (none changing), for `--window` seconds each, measured in the same
   run: today's sidebar (`usePoll` every 2 s after the previous answer, `GET jobs`: the whole list) against the
   cursor routes: `GET jobs?since=<cursor>&wait=S` (long-poll: answered on a change or after S s) and, for
   reference, `GET jobs?since=<cursor>` polled every 2 s. Bytes/s counts both directions (request line and headers,
   status line, headers and body) as they cross the loopback socket.
2. Latency: one real tiny-model SFT job logging a metric at every step; two clients watch it at once, one polling
   `GET jobs/{id}/metrics` every 2 s (today's shape) and one long-polling `metrics?since=<cursor>&wait=10`. For each
   step: time the client first had the point minus the time the job process wrote it (its event timestamp).
   Target: median <= 1 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from jobs_list_latency import fill  # noqa: E402
from rest_server import jupyter_server  # noqa: E402


class Client:
    """One HTTP/1.1 keep-alive connection (as a browser keeps one), counting the bytes it moves."""

    def __init__(self, server):
        self.server = server
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        self.sent = self.received = self.requests = 0

    def get(self, path: str) -> dict:
        headers = {"Authorization": f"token {self.server.token}", "Accept": "application/json",
                   "User-Agent": "Mozilla/5.0 (bench)"}
        url = "/jupyter-ft/api/" + path
        self.conn.request("GET", url, headers=headers)
        self.sent += len(f"GET {url} HTTP/1.1\r\n") + sum(len(k) + len(v) + 4 for k, v in headers.items()) + 40
        r = self.conn.getresponse()
        body = r.read()
        self.received += len(f"HTTP/1.1 {r.status} {r.reason}\r\n") + sum(len(k) + len(v) + 4
                                                                          for k, v in r.getheaders()) + 2 + len(body)
        self.requests += 1
        assert r.status == 200, (r.status, body[:200])
        return json.loads(body)

    def close(self) -> None:
        self.conn.close()


def idle(server, strategy: str, window: float, wait: float) -> dict:
    c = Client(server)
    cursor = c.get("jobs")["cursor"]  # the first full load is the same for every strategy: not counted
    c.sent = c.received = c.requests = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < window:
        if strategy == "full list every 2 s":
            c.get("jobs")
            time.sleep(2.0)
        elif strategy == "since cursor every 2 s":
            cursor = c.get(f"jobs?since={cursor}")["cursor"]
            time.sleep(2.0)
        else:
            cursor = c.get(f"jobs?since={cursor}&wait={min(wait, max(0.1, window - (time.monotonic() - t0)))}")["cursor"]
    took = time.monotonic() - t0
    c.close()
    return {"strategy": strategy, "requests/s": c.requests / took, "bytes/s": (c.sent + c.received) / took,
            "requests": c.requests, "seconds": took}


def watch(server, job_id: str, mode: str, seen: dict[int, float], done: threading.Event) -> None:
    c = Client(server)
    cursor = 0
    while not done.is_set():
        if mode == "poll":
            answer = c.get(f"jobs/{job_id}/metrics")
        else:
            answer = c.get(f"jobs/{job_id}/metrics?since={cursor}&wait=10" if cursor else f"jobs/{job_id}/metrics")
            cursor = answer["cursor"]
        now = time.time()
        for row in answer["metrics"]:
            if "loss" in row:
                seen.setdefault(row["step"], now)
        if answer.get("state") in ("succeeded", "failed", "cancelled") or (
                mode == "poll" and c.get(f"jobs/{job_id}")["job"]["done"]):
            break
        if mode == "poll":
            time.sleep(2.0)
    c.close()


def latency(server, root: Path, steps: int) -> dict:
    import jupyter_ft as ft
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.workspace import workspace
    from jupyter_ft.core.datasets import demo_data

    ws = workspace(root)
    model = ft.make_tiny_model(root.parent / "tiny-llama")
    data = root.parent / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_data.sft_rows(256)))
    job = ft.submit({"model": str(model), "dataset": str(data), "technique": "sft", "max_steps": steps,
                     "logging_steps": 1, "batch_size": 4, "eval_fraction": 0.0}, ws)
    seen: dict[str, dict[int, float]] = {"poll": {}, "long-poll": {}}
    done = threading.Event()
    threads = [threading.Thread(target=watch, args=(server, job.id, m, seen[m], done), daemon=True) for m in seen]
    for t in threads:
        t.start()
    try:
        job.wait(timeout=900)
    finally:
        from jupyter_ft.core.jobs.daemon import stop_scheduler

        stop_scheduler(ws, kill_jobs=True)
    for t in threads:
        t.join(30)
    done.set()
    written = {int(e["step"]): e["ts"] for e in jobstore.events(ws, job.id, "metrics") if "loss" in e["values"]}
    out = {"job": job.id, "state": job.status, "points": len(written)}
    for mode, got in seen.items():
        lags = [got[s] - ts for s, ts in written.items() if s in got]
        out[mode] = {"median_s": statistics.median(lags) if lags else None,
                     "p90_s": sorted(lags)[int(0.9 * len(lags))] if lags else None, "points": len(lags)}
    return out


def main() -> int:
    os.environ.setdefault("JUPYTER_FT_SCHEDULER_IDLE", "5")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--window", type=float, default=30.0, help="seconds each idle strategy is watched")
    ap.add_argument("--wait", type=float, default=25.0, help="long-poll hold, seconds")
    ap.add_argument("--steps", type=int, default=60, help="training steps of the latency job (0: skip it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "workspace"
        root.mkdir()
        fill(root, args.jobs)
        with jupyter_server(HERE.parent, root) as server:
            rows = [idle(server, s, args.window, args.wait) for s in
                    ("full list every 2 s", "since cursor every 2 s", f"long-poll since cursor (wait={args.wait:g} s)")]
            base = rows[0]
            print(f"idle sidebar, {args.jobs} jobs, {args.window:g} s each")
            for r in rows:
                print(f"  {r['strategy']:<38} {r['requests/s']:6.3f} req/s  {r['bytes/s']:10.1f} B/s   "
                      f"x{base['bytes/s'] / r['bytes/s']:8.1f} fewer bytes, "
                      f"x{base['requests/s'] / r['requests/s']:5.1f} fewer requests than the full list")
            if args.steps:
                lat = latency(server, root, args.steps)
                print(f"step -> route latency, job {lat['job']} ({lat['state']}, {lat['points']} points logged)")
                for mode in ("poll", "long-poll"):
                    m = lat[mode]
                    label = "GET metrics every 2 s" if mode == "poll" else "metrics?since=&wait=10 (long-poll)"
                    if m["median_s"] is None:
                        print(f"  {label:<38} no points seen")
                        continue
                    print(f"  {label:<38} median {m['median_s']:.3f} s  p90 {m['p90_s']:.3f} s  "
                          f"({m['points']} points)")
                lp, pl = lat["long-poll"]["median_s"], lat["poll"]["median_s"]
                if lp and pl:
                    print(f"  long-poll median is {pl / lp:.1f}x lower than 2-s polling; target <= 1 s: "
                          f"{'met' if lp <= 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
