"""How long a path dataset takes to reach a job, and what re-submitting an unchanged file costs.

1. submit -> first optimizer step for an SFT job whose `dataset` is a JSONL path (median of --repeats; each
   repeat writes a fresh file so nothing is cached), and the time of the `submit` call itself;
2. with --big-mb N: the `submit` call for an unchanged N MB file, first time (imported into the catalog) and again
   (the version found by file identity: path, size, mtime), as a ratio.

Runs against whichever jupyter_ft is first on PYTHONPATH, so the same script measures two trees:

    PYTHONPATH=/path/to/tree python bench/submit_first_step.py [--rows 2000] [--repeats 3] [--big-mb 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def demo_rows():
    try:
        from jupyter_ft.core.datasets import demo_data
    except ImportError:  # main before the dataset package
        from jupyter_ft.core import demo_data
    return demo_data


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def first_step(ws, model: Path, data: Path, steps: int) -> tuple[float, float]:
    import jupyter_ft as ft
    from jupyter_ft.core.jobs import store as jobstore

    t0 = time.time()
    job = ft.submit({"model": str(model), "dataset": str(data), "technique": "sft", "max_steps": steps,
                     "batch_size": 8, "grad_accum": 1, "max_length": 256, "logging_steps": 1}, ws)
    submit_s = time.time() - t0
    job.wait(timeout=900, raise_on_failure=True)
    first = next(e for e in jobstore.events(ws, job.id, "tag") if "jupyter_ft.first_step_at" in e)
    return submit_s, first["jupyter_ft.first_step_at"] - t0


def resubmit(ws, model: Path, tmp: Path, mb: int) -> None:
    import jupyter_ft as ft

    chunk = "".join(json.dumps({"messages": r["prompt"] + r["chosen"]}) + "\n"
                    for r in demo_rows().preference_rows(4000, seed=1)).encode()
    big = tmp / "big.jsonl"
    with big.open("wb") as fh:
        for _ in range((mb << 20) // len(chunk) + 1):
            fh.write(chunk)
    spec = {"model": str(model), "dataset": str(big), "technique": "sft", "max_steps": 1}
    times = []
    for _ in range(3):
        t = time.perf_counter()
        job = ft.submit(spec, ws)
        times.append(time.perf_counter() - t)
        job.cancel()
    print(f"{big.stat().st_size >> 20} MB JSONL: submit #1 {times[0]:.2f} s (imports it), then "
          f"{times[1]:.3f} s and {times[2]:.3f} s (unchanged file); ratio {times[0] / min(times[1:]):.0f}x")
    print(f"stored dataset: {job.spec.dataset}")
    try:  # the dataset door's own share of a re-submission: the file-identity lookup
        from jupyter_ft.core.datasets import door
    except ImportError:
        return
    t = time.perf_counter()
    for _ in range(10):
        door.pin(ws, str(big), "sft")
    print(f"dataset door for the unchanged file: {(time.perf_counter() - t) * 100:.2f} ms per submission")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--big-mb", type=int, default=0)
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jft-bench-submit-"))
    os.environ["JUPYTER_FT_HOME"] = str(tmp / "workspace")
    import jupyter_ft as ft
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    print(f"jupyter_ft from {Path(ft.__file__).parent}")
    model = ft.make_tiny_model(tmp / "tiny")
    ws = ft.workspace(tmp / "workspace")
    import mlflow  # noqa: F401  (loaded in a kernel that has submitted once)

    rows = [{"messages": r["prompt"] + r["chosen"]} for r in demo_rows().preference_rows(a.rows)]
    try:
        if a.repeats:
            runs = []
            for i in range(a.repeats):
                data = write(tmp / f"chat{i}.jsonl", rows[i:] + rows[:i])  # new content each time: no cache
                runs.append(first_step(ws, model, data, a.steps))
                print(f"  run {i + 1}: submit call {runs[-1][0]:.2f} s, first step after {runs[-1][1]:.2f} s", flush=True)
            print(f"path dataset ({a.rows} chat rows), median of {a.repeats}: submit call "
                  f"{statistics.median(r[0] for r in runs):.2f} s, submit -> first step "
                  f"{statistics.median(r[1] for r in runs):.2f} s")
        if a.big_mb:
            resubmit(ws, model, tmp, a.big_mb)
    finally:
        stop_scheduler(ws, kill_jobs=True)


if __name__ == "__main__":
    main()
