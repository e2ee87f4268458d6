"""Counters across a crash-resume: `num_tokens` and other counting-up metrics continue where the dead attempt's
kept points end, in `Job.metrics()`, the live chart and everything else that reads `MetricHistory`, instead of
falling back to zero and climbing again (a sawtooth). A real SFT job killed and resumed is checked in
`test_jobs.test_sigkill_resumes_from_checkpoint_with_same_total_steps` (TRL's SFT counter does restart at zero)."""

from __future__ import annotations

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.metrics import MetricHistory, is_counter


def _job(ws, job_id: str = "sft-r") -> str:
    jobstore.insert(ws, job_id=job_id, kind="train", technique="sft", name=None, device="cpu",
                    spec={"model": "m", "dataset": "d.jsonl"}, submitted={}, max_attempts=3)
    return job_id


def _log(ws, job_id: str, step: int, **values: float) -> None:
    jobstore.append_event(ws, job_id, "metrics", {"values": values}, step=step)


def test_counters_are_known_by_name():
    assert is_counter("num_tokens") and is_counter("eval_num_tokens") and is_counter("num_input_tokens_seen")
    assert not is_counter("loss") and not is_counter("rewards/accuracies") and not is_counter("num_generations")


def test_a_counter_restarted_by_the_resumed_attempt_continues(ws):
    job = _job(ws)
    for step in (10, 20, 30):  # attempt 1: 1,000 tokens per 10 steps; dies after step 30
        _log(ws, job, step, loss=1.0 / step, num_tokens=100.0 * step)
    history = MetricHistory(ws, job)
    history.poll()
    # attempt 2 resumed from the checkpoint at step 20: TRL's SFT counter starts again from zero
    for step in (30, 40):
        _log(ws, job, step, loss=0.5 / step, num_tokens=100.0 * (step - 20))
    up = history.poll()
    tokens = history.series["num_tokens"]
    assert tokens.steps == [10, 20, 30, 40] and tokens.values == [1000.0, 2000.0, 3000.0, 4000.0]
    assert [p.value for p in up.points if p.metric == "num_tokens"] == [3000.0, 4000.0]
    assert "num_tokens" in up.rewritten
    assert history.series["loss"].values[-2:] == [0.5 / 30, 0.5 / 40]  # not a counter: as logged

    # attempt 3 died exactly at a checkpoint it had logged (no step repeats): the drop alone says it restarted
    _log(ws, job, 50, num_tokens=1000.0)
    history.poll()
    assert tokens.steps[-1] == 50 and tokens.values[-1] == 5000.0
    assert [r["num_tokens"] for r in ft.get_job(job, ws).metrics()] == [1000.0, 2000.0, 3000.0, 4000.0, 5000.0]


def test_a_counter_the_trainer_restored_is_left_as_logged(ws):
    """GRPO counts `num_tokens` in the trainer state, which a checkpoint restores: it keeps rising on its own."""
    job = _job(ws)
    for step in (10, 20, 30):
        _log(ws, job, step, num_tokens=100.0 * step)
    for step in (30, 40):  # resumed from step 20 with the count restored
        _log(ws, job, step, num_tokens=100.0 * step)
    history = MetricHistory(ws, job)
    history.poll()
    assert history.series["num_tokens"].values == [1000.0, 2000.0, 3000.0, 4000.0]


def test_the_chart_draws_a_resumed_count_without_a_sawtooth(ws):
    job = _job(ws)
    for step in (10, 20, 30):
        _log(ws, job, step, loss=1.0, num_tokens=100.0 * step)
    chart = ft.ui.chart(job, start=False)
    chart.refresh()
    for step in (30, 40, 50):
        _log(ws, job, step, loss=1.0, num_tokens=100.0 * (step - 20))
    chart.refresh()
    values = [v for _, v in chart.trace_points(job, "num_tokens")]
    assert values == sorted(values) and values[-1] == 5000.0
