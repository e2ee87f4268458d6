"""Training that tells the truth while it runs: the over-optimisation guard of preference training (its rules, and a
real DPO run that over-optimises: warned, stopped, the best evaluated weights kept), warnings in every job summary,
tokens/s at every training log and in MLflow, and the torch thread count chosen for the machine."""

from __future__ import annotations

import pytest

import jupyter_ft as ft
from jupyter_ft.core import threads
from jupyter_ft.core.datasets import demo_data
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.progress import describe
from jupyter_ft.core.jobs.summary import job_summary, list_summaries
from jupyter_ft.core.spec.train import SpecError, parse_spec
from jupyter_ft.core.train.overoptimisation import Watch

from .conftest import write_jsonl
from .test_jobs import wait_forwarded

BETA = 0.1


def train_log(ratio: float, logp: float, margin: float) -> dict:
    return {"loss": 0.1, "rewards/chosen": ratio * BETA, "logps/chosen": logp, "rewards/margins": margin}


def eval_log(ratio: float, logp: float, margin: float, accuracy: float, loss: float = 0.1) -> dict:
    return {"eval_loss": loss, "eval_rewards/chosen": ratio * BETA, "eval_logps/chosen": logp,
            "eval_rewards/margins": margin, "eval_rewards/accuracies": accuracy}


# --- the rules -------------------------------------------------------------------------------------------------

def test_chosen_falling_needs_patience_logs_past_the_drop_with_the_margin_growing():
    w = Watch(beta=BETA, chosen_drop=0.1, patience=3)
    # 30 nats lost of a 300-nat reference = 10%: at the limit, not past it
    assert w.train_log(2, train_log(-30, -330, 1.0)) is None
    for step, ratio in ((4, -40), (6, -45)):
        assert w.train_log(step, train_log(ratio, -300 + ratio, 1.5)) is None
    found = w.train_log(8, train_log(-60, -360, 2.5))
    assert found is not None and found.code == "chosen_falling" and found.step == 8
    assert "20% lower, 60.0 nats" in found.message and "from 1.50 to 2.50" in found.message


def test_chosen_falling_is_not_raised_when_the_margin_shrinks_or_the_chosen_recovers():
    shrinking = Watch(beta=BETA, patience=2)
    shrinking.train_log(2, train_log(-50, -350, 3.0))
    assert shrinking.train_log(4, train_log(-60, -360, 2.0)) is None  # margin fell
    recovering = Watch(beta=BETA, patience=2)
    recovering.train_log(2, train_log(-60, -360, 2.0))
    assert recovering.train_log(4, train_log(-40, -340, 3.0)) is None  # past the limit, but rising again
    rising = Watch(beta=BETA, patience=1)
    assert rising.train_log(2, train_log(5, -295, 3.0)) is None  # chosen above the reference


def test_eval_margin_saturated_while_the_training_margin_grows():
    w = Watch(beta=BETA, eval_patience=2)
    w.train_log(2, train_log(1, -299, 1.0))
    assert w.eval_log(3, eval_log(1, -299, 2.0, 0.8)) is None
    w.train_log(4, train_log(1, -299, 2.0))
    assert w.eval_log(5, eval_log(1, -299, 1.9, 0.8)) is None  # one evaluation without progress is not enough
    w.train_log(6, train_log(1, -299, 3.0))
    found = w.eval_log(7, eval_log(1, -299, 2.0, 0.8))  # equal is not better
    assert found is not None and found.code == "eval_margin_saturated"
    assert "has not beaten 2.00 (step 3)" in found.message and "from 1.00 to 3.00" in found.message
    flat = Watch(beta=BETA, eval_patience=1)
    flat.train_log(2, train_log(1, -299, 2.0))
    flat.eval_log(3, eval_log(1, -299, 2.0, 0.8))
    assert flat.eval_log(5, eval_log(1, -299, 1.5, 0.8)) is None  # the training margin did not grow either


def test_eval_accuracy_saturated_needs_the_chosen_falling_below_the_reference():
    w = Watch(beta=BETA, eval_patience=3)
    for step, ratio in ((3, -1), (6, -2)):
        assert w.eval_log(step, eval_log(ratio, -300 + ratio, 2.0 + step, 1.0)) is None
    found = w.eval_log(9, eval_log(-4, -304, 9.0, 1.0))
    assert found is not None and found.code == "eval_accuracy_saturated" and "4.0 nats below" in found.message
    above = Watch(beta=BETA, eval_patience=2)  # falling, but still above the reference: a normal run
    above.eval_log(3, eval_log(3, -297, 2.0, 1.0))
    assert above.eval_log(6, eval_log(2, -298, 3.0, 1.0)) is None
    inaccurate = Watch(beta=BETA, eval_patience=2)
    inaccurate.eval_log(3, eval_log(-1, -301, 2.0, 1.0))
    assert inaccurate.eval_log(6, eval_log(-2, -302, 3.0, 0.9)) is None


def test_an_evaluation_past_the_drop_is_not_eligible_as_best():
    w = Watch(beta=BETA, chosen_drop=0.1)
    w.eval_log(3, eval_log(-10, -310, 1.0, 0.9))
    assert w.eligible()
    w.eval_log(6, eval_log(-40, -340, 1.0, 0.9))
    assert not w.eligible()


def test_guard_spec_shorthands_and_refusals():
    base = {"model": "m", "dataset": "d", "technique": "dpo"}
    assert parse_spec(base).preference_guard.action == "stop"
    assert parse_spec({**base, "preference_guard": "warn"}).preference_guard.action == "warn"
    assert parse_spec({**base, "preference_guard": False}).preference_guard.action == "off"
    assert parse_spec({**base, "preference_guard": {"chosen_drop": 0.2}}).preference_guard.chosen_drop == 0.2
    with pytest.raises(SpecError) as ei:
        parse_spec({**base, "preference_guard": {"chosen_drop": 1.5}})
    assert "preference_guard.chosen_drop" in str(ei.value)
    with pytest.raises(SpecError) as ei:
        parse_spec({**base, "preference_guard": "sometimes"})
    assert "preference_guard.action" in str(ei.value)


# --- warnings in every summary ----------------------------------------------------------------------------------

def test_a_warning_reaches_the_row_the_summaries_and_the_change_cursor(ws):
    rec = jobstore.insert(ws, job_id="dpo-x", kind="train", technique="dpo", name=None, device="cpu",
                          spec={"model": "m", "dataset": "d"}, submitted={}, max_attempts=1)
    assert rec.warnings == [] and "⚠" not in describe(rec)
    before = jobstore.cursor(ws)
    jobstore.add_warning(ws, "dpo-x", "chosen_falling", "over-optimising", "the long story", step=8)
    jobstore.add_warning(ws, "dpo-x", "chosen_falling", "over-optimising", "the story, later", step=10)
    rec = jobstore.get(ws, "dpo-x")
    assert rec.warnings == [{"code": "chosen_falling", "title": "over-optimising", "message": "the story, later",
                             "step": 10}]  # one per check: the newest
    assert jobstore.cursor(ws) > before and [r.id for r in jobstore.changes(ws, before)[1]] == ["dpo-x"]
    assert job_summary(rec)["warnings"][0]["message"] == "the story, later"
    assert describe(rec).endswith("⚠ over-optimising")
    (listed,) = list_summaries(ws)
    assert listed["warnings"] == job_summary(rec)["warnings"] and "⚠ over-optimising" in listed["describe"]
    assert [e["code"] for e in jobstore.events(ws, "dpo-x", "warning")] == ["chosen_falling"] * 2


# --- a real DPO run that over-optimises, and one that does not ---------------------------------------------------

@pytest.fixture
def extended_rejections(tmp_path):
    """Preference pairs whose rejected answer is the chosen one plus a sentence: the margin grows fastest by making
    every continuation less likely, the chosen answers too (the over-optimisation the guard is for)."""
    rows = [dict(r, rejected=[{"role": "assistant", "content": r["chosen"][0]["content"] + " Bye."}])
            for r in demo_data.preference_rows(160)]
    return write_jsonl(tmp_path / "extended.jsonl", rows)


@pytest.mark.slow
def test_overoptimising_dpo_is_warned_stopped_and_keeps_the_best_evaluation(ws, tiny_model, extended_rejections):
    from safetensors.torch import load_file

    job = ft.train(model=str(tiny_model), dataset=str(extended_rejections), technique="dpo", lora=True,
                   max_steps=24, learning_rate=0.1, logging_steps=2, eval_fraction=0.1, max_length=128, batch_size=8,
                   grad_accum=1, dpo={"beta": BETA, "rpo_alpha": 0.5}, ws=ws)  # looser than the short-run defaults
    job.wait(timeout=600)
    rec = job.record
    assert rec.state == "succeeded", job.logs(tail=40)
    (warned,) = rec.warnings
    assert warned["code"] in ("chosen_falling", "eval_margin_saturated", "eval_accuracy_saturated"), warned
    assert rec.step == warned["step"] < 24  # stopped where the guard spoke, not at max_steps
    assert "Training stopped at step" in warned["message"] and "⚠ over-optimising" in job_summary(rec)["describe"]

    rows = job.metrics()
    evals = [r for r in rows if "eval_loss" in r and r["step"] < warned["step"]]
    train = [r for r in rows if "tokens_per_s" in r]
    assert train and len(train) == len([r for r in rows if "loss" in r]) and all(r["tokens_per_s"] > 0 for r in train)
    # the kept weights: the lowest eval_loss before the warning, among evaluations whose chosen log-prob had not
    # fallen more than 10% below the reference's
    def drop(r):
        ratio = r["eval_rewards/chosen"] / BETA
        return -ratio / abs(r["eval_logps/chosen"] - ratio)

    best = min((r for r in evals if drop(r) <= 0.1), key=lambda r: r["eval_loss"])
    assert f"the output is the step-{best['step']} weights" in warned["message"]
    kept = load_file(str(job.dir / "guard" / "best.safetensors"))
    saved = load_file(str(job.output_dir / "adapter_model.safetensors"))
    assert len(saved) == len(kept) > 0
    for name, tensor in kept.items():
        assert bool((saved[name.replace(".default.", ".")] == tensor).all()), name
    assert f"restored the step-{best['step']} weights" in job.logs()

    wait_forwarded(ws, job)
    from mlflow.tracking import MlflowClient

    run = MlflowClient(rec.tracking_uri).get_run(job.run_id)
    assert run.data.tags[f"jupyter_ft.warning.{warned['code']}"].startswith(warned["message"][:40])
    assert run.data.tags["jupyter_ft.preference_guard.kept_step"] == str(best["step"])
    assert "tokens_per_s" in run.data.metrics
    assert "torch threads: " in run.data.tags["jupyter_ft.torch_threads"]


# --- torch threads --------------------------------------------------------------------------------------------

def test_thread_rule_shares_cores_and_leaves_busy_ones():
    alone = threads.choose(16, {}, load=0.2)
    assert alone.threads == 16 and alone.reason == "16 cores"
    shared = threads.choose(16, {"job a": 4, "endpoint e": 4}, load=8.1)
    assert shared.threads == 5
    assert "shared with 2 other workloads of this workspace (endpoint e, job a)" in shared.reason
    busy = threads.choose(2, {}, load=9.4)  # other programs keep both cores busy
    assert busy.threads == 1 and "9.4 of it from other programs" in busy.reason
    assert threads.choose(2, {"job a": 1}, load=1.0).threads == 1
    assert threads.choose(8, {}, load=None, processes=2).threads == 4
    assert threads.choose(2, {}, load=9.0, override=2, override_from="$X") == threads.Choice(2, "set by $X", False)


def test_retune_needs_two_checks_in_a_row():
    r = threads.Retune()
    assert r.check(current=2, cores=2, ours={}, load=2.1) is None  # its own two threads: nothing else
    assert r.check(current=2, cores=2, ours={}, load=3.5) is None  # something else: wait for the next check
    assert r.check(current=2, cores=2, ours={}, load=2.0) is None  # gone again: the pending change is dropped
    r.check(current=2, cores=2, ours={"endpoint e": 1}, load=3.0)
    assert r.check(current=2, cores=2, ours={"endpoint e": 1}, load=3.0).threads == 1


def test_resizer_follows_the_rule_through_the_launch_environment(ws, monkeypatch):
    state = {"threads": 2}
    folder = ws.root / "endpoints" / "e"
    monkeypatch.setenv(threads.RESIZE_ENV, threads.resize_env(ws, "endpoint e", folder)[threads.RESIZE_ENV])
    resizer = threads.Resizer.from_env(lambda: state["threads"], lambda n: state.update(threads=n), every_s=0.0)
    resizer.load = lambda: 3.2  # its own 2 threads and about one busy core elsewhere
    assert resizer.tick() is None  # the first check only notes it
    line = resizer.tick()
    assert state["threads"] == 1 and threads.recorded(folder) == 1
    assert line.startswith("torch threads: 2 -> 1 (2 cores; load 1.2, 1.2 of it from other programs")
    monkeypatch.delenv(threads.RESIZE_ENV)
    assert threads.Resizer.from_env(lambda: 1, lambda n: None) is None  # a count set by hand stays


def test_the_spec_or_the_environment_sets_the_count(monkeypatch):
    monkeypatch.setenv(threads.THREADS_ENV, "3")
    assert threads.override_of({"torch_threads": 2}) == (2, "the spec's torch_threads")
    assert threads.override_of({}) == (3, f"${threads.THREADS_ENV}")
    monkeypatch.delenv(threads.THREADS_ENV)
    assert threads.override_of({"torch_threads": None}) == (None, "")


@pytest.mark.slow
def test_a_job_starts_with_the_threads_the_rule_chose_for_it(ws, tiny_model, sft_file, monkeypatch):
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)  # the rule itself, as outside the tests
    job = ft.train(model=str(tiny_model), dataset=str(sft_file), technique="sft", lora={"r": 4}, max_steps=2,
                   logging_steps=1, eval_fraction=0.0, ws=ws)
    job.wait(timeout=300)
    log = job.logs()
    assert job.status == "succeeded", log
    n = threads.recorded(job.dir)
    cores = threads.cpu_cores()
    assert n is not None and 1 <= n <= cores
    assert f"torch threads: {n} ({cores} core" in log  # the choice and its reason, before the job's own lines
    assert f"starting at step 0, {n} torch thread" in log  # what torch in the job process actually uses
    rows = [r for r in job.metrics() if "loss" in r]
    assert len(rows) == 2 and all(r["tokens_per_s"] > 0 for r in rows)


# --- the guard as a trainer callback (real TrainerState/TrainerControl, a real torch module) -------------------------

def _feed(guard, logs_by_step):
    from transformers import TrainerControl, TrainerState

    state, control = TrainerState(), TrainerControl()
    for step, logs, before in logs_by_step:
        state.global_step = step
        if before:
            before()
        guard.on_log(None, state, control, logs=dict(logs))
    return state, control


@pytest.mark.parametrize("stop", [True, False])
def test_guard_callback_stops_and_restores_or_only_warns(tmp_path, stop):
    import torch

    from jupyter_ft.training.preference_guard import PreferenceGuard

    model = torch.nn.Linear(2, 2)
    events = []
    guard = PreferenceGuard(model, tmp_path / "guard", beta=BETA, chosen_drop=0.1, patience=3, eval_patience=3,
                            stop=stop, events=lambda kind, payload: events.append((kind, payload)), has_eval=True)
    kept = {}

    def set_weights(value):
        def apply():
            with torch.no_grad():
                model.weight.fill_(value)
            kept[value] = model.weight.detach().clone()
        return apply

    state, control = _feed(guard, [
        (3, eval_log(-1, -301, 1.0, 1.0, loss=0.30), set_weights(1.0)),
        (6, eval_log(-2, -302, 2.0, 1.0, loss=0.20), set_weights(2.0)),   # the best evaluation
        (9, eval_log(-5, -305, 3.0, 1.0, loss=0.10), set_weights(3.0)),   # flagged: accuracy 1, chosen falling
    ])
    (kind, warned), = [e for e in events if e[0] == "warning"]
    assert warned["code"] == "eval_accuracy_saturated" and warned["step"] == 9
    assert control.should_training_stop is stop
    guard.on_train_end(None, state, control)
    if stop:
        assert "the output is the step-6 weights" in warned["message"]
        assert torch.equal(model.weight, kept[2.0])  # put back: the best evaluation's weights
        tag = {"jupyter_ft.preference_guard.kept_step": 6, "jupyter_ft.preference_guard.stopped_at": 9}
        assert ("tag", tag) in events
    else:
        assert "stopped" not in warned["message"] and torch.equal(model.weight, kept[3.0])
        assert not (tmp_path / "guard").exists()  # nothing kept when it may not stop


def test_a_run_shorter_than_two_logging_intervals_still_logs_a_curve(tmp_path):
    from jupyter_ft.training.context import common_args

    spec = parse_spec({"model": "m", "dataset": "d", "logging_steps": 5, "max_steps": 4, "learning_rate": 1e-4})
    assert common_args(spec, tmp_path, 4, False)["logging_steps"] == 2  # steps 2 and 4: two points
    assert common_args(spec, tmp_path, 1, False)["logging_steps"] == 1
    assert common_args(spec, tmp_path, 200, False)["logging_steps"] == 5  # long runs keep the spec's interval
