"""Scorers of an evaluation, in process: multiple choice by log-likelihood against a hand computation from the
tiny model's logits, batch-size invariance, bad benchmark rows named at submission, evaluator dry runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import jupyter_ft as ft
from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.evaluate.submit import preview_eval
from jupyter_ft.core.evaluate.mc_rows import layout, parse_rows
from jupyter_ft.core.spec.train import SpecError

MC_FILE = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "mc_facts.jsonl"


@pytest.fixture(scope="module")
def tiny(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)  # a tiny model on a shared machine: threads only wait on each other
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    return model, tok


def questions(n=None):
    rows = [json.loads(line) for line in MC_FILE.read_text().splitlines()]
    return parse_rows(rows[:n] if n else rows, layout(rows[0].keys()))


def hand_loglikelihood(model, tok, context: str, continuation: str) -> float:
    """Token by token: the log-probability of each continuation token given everything before it, one forward
    pass per token on the unpadded prefix (no batching, no lm-eval shortcut)."""
    import torch

    ctx = tok(context, add_special_tokens=False)["input_ids"]
    cont = tok(context + continuation, add_special_tokens=False)["input_ids"][len(ctx):]
    total, prefix = 0.0, list(ctx)
    for t in cont:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prefix])).logits[0, -1]
        total += float(torch.log_softmax(logits.double(), -1)[t])
        prefix.append(t)
    return total


def test_multiple_choice_equals_hand_computation_acc_and_acc_norm(tiny):
    from jupyter_ft.evaluation.multiple_choice import build_context, loglikelihoods, requests_for, score_question

    model, tok = tiny
    qs = questions(4)
    seen_norm_differs = False
    for q in qs:
        ctx = build_context(q, [], None)
        assert ctx == f"Question: {q.question}\nAnswer:"
        reqs = requests_for(q, ctx, chat=False)
        got = [ll for ll, _, _ in loglikelihoods(model, tok, reqs, batch_size=16, device="cpu")]
        hand = [hand_loglikelihood(model, tok, ctx, " " + c) for c in q.choices]
        assert got == pytest.approx(hand, abs=1e-4)
        # acc: argmax of the sums; acc_norm: argmax of sum / characters of the choice
        want = max(range(len(hand)), key=lambda i: hand[i])
        want_norm = max(range(len(hand)), key=lambda i: hand[i] / len(q.choices[i]))
        s = score_question(q, got)
        assert s["extra"]["pred"] == want and s["extra"]["pred_norm"] == want_norm
        assert s["scores"] == {"acc": float(want == q.answer), "acc_norm": float(want_norm == q.answer)}
        seen_norm_differs |= want != want_norm
    assert qs[0].choices[qs[0].answer] == "Paris"


def test_per_choice_loglikelihoods_do_not_depend_on_batch_size(tiny):
    from jupyter_ft.evaluation.multiple_choice import build_context, draw_shots, loglikelihoods, requests_for

    model, tok = tiny
    qs = questions()
    reqs = [r for q in qs[::2] for r in requests_for(q, build_context(q, draw_shots(q, qs, 2, 42), "Facts."), chat=False)]
    one = [ll for ll, _, _ in loglikelihoods(model, tok, reqs, 1, "cpu")]
    sixteen = [ll for ll, _, _ in loglikelihoods(model, tok, reqs, 16, "cpu")]
    assert len(one) == 80
    assert max(abs(a - b) for a, b in zip(one, sixteen)) < 1e-4


def test_shots_are_seeded_per_question_and_never_the_question(tiny):
    from jupyter_ft.evaluation.multiple_choice import draw_shots

    qs = questions()
    for q in qs[:10]:
        shots = draw_shots(q, qs, 3, 7)
        assert len(shots) == 3 and q.question not in [s.question for s in shots]
        assert shots == draw_shots(q, qs, 3, 7)
    assert draw_shots(qs[0], qs, 3, 7) != draw_shots(qs[0], qs, 3, 8)


def _mc_spec(ws, rows, **ev):
    v = catalog.add(ws, rows, name="bench", technique="prompt", eval_fraction=0.0)
    return dict(models=["some/hub-model"], dataset=v.ref, split="train", evaluators=[{"type": "multiple_choice", **ev}])


def test_bad_benchmark_rows_are_named_at_submission(ws):
    q = [{"question": f"q{i}?", "choices": ["a", "b", "c"], "answer": i % 3} for i in range(6)]
    bad = [dict(r) for r in q]
    bad[3]["answer"] = 5
    with pytest.raises(SpecError) as e:
        ft.evaluate(**_mc_spec(ws, bad))
    assert e.value.errors[0][0] == "evaluators.0" and "row 4" in str(e.value) and "out of range" in str(e.value)

    letters = [{"question": f"q{i}?", "A": "x", "B": "y", "C": "z", "D": "w", "answer": "ABCD"[i % 4]} for i in range(6)]
    letters[2]["answer"] = "E"
    with pytest.raises(SpecError) as e:
        ft.evaluate(**_mc_spec(ws, letters))
    assert "row 3" in str(e.value) and "'E' is not among the choices A..D" in str(e.value)

    odd = [{"prompt": f"q{i}?", "options": ["a", "b"], "label": 1} for i in range(4)]
    with pytest.raises(SpecError) as e:
        ft.evaluate(**_mc_spec(ws, odd))
    msg = str(e.value)
    assert "not a multiple-choice shape" in msg and "MMLU CSV" in msg and "mapping=" in msg
    spec = preview_eval(_mc_spec(ws, odd, mapping={"choices": "options", "answer": "label"}), ws)
    assert spec.evaluators[0].mapping == {"choices": "options", "answer": "label"}
    sft = catalog.add(ws, [{"question": f"q{i}?", "answer": "a"} for i in range(4)], name="sftlike")
    with pytest.raises(SpecError) as e:
        ft.evaluate(models=["some/hub-model"], dataset=sft.ref, split="train", evaluators=["multiple_choice"])
    assert "technique='prompt'" in str(e.value)


def test_mmlu_csv_shape_with_subjects(ws, tmp_path):
    csv = tmp_path / "mmlu.csv"
    csv.write_text("question,A,B,C,D,answer,subject\n" + "".join(
        f"What is {i}+{i}?,{2 * i},{2 * i + 1},{i},{i + 3},A,{'math' if i % 2 else 'more math'}\n" for i in range(1, 9)))
    spec = preview_eval({"models": ["some/hub-model"], "dataset": str(csv), "evaluators": ["multiple_choice"]}, ws)
    assert spec.split == "all" and "added to the catalog" in spec.auto["dataset"]
    v = catalog.get(ws, spec.dataset)
    from jupyter_ft.core.evaluate.submit import split_rows

    qs = parse_rows(split_rows(v, "all"), layout(split_rows(v, "all")[0].keys()))
    assert {q.subject for q in qs} == {"math", "more math"} and all(q.answer == 0 for q in qs)


def strict(prediction, reference, row):
    return {"exact": float(prediction == reference), "chars": len(prediction)}


def broken(prediction, reference, row):
    return 1 / (len(prediction) - len(prediction))


def wordy(prediction, reference, row):
    return "great"


def test_dry_run_shows_scores_and_names_the_evaluator_and_sample():
    rows = [{"prompt": "2+2?", "answer": "4"}, {"prompt": "3+3?", "answer": "6"}]
    out = ft.dry_run_evaluator(strict, rows, predictions=["4", "7"])
    assert [r["scores"] for r in out.rows] == [{"exact": 1.0, "chars": 1.0}, {"exact": 0.0, "chars": 1.0}]
    assert "dry run of evaluator 'strict'" in repr(out)
    assert ft.dry_run_evaluator("numeric_answer", rows, predictions=["#### 4", "five"]).rows[1]["scores"] == {
        "numeric_answer": 0.0}
    assert ft.dry_run_evaluator({"type": "reward", "reward": "exact_match"}, rows).rows[0]["scores"] == {
        "exact_match": 1.0}
    from jupyter_ft.evaluation.evaluators import EvaluatorError

    with pytest.raises(EvaluatorError) as e:
        ft.dry_run_evaluator(broken, rows, predictions=["a", "b"])
    assert "evaluator 'broken' raised ZeroDivisionError" in str(e.value) and "sample 0" in str(e.value)
    assert "line 2" in str(e.value)
    with pytest.raises(EvaluatorError) as e:
        ft.dry_run_evaluator(wordy, rows)
    assert "evaluator 'wordy' returned 'great' (str) for sample 0" in str(e.value)
    r = ft.dry_run_evaluator("rouge", rows, predictions=["the answer is 4", "6"])
    assert 0 < r.rows[0]["scores"]["rougeL"] < 1 and r.rows[1]["scores"]["rougeL"] == 1.0
