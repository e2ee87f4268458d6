"""Resident memory of the Jupyter server (its whole process tree) while a 1 GB dataset upload streams in.

    python bench/upload_memory.py [--mb 1024] [--baseline-src /work/main --baseline-mb 200]

The upload is multipart/form-data whose file part is `--mb` MiB of bytes that are not a parquet file, so once the
body is on disk the import stops at its first check (the cost measured is the upload's, not a 1 GB import).
With `--baseline-src`, the same is measured in the same run against another source tree (e.g. main before the
upload streamed), with a smaller body, since a buffering server holds it all in memory. Target: growth <= 100 MB.
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
import threading
import time
import uuid
from pathlib import Path

from rest_server import jupyter_server

HERE = Path(__file__).resolve().parent.parent


def upload(server, mib: int) -> tuple[int, int, float]:
    """(status, peak RSS growth in bytes, seconds) for one streamed multipart upload of `mib` MiB."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"technique\"\r\n\r\nsft\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.parquet\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    chunk = (b"not parquet " * 87382)[: 1 << 20]
    before, peak, done = server.rss(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], server.rss())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    conn.putrequest("POST", "/jupyter-ft/api/datasets")
    conn.putheader("Authorization", f"token {server.token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + mib * len(chunk) + len(tail)))
    conn.endheaders()
    conn.send(head)
    for _ in range(mib):
        conn.send(chunk)
    conn.send(tail)
    resp = conn.getresponse()
    resp.read()
    elapsed = time.time() - t0
    time.sleep(0.3)
    done.set()
    sampler.join()
    conn.close()
    return resp.status, max(0, peak[0] - before), elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--baseline-src", type=Path, default=None)
    ap.add_argument("--baseline-mb", type=int, default=200)
    a = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        runs = [("jupyter_ft (this tree)", HERE, a.mb)]
        if a.baseline_src:
            runs.append((f"baseline ({a.baseline_src})", a.baseline_src, a.baseline_mb))
        for i, (label, src, mib) in enumerate(runs):
            root = Path(tmp) / f"ws{i}" / "workspace"
            root.parent.mkdir(parents=True)
            with jupyter_server(src, root) as server:
                upload(server, 1)  # warm up: imports and first-request allocations are not the upload's
                status, growth, secs = upload(server, mib)
            results[label] = (mib, growth)
            print(f"{label}: {mib} MiB upload -> HTTP {status} in {secs:.1f} s; server RSS grew {growth / 2**20:.1f} MiB "
                  f"({growth / (mib * 2**20) * 100:.2f}% of the body)", flush=True)
    mine = results[runs[0][0]]
    print(f"target: growth <= 100 MB for a 1 GB upload: {'met' if mine[1] <= 100e6 else 'NOT met'}")
    if a.baseline_src:
        base = results[runs[1][0]]
        per_mib = lambda r: r[1] / r[0]  # noqa: E731
        print(f"growth per MiB uploaded: {per_mib(mine) / 2**10:.1f} KiB vs baseline {per_mib(base) / 2**10:.1f} KiB "
              f"(ratio {per_mib(mine) / max(per_mib(base), 1):.3f})")


if __name__ == "__main__":
    main()
