"""SFT training throughput against plain TRL and LLaMA-Factory, one invocation, same data.

Same tiny Llama model, the same generated chat rows (1-8 turns each), LoRA r=8 all-linear (dropout 0, PEFT's and
LLaMA-Factory's default), batch 8, max length 512, fp32, no gradient checkpointing, loss on assistant turns:

- plain TRL 1.16 `SFTTrainer` (the script a user would write: bench/plain_trl_sft.py)
- jupyter_ft default (a real job: submit -> scheduler -> job process; the auto speed choices of its device)
- jupyter_ft with `sft.packing: true`
- LLaMA-Factory without and with packing, when given the Python of an environment with `llamafactory`
  (`--lf-python PATH` or LLAMAFACTORY_PYTHON; `bash bench/setup_llamafactory.sh DIR` makes one and prints the path)

Runs are interleaved (A, B, C, A, B, C, ...) so machine noise hits all alike; the table shows medians. tokens/s =
non-padding tokens fed to training / train runtime. Also: whole-process wall time and time to the first optimizer
step (jupyter_ft: from the submit call; scripts: from process start).

    python bench/throughput.py [--repeats 3] [--steps 60] [--rows 2000] [--only plain,ours,ours_packed,lf,lf_packed]
                               [--lf-python DIR/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LF_ENV = "LLAMAFACTORY_PYTHON"


def chat_rows(n: int, seed: int = 0) -> list[dict]:
    """`n` conversations of 1-8 turns drawn from the demo's warm answers (mean ~165 tokens with the tiny tokenizer)."""
    from jupyter_ft.core.datasets import demo_data

    rng = random.Random(seed)
    pairs = demo_data.preference_rows(400, seed=seed)
    rows = []
    for _ in range(n):
        msgs: list[dict] = []
        for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 6, 8])):
            r = pairs[rng.randrange(len(pairs))]
            msgs += r["prompt"] + r["chosen"]
        rows.append({"messages": msgs})
    return rows


def _script(cmd: list[str], what: str) -> dict:
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{what} failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["wall_s"] = time.time() - t0
    r["first_step_s"] = r.pop("start_to_first_step_s")
    return r


def run_plain(ctx, a) -> dict:
    return _script([sys.executable, str(HERE / "plain_trl_sft.py"), "--model", str(ctx["model"]),
                    "--data", str(ctx["data"]), "--steps", str(a.steps), "--batch", str(a.batch),
                    "--max-length", str(a.max_length), "--lora-dropout", "0", "--out", str(ctx["tmp"] / "plain")],
                   "plain TRL")


def _lf(ctx, a, packing: bool) -> dict:
    cmd = [ctx["lf"], str(HERE / "lf_sft_run.py"), "--model", str(ctx["model"]), "--data", str(ctx["data"]),
           "--steps", str(a.steps), "--batch", str(a.batch), "--max-length", str(a.max_length)]
    return _script(cmd + (["--packing"] if packing else []), "LLaMA-Factory")


def _job(ctx, a, extra: dict) -> dict:
    import jupyter_ft as ft
    from jupyter_ft.core.jobs import store as jobstore

    ws = ctx["ws"]
    t0 = time.time()
    job = ft.submit({"model": str(ctx["model"]), "dataset": str(ctx["data"]), "technique": "sft",
                     "max_steps": a.steps, "batch_size": a.batch, "grad_accum": 1, "max_length": a.max_length,
                     "logging_steps": 10, "lora": {"r": 8, "alpha": 16}, **extra}, ws)
    job.wait(timeout=1800, poll=0.2, raise_on_failure=True)
    wall = time.time() - t0
    first = next(e for e in jobstore.events(ws, job.id, "tag") if "jupyter_ft.first_step_at" in e)
    metrics = job.metrics()
    tokens = [m["num_tokens"] for m in metrics if "num_tokens" in m][-1]
    runtime = [m["train_runtime"] for m in metrics if "train_runtime" in m][-1]
    ctx.setdefault("specs", {})[json.dumps(extra)] = job.spec
    return {"tokens": tokens, "train_runtime": runtime, "tokens_per_s": tokens / runtime, "wall_s": wall,
            "first_step_s": first["jupyter_ft.first_step_at"] - t0}


RUNS = {
    "plain": ("plain TRL SFTTrainer", run_plain),
    "ours": ("jupyter_ft default", lambda ctx, a: _job(ctx, a, {})),
    "ours_packed": ("jupyter_ft packing", lambda ctx, a: _job(ctx, a, {"sft": {"packing": True}})),
    "lf": ("LLaMA-Factory", lambda ctx, a: _lf(ctx, a, False)),
    "lf_packed": ("LLaMA-Factory packing", lambda ctx, a: _lf(ctx, a, True)),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default=",".join(RUNS))
    ap.add_argument("--lf-python", default=os.environ.get(LF_ENV) or None, metavar="PATH",
                    help=f"the Python of an environment with llamafactory (default: ${LF_ENV}); "
                         "bench/setup_llamafactory.sh makes one")
    a = ap.parse_args()
    names = [n for n in a.only.split(",") if n in RUNS]
    lf = a.lf_python
    if any(n.startswith("lf") for n in names):
        if not lf:
            print(f"LLaMA-Factory: no environment given (pass --lf-python PATH or set {LF_ENV}; "
                  "`bash bench/setup_llamafactory.sh DIR` makes one and prints the path); its runs are skipped")
            names = [n for n in names if not n.startswith("lf")]
        else:
            try:
                check = subprocess.run([lf, "-c", "import llamafactory"], capture_output=True, text=True)
            except OSError as exc:
                ap.error(f"--lf-python / {LF_ENV}: cannot run {lf}: {exc.strerror}")
            if check.returncode != 0:
                ap.error(f"--lf-python / {LF_ENV}: {lf} cannot import llamafactory "
                         f"({(check.stderr.strip().splitlines() or ['?'])[-1]}); bench/setup_llamafactory.sh makes "
                         "an environment that can")
    if not names:
        ap.error(f"nothing to run (--only takes some of {','.join(RUNS)})")

    tmp = Path(tempfile.mkdtemp(prefix="jft-throughput-"))
    os.environ["JUPYTER_FT_HOME"] = str(tmp / "workspace")
    import jupyter_ft as ft
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    ctx: dict = {"tmp": tmp, "model": ft.make_tiny_model(tmp / "tiny"), "data": tmp / "chat.jsonl",
                 "ws": ft.workspace(tmp / "workspace")}
    ctx["data"].write_text("".join(json.dumps(r) + "\n" for r in chat_rows(a.rows)))
    if lf:
        ctx["lf"] = lf
    import mlflow  # noqa: F401  (a kernel that has submitted once has it loaded)

    results: dict[str, list[dict]] = {n: [] for n in names}
    try:
        for i in range(a.repeats):
            order = names[i % len(names):] + names[:i % len(names)]  # rotate who goes first
            for n in order:
                r = RUNS[n][1](ctx, a)
                results[n].append(r)
                print(f"  run {i + 1} {RUNS[n][0]:24} {r['tokens_per_s']:8.0f} tok/s  wall {r['wall_s']:6.1f} s  "
                      f"1st step {r['first_step_s']:5.1f} s", flush=True)
    finally:
        stop_scheduler(ctx["ws"], kill_jobs=True)

    med = {n: {k: statistics.median(r[k] for r in rs) for k in ("tokens_per_s", "wall_s", "first_step_s", "tokens")}
           for n, rs in results.items()}
    print(f"\nSFT, tiny Llama, LoRA r=8 all-linear, batch {a.batch}, max_length {a.max_length}, fp32, {a.steps} steps, "
          f"{a.rows} chat rows, median of {a.repeats}")
    head = f"| {'run':24} | {'tokens/s':>9} | {'wall s':>7} | {'1st step s':>10} |"
    refs = [n for n in ("plain", "lf", "lf_packed") if n in med]
    print(head + "".join(f" {'vs ' + n:>12} |" for n in refs))
    print("|" + "---|" * (4 + len(refs)))
    for n, m in med.items():
        cells = "".join(f" {m['tokens_per_s'] / med[r]['tokens_per_s']:>11.2f}x |" for r in refs)
        print(f"| {RUNS[n][0]:24} | {m['tokens_per_s']:>9.0f} | {m['wall_s']:>7.1f} | {m['first_step_s']:>10.1f} |{cells}")
    for key, spec in ctx.get("specs", {}).items():
        chosen = {k: v for k, v in spec.auto.items() if k in ("attention", "sft.packing", "sft.packing_strategy",
                                                               "sft.group_by_length", "sft.token_metrics")}
        print(f"\njupyter_ft {key}: " + "; ".join(f"{k} = {v}" for k, v in chosen.items()))
    if "ours" in med and "lf" in med:
        print(f"\ntarget: jupyter_ft default / LLaMA-Factory = {med['ours']['tokens_per_s'] / med['lf']['tokens_per_s']:.2f} (>= 1.0)")
    if "ours_packed" in med and "lf_packed" in med:
        print(f"target: jupyter_ft packing / LLaMA-Factory packing = "
              f"{med['ours_packed']['tokens_per_s'] / med['lf_packed']['tokens_per_s']:.2f} (>= 1.0)")


if __name__ == "__main__":
    main()
