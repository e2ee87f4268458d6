"""EvalSpec: the one schema every evaluation face builds; errors name the field."""

import pytest

from jupyter_ft.core.spec.eval import EvalSpec, PythonEval, parse_eval_spec
from jupyter_ft.core.spec.train import SpecError


def agrees(prediction, reference, row):
    return {"agrees": float(prediction.strip() == (reference or "").strip())}


def test_spec_from_yaml_and_shorthands():
    spec = parse_eval_spec("""
models: [base, ./adapter]
dataset: qa@latest
evaluators:
  - exact_match
  - {type: multiple_choice, num_fewshot: 2, chat_template: true}
  - {type: reward, reward: numeric_answer}
  - {type: rubric_judge, criteria: [relevance, human-likeness], judge: {base_url: "http://127.0.0.1:9/v1", model: j}}
""")
    assert spec.kind == "eval" and spec.split == "eval" and spec.generative
    assert [e.type for e in spec.evaluators] == ["exact_match", "multiple_choice", "reward", "rubric_judge"]
    assert spec.evaluators[2].reward.type == "numeric_answer"
    assert [c.name for c in spec.evaluators[3].criteria] == ["relevance", "human-likeness"]
    assert parse_eval_spec(spec.to_yaml()) == spec


def test_function_becomes_python_evaluator_shipped_as_source():
    spec = EvalSpec(models=["base"], dataset="d", evaluators=[agrees])
    ev = spec.evaluators[0]
    assert isinstance(ev, PythonEval) and ev.function == "agrees" and "def agrees" in ev.source


@pytest.mark.parametrize("data, field", [
    ({"models": [], "dataset": "d", "evaluators": ["rouge"]}, "models"),
    ({"models": ["a"], "dataset": "d", "evaluators": [{"type": "nope"}]}, "evaluators.0"),
    ({"models": ["a"], "dataset": "d", "evaluators": ["bogus"]}, "evaluators"),
    ({"models": ["http://h:1/v1"], "dataset": "d", "evaluators": ["rouge"]}, "models.0"),
    ({"models": ["a", "a"], "dataset": "d", "evaluators": ["rouge"]}, "models.1"),
    ({"models": ["a"], "dataset": "d", "evaluators": [{"type": "multiple_choice", "num_fewshot": -1}]},
     "evaluators.0.num_fewshot"),
    ({"models": ["a", "b"], "dataset": "d", "evaluators": [
        {"type": "pairwise_judge", "baseline": "c", "judge": {"base_url": "http://h/v1", "model": "j"}}]},
     "evaluators.0.baseline"),
    ({"models": ["a"], "dataset": "d", "evaluators": ["rouge", "rouge"]}, "evaluators.1"),
    ({"models": ["a"], "dataset": "d", "evaluators": ["rouge"], "bootstrap": float("inf")}, "bootstrap"),
    ({"models": ["a"], "dataset": "d", "evaluators": ["rouge"], "limit": True}, "limit"),
    ({"models": ["a"], "dataset": "d", "evaluators": ["rouge"], "lr": 1}, "lr"),
])
def test_bad_fields_are_named(data, field):
    with pytest.raises(SpecError) as info:
        parse_eval_spec(data)
    assert field in [f for f, _ in info.value.errors], info.value.errors


@pytest.mark.slow
def test_submit_and_the_cli_path_take_an_eval_spec(ws, tmp_path):
    import jupyter_ft as ft
    from jupyter_ft.core.datasets import catalog

    v = catalog.add(ws, [{"prompt": f"q{i}", "answer": str(i)} for i in range(10)], name="qa")
    path = tmp_path / "eval.yaml"
    path.write_text(f"kind: eval\nmodels: [some-org/some-model]\ndataset: qa\nevaluators: [exact_match]\nlimit: 2\n")
    job = ft.submit(path, ws)
    assert isinstance(job, ft.EvalJob) and job.record.kind == "eval" and job.spec.dataset == v.ref
    assert ft.get_job(job.id).results()["models"] == ["some-org/some-model"]
    job.cancel()
