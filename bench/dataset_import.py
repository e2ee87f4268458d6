"""Catalog import + validation of a JSONL file vs a plain `datasets.load_dataset("json")`.

Both read the same file in the same process, alternating order, each into a fresh cache/workspace (so neither
reuses earlier work); after one untimed warm-up of each, the median of --repeats runs is compared. Target: the
catalog import (read, detect, convert, check every row, hash, split, write the version) takes at most 1.5x the
time of the plain load.

    python bench/dataset_import.py [--rows 200000] [--repeats 5] [--kind sft|preference] [--big-mb 1024]

--big-mb N also imports an N MB JSONL in a child process and reports its time and how much the process grew
(peak RSS over the baseline), to show that memory stays bounded whatever the file size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path


def write_rows(path: Path, n: int, kind: str) -> None:
    from jupyter_ft.core.datasets import demo_data

    base = demo_data.preference_rows(min(n, 50_000), seed=0)
    with path.open("w") as fh:
        for i in range(n):
            r = base[i % len(base)]
            row = {"messages": r["prompt"] + r["chosen"]} if kind == "sft" else r
            fh.write(json.dumps({**row, "id": i}) + "\n")


def plain_load(path: Path, tmp: Path) -> float:
    import datasets

    cache = Path(tempfile.mkdtemp(dir=tmp))
    t = time.perf_counter()
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))
    n = ds.num_rows
    dt = time.perf_counter() - t
    del ds
    shutil.rmtree(cache, ignore_errors=True)
    assert n > 0
    return dt


def catalog_add(path: Path, tmp: Path, kind: str) -> float:
    from jupyter_ft.core.datasets import catalog
    from jupyter_ft.core.workspace import Workspace

    ws = Workspace(Path(tempfile.mkdtemp(dir=tmp)))
    t = time.perf_counter()
    v = catalog.add(ws, path, "bench", kind)
    dt = time.perf_counter() - t
    assert v.num_rows > 0
    shutil.rmtree(ws.root, ignore_errors=True)
    return dt


BIG_PROBE = textwrap.dedent("""
    import re, sys, time
    from jupyter_ft.core.workspace import Workspace
    from jupyter_ft.core.datasets import catalog
    ws = Workspace(sys.argv[2])
    catalog.add(ws, [{"text": "warm up"}], "warm", "sft")
    def peak_kb():  # this process's own high-water mark (ru_maxrss would start at the parent's size)
        return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
    base = peak_kb()
    t = time.perf_counter()
    v = catalog.add(ws, sys.argv[1], "big", "sft")
    dt = time.perf_counter() - t
    peak = peak_kb()
    print(v.num_rows, round(dt, 2), (peak - base) // 1024, peak // 1024)
""")


def big_file(tmp: Path, mb: int) -> None:
    from jupyter_ft.core.datasets import demo_data

    rows = demo_data.preference_rows(4000, seed=1)
    chunk = "".join(json.dumps({"messages": r["prompt"] + r["chosen"]}) + "\n" for r in rows).encode()
    path = tmp / "big.jsonl"
    with path.open("wb") as fh:
        for _ in range((mb << 20) // len(chunk) + 1):
            fh.write(chunk)
    size = path.stat().st_size >> 20
    out = subprocess.run([sys.executable, "-c", BIG_PROBE, str(path), str(tmp / "big-ws")], capture_output=True,
                         text=True, check=True)
    rows_n, secs, grew, peak = out.stdout.split()
    print(f"\n{size} MB JSONL ({int(rows_n):,} rows): imported in {float(secs):.1f} s, {size / float(secs):.0f} MB/s; "
          f"process grew by {grew} MB (peak RSS {peak} MB)")
    path.unlink()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--kind", choices=["sft", "preference"], default="sft")
    ap.add_argument("--big-mb", type=int, default=0)
    a = ap.parse_args()

    import datasets

    datasets.disable_progress_bars()
    tmp = Path(tempfile.mkdtemp(prefix="jft-bench-data-"))
    try:
        path = tmp / "rows.jsonl"
        write_rows(path, a.rows, a.kind)
        print(f"{a.rows:,} {a.kind} rows, {path.stat().st_size / 1e6:.0f} MB JSONL; median of {a.repeats}, alternating")
        plain_load(path, tmp), catalog_add(path, tmp, a.kind)  # warm-up: imports, kernels, page cache
        plain, ours = [], []
        for i in range(a.repeats):
            order = ("plain", "ours") if i % 2 == 0 else ("ours", "plain")
            for which in order:
                if which == "plain":
                    plain.append(plain_load(path, tmp))
                else:
                    ours.append(catalog_add(path, tmp, a.kind))
            print(f"  run {i + 1}: load_dataset {plain[-1]:.2f} s   catalog add {ours[-1]:.2f} s", flush=True)
        p, o = statistics.median(plain), statistics.median(ours)
        print(f"\n{'datasets.load_dataset(json)':34}{p:8.2f} s")
        print(f"{'catalog add (import + validation)':34}{o:8.2f} s")
        print(f"ratio catalog / load_dataset = {o / p:.2f}   (target <= 1.5)")
        if a.big_mb:
            big_file(tmp, a.big_mb)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
