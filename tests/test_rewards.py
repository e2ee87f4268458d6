"""Verifiable rewards, notebook functions shipped to the job as source, the reward guard, and the dry run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_ft.core.spec.reward_code import RewardCodeError, describe, load_function
from jupyter_ft.core.spec.train import SpecError, parse_spec
from jupyter_ft.training.rewards import (
    ExactMatch, LengthPenalty, NumericAnswer, Regex, RewardError, RewardFunction, build, dry_run, extract_number,
)

GSM8K = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "gsm8k_test_sample.jsonl"


@pytest.fixture(scope="module")
def shell():
    """A real IPython shell: functions are defined in cells, as a notebook user does."""
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    yield sh
    InteractiveShell.clear_instance()


def cell(shell, code: str):
    res = shell.run_cell(code)
    res.raise_error()
    return shell.user_ns


@pytest.mark.parametrize("text, value", [
    ("so the total is 18.\n#### 18", 18), ("#### 1,000", 1000), ("#### $1,234.50 dollars", 1234.5),
    ("The answer is 42 apples.", 42), ("It costs $5, then 7, so 12 in all", 12), ("\\boxed{3/4}", 0.75),
    ("#### -7", -7), ("no number here", None), ("answer: 65,960 meters", 65960),
])
def test_extract_number_gsm8k_style(text, value):
    assert extract_number(text) == value


def test_numeric_answer_on_real_gsm8k_rows():
    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()]
    refs = [r["answer"] for r in rows]
    n = len(rows)
    finals = [r["answer"].rsplit("####", 1)[1].strip() for r in rows]
    reward = NumericAnswer()
    # the reference solutions themselves, a bare final answer with a unit, and an off-by-one answer
    assert reward(refs, answer=refs) == [1.0] * n
    assert reward([f"I think it is {f} in total." for f in finals], answer=refs) == [1.0] * n
    wrong = [f"#### {float(f.replace(',', '')) + 1}" for f in finals]
    assert reward(wrong, answer=refs) == [0.0] * n
    assert any("," in f for f in finals)  # the real data has thousands separators


def test_exact_match_regex_and_length_penalty():
    assert ExactMatch()(["Paris.", " paris ", "Lyon"], answer=["Paris"] * 3) == [1.0, 1.0, 0.0]
    assert ExactMatch(ignore_case=False)(["paris"], answer=["Paris"]) == [0.0]
    fmt = Regex(r"<think>.*</think>\s*#### -?[\d,]+", mode="fullmatch")
    assert fmt(["<think>a\nb</think> #### 12", "#### 12", "<think></think> #### 1,2 extra"]) == [1.0, 0.0, 0.0]
    assert Regex("!")(["hi!", "hi"]) == [1.0, 0.0]
    lp = LengthPenalty(target=4)
    assert lp(["a b c", "a b c d e f", "a " * 20]) == [0.0, -0.5, -1.0]
    assert LengthPenalty(target=10, unit="chars")(["x" * 15]) == [-0.5]


def test_reward_reading_a_missing_column_names_it():
    with pytest.raises(RewardError, match=r"reads column 'solution'.*columns: \['answer'\]"):
        NumericAnswer(answer_column="solution")(["1"], answer=["1"], prompts=["q"])


def test_notebook_function_is_shipped_with_what_it_uses(shell):
    ns = cell(shell, '''
import re
import math as m
from collections import Counter
WORDS = ["warm", "kind"]
DIGITS = re.compile(r"\\d+")

def words_in(text):
    return sum(text.count(w) for w in WORDS)

@staticmethod
def _unused():
    pass

def warm_reward(completions, **row):
    """Cell-defined: uses a helper, a constant, a regex, a module alias and an imported name."""
    return [words_in(c) + 0 * m.pi + 0 * len(DIGITS.findall(c)) + 0 * len(Counter(c)) for c in completions]
''')
    entry = describe(ns["warm_reward"])
    assert entry["type"] == "python" and entry["function"] == "warm_reward"
    src = entry["source"]
    for line in ("WORDS = ['warm', 'kind']", "import math as m", "from collections import Counter", "def words_in(text):",
                 "DIGITS = re.compile('\\\\d+'"):
        assert line in src, (line, src)
    # a fresh interpreter (like the job process) rebuilds and runs it from the source alone
    code = ("import json, sys; from jupyter_ft.core.spec.reward_code import load_function; e = json.load(sys.stdin); "
            "print(load_function(e['function'], e['source'])(['warm and kind, warm'], prompts=['p']))")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(entry), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[3.0]"
    # through the spec, as ft.train(..., rewards=[warm_reward]) does
    spec = parse_spec({"model": "m", "dataset": "d.jsonl", "technique": "grpo", "grpo": {"rewards": [ns["warm_reward"]]}})
    assert spec.grpo.rewards[0].source == src
    assert "def warm_reward" in spec.to_yaml()


def test_functions_that_cannot_be_shipped_are_refused_by_name(shell):
    ns = cell(shell, '''
class Scorer:
    def __call__(self, completions, **row):
        return [0.0] * len(completions)
scorer_obj = Scorer()
def uses_object(completions, **row):
    return scorer_obj(completions)
def make():
    k = 2
    def inner(completions, **row):
        return [k] * len(completions)
    return inner
closure = make()
def uses_undefined(completions, **row):
    return [not_defined_anywhere] * len(completions)
''')
    with pytest.raises(RewardCodeError, match=r"uses 'scorer_obj', a __main__.Scorer.*create the object inside"):
        describe(ns["uses_object"])
    with pytest.raises(RewardCodeError, match=r"reads variables of an enclosing function \(k\)"):
        describe(ns["closure"])
    with pytest.raises(RewardCodeError, match=r"uses 'not_defined_anywhere', which is not defined"):
        describe(ns["uses_undefined"])
    with pytest.raises(RewardCodeError, match="a lambda cannot be shipped"):
        describe(lambda completions, **row: [0.0])
    with pytest.raises(RewardCodeError, match="is a Scorer, not a plain function"):
        describe(ns["scorer_obj"])
    with pytest.raises(SpecError) as ei:
        parse_spec({"model": "m", "dataset": "d", "technique": "grpo", "grpo": {"rewards": [ns["uses_object"]]}})
    assert dict(ei.value.errors)["grpo.rewards"].startswith("reward 'uses_object' uses 'scorer_obj'")


def test_guard_names_function_and_sample(shell):
    ns = cell(shell, '''
def picky(completions, **row):
    return [1.0 / (len(c) - 3) for c in completions]
def short_list(completions, **row):
    return [1.0]
def says_yes(completions, **row):
    return ["yes"] * len(completions)
def not_a_number(completions, **row):
    return [float("nan")] * len(completions)
def no_list(completions, **row):
    return 1.0
''')
    batch = dict(prompts=["q1", "q2", "q3"], completions=["abcd", "abc", "abcde"])
    fns = {e.name: e for e in build([ns[n] for n in ("picky", "short_list", "says_yes", "not_a_number", "no_list")])}
    with pytest.raises(RewardError) as ei:
        fns["picky"](**batch)
    msg = str(ei.value)
    assert "reward function 'picky' raised ZeroDivisionError" in msg and "sample 2 of 3" in msg
    assert "prompt 'q2', completion 'abc'" in msg and "line 2: return [1.0 / (len(c) - 3)" in msg
    with pytest.raises(RewardError, match=r"'short_list' returned 1 scores for 3 completions"):
        fns["short_list"](**batch)
    with pytest.raises(RewardError, match=r"'says_yes' returned 'yes' \(str\) for sample 1 of 3 \(prompt 'q1'"):
        fns["says_yes"](**batch)
    with pytest.raises(RewardError, match=r"'not_a_number' returned nan"):
        fns["not_a_number"](**batch)
    with pytest.raises(RewardError, match=r"'no_list' returned a float; expected a list of 3 numbers"):
        fns["no_list"](**batch)


def test_guard_passes_text_columns_and_accepts_numpy_and_none():
    import numpy as np

    seen = {}

    def conv(completions, prompts, answer):  # no **row: only the named columns are passed
        seen.update(completions=completions, prompts=prompts, answer=answer)
        return np.array([1.0, 0.5])

    f = RewardFunction("conv", conv)
    msgs = [[{"role": "assistant", "content": "hi"}], [{"role": "assistant", "content": "yo"}]]
    assert f(prompts=["p", "p"], completions=msgs, answer=["a", "b"], trainer_state=object()) == [1.0, 0.5]
    assert seen["completions"] == ["hi", "yo"] and seen["answer"] == ["a", "b"]
    assert RewardFunction("maybe", lambda completions, **r: [None, 2])(completions=["a", "b"]) == [None, 2.0]


def test_spec_errors_name_reward_fields():
    def err(grpo, **extra):
        with pytest.raises(SpecError) as ei:
            parse_spec({"model": "m", "dataset": "d", "technique": "grpo", "grpo": grpo, **extra})
        return dict(ei.value.errors)

    assert "not a valid regular expression" in err({"rewards": [{"type": "regex", "pattern": "(unclosed"}]})[
        "grpo.rewards.0.regex.pattern"]
    assert "does not parse" in err({"rewards": [{"type": "python", "function": "f", "source": "def f(:"}]})[
        "grpo.rewards.0.python.source"]
    assert "needs at least one reward" in err({})["grpo.rewards"]
    assert "two rewards are named 'regex'" in err({"rewards": [{"type": "regex", "pattern": "a"},
                                                               {"type": "regex", "pattern": "b"}]})["grpo.rewards.1"]
    assert "multiple of grpo.num_generations (4)" in err({"rewards": ["numeric_answer"]}, batch_size=3, grad_accum=1)[
        "batch_size"]
    with pytest.raises(SpecError) as ei:
        parse_spec({"model": "m", "dataset": "d", "technique": "rlaif"})
    assert "needs a judge" in dict(ei.value.errors)["rlaif.judge"]
    with pytest.raises(SpecError) as ei:
        parse_spec({"model": "m", "dataset": "d", "technique": "rlaif", "rlaif": {"judge": {"model": "j"}}})
    assert "is required for kind 'openai'" in dict(ei.value.errors)["rlaif.judge.base_url"]
    with pytest.raises(SpecError) as ei:
        parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "dpo": {"loss_type": ["sigmoid", "magic"]}})
    assert "unknown loss 'magic'" in dict(ei.value.errors)["dpo.loss_type"]
    s = parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "dpo": {"loss_type": "ipo", "beta": 0.5}})
    assert s.dpo.loss_type == ["ipo"]


def test_dry_run_scores_before_launch(shell, tmp_path):
    ns = cell(shell, '''
def exclaims(completions, **row):
    return [float(c.count("!")) for c in completions]
''')
    data = tmp_path / "gsm.jsonl"
    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()[:8]]
    data.write_text("".join(json.dumps({"prompt": r["question"], "answer": r["answer"]}) + "\n" for r in rows))
    spec = {"model": "unused", "dataset": str(data), "technique": "grpo",
            "grpo": {"rewards": [ns["exclaims"], {"type": "numeric_answer", "weight": 2.0}]}}
    result = dry_run(spec, n=3, completions=["#### 18!", "no idea"])
    assert result.rewards == ["exclaims", "numeric_answer"] and len(result.rows) == 6
    for r in result.rows:
        assert math.isclose(r["total"], r["exclaims"] + 2.0 * r["numeric_answer"])
    janet = [r for r in result.rows if "Janet" in r["prompt"]]
    if janet:  # row 1 of GSM8K's test split answers 18
        assert janet[0]["numeric_answer"] == 1.0 and janet[0]["exclaims"] == 1.0
    assert "exclaims" in repr(result) and "<table>" in result._repr_html_()
    with pytest.raises(RewardError, match="'boom' raised"):
        def boom(completions, **row):
            raise KeyError("x")
        dry_run(rewards=[boom], rows=[{"prompt": "q"}], completions=["a"])


@pytest.mark.slow
def test_dry_run_samples_completions_from_the_model(tiny_model, tmp_path):
    data = tmp_path / "p.jsonl"
    data.write_text("".join(json.dumps({"prompt": [{"role": "user", "content": f"Tell me about cats {i}"}]}) + "\n"
                            for i in range(5)))
    res = dry_run(rewards=[{"type": "length_penalty", "target": 3}], dataset=str(data), model=str(tiny_model), n=2,
                  num_generations=3, max_new_tokens=8)
    assert len(res.rows) == 6 and len({r["completion"] for r in res.rows}) > 1
    assert all(-1.0 <= r["length_penalty"] <= 0.0 for r in res.rows)
