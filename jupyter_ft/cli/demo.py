"""`jupyter-ft demo`: the whole pipeline offline in about a minute on a laptop CPU.

Builds a tiny Llama model, writes a small chat dataset, runs an SFT job with LoRA through the job system,
then prints the MLflow run, the adapter path and the base model's answer beside the tuned model's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.datasets import demo_data

PROMPT = "What is the capital of France?"


def run_demo(folder: Path, steps: int = 200, root: str | None = None) -> int:
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    ws = api.workspace(root)
    print(f"workspace: {ws.root}")

    model_dir = folder / "tiny-llama"
    if not (model_dir / "config.json").is_file():
        from jupyter_ft.training.tiny_model import make_tiny_model

        t = time.time()
        make_tiny_model(model_dir)
        print(f"built tiny model in {time.time() - t:.1f}s: {model_dir}")
    data = folder / "capitals.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_data.sft_rows(64)))
    print(f"dataset: {data} (64 chat rows)")

    job = api.submit(
        {"name": "demo-sft", "model": str(model_dir), "dataset": str(data), "technique": "sft", "lora": True,
         "max_steps": steps, "learning_rate": 5e-3, "logging_steps": 20, "tracking": {"experiment": "jupyter_ft-demo"}},
        ws,
    )
    print(f"submitted job {job.id} (MLflow run {job.run_id}); it runs detached: Ctrl-C here does not stop it")
    last = -1
    while not (rec := job.record).done:
        if rec.step != last and rec.total_steps:
            loss = next((m.get("loss") for m in reversed(job.metrics()) if "loss" in m), None)
            print(f"  {rec.state}: step {rec.step}/{rec.total_steps}" + (f"  loss {loss:.3f}" if loss else ""), flush=True)
            last = rec.step
        time.sleep(1.0)
    if rec.state != "succeeded":
        print(f"job {job.id} {rec.state}: {rec.error}\n--- log tail ---\n{job.logs(tail=30)}")
        return 1
    losses = [m["loss"] for m in job.metrics() if "loss" in m]
    print(f"job {job.id} succeeded: loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    print(f"MLflow: run {rec.mlflow_run_id} in experiment {rec.mlflow_experiment_id} at {rec.tracking_uri}")
    print(f"        browse with: mlflow ui --backend-store-uri {rec.tracking_uri}")
    print(f"adapter: {job.output_dir}")

    from jupyter_ft.serve.engine import Engine

    engine = Engine(str(model_dir), adapters={"tuned": str(job.output_dir)})
    base = engine.generate(PROMPT, "base", max_new_tokens=24)["text"]
    tuned = engine.generate(PROMPT, "tuned", max_new_tokens=24)["text"]
    width = max(len(base), len(tuned), 20)
    print(f"\nprompt: {PROMPT}")
    print(f"  base : {base[:width]!r}")
    print(f"  tuned: {tuned[:width]!r}")
    return 0
