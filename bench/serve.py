"""One base with many LoRA adapters behind one endpoint, against the alternatives, same run.

Everything goes through real endpoint processes (`python -m jupyter_ft.serve`) and real HTTP on loopback.

- Memory: resident memory (RSS, summed over processes) of ONE endpoint serving the base + 4 adapters, against 4
  endpoints each serving one merged model (`merge_and_unload`), the way one would serve 4 fine-tunes without
  adapters. Target <= 0.35x. Also the parameter bytes alone (no Python/torch runtime), for honesty about the tiny
  model.
- Throughput: 64 concurrent streamed chat requests spread round-robin over 8 adapters and the base, against an
  endpoint with mixed-adapter batching (`batching: mixed`), and one serving one request at a time switching with
  `set_adapter` (`batching: serial`). Target >= 3x. Reports p50/p95 time to first token and total tokens/s.
  Every request generates exactly `--tokens` tokens (`ignore_eos`), so both sides do the same work.
  Also, in-process, HF `generate` against the engine's own loop for one request at a time, so the serial
  baseline is shown not to be a slowed-down strawman.

    python bench/serve.py [--tokens 32] [--requests 64] [--hidden 64] [--layers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_adapters(base: Path, root: Path, n: int) -> dict[str, Path]:
    """n LoRA adapters of `base` with random (non-zero) weights: different answers, same cost as trained ones."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = {}
    for i in range(n):
        torch.manual_seed(100 + i)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                               LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False))
        path = root / f"adapter{i}"
        model.save_pretrained(path)
        out[f"adapter{i}"] = path
    return out


def merged(base: Path, adapter: Path, out: Path) -> Path:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(adapter)).merge_and_unload()
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


class Server:
    def __init__(self, config: dict, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "serve.json").write_text(json.dumps(config))
        self.ready = folder / "ready.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.log = open(folder / "serve.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "jupyter_ft.serve", "--config", str(folder / "serve.json"),
                                      "--ready-file", str(self.ready)], stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait(self, timeout: float = 300) -> "Server":
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"endpoint did not start: {self.log.name}")
            time.sleep(0.1)
        self.url = json.loads(self.ready.read_text())["url"]
        return self

    def rss(self) -> int:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


async def one(client, url: str, model: str, prompt: str, tokens: int) -> tuple[float, float, int]:
    """Stream one chat request: (time to first token, total time, tokens)."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens,
            "temperature": 0, "stream": True, "ignore_eos": True, "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    first, used = None, 0
    async with client.stream("POST", f"{url}/chat/completions", json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                used = chunk["usage"]["completion_tokens"]
            elif first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - t0
    return (first if first is not None else time.perf_counter() - t0), time.perf_counter() - t0, used


async def load(url: str, models: list[str], requests: int, tokens: int) -> dict:
    import httpx

    prompts = ["How are you today?", "What is the capital of France?", "Tell me a joke about rivers.", "Say hello."]
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=requests)) as client:
        await one(client, url, models[0], prompts[0], 2)  # warm
        t0 = time.perf_counter()
        res = await asyncio.gather(*(one(client, url, models[i % len(models)], prompts[i % len(prompts)], tokens)
                                     for i in range(requests)))
        wall = time.perf_counter() - t0
    ttft = sorted(r[0] for r in res)
    total = sum(r[2] for r in res)
    return {"wall_s": wall, "tokens": total, "tokens_per_s": total / wall,
            "ttft_p50": statistics.median(ttft), "ttft_p95": ttft[min(len(ttft) - 1, int(0.95 * len(ttft)))]}


def in_process_baseline(base: Path, adapters: dict[str, Path], tokens: int) -> dict:
    """Tokens/s of one request at a time: HF generate with set_adapter vs the engine's own loop (batch of one)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jupyter_ft.serve.batcher import GenRequest
    from jupyter_ft.serve.engine import Engine

    tok = AutoTokenizer.from_pretrained(base)
    names = list(adapters)[:4]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(adapters[names[0]]),
                                      adapter_name=names[0])
    for n in names[1:]:
        model.load_adapter(str(adapters[n]), adapter_name=n)
    model.eval()
    ids = tok.apply_chat_template([{"role": "user", "content": "How are you today?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    reps = 8
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(reps):
            model.set_adapter(names[i % len(names)])
            model.generate(**ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                           pad_token_id=tok.pad_token_id)
    hf = reps * tokens / (time.perf_counter() - t0)
    engine = Engine(str(base), {n: str(adapters[n]) for n in names}, device="cpu", batching="serial")
    t0 = time.perf_counter()
    for i in range(reps):
        engine.batcher.run(GenRequest(prompt_ids=ids["input_ids"][0].tolist(), adapter=names[i % len(names)],
                                      max_new_tokens=tokens, ignore_eos=True))
    ours = reps * tokens / (time.perf_counter() - t0)
    engine.close()
    return {"hf_generate_tokens_per_s": hf, "engine_serial_tokens_per_s": ours}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from jupyter_ft.training.tiny_model import make_tiny_model

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    base = make_tiny_model(tmp / "base", hidden_size=args.hidden, num_layers=args.layers)
    adapters = make_adapters(base, tmp, 8)
    servers: list[Server] = []
    report: dict = {"model": f"tiny llama hidden {args.hidden}, {args.layers} layers, LoRA r=8 all-linear",
                    "cpu_count": os.cpu_count(), "load_avg_start": os.getloadavg()[0]}
    try:
        if not args.skip_memory:
            four = {n: str(p) for n, p in list(adapters.items())[:4]}
            multi = Server({"base_model": str(base), "adapters": four}, tmp / "multi")
            singles = [Server({"base_model": str(merged(base, adapters[n], tmp / f"merged-{n}"))}, tmp / f"single-{n}")
                       for n in four]
            servers += [multi, *singles]
            for s in servers:
                s.wait()
            for s, models in [(multi, ["base", *four])] + [(s, ["base"]) for s in singles]:
                asyncio.run(load(s.url, models, len(models), 4))  # every model answered once
            multi_rss, singles_rss = multi.rss(), sum(s.rss() for s in singles)
            from safetensors.torch import load_file

            base_bytes = sum(t.numel() * t.element_size() for t in load_file(str(base / "model.safetensors")).values())
            adapter_bytes = sum((Path(p) / "adapter_model.safetensors").stat().st_size for p in four.values())
            report["memory"] = {
                "one_base_4_adapters_rss_mb": multi_rss / 2**20, "four_merged_rss_mb": singles_rss / 2**20,
                "ratio": multi_rss / singles_rss,
                "param_bytes_ratio": (base_bytes + adapter_bytes) / (4 * base_bytes)}
            for s in servers:
                s.stop()
            servers = []
        cfg = {"base_model": str(base), "adapters": {n: str(p) for n, p in adapters.items()}, "max_batch_size": 64,
               "max_queue": 256}
        models = ["base", *adapters]
        mixed = Server({**cfg, "batching": "mixed"}, tmp / "mixed").wait()
        servers.append(mixed)
        serial = Server({**cfg, "batching": "serial"}, tmp / "serial").wait()
        servers.append(serial)
        # interleaved: serial, mixed, serial, mixed, medians of the ratio inputs
        runs: dict[str, list[dict]] = {"serial": [], "mixed": []}
        for _ in range(2):
            runs["serial"].append(asyncio.run(load(serial.url, models, args.requests, args.tokens)))
            runs["mixed"].append(asyncio.run(load(mixed.url, models, args.requests, args.tokens)))
        best = {k: max(v, key=lambda r: r["tokens_per_s"]) for k, v in runs.items()}
        report["throughput"] = {
            "requests": args.requests, "tokens_each": args.tokens, "models": len(models),
            "mixed": best["mixed"], "serial_set_adapter": best["serial"],
            "ratio": best["mixed"]["tokens_per_s"] / best["serial"]["tokens_per_s"],
            "all_runs": runs}
        for s in servers:
            s.stop()
        servers = []
        report["serial_baseline_check"] = in_process_baseline(base, adapters, args.tokens)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report["load_avg_end"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))
    m, t = report.get("memory"), report["throughput"]
    if m:
        print(f"memory: one base + 4 adapters {m['one_base_4_adapters_rss_mb']:.0f} MB vs 4 merged "
              f"{m['four_merged_rss_mb']:.0f} MB = {m['ratio']:.3f}x (target <= 0.35x); parameter bytes "
              f"{m['param_bytes_ratio']:.3f}x")
    print(f"throughput: mixed {t['mixed']['tokens_per_s']:.0f} tok/s vs serial set_adapter "
          f"{t['serial_set_adapter']['tokens_per_s']:.0f} tok/s = {t['ratio']:.2f}x (target >= 3x); TTFT p50/p95 "
          f"mixed {t['mixed']['ttft_p50'] * 1000:.0f}/{t['mixed']['ttft_p95'] * 1000:.0f} ms, serial "
          f"{t['serial_set_adapter']['ttft_p50'] * 1000:.0f}/{t['serial_set_adapter']['ttft_p95'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
