"""Sizing for what the user has: max_length from the data's real token lengths, a time budget turned into steps,
a learning rate for short runs; each with its reason."""

import dataclasses
import json

import pytest

from jupyter_ft.core.datasets import demo_data
from jupyter_ft.core.devices import DeviceInfo
from jupyter_ft.core.spec.train import SpecError, parse_spec
from jupyter_ft.core.train import budget, data_profile, sizing

GB = 1024**3
CPU = DeviceInfo("cpu", "cpu", "CPU", 24 * GB, False, 2)
SMOL = sizing.ModelShape(134_515_008, 576, 30, 1536, 49152, "safetensors", context=8192)


@pytest.mark.parametrize("text,seconds", [("15m", 900), ("1h30m", 5400), ("45s", None), ("90s", 90), ("2h", 7200),
                                          ("1.5h", 5400), (600, 600), ("10 min", 600)])
def test_durations(text, seconds):
    if seconds is None:  # under a minute
        with pytest.raises(ValueError, match="between 1 minute"):
            budget.parse_duration(text)
    else:
        assert budget.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "15", "15x", "-5m", True, [1]])
def test_bad_durations_name_the_field(bad):
    with pytest.raises(SpecError) as e:
        parse_spec({"model": "m", "dataset": "d", "time_budget": bad})
    assert e.value.errors[0][0] == "time_budget"


def test_budget_and_max_steps_exclude_each_other():
    with pytest.raises(SpecError) as e:
        parse_spec({"model": "m", "dataset": "d", "time_budget": "15m", "max_steps": 10})
    assert e.value.errors[0][0] == "time_budget" and "not both" in e.value.errors[0][1]


def test_profile_counts_tokens_as_the_chat_template_renders_them(tiny_model):
    from transformers import AutoTokenizer

    rows = demo_data.preference_rows(60, seed=1)
    p = data_profile.measure(rows, "preference", tiny_model)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    real = sorted(len(tok.apply_chat_template(r["prompt"] + side, tokenize=True, return_dict=False))
                  for r in rows for side in (r["chosen"], r["rejected"]))
    assert p.sequences == 120 and p.per_row == 2 and "chat template" in p.how
    # the template's own BOS aside, the counts are the tokenizer's
    assert abs(p.longest - real[-1]) <= 1 and abs(p.mean - sum(real) / len(real)) <= 1
    estimate = data_profile.measure(rows, "preference", None)
    assert "estimated from characters" in estimate.how and 0.5 < estimate.mean / p.mean < 2


def test_max_length_follows_the_data_not_1024():
    prof = data_profile.DataProfile(600, 2, 99.5, 140, 142, "measured")
    s = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo"}), SMOL, CPU, profile=prof)
    assert s.max_length == 160 and "p99 140" in s.auto["max_length"]
    capped = sizing.resolve(parse_spec({"model": "m", "dataset": "d"}), dataclasses.replace(SMOL, context=128), CPU,
                            profile=data_profile.DataProfile(10, 1, 400, 900, 1000, "measured"))
    assert capped.max_length == 128 and "the model's context" in capped.auto["max_length"]
    given = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "max_length": 512}), SMOL, CPU, profile=prof)
    assert given.max_length == 512 and "max_length" not in given.auto
    unknown = sizing.resolve(parse_spec({"model": "m", "dataset": "d"}), SMOL, CPU)
    assert unknown.max_length == 1024 and "could not be measured" in unknown.auto["max_length"]


def test_time_budget_becomes_steps_by_the_stated_arithmetic():
    prof = data_profile.DataProfile(600, 2, 100.0, 140, 142, "measured")
    peak = {"flops": 200e9}
    s = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "time_budget": "10m"}),
                       SMOL, CPU, profile=prof, peak=peak, train_rows=1000)
    assert s.batch_size == 4 and s.grad_accum == 1
    tokens = 4 * 2 * 100.0
    step_s = tokens * 6 * SMOL.params / (200e9 * budget.EFFICIENCY["cpu"])
    usable = (600 - budget.STARTUP_S - budget.STARTUP_S_PER_B * SMOL.params / 1e9) * (1 - sizing.EVAL_SHARE)
    assert s.max_steps == int(usable // step_s)
    assert "10 min budget" in s.auto["max_steps"] and "measured 200 GFLOP/s" in s.auto["max_steps"]
    # a slower machine gets fewer steps; twice the budget, about twice as many
    slow = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "time_budget": "10m"}),
                          SMOL, CPU, profile=prof, peak={"flops": 50e9}, train_rows=1000)
    assert slow.max_steps < s.max_steps
    # a small dataset caps the steps at three epochs
    few = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "time_budget": "2h"}),
                         SMOL, CPU, profile=prof, peak=peak, train_rows=40)
    assert few.max_steps == 30 and "capped at 3 epoch(s)" in few.auto["max_steps"]


def test_short_lora_runs_take_the_short_run_learning_rate():
    prof = data_profile.DataProfile(600, 2, 100.0, 140, 142, "measured")
    s = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "time_budget": "10m"}),
                       SMOL, CPU, profile=prof, peak={"flops": 200e9}, train_rows=1000)
    from jupyter_ft.core.train import techniques

    short = techniques.get("dpo").short_run_lr
    assert short and s.learning_rate == short and "short-run rate" in s.auto["learning_rate"]
    long = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "max_steps": 2000}),
                          SMOL, CPU, profile=prof)
    assert long.learning_rate == 5e-5 and "usual for dpo" in long.auto["learning_rate"]
    full = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "lora": False,
                                      "max_steps": 20}), SMOL, CPU, profile=prof)
    assert full.learning_rate == 5e-7  # full weights keep the conservative rate
    mine = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "time_budget": "10m",
                                      "learning_rate": 1e-4}), SMOL, CPU, profile=prof, peak={"flops": 200e9})
    assert mine.learning_rate == 1e-4 and "learning_rate" not in mine.auto


def test_preview_measures_the_data_and_the_machine(ws, tiny_model, tmp_path):
    import jupyter_ft as ft

    data = tmp_path / "pref.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_data.preference_rows(100)))
    s = ft.preview({"model": str(tiny_model), "dataset": str(data), "technique": "dpo", "time_budget": "5m"}, ws=ws)
    assert s.max_steps and s.max_steps >= 1 and "measured" in s.auto["max_steps"]
    assert s.max_length < 1024 and "chat template" in s.auto["max_length"]
    assert (ws.root / "matmul_peak.json").is_file()


def test_short_dpo_runs_add_the_nll_term_on_the_chosen_answers():
    prof = data_profile.DataProfile(600, 2, 100.0, 140, 142, "measured")
    short = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "max_steps": 60}),
                           SMOL, CPU, profile=prof)
    assert short.dpo.rpo_alpha == 1.0 and short.dpo.beta == 0.5 and "chosen ones fall" in short.auto["dpo.rpo_alpha"]
    long = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "max_steps": 2000}),
                          SMOL, CPU, profile=prof)
    assert long.dpo.rpo_alpha == 0.0 and long.dpo.beta == 0.1
    given = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "max_steps": 60,
                                       "dpo": {"loss_type": ["sigmoid", "sft"], "loss_weights": [1, 1]}}),
                           SMOL, CPU, profile=prof)
    assert given.dpo.rpo_alpha == 0.0 and "already has an sft term" in given.auto["dpo.rpo_alpha"]


@pytest.mark.slow
def test_rpo_alpha_reaches_trl_as_its_sft_loss(ws, tiny_model):
    import jupyter_ft as ft

    rows = demo_data.preference_rows(40)
    job = ft.submit({"model": str(tiny_model), "dataset": rows, "technique": "dpo", "max_steps": 2, "batch_size": 4,
                     "eval_fraction": 0.0, "dpo": {"rpo_alpha": 0.5}}, ws=ws)
    job.wait(raise_on_failure=True)
    assert "dpo.loss: 1×sigmoid + 0.5×sft, beta 0.5" in job.logs()  # the short-run beta


def test_a_budgeted_spec_round_trips_after_sizing():
    prof = data_profile.DataProfile(600, 2, 100.0, 140, 142, "measured")
    s = sizing.resolve(parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "time_budget": "10m"}),
                       SMOL, CPU, profile=prof, peak={"flops": 200e9}, train_rows=1000)
    again = parse_spec(s.model_dump(mode="json"))  # what the job process reads back
    assert again.max_steps == s.max_steps and again.time_budget == 600


def test_a_job_on_fewer_threads_than_the_peak_was_measured_with_gets_fewer_steps(ws, monkeypatch):
    """The matmul peak is measured on all of torch's threads; a job that will start on one of them (beside another
    job, on a busy machine, or pinned as here) does its share of it, and the budget buys fewer steps."""
    from jupyter_ft.core.jobs import submit

    monkeypatch.setenv("JUPYTER_FT_TORCH_THREADS", "1")
    spec = parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "time_budget": "10m"})
    measured = {"flops": 200e9, "dtype": "float32", "threads": 4}
    shared = submit._thread_share(ws, spec, CPU, measured)
    assert shared["flops"] == 50e9 and shared["threads"] == 1 and shared["of_threads"] == 4
    gpu = dataclasses.replace(CPU, name="cuda:0", kind="cuda")
    assert submit._thread_share(ws, spec, gpu, measured) is measured  # a GPU job keeps the device's peak

    prof = data_profile.DataProfile(600, 2, 100.0, 140, 142, "measured")
    whole = sizing.resolve(spec, SMOL, CPU, profile=prof, peak=measured, train_rows=570)
    share = sizing.resolve(spec, SMOL, CPU, profile=prof, peak=shared, train_rows=570)
    assert share.max_steps < whole.max_steps / 2
    assert "1 of the 4 threads it was measured with" in share.auto["max_steps"], share.auto["max_steps"]
