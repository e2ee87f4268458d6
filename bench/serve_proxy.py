"""Overhead of the Jupyter proxy against the endpoint's direct port: the same load, in the same run, alternating.

    python bench/serve_proxy.py [--requests 64] [--concurrency 64] [--max-tokens 32] [--repeats 3]

Builds the tiny model and two LoRA adapters (PEFT, offline), deploys them with `ft.deploy` (a real detached server
process), starts a real `jupyter server` with the jupyter_ft extension, then sends the same burst of streamed chat
requests (spread over the base and the adapters) with the official `openai` client, once to the direct port
(`Endpoint.url` + its API key) and once through `<jupyter>/jupyter-ft/endpoints/NAME/v1` (Jupyter's token),
alternating for `--repeats` rounds. Prints p50/p95 time to first token, total completion tokens/s, and the ratios
proxy / direct (target: tokens/s ratio close to 1, TTFT overhead a few ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOKEN = "bench-proxy-token"


def make_adapter(base: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    model.save_pretrained(out)
    return out


def start_jupyter(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp / "jupyter-config"
    cfg.mkdir()
    (cfg / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {
        "jpserver_extensions": {"jupyter_ft": True, "jupyterlab": False, "jupyter_lsp": False, "notebook_shim": False,
                                "jupyter_server_terminals": False},
        "ip": "127.0.0.1", "port": port, "port_retries": 0, "open_browser": False, "allow_root": True,
        "root_dir": str(tmp)}, "IdentityProvider": {"token": TOKEN}}))
    log = open(tmp / "jupyter.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_server"], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, cwd=tmp,
                            env=dict(env, JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_RUNTIME_DIR=str(cfg / "rt")))
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/status",
                                                          headers={"Authorization": f"token {TOKEN}"}), timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"jupyter server did not start; see {tmp / 'jupyter.log'}")


async def burst(base_url: str, key: str, models: list[str], n: int, concurrency: int, max_tokens: int) -> dict:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=600)
    gate = asyncio.Semaphore(concurrency)
    ttft, tokens = [], 0

    async def one(i: int) -> None:
        nonlocal tokens
        async with gate:
            t0 = time.perf_counter()
            stream = await client.chat.completions.create(
                model=models[i % len(models)], messages=[{"role": "user", "content": f"Question {i}: how are you?"}],
                max_tokens=max_tokens, temperature=0, stream=True, stream_options={"include_usage": True})
            first = None
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - t0
                if chunk.usage:
                    tokens += chunk.usage.completion_tokens
            ttft.append(first if first is not None else time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    await client.close()
    ttft.sort()
    return {"p50_ttft_ms": 1000 * statistics.median(ttft), "p95_ttft_ms": 1000 * ttft[int(0.95 * (len(ttft) - 1))],
            "tokens_per_s": tokens / wall, "wall_s": wall, "tokens": tokens}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-proxy-"))
    os.environ["JUPYTER_FT_HOME"] = str(tmp / "workspace")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import jupyter_ft as ft
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    base = ft.make_tiny_model(tmp / "tiny")
    adapters = [str(make_adapter(base, tmp / f"adapter{i}", i)) for i in range(2)]
    ep = ft.deploy(adapters=adapters, name="bench", quiet=True, max_batch_size=32, timeout=600)
    jupyter, jurl = start_jupyter(tmp, dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        models = ep.models
        direct_url, proxy_url = ep.url, f"{jurl}/jupyter-ft/endpoints/{ep.name}/v1"
        asyncio.run(burst(direct_url, ep.api_key, models, 8, 8, 4))  # warm-up both paths
        asyncio.run(burst(proxy_url, TOKEN, models, 8, 8, 4))
        runs: dict[str, list[dict]] = {"direct": [], "proxy": []}
        for r in range(a.repeats):
            order = [("direct", direct_url, ep.api_key), ("proxy", proxy_url, TOKEN)]
            for name, url, key in (order if r % 2 == 0 else order[::-1]):
                res = asyncio.run(burst(url, key, models, a.requests, a.concurrency, a.max_tokens))
                runs[name].append(res)
                print(f"round {r + 1} {name:<6} p50 TTFT {res['p50_ttft_ms']:7.1f} ms  p95 {res['p95_ttft_ms']:7.1f} ms"
                      f"  {res['tokens_per_s']:7.1f} tokens/s  ({res['tokens']} tokens in {res['wall_s']:.2f} s)",
                      flush=True)
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
        d, p = med["direct"], med["proxy"]
        print(f"\n{a.requests} streamed requests, {a.concurrency} at a time, over {len(models)} models "
              f"({', '.join(Path(m).name for m in models)}), {a.max_tokens} tokens each; median of {a.repeats}:")
        print(f"  direct: p50 TTFT {d['p50_ttft_ms']:.1f} ms, p95 {d['p95_ttft_ms']:.1f} ms, {d['tokens_per_s']:.1f} tokens/s")
        print(f"  proxy : p50 TTFT {p['p50_ttft_ms']:.1f} ms, p95 {p['p95_ttft_ms']:.1f} ms, {p['tokens_per_s']:.1f} tokens/s")
        print(f"  proxy/direct: tokens/s {p['tokens_per_s'] / d['tokens_per_s']:.3f}x, p50 TTFT "
              f"{p['p50_ttft_ms'] / d['p50_ttft_ms']:.3f}x (+{p['p50_ttft_ms'] - d['p50_ttft_ms']:.1f} ms), p95 TTFT "
              f"{p['p95_ttft_ms'] / d['p95_ttft_ms']:.3f}x")
    finally:
        jupyter.terminate()
        jupyter.wait(30)
        ep.stop()
        stop_scheduler(ep.ws)
    return 0


if __name__ == "__main__":
    sys.exit(main())
