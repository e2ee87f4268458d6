"""The evaluation faces without a browser: the results view (core.evaluate.view), the results widget built from a
results dict and followed live, the evaluation form and the `%%ft_eval` / `%ft evals` magics."""

from __future__ import annotations

import json
import threading

import pytest

import jupyter_ft as ft
from jupyter_ft.core.evaluate import view as eval_view

from .eval_fixtures import RESULTS, results


# --- core.evaluate.view -------------------------------------------------------------------------------------------

def test_panels_group_by_evaluator_and_split_magnitudes():
    ps = eval_view.panels(RESULTS)
    assert [(p.title, p.metrics) for p in ps] == [
        ("mc", ["acc", "acc_norm"]), ("loss · eval_loss", ["eval_loss"]), ("loss · perplexity", ["perplexity"]),
        ("rubric", ["relevance"])]
    mc = ps[0]
    assert [b.model for b in mc.bars] == ["base", "dpo-1"]
    base, dpo = mc.bars
    assert base.values == [0.6, 0.5] and base.n == [5, 5]
    assert base.err_plus == pytest.approx([0.2, 0.2]) and base.err_minus == pytest.approx([0.2, 0.2])
    assert dpo.err_plus == pytest.approx([0.25, 0.25]) and dpo.err_minus == pytest.approx([0.25, 0.25])
    assert mc.has_intervals and not ps[1].has_intervals
    assert ps[1].bars[0].err_plus == [None]


def test_with_view_carries_the_panels_and_pairwise_rows_as_json():
    """What `GET evaluations/{id}/results` sends: the results with core's panels and pairwise rows beside them."""
    v = eval_view.with_view(RESULTS)
    assert {k: v[k] for k in RESULTS if k != "samples"} == {k: x for k, x in RESULTS.items() if k != "samples"}
    assert [{k: x for k, x in s.items() if k != "disagree"} for s in v["samples"]] == RESULTS["samples"]
    # each sample carries the one "the models disagree" flag the Studio filters and marks rows by
    assert [s["id"] for s in v["samples"] if s["disagree"]] == [0, 3, 4]
    ps = eval_view.panels(RESULTS)
    assert [(p["key"], p["title"], p["metrics"], p["has_intervals"]) for p in v["panels"]] == [
        (p.key, p.title, p.metrics, p.has_intervals) for p in ps]
    assert v["panels"][0]["bars"][0] == {"model": ps[0].bars[0].model, "values": ps[0].bars[0].values,
                                         "err_plus": ps[0].bars[0].err_plus, "err_minus": ps[0].bars[0].err_minus,
                                         "n": ps[0].bars[0].n}
    assert v["pairwise_rows"] == eval_view.pairwise_rows(RESULTS)
    json.dumps(v)


def test_a_per_subject_breakdown_gets_its_own_panel():
    rows = [{"model": m, "evaluator": "mmlu", "metric": metric, "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 9,
             **({"subject": metric.split("/")[1]} if "/" in metric else {})}
            for m in ("base", "dpo-1") for metric in ("acc", "acc_norm", "acc/law", "acc/math")]
    assert [(p.title, p.metrics) for p in eval_view.panels(results(metrics=rows))] == [
        ("mmlu", ["acc", "acc_norm"]), ("mmlu · per subject", ["acc/law", "acc/math"])]


def test_a_model_without_a_metric_gets_no_bar_and_bad_values_are_skipped():
    r = results(metrics=[{"model": "base", "evaluator": "em", "metric": "exact_match", "value": 0.5},
                         {"model": "dpo-1", "evaluator": "em", "metric": "exact_match", "value": float("nan")},
                         {"model": "dpo-1", "evaluator": "em", "metric": "exact_match", "value": "n/a"}])
    (p,) = eval_view.panels(r)
    assert [b.model for b in p.bars] == ["base"]


def test_disagreement_rule():
    s = {x["id"]: x for x in RESULTS["samples"]}
    assert [i for i in s if eval_view.disagrees(s[i])] == [0, 3, 4]
    assert [i for i in s if eval_view.disagrees(s[i], "acc")] == [0, 3]
    assert [i for i in s if eval_view.disagrees(s[i], "judge: judge")] == [0, 3]  # a tie is not a disagreement
    assert [i for i in s if eval_view.disagrees_anyhow(s[i])] == [0, 3, 4]          # any score or any judge
    only_judge = {"scores": {"a": {"acc": 1}, "b": {"acc": 1}}, "verdicts": {"judge": {"b": {"final": "a"}}}}
    assert eval_view.disagrees_anyhow(only_judge) and not eval_view.disagrees(only_judge)
    assert eval_view.criteria(RESULTS) == ["any score", "acc", "relevance", "judge: judge"]
    assert [x["id"] for x in eval_view.filter_samples(RESULTS, search="PARIS")] == [0]
    assert [x["id"] for x in eval_view.filter_samples(RESULTS, disagree_only=True, search="capital")] == [0, 3]


def test_text_summary_names_metrics_intervals_pairwise_and_errors():
    text = eval_view.summary(RESULTS)
    assert "evaluation eval-1201-000000-abcd: succeeded · 6 samples of qa@1a2b3c · models base, dpo-1" in text
    assert "mc · dpo-1: acc 0.75 [0.5, 1]; acc_norm 0.5 [0.25, 0.75]" in text
    assert "loss · base: perplexity 73.7" in text
    assert "judge: dpo-1 vs base: win 0.333 tie 0.333 loss 0.333 (n 3); consistency 0.333; mean length 17.3 vs 5" in text
    assert "error: dpo-1 · mc · sample 5: answer index 7 out of range" in text


# --- the results widget --------------------------------------------------------------------------------------

def test_results_widget_draws_bars_with_intervals_pairwise_and_samples(ws):
    w = ft.ui.eval_results(results())
    assert not w.live
    fig = w.figure
    assert [t.name for t in fig.data] == ["base", "dpo-1"] * 4
    assert [t.showlegend for t in fig.data] == [True, True] + [False] * 6  # one legend entry per model
    assert [t.xaxis for t in fig.data] == ["x", "x", "x2", "x2", "x3", "x3", "x4", "x4"]
    assert fig.layout.barmode == "group"
    mc_dpo = fig.data[1]
    assert list(mc_dpo.x) == ["acc", "acc_norm"] and list(mc_dpo.y) == [0.75, 0.5]
    assert mc_dpo.error_y.visible and list(mc_dpo.error_y.array) == pytest.approx([0.25, 0.25])
    assert fig.data[2].error_y.visible is False  # eval loss has no interval
    assert [a.text for a in fig.layout.annotations] == ["<b>mc</b>", "<b>loss · eval_loss</b>",
                                                        "<b>loss · perplexity</b>", "<b>rubric</b>"]
    assert fig.data[0].marker.color != fig.data[1].marker.color and fig.data[0].marker.color == fig.data[2].marker.color

    assert "partial" not in w.header.value and "succeeded" in w.header.value
    assert "answer index 7 out of range" in w.errors.value
    assert "dpo-1</b> vs base" in w.pairwise.value and "[0, 1]" in w.pairwise.value
    assert "17.3 / 5" in w.pairwise.value

    assert w.table.value.count("class='jft-sample'") == 6 and "6 of 6 samples" in w.count.value
    assert "&lt;b&gt;bold&lt;/b&gt;" in w.table.value  # prompts are escaped, not rendered
    assert "answers the question" in w.table.value and "orders A/B" in w.table.value

    w.disagree.value = True  # what the checkbox does
    assert [s["id"] for s in w.page_samples] == [0, 3, 4]
    assert w.table.value.count("class='jft-sample'") == 3 and "3 of 6 samples" in w.count.value
    assert [s["id"] for s in w.show(criterion="judge: judge")] == [0, 3]
    assert [s["id"] for s in w.show(search="lima")] == [3]
    assert [s["id"] for s in w.show(disagree_only=False, search="")] == list(range(6))
    with pytest.raises(ValueError, match="criterion: 'bleu' is not one of"):
        w.show(criterion="bleu")
    assert "EvalResults\nevaluation eval-1201" in w._repr_mimebundle_()["text/plain"]


def test_results_widget_pages_and_marks_partial_results(ws):
    many = [dict(RESULTS["samples"][0], id=i) for i in range(60)]
    w = ft.ui.eval_results(results(samples=many, partial=True, state="failed"), page_size=25)
    assert "partial results" in w.header.value and w.pages == 3 and w.prev_button.disabled
    assert "60 of 60 samples · page 1/3" in w.count.value
    w.next_button.click()
    w.next_button.click()
    assert [s["id"] for s in w.page_samples] == list(range(50, 60)) and w.next_button.disabled
    w.search.value = "nothing like this"
    assert "no sample matches" in w.table.value and w.page == 0


def test_results_widget_follows_a_running_evaluation(ws):
    """A live view polls its source: the bars are redrawn when the results change (not on every poll), and the
    loop stops once the job has ended."""
    first = results(state="running", partial=True, metrics=RESULTS["metrics"][:4], samples=RESULTS["samples"][:2],
                    pairwise=[])
    states = [first, first, results(state="running", partial=True, metrics=[dict(m, value=0.7) if m["metric"] == "acc"
                                                                          else m for m in RESULTS["metrics"][:4]]),
              results()]
    lock = threading.Lock()

    def source():
        with lock:
            return states.pop(0) if len(states) > 1 else states[0]

    w = ft.ui.eval_results(source, live=True, interval=0.05)
    assert w.wait(timeout=10) and not w.live
    assert w.redraws == 3  # first results (polled twice, drawn once), new values, then the loss and rubric panels
    assert len(w.figure.data) == 8 and "succeeded" in w.header.value and w.pairwise.value
    assert "6 of 6 samples" in w.count.value


def test_results_widget_names_a_bad_job_and_keeps_polling_through_a_read_error(ws):
    from jupyter_ft.core.jobs import store as jobstore

    with pytest.raises(jobstore.JobNotFound, match="no job with id 'eval-nope'"):
        ft.ui.eval_results("eval-nope")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 3:  # the second tick (the first runs at once, before the observer below is attached)
            raise OSError("results.json: disk hiccup")
        return results(state="running" if len(calls) < 5 else "succeeded")

    w = ft.ui.eval_results(flaky, live=True, interval=0.3)
    shown = []
    w.status.observe(lambda change: shown.append(change["new"]), names="value")  # before the first tick
    assert w.wait(timeout=10) and len(calls) == 5 and "succeeded" in w.header.value
    assert "could not read the results: OSError: results.json: disk hiccup" in shown[0] and w.status.value == ""


def test_results_widget_before_any_score(ws):
    w = ft.ui.eval_results({"job_id": "eval-x", "state": "running", "models": ["base"], "samples": []}, live=False)
    assert w.figure is None and "waiting for the first scores" in w.figure_box.children[0].value
    assert "no samples scored yet" in w.table.value


# --- the evaluation form ---------------------------------------------------------------------------------------

def my_relevance(prediction, reference, row):
    return {"overlap": float(bool(set(prediction.split()) & set(str(reference).split())))}


def test_eval_form_is_generated_from_the_schema_and_builds_a_valid_spec(ws):
    from jupyter_ft.core.spec.eval import EvalSpec

    form = ft.ui.evaluate()
    expected = {name for name in EvalSpec.model_fields if name not in ("kind", "auto")}
    assert {p.split(".")[0] for p in list(form.controls) + list(form.sections)} == expected
    assert "generation.max_new_tokens" in form.controls and "tracking.experiment" in form.controls
    advanced = form.advanced.children[0].children
    assert form.sections["generation"] in advanced and form.controls["models"].row not in advanced
    assert form.controls["tracking.experiment"].get() == "jupyter_ft-eval"  # the spec's default, not TrackingSpec's
    assert "Evaluation" in form.children[0].value

    form.set(models=["base", "dpo-1"], base="./tiny", dataset="qa.jsonl", evaluators=["exact_match", my_relevance])
    assert form.controls["models"].get() == "base, dpo-1"  # a list of strings is a comma-separated text field
    assert "def my_relevance(prediction, reference, row):" in form.controls["evaluators"].get()
    form.add_evaluator("pairwise_judge")
    form.controls["generation.max_new_tokens"].widget.value = "16"
    spec = form.spec()
    assert isinstance(spec, EvalSpec) and spec.models == ["base", "dpo-1"] and spec.generation.max_new_tokens == 16
    assert [e.type for e in spec.evaluators] == ["exact_match", "python", "pairwise_judge"]
    assert spec.evaluators[1].function == "my_relevance" and spec.evaluators[2].judge.base_url.startswith("http://")
    d = form.spec_dict()
    assert d["generation"] == {"max_new_tokens": 16} and "tracking" not in d and "seed" not in d  # only what was chosen
    assert "EvalForm\n" in form._repr_mimebundle_()["text/plain"]


def test_eval_form_marks_bad_fields_with_the_schema_message(ws):
    form = ft.ui.evaluate(models="base, base", dataset="qa.jsonl", evaluators=[{"type": "multiple_choice",
                                                                                   "num_fewshot": -1}])
    with pytest.raises(ft.SpecError):
        form.spec()
    assert "greater than or equal to 0" in form.errors["evaluators"]
    assert "jft-invalid" in form.controls["evaluators"].widget._dom_classes
    form.set(evaluators=["exact_match"])
    assert "listed twice" in form.errors["models"] and "evaluators" not in form.errors
    form.set(models=["base", "dpo-1"], evaluators=[{"type": "frobnicate"}])
    assert "unknown evaluator type" in form.errors["evaluators"] and "models" not in form.errors
    form.controls["evaluators"].widget.value = "[unclosed"
    assert "not valid YAML" in form.errors["evaluators"]
    form.add_evaluator("rouge")
    assert "not a YAML list" in form.status.value
    form.set(evaluators=["rouge"])
    form.controls["limit"].widget.value = "0"
    assert "greater than 0" in form.errors["limit"]
    with pytest.raises(ft.SpecError, match="unknown evaluator 'bleu'"):
        form.set(evaluators=["bleu"])
    with pytest.raises(ft.SpecError, match="unknown field"):
        form.set(learning_rate=1e-3)
