"""Registry benchmarks: what registration adds to a job's end, and `ft.lineage` with 1,000 versions.

    python bench/registry.py [--versions 1000] [--repeats 5]

1. Registration. A tiny DPO job is trained once (registration off); then its output is registered `--repeats` times
   as new versions with `registry.register_job` (what the forwarder runs, MLflow already loaded), beside the
   baseline measured in the same run: `MlflowClient.log_artifacts` of the same folder to the job's run (what a job
   already paid before the registry existed). Also the job process's own share (building the `register` event) and,
   for a job registered the normal way, the time from its success to its registered version (forwarder included).
   Target: registration adds at most 2 s to a job's end.
2. Lineage. 1,000 versions (each with its job, and one evaluation link) are indexed in the workspace; `ft.lineage`
   of one version and the forward lineage of a dataset used by 50 jobs are timed (median of 20), beside one
   `search_model_versions` query on the MLflow store (what walking MLflow would cost per call). Target: < 200 ms.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def median_ms(fn, n: int = 20) -> float:
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    os.environ["JUPYTER_FT_HOME"] = str(tmp / "ws")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import jupyter_ft as ft
    from jupyter_ft.core import tracking
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.registry import versions as registry
    from jupyter_ft.core.datasets import demo_data
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    ws = ft.workspace(tmp / "ws")
    registry.ensure_schema(ws)
    model = ft.make_tiny_model(tmp / "tiny-llama")
    data = tmp / "prefs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_data.preference_rows(80)))
    try:
        common = dict(model=str(model), dataset=str(data), technique="dpo", lora=True, max_steps=4, logging_steps=1,
                      max_length=128, batch_size=8, grad_accum=1)
        job = ft.train(**common, register_as=False)
        auto = ft.train(**common, register_as="bench-auto")
        for j in (job, auto):
            j.wait(timeout=900, raise_on_failure=True)
        # 1a. the forwarder's work, MLflow loaded, against the baseline upload of the same folder
        c = tracking.client(ws.tracking_uri)
        c.search_experiments(max_results=1)
        base = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            c.log_artifacts(job.run_id, str(job.output_dir), "bench-baseline")
            base.append(time.perf_counter() - t)
        reg = []
        for i in range(a.repeats):
            with ws.write() as conn:  # each round registers anew (register_job is idempotent per job)
                conn.execute("DELETE FROM model_versions WHERE job_id = ?", (job.id,))
            t = time.perf_counter()
            registry.register_job(ws, job.id, {**registry.register_payload(job.record.spec | {"register_as": "bench"}),
                                               "name": f"bench-{i}"})
            reg.append(time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(20):
            registry.register_payload(job.record.spec)
        payload_ms = (time.perf_counter() - t) / 20 * 1000
        # 1b. a job registered the normal way: from its success to its version in the index
        deadline = time.time() + 120
        while auto.registration["state"] == "pending" and time.time() < deadline:
            time.sleep(0.1)
        row = ws.conn.execute("SELECT created_at FROM model_versions WHERE job_id = ?", (auto.id,)).fetchone()
        e2e = row["created_at"] - auto.record.finished_at if row else float("nan")
        rm, bm = statistics.median(reg), statistics.median(base)
        print(f"registration (forwarder, median of {a.repeats}): {rm:.3f} s; baseline log_artifacts of the same "
              f"folder {bm:.3f} s; ratio {rm / bm:.2f}x")
        print(f"job process share (building the register event): {payload_ms:.2f} ms")
        print(f"job success -> registered version (forwarder poll included): {e2e:.2f} s  "
              f"[target <= 2 s added to a job's end: {'met' if rm <= 2 else 'NOT met'}]")

        # 2. lineage with many versions indexed
        rec = jobstore.get(ws, job.id)
        spec, now = rec.spec, time.time()
        mv0 = registry.resolve(ws, f"bench-{a.repeats - 1}")
        n = a.versions
        t = time.perf_counter()
        with ws.write() as conn:
            for i in range(n):
                jid = f"dpo-bench-{i:05d}"
                ds = spec["dataset"] if i % 20 == 0 else f"other{i % 7}@{i:012x}"
                conn.execute("INSERT INTO jobs (id, kind, technique, name, state, device, spec, submitted, created_at,"
                             " max_attempts, attempt, finished_at) VALUES (?, 'train', 'dpo', NULL, 'succeeded', 'cpu',"
                             " ?, ?, ?, 3, 1, ?)", (jid, json.dumps({**spec, "dataset": ds}), json.dumps({}), now, now))
                conn.execute(
                    "INSERT INTO model_versions (name, version, kind, base_model, base_revision, technique, job_id,"
                    " run_id, dataset, path, source, model_id, tracking_uri, tags, metrics, created_at) VALUES"
                    " (?, ?, 'adapter', ?, NULL, 'dpo', ?, NULL, ?, ?, ?, NULL, ?, ?, ?, ?)",
                    (f"many-{i // 100}", i % 100 + 1, spec["model"], jid, ds, mv0.path, mv0.source, ws.tracking_uri,
                     json.dumps(mv0.tags), json.dumps(mv0.metrics), now))
                conn.execute("INSERT INTO model_links (ref, kind, target, at) VALUES (?, 'evaluation', ?, ?)",
                             (f"many-{i // 100}@{i % 100 + 1}", auto.id, now))
        fill = time.perf_counter() - t
        total = ws.conn.execute("SELECT COUNT(*) FROM model_versions").fetchone()[0]
        one = median_ms(lambda: ft.lineage("many-5@50", ws=ws).to_dict())
        fwd = median_ms(lambda: ft.lineage(dataset=spec["dataset"], ws=ws).to_dict())
        listing = median_ms(lambda: registry.list_models(ws), 5)
        mlflow_q = median_ms(lambda: c.search_model_versions(f"name = '{mv0.name}'"), 10)
        fwd_nodes = len(ft.lineage(dataset=spec["dataset"], ws=ws).nodes)
        print(f"{total} versions indexed ({fill:.2f} s to fill)")
        print(f"ft.lineage(one version): {one:.1f} ms; forward from a dataset used by {n // 20 + 1} jobs "
              f"({fwd_nodes} nodes): {fwd:.1f} ms; list_models: {listing:.1f} ms; baseline one MLflow "
              f"search_model_versions: {mlflow_q:.1f} ms (lineage/one query {one / mlflow_q:.2f}x)  "
              f"[target < 200 ms: {'met' if one < 200 else 'NOT met'}]")
    finally:
        stop_scheduler(ws, kill_jobs=True)


if __name__ == "__main__":
    main()
