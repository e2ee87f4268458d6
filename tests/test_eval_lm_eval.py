"""The lm-evaluation-harness bridge, offline: a local task YAML over a small local multiple-choice set on the tiny
model gives the same `acc` and `acc_norm` (and per-choice log-likelihoods) through lm-eval as through jupyter_ft's
own multiple-choice scorer, as functions and inside an evaluation job; results rows carry lm-eval's stderr as an
interval; a PEFT adapter is scored through lm-eval's `peft=` exactly as on the model in memory; and the failures
(no lm-eval, a missing or bad task file, an endpoint model) say what to do. (An unknown task *name* gets the
closest registered names too; not tested here: indexing lm-eval's 14,000 task entries takes 10-40 s.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from jupyter_ft.core.spec.eval import LmEvalEval
from jupyter_ft.core.registry.model_refs import ModelRef
from jupyter_ft.evaluation import lm_eval_bridge as bridge

needs_lm_eval = pytest.mark.skipif(not bridge.available(), reason="lm-eval is not installed (the lmeval extra)")

QUESTIONS = [
    ("What is the capital of France?", ["Paris", "London", "Berlin", "Madrid"], 0),
    ("What is 2 + 3?", ["4", "5", "6", "7"], 1),
    ("Which animal barks?", ["a cat", "a dog", "a cow", "a fish"], 1),
    ("What colour is the sky on a clear day?", ["green", "red", "blue", "black"], 2),
    ("How many days are in a week?", ["five", "six", "seven", "eight"], 2),
    ("What do bees make?", ["milk", "honey", "silk", "wool"], 1),
    ("Which is the largest ocean?", ["the Atlantic", "the Indian", "the Arctic", "the Pacific"], 3),
    ("What is 10 - 4?", ["6", "4", "14", "5"], 0),
    ("Which season comes after winter?", ["autumn", "summer", "spring"], 2),
    ("What is frozen water called?", ["steam", "ice"], 1),
]

TASK_YAML = """\
task: jft_tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: tiny_mc.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_choice: "{{choices}}"
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture
def task_file(tmp_path) -> Path:
    """A local lm-eval task (YAML beside its JSON-lines data, read by relative path)."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "tiny_mc.jsonl").write_text("".join(json.dumps({"question": q, "choices": c, "answer": a}) + "\n"
                                                  for q, c, a in QUESTIONS))
    path = folder / "tiny_mc.yaml"
    path.write_text(TASK_YAML)
    return path


def base_ref(model: Path) -> ModelRef:
    return ModelRef(entry="base", label="base", kind="base", model=str(model))


def test_without_lm_eval_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # as if it were not installed
    assert bridge.available() is False
    with pytest.raises(bridge.LmEvalError, match=r"needs lm-evaluation-harness, which is not installed: "
                                                  r"pip install 'jupyter_ft\[lmeval\]'"):
        bridge.run(LmEvalEval(type="lm_eval", task="hellaswag"), ModelRef(entry="base", label="base", kind="base",
                                                                           model="x"))


@needs_lm_eval
def test_bad_task_files_and_models_are_named(tmp_path, task_file):
    with pytest.raises(bridge.LmEvalError, match=r"lm_eval task file not found: .*nowhere\.yaml"):
        bridge.resolve_task("nowhere.yaml", base_dir=tmp_path)
    (tmp_path / "bad.yaml").write_text("just: a mapping\n")
    with pytest.raises(bridge.LmEvalError, match=r"bad\.yaml"):
        bridge.resolve_task(str(tmp_path / "bad.yaml"))
    ref = bridge.resolve_task("tasks/tiny_mc.yaml", base_dir=tmp_path)  # relative to where the submitter stands
    assert ref.name == "jft_tiny_mc" and ref.yaml_path == task_file.resolve()
    endpoint = ModelRef(entry="http://127.0.0.1:9/v1#m", label="m", kind="endpoint", model=None,
                        url="http://127.0.0.1:9/v1", served_name="m")
    with pytest.raises(bridge.LmEvalError, match="model 'm' is an endpoint"):
        bridge.make_lm(endpoint)


def jupyter_ft_scores(model, tokenizer, batch_size: int = 4) -> list[dict]:
    """The same questions through jupyter_ft's multiple-choice scorer (the evaluation job's code path)."""
    mc = pytest.importorskip("jupyter_ft.evaluation.multiple_choice")
    from jupyter_ft.core.evaluate.mc_rows import MCQuestion

    out = []
    for i, (q, choices, answer) in enumerate(QUESTIONS):
        question = MCQuestion(index=i, question=q, choices=tuple(choices), answer=answer, subject=None)
        reqs = mc.requests_for(question, mc.build_context(question, [], None), chat=False)
        lls = [ll for ll, _, _ in mc.loglikelihoods(model, tokenizer, reqs, batch_size, "cpu")]
        out.append({**mc.score_question(question, lls)["scores"], "lls": lls})
    return out


@needs_lm_eval
@pytest.mark.slow
def test_same_task_same_model_same_accuracy_as_jupyter_ft(tiny_model, task_file):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = bridge.run(LmEvalEval(type="lm_eval", task=str(task_file), batch_size=4), base_ref(tiny_model),
                     evaluator="harness", seed=0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    ours = jupyter_ft_scores(model, AutoTokenizer.from_pretrained(tiny_model))

    by = {r["metric"]: r for r in out.metrics}
    assert set(by) == {"acc", "acc_norm"}
    n = len(QUESTIONS)
    for metric in ("acc", "acc_norm"):
        mine = sum(s[metric] for s in ours) / n
        assert by[metric]["value"] == pytest.approx(mine, abs=1e-12), metric
        assert by[metric]["n"] == n and by[metric]["model"] == "base" and by[metric]["evaluator"] == "harness"
        se = by[metric]["stderr"]
        assert se == pytest.approx((mine * (1 - mine) / (n - 1)) ** 0.5)  # lm-eval's sample stderr of a mean
        assert by[metric]["ci_low"] == pytest.approx(max(0.0, mine - 1.96 * se))
        assert by[metric]["ci_high"] == pytest.approx(min(1.0, mine + 1.96 * se))
    docs = sorted(out.docs, key=lambda d: d["doc_id"])
    assert [d["doc_id"] for d in docs] == list(range(n))
    for d, s in zip(docs, ours):
        assert d["scores"] == {"acc": s["acc"], "acc_norm": s["acc_norm"]}
        assert d["loglikelihoods"] == pytest.approx(s["lls"], abs=1e-4)  # per choice, not only the argmax
    assert out.info["task"] == "jft_tiny_mc" and out.info["lm_eval_version"] == "0.4.13"


@needs_lm_eval
@pytest.mark.slow
def test_adapter_through_peft_equals_the_model_in_memory(tiny_model, task_file, tmp_path):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")  # a non-trivial adapter: it changes the scores
    ev = LmEvalEval(type="lm_eval", task=str(task_file), batch_size=4)
    ref = ModelRef(entry=str(tmp_path / "adapter"), label="tuned", kind="adapter", model=str(tiny_model),
                   adapter=str(tmp_path / "adapter"))
    by_path = bridge.run(ev, ref, evaluator="harness")
    tok = AutoTokenizer.from_pretrained(tiny_model)
    held = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), tmp_path / "adapter").eval()
    in_memory = bridge.run(ev, ref, evaluator="harness", model=held, tokenizer=tok)
    a = sorted(by_path.docs, key=lambda d: d["doc_id"])
    b = sorted(in_memory.docs, key=lambda d: d["doc_id"])
    assert [d["loglikelihoods"] for d in a] == [pytest.approx(d["loglikelihoods"], abs=1e-4) for d in b]
    assert {r["metric"]: r["value"] for r in by_path.metrics} == {r["metric"]: r["value"] for r in in_memory.metrics}
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    plain = jupyter_ft_scores(base, tok)  # the adapter really changes the scores
    assert [d["loglikelihoods"] for d in a] != [pytest.approx(s["lls"], abs=1e-4) for s in plain]


@needs_lm_eval
@pytest.mark.slow
def test_evaluation_job_lm_eval_equals_multiple_choice_on_base_and_adapter(ws, tiny_model, task_file, tmp_path):
    """One evaluation job, base and an adapter on it: the `lm_eval` evaluator (the task YAML) and the
    `multiple_choice` evaluator (the same questions through the catalog) give the same acc and acc_norm per model;
    lm-eval's rows carry its stderr interval and land in MLflow; a resumed attempt does not run the task again."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    import jupyter_ft as ft

    from .test_jobs import mlflow_run, wait_forwarded

    torch.manual_seed(1)
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "tuned")
    rows = [{"question": q, "choices": c, "answer": a} for q, c, a in QUESTIONS]
    job = ft.evaluate(models=["base", str(tmp_path / "tuned")], base=str(tiny_model), dataset=rows,
                      evaluators=[{"type": "multiple_choice", "name": "mc", "batch_size": 4},
                                  {"type": "lm_eval", "name": "harness", "task": str(task_file), "batch_size": 4}],
                      bootstrap=100)
    job.wait(timeout=500)
    assert job.status == "succeeded", job.logs(tail=40)
    r = ft.eval_results(job.id)
    value = {(m["model"], m["evaluator"], m["metric"]): m for m in r["metrics"]}
    for model in ("base", "tuned"):
        for metric in ("acc", "acc_norm"):
            ours, theirs = value[(model, "mc", metric)], value[(model, "harness", metric)]
            assert theirs["value"] == pytest.approx(ours["value"], abs=1e-12), (model, metric)
            assert theirs["n"] == ours["n"] == len(QUESTIONS) and theirs["source"] == "lm-eval"
            assert theirs["ci_low"] <= theirs["value"] <= theirs["ci_high"]
    assert r["lm_eval"]["tuned/harness"]["task"] == "jft_tiny_mc"
    wait_forwarded(ws, job)
    assert mlflow_run(job).data.metrics["tuned/harness/acc_norm"] == pytest.approx(value[("tuned", "harness",
                                                                                            "acc_norm")]["value"])
