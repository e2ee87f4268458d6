"""Style tuning made measurable: the `style` evaluator's counts, degeneration (repeats and loops) on every evaluation
of generated answers, paired differences from the baseline with bootstrap intervals, the "more human-like" verdict,
the pairwise judge's win rate with its interval, and an evaluation job on the tiny model end to end."""

from __future__ import annotations

import pytest

import jupyter_ft as ft
from jupyter_ft.core.evaluate import view as eval_view
from jupyter_ft.core.evaluate.degeneration import degeneration_scores, find_loop, repeated_ngram_rate, repeated_sentence
from jupyter_ft.core.evaluate.stats import paired_difference
from jupyter_ft.core.evaluate.style import formal_markers, is_contraction, style_scores, words
from jupyter_ft.core.evaluate.style_compare import compare_answers, compare_scores, verdict
from jupyter_ft.core.spec.eval import SpecError, parse_eval_spec

from .test_jobs import mlflow_run, wait_forwarded
from .test_widgets import random_adapter  # noqa: F401  (fixture)

# --- the counts, on answers written by hand ------------------------------------------------------------------------

WARM = "Hey! You're gonna love this. It's easy, don't worry!! Furthermore, however, you know."
STIFF = ("Furthermore, the capital of France is Paris. In conclusion, it is important to note this; moreover, "
         "additionally it should be noted.")


def test_style_counts_exactly_on_hand_written_answers():
    # words: hey you're gonna love this it's easy don't worry furthermore however you know (13)
    s = style_scores(WARM)
    assert s["length_words"] == 13 and s["exclamations"] == 3
    assert s["contractions_per_100w"] == pytest.approx(3 * 100 / 13)     # you're, it's, don't
    assert s["second_person_per_100w"] == pytest.approx(2 * 100 / 13)    # you're, you
    assert s["formal_markers"] == 2                                       # "furthermore", "however,"
    assert s["sentence_length"] == pytest.approx(13 / 4)                  # Hey! | You're … | It's … | Furthermore …
    t = style_scores(STIFF)
    assert (t["exclamations"], t["contractions_per_100w"], t["second_person_per_100w"]) == (0, 0, 0)
    # furthermore, in conclusion, it is important, moreover, additionally, it should be noted
    assert t["formal_markers"] == 6 and t["length_words"] == 21 and t["sentence_length"] == pytest.approx(21 / 2)


def test_style_edge_cases():
    assert style_scores("") == {"exclamations": 0, "contractions_per_100w": 0, "second_person_per_100w": 0,
                                "formal_markers": 0, "sentence_length": 0, "length_words": 0}
    # the typographic apostrophe, "'s" only after a pronoun (not a possessive), "however" without a comma
    assert words("You’re here") == ["you're", "here"]
    assert [is_contraction(w) for w in words("it's Anna's let's I'm we'd can't y'all")] == [
        True, False, True, True, True, True, True]
    assert formal_markers("However it went, THEREFORE we left. In   summary: fine") == 2
    assert style_scores("Y'all did it yourselves.")["second_person_per_100w"] == pytest.approx(2 * 100 / 4)


def test_degeneration_of_a_looping_answer():
    loop = "I love it! I love it! I love it! I love it! I love"
    s = degeneration_scores(loop)
    assert s["looping"] == 1.0
    assert find_loop(words(loop)) == (0, 3, 4)                             # "i love it" four whole times
    ws = words(loop)                                                        # 14 words, 12 trigrams, 3 distinct
    assert s["repeated_3gram_rate"] == pytest.approx(1 - 3 / 12) == repeated_ngram_rate(ws)
    fine = degeneration_scores("Paris is the capital of France, and it is lovely in spring.")
    assert fine == {"repeated_3gram_rate": 0.0, "looping": 0.0}
    assert degeneration_scores("ha ha ha, that's funny")["looping"] == 0.0   # three short repeats are speech
    assert degeneration_scores("the the the the the the")["looping"] == 1.0
    assert degeneration_scores("no")["repeated_3gram_rate"] == 0.0         # under three words
    # SmolLM2-135M-Instruct's answer to "What should I cook tonight?" (greedy): it circles back to one sentence
    circling = ("The night of the big reveal. I'm not a cook, but I'm here to help. I can suggest some delicious "
                "options, but I'm not a chef. I'm here to help with the culinary aspects of cooking.\n\nI can suggest "
                "some delicious options, but I'm not a chef. I'm here to help with the culinary aspects of cooking."
                "\n\nI'm not a chef. I'm here to help with the culinary aspects of cooking.")
    assert find_loop(words(circling)) is None                               # never three times back to back
    assert repeated_sentence(circling) == tuple(words("I'm here to help with the culinary aspects of cooking"))
    assert degeneration_scores(circling)["looping"] == 1.0
    assert degeneration_scores("Add salt. Stir well. Add salt. Taste it.")["looping"] == 0.0  # short, twice


# --- intervals and the verdict on constructed data -----------------------------------------------------------------

def test_paired_interval_excludes_zero_only_for_a_real_shift():
    base = [float(i % 5) for i in range(60)]
    value, ci = paired_difference([b + 1 + (i % 3 - 1) * 0.1 for i, b in enumerate(base)], base, 1000, 0)
    assert value == pytest.approx(1.0) and 0 < ci[0] <= 1 <= ci[1]          # each pair moved up by ~1
    value, ci = paired_difference([b + (1 if i % 2 else -1) for i, b in enumerate(base)], base, 1000, 0)
    assert value == pytest.approx(0.0) and ci[0] < 0 < ci[1]                # as many up as down: holds zero
    assert paired_difference([], [], 1000, 0) == (None, None)
    with pytest.raises(ValueError, match="3 values against 2"):
        paired_difference([1, 2, 3], [1, 2], 100, 0)


BASE = ["The capital of France is Paris. It is located in the north of the country.",
        "Water boils at one hundred degrees Celsius at sea level. This is a standard value.",
        "Photosynthesis converts light into chemical energy. Plants use it to grow."]
TUNED = ["Oh, it's Paris! You'll love it there, honestly.",
         "It's a hundred degrees Celsius at sea level. You've probably seen it bubble!",
         "Plants turn light into food, isn't that neat? You'd be amazed!"]


def test_verdict_more_human_like_on_warmer_answers():
    c = compare_answers(BASE * 20, TUNED * 20, bootstrap=500, seed=1)
    assert c["n"] == 60
    ex = c["metrics"]["exclamations"]["difference"]
    assert ex["direction"] == "up" and ex["excludes_zero"] and ex["ci"][0] > 0
    assert c["metrics"]["contractions_per_100w"]["difference"]["direction"] == "up"
    v = c["verdict"]
    assert v["human_like"] and v["verdict"] == "more human-like", v
    assert all(v["checks"].values()) and any(r.startswith("warmer: exclamations") for r in v["reasons"])


def test_verdict_refuses_too_few_prompts_formal_drift_loops_and_length():
    few = compare_answers(BASE * 10, TUNED * 10, bootstrap=300)             # 30 prompts: warm, but too few
    assert not few["verdict"]["human_like"] and few["verdict"]["checks"] == {
        "enough_prompts": False, "warmer": True, "not_more_formal": True, "no_more_loops": True, "length_kept": True}
    assert "fewer than the 50 needed" in few["verdict"]["reasons"][0]

    same = compare_answers(BASE * 20, BASE * 20, bootstrap=300)             # nothing changed: not shown
    assert same["verdict"]["verdict"] == "not shown to be more human-like"
    assert any(r.startswith("no warm marker rose") for r in same["verdict"]["reasons"])

    formal = [t + " Furthermore, in conclusion, it is important." for t in TUNED]
    v = compare_answers(BASE * 20, formal * 20, bootstrap=300)["verdict"]
    assert v["checks"]["warmer"] and not v["checks"]["not_more_formal"] and not v["human_like"]
    assert any(r.startswith("more formal: formal_markers +") for r in v["reasons"])

    looping = [t + " You're great! " * 6 for t in TUNED]                    # warm, but it loops
    v = compare_answers(BASE * 20, looping * 20, bootstrap=300)["verdict"]
    assert not v["checks"]["no_more_loops"] and not v["human_like"]
    assert any("the tuned model loops more" in r for r in v["reasons"])

    short = ["Paris! You're welcome."] * 60                                  # warm, but a third of the length
    v = compare_answers(BASE * 20, short, bootstrap=300)["verdict"]
    assert not v["checks"]["length_kept"] and any("kept within 0.5x-2.0x: no" in r for r in v["reasons"])


def test_compare_scores_pairs_by_position_and_without_bootstrap_says_so():
    with pytest.raises(ValueError, match="base has 2 answers and tuned 1"):
        compare_scores([{}, {}], [{}])
    c = compare_answers(BASE * 20, TUNED * 20, bootstrap=0)
    assert c["metrics"]["exclamations"]["difference"]["ci"] is None and not c["verdict"]["human_like"]
    assert "no warm marker has an interval" in " ".join(c["verdict"]["reasons"])
    assert ft.compare_style(BASE * 20, TUNED * 20, bootstrap=200)["verdict"]["human_like"]


# --- the spec ------------------------------------------------------------------------------------------------------

def test_spec_takes_style_and_a_baseline_and_reserves_degeneration():
    spec = parse_eval_spec({"models": ["base", "tuned"], "dataset": "d", "evaluators": ["style"]})
    assert spec.evaluators[0].type == "style" and spec.generative and spec.baseline_entry == "base"
    assert parse_eval_spec({"models": ["a", "b"], "dataset": "d", "evaluators": ["style"]}).baseline_entry == "a"
    with pytest.raises(SpecError, match="baseline: 'c' is not one of models"):
        parse_eval_spec({"models": ["a", "b"], "dataset": "d", "evaluators": ["style"], "baseline": "c"})
    with pytest.raises(SpecError, match="evaluators.0.name: 'degeneration' is where"):
        parse_eval_spec({"models": ["a"], "dataset": "d", "evaluators": [{"type": "style", "name": "degeneration"}]})


# --- the pairwise judge's win rate ----------------------------------------------------------------------------------

def test_pairwise_summary_gives_the_win_rate_with_an_interval():
    from jupyter_ft.evaluation.judges import pairwise_summary

    finals = ["win"] * 30 + ["tie"] * 20 + ["loss"] * 10
    verdicts = {i: {"final": f, "consistent": f != "tie"} for i, f in enumerate(finals)}
    row = pairwise_summary(verdicts, evaluator="judge", model="tuned", baseline="base", answers=["a"] * 60,
                           baseline_answers=["b"] * 60, samples=list(range(60)), bootstrap=1000, seed=0)
    assert row["win_rate"] == pytest.approx((30 + 10) / 60)
    lo, hi = row["win_rate_ci"]
    assert lo < row["win_rate"] < hi and lo > 0.5                          # clearly above a coin flip
    shown = eval_view.pairwise_rows({"pairwise": [row]})[0]
    assert shown["win_rate_ci"] == (lo, hi)
    assert "win rate 0.667 [" in eval_view.summary({"pairwise": [row], "models": ["base", "tuned"]})


# --- an evaluation job on the tiny model ---------------------------------------------------------------------------

@pytest.mark.slow
def test_style_evaluation_job_end_to_end(ws, tiny_model, random_adapter):  # noqa: F811
    rows = [{"prompt": f"Tell me about item {i}!", "answer": "It's lovely, you'll see!"} for i in range(6)]
    job = ft.evaluate(models=["base", str(random_adapter)], base=str(tiny_model), dataset=rows,
                      evaluators=["style", "exact_match"], generation={"max_new_tokens": 24, "batch_size": 6},
                      bootstrap=200)
    job.wait(timeout=300)
    assert job.status == "succeeded", job.logs(tail=30)
    r = job.results()
    assert r["models"] == ["base", "adapter"] and r["baseline"] == "base"
    got = {(m["model"], m["evaluator"], m["metric"]): m for m in r["metrics"]}
    for model in ("base", "adapter"):
        for metric in ("exclamations", "contractions_per_100w", "second_person_per_100w", "formal_markers",
                       "sentence_length", "length_words"):
            m = got[(model, "style", metric)]
            assert m["n"] == 6 and m["ci_low"] <= m["value"] <= m["ci_high"]
        for metric in ("repeated_3gram_rate", "looping"):                 # every generative evaluation has these
            assert (model, "degeneration", metric) in got
    # the per-sample counts are those of the answers the models gave
    s = r["samples"][0]
    for model in ("base", "adapter"):
        assert s["scores"][model]["length_words"] == len(words(s["answers"][model]))
        assert s["scores"][model]["repeated_3gram_rate"] == degeneration_scores(s["answers"][model])["repeated_3gram_rate"]
    diffs = {(d["evaluator"], d["metric"]): d for d in r["differences"]}
    d = diffs[("style", "length_words")]
    assert (d["model"], d["baseline"], d["n"]) == ("adapter", "base", 6)
    assert d["value"] == pytest.approx(got[("adapter", "style", "length_words")]["value"]
                                       - got[("base", "style", "length_words")]["value"])
    assert ("degeneration", "looping") in diffs and ("exact_match", "exact_match") in diffs
    (v,) = r["style_verdicts"]
    assert (v["model"], v["baseline"], v["n"]) == ("adapter", "base", 6)
    assert not v["human_like"] and "fewer than the 50 needed" in v["reasons"][0]   # six prompts decide nothing
    text = eval_view.summary(r)
    assert "style · adapter - base: length_words" in text and "not shown to be more human-like" in text
    wait_forwarded(ws, job)                                                 # the differences reach MLflow too
    logged = mlflow_run(job).data.metrics
    assert logged["adapter/style/length_words_diff_vs_base"] == pytest.approx(d["value"])
    loops = diffs[("degeneration", "looping")]
    assert logged["adapter/degeneration/looping_diff_vs_base_ci_high"] == pytest.approx(loops["ci_high"])
