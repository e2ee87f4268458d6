"""DPO and GRPO through jupyter_ft's job system vs plain TRL scripts, same tiny model, data and
settings, one run. Prints samples/s for each (DPO: preference pairs; GRPO: completions) and their ratio (target
>= 0.95), and submit->first-step latency beside the plain script's process-start->first-step. Median of
--repeats runs per side, alternating which goes first; also the ratio within each back-to-back pair (its spread
shows how much of a difference is the machine's noise: on a shared 2-core machine single runs vary by +-15%).
Both sides do the same work: same seed, so the same generations and the same final reward (printed).

    python bench/techniques_overhead.py [--repeats 7] [--dpo-steps 60] [--grpo-steps 90]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def emits_e(completions, **row):
    """The GRPO reward both sides use (the job receives it as shipped source, like a notebook function)."""
    return [c.count("e") / 8 for c in completions]


def run_plain(kind: str, model: Path, data: Path, a) -> dict:
    if kind == "dpo":
        cmd = [str(HERE / "plain_trl_dpo.py"), "--steps", str(a.dpo_steps), "--batch", str(a.batch),
               "--max-length", str(a.max_length), "--lr", str(a.dpo_lr)]
    else:
        cmd = [str(HERE / "plain_trl_grpo.py"), "--steps", str(a.grpo_steps), "--batch", str(a.batch),
               "--generations", str(a.generations), "--completion-length", str(a.completion_length),
               "--lr", str(a.grpo_lr)]
    out = subprocess.run([sys.executable, *cmd, "--model", str(model), "--data", str(data)],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"plain TRL {kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_job(kind: str, ws, model: Path, data: Path, a) -> dict:
    import jupyter_ft as ft
    from jupyter_ft.core.jobs import store as jobstore

    spec = {"model": str(model), "dataset": str(data), "technique": kind, "batch_size": a.batch, "grad_accum": 1,
            "logging_steps": 10, "lora": {"r": 8, "alpha": 16}}
    if kind == "dpo":
        spec.update(max_steps=a.dpo_steps, max_length=a.max_length, learning_rate=a.dpo_lr, dpo={"beta": 0.1})
        steps = a.dpo_steps
    else:
        spec.update(max_steps=a.grpo_steps, learning_rate=a.grpo_lr,
                    grpo={"rewards": [emits_e], "num_generations": a.generations,
                          "max_completion_length": a.completion_length, "beta": 0.04})
        steps = a.grpo_steps
    t0 = time.time()
    job = ft.submit(spec, ws)
    submit_s = time.time() - t0
    job.wait(timeout=1800, raise_on_failure=True)
    first = next(e for e in jobstore.events(ws, job.id, "tag") if "jupyter_ft.first_step_at" in e)
    metrics = job.metrics()
    runtime = [m["train_runtime"] for m in metrics if "train_runtime" in m][-1]
    last = {"dpo": "rewards/margins", "grpo": "reward"}[kind]
    return {"samples": steps * a.batch, "train_runtime": runtime, "samples_per_s": steps * a.batch / runtime,
            "submit_s": submit_s, "submit_to_first_step_s": first["jupyter_ft.first_step_at"] - t0,
            "final": [m[last] for m in metrics if last in m][-1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--only", choices=["dpo", "grpo"], default=None)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--dpo-steps", type=int, default=60)
    ap.add_argument("--dpo-rows", type=int, default=2000)
    ap.add_argument("--dpo-lr", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--grpo-steps", type=int, default=90)
    ap.add_argument("--grpo-rows", type=int, default=512)
    ap.add_argument("--grpo-lr", type=float, default=1e-5)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--completion-length", type=int, default=32)
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jft-bench-tech-"))
    os.environ["JUPYTER_FT_HOME"] = str(tmp / "workspace")
    import jupyter_ft as ft
    from jupyter_ft.core.datasets import demo_data
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    model = ft.make_tiny_model(tmp / "tiny")
    pairs = tmp / "human_like.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in demo_data.preference_rows(a.dpo_rows)))
    prompts = tmp / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": r["prompt"]}) + "\n" for r in demo_data.preference_rows(a.grpo_rows)))
    ws = ft.workspace(tmp / "workspace")
    import mlflow  # noqa: F401  (a kernel that has submitted once has it loaded)

    results: dict[str, dict[str, list[dict]]] = {}
    kinds = [a.only] if a.only else ["dpo", "grpo"]
    try:
        for kind in kinds:
            data = pairs if kind == "dpo" else prompts
            plain, ours = [], []
            for i in range(a.repeats):
                for side in (("plain", "job") if i % 2 == 0 else ("job", "plain")):
                    r = run_plain(kind, model, data, a) if side == "plain" else run_job(kind, ws, model, data, a)
                    (plain if side == "plain" else ours).append(r)
                    lat = r.get("start_to_first_step_s", r.get("submit_to_first_step_s"))
                    print(f"  {kind} run {i + 1} {'plain TRL ' if side == 'plain' else 'jupyter_ft'}: "
                          f"{r['samples_per_s']:7.2f} samples/s  first step after {lat:.2f} s", flush=True)
            results[kind] = {"plain": plain, "ours": ours}
    finally:
        stop_scheduler(ws, kill_jobs=True)

    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    print(f"\ntiny Llama, LoRA r=8, batch {a.batch}, fp32 on CPU, median of {a.repeats} alternating runs")
    print(f"  DPO: {a.dpo_steps} steps on {a.dpo_rows} human-like pairs, max_length {a.max_length}, beta 0.1")
    print(f"  GRPO: {a.grpo_steps} steps, {a.generations} generations of <= {a.completion_length} tokens, beta 0.04, "
          "one shipped reward function")
    print(f"{'':18}{'plain samples/s':>16}{'ours samples/s':>16}{'ratio':>8}{'plain 1st step':>16}{'ours 1st step':>15}")
    for kind, r in results.items():
        p, o = med(r["plain"], "samples_per_s"), med(r["ours"], "samples_per_s")
        pl, ol = med(r["plain"], "start_to_first_step_s"), med(r["ours"], "submit_to_first_step_s")
        print(f"{kind.upper():18}{p:>16.2f}{o:>16.2f}{o / p:>8.3f}{pl:>15.2f}s{ol:>14.2f}s")
    for kind, r in results.items():
        pairs = sorted(o["samples_per_s"] / p["samples_per_s"] for p, o in zip(r["plain"], r["ours"]))
        finals = {round(x.get("final", x.get("final_reward", x.get("final_margin", 0.0))), 6) for x in r["plain"] + r["ours"]}
        print(f"{kind}: ratio within each back-to-back pair: median {statistics.median(pairs):.3f}, "
              f"range {pairs[0]:.3f}-{pairs[-1]:.3f}; final {'reward' if kind == 'grpo' else 'margin'} "
              f"{'identical on both sides' if len(finals) == 1 else 'differs: ' + str(sorted(finals))}")
    for kind, r in results.items():
        p, o = med(r["plain"], "samples_per_s"), med(r["ours"], "samples_per_s")
        print(f"{kind}: throughput ratio jupyter_ft / plain = {o / p:.3f}   (target >= 0.95)")


if __name__ == "__main__":
    main()
