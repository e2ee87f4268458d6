"""Multiple-choice scoring, jupyter_ft's log-likelihood scorer against lm-evaluation-harness
(`--model hf`), same local task, same model, same batch size, one run. Target: >= 1.0x questions/s with identical
accuracy.

Both sides get the model already in memory (lm-eval wraps the same `transformers` model through its `HFLM`, as
`--model hf` loads it) and lm-eval's task index is built before the clock starts, so each timing covers what a
scoring run does: read the questions, build and tokenize the (context, choice) requests, run the batched forward
passes and score. lm-eval's side is `simple_evaluate` on the task YAML; jupyter_ft's side is the evaluation job's
code path (`core.evaluate.mc_rows` to read the rows, `evaluation.multiple_choice` to score). Median of --repeats, alternating
order. Prints questions/s for each, the ratio, both accuracies, and the largest per-choice log-likelihood gap.

    python bench/eval_mc.py [--questions 400] [--batch 16] [--hidden 256 --layers 4] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import tempfile
import time
from pathlib import Path

TASK_YAML = """\
task: jft_bench_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""

CAPITALS = [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"), ("Japan", "Tokyo"),
            ("Egypt", "Cairo"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Canada", "Ottawa"), ("Norway", "Oslo")]


def questions(n: int, seed: int = 0) -> list[dict]:
    """A local multiple-choice set: arithmetic and capitals, 4 choices of varied length, shuffled answers."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2:
            a, b = rng.randint(2, 60), rng.randint(2, 60)
            right = a + b
            wrong = rng.sample([right + d for d in (-11, -3, -2, -1, 1, 2, 5, 10) if right + d >= 0], 3)
            q = f"What is {a} plus {b}? Think about the sum of the two numbers."
            choices = [str(right)] + [str(w) for w in wrong]
        else:
            country, city = rng.choice(CAPITALS)
            q = f"What is the capital city of {country}?"
            choices = [city] + rng.sample([c for _, c in CAPITALS if c != city], 3)
            choices = [f"{c}, the largest city" if j == 1 else c for j, c in enumerate(choices)]
        order = list(range(4))
        rng.shuffle(order)
        out.append({"question": q, "choices": [choices[j] for j in order], "answer": order.index(0)})
    return out


def run_ours(model, tokenizer, rows_path: Path, batch: int, device: str) -> dict:
    from jupyter_ft.core.evaluate.mc_rows import layout, parse_rows
    from jupyter_ft.evaluation import multiple_choice as mc

    t0 = time.perf_counter()
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    qs = parse_rows(rows, layout(rows[0].keys()))
    reqs, owner = [], []
    for q in qs:
        for r in mc.requests_for(q, mc.build_context(q, [], None), chat=False):
            reqs.append(r)
            owner.append(q.index)
    lls = mc.loglikelihoods(model, tokenizer, reqs, batch, device)
    per_q: dict[int, list[float]] = {}
    for i, (ll, _, _) in zip(owner, lls):
        per_q.setdefault(i, []).append(ll)
    scores = [mc.score_question(q, per_q[q.index])["scores"] for q in qs]
    took = time.perf_counter() - t0
    return {"seconds": took, "acc": sum(s["acc"] for s in scores) / len(qs),
            "acc_norm": sum(s["acc_norm"] for s in scores) / len(qs), "lls": [per_q[q.index] for q in qs]}


def run_lm_eval(lm, task_dir: Path, tm) -> dict:
    import lm_eval

    t0 = time.perf_counter()
    raw = lm_eval.simple_evaluate(model=lm, tasks=["jft_bench_mc"], task_manager=tm, log_samples=True,
                                  verbosity="ERROR", bootstrap_iters=0)
    took = time.perf_counter() - t0
    res = raw["results"]["jft_bench_mc"]
    docs = sorted(raw["samples"]["jft_bench_mc"], key=lambda d: d["doc_id"])
    return {"seconds": took, "acc": res["acc,none"], "acc_norm": res["acc_norm,none"],
            "lls": [[float(r[0]) for r in d["filtered_resps"]] for d in docs]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=400)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default=None, help="a model folder instead of a generated tiny Llama")
    a = ap.parse_args()
    logging.getLogger("lm_eval").setLevel(logging.ERROR)

    import torch
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jupyter_ft.training.tiny_model import make_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = Path(a.model) if a.model else make_tiny_model(tmp / "model", hidden_size=a.hidden,
                                                                 num_layers=a.layers)
        data = tmp / "mc.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in questions(a.questions)))
        (tmp / "tasks").mkdir()
        (tmp / "tasks" / "mc.yaml").write_text(TASK_YAML.format(data=data))
        dtype = torch.bfloat16 if a.device.startswith("cuda") else torch.float32
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(a.device).eval()
        tok = AutoTokenizer.from_pretrained(model_dir)
        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=a.batch)
        tm = TaskManager(include_path=str(tmp / "tasks"), include_defaults=False)
        params = sum(p.numel() for p in model.parameters())
        print(f"model {params / 1e6:.1f}M params on {a.device}, {a.questions} questions x 4 choices, batch {a.batch}")
        run_ours(model, tok, data, a.batch, a.device)  # warm-up both (first-call allocations, lazy imports)
        run_lm_eval(lm, tmp / "tasks", tm)
        ours, theirs = [], []
        for r in range(a.repeats):
            pair = [("ours", lambda: run_ours(model, tok, data, a.batch, a.device)),
                    ("lm-eval", lambda: run_lm_eval(lm, tmp / "tasks", tm))]
            for name, fn in (pair if r % 2 == 0 else pair[::-1]):
                (ours if name == "ours" else theirs).append(fn())
        o, t = ours[-1], theirs[-1]
        gap = max(abs(x - y) for lo, lt in zip(o["lls"], t["lls"]) for x, y in zip(lo, lt))
        qs_o = a.questions / statistics.median(x["seconds"] for x in ours)
        qs_t = a.questions / statistics.median(x["seconds"] for x in theirs)
        print(f"jupyter_ft : {qs_o:8.1f} questions/s  acc {o['acc']:.4f}  acc_norm {o['acc_norm']:.4f}")
        print(f"lm-eval hf : {qs_t:8.1f} questions/s  acc {t['acc']:.4f}  acc_norm {t['acc_norm']:.4f}")
        same = o["acc"] == t["acc"] and o["acc_norm"] == t["acc_norm"]
        print(f"ratio {qs_o / qs_t:.2f}x (target >= 1.0)  identical accuracy: {same}  "
              f"max per-choice log-likelihood gap {gap:.2e}")
        print(json.dumps({"questions_per_s": {"jupyter_ft": qs_o, "lm_eval": qs_t}, "ratio": qs_o / qs_t,
                          "identical_accuracy": same, "max_ll_gap": gap, "acc": o["acc"], "acc_norm": o["acc_norm"],
                          "runs_s": {"jupyter_ft": [x["seconds"] for x in ours],
                                     "lm_eval": [x["seconds"] for x in theirs]}}))


if __name__ == "__main__":
    main()
