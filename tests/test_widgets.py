"""The notebook panels without a browser: job form, live chart (real training run, reattach after a real kernel
restart), jobs panel, side-by-side compare (real engine, real loopback endpoint)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.metrics import metric_group
from jupyter_ft.core.spec import train as specs
from jupyter_ft.core.spec.train import TrainSpec

from .test_jobs import wait_for


def test_importing_jupyter_ft_and_ui_stays_light():
    code = ("import sys, jupyter_ft; jupyter_ft.ui; "
            "print([m for m in ('ipywidgets', 'plotly', 'torch', 'IPython', 'mlflow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- job form ------------------------------------------------------------------------------------------------

def test_form_fields_come_from_the_schema(ws):
    form = ft.ui.train(auto_size=False)
    expected = {name for name in TrainSpec.model_fields if name not in ("kind", "auto")}
    tops = {p.split(".")[0] for p in list(form.controls) + list(form.sections)}
    assert tops == expected
    for nested in ("lora.r", "lora.alpha", "lora.dropout", "lora.target_modules", "tracking.experiment",
                   "sft.completion_only_loss", "sft.packing"):
        assert nested in form.controls
    advanced = form.advanced.children[0].children
    assert form.sections["lora"] in advanced and form.controls["max_length"].row in advanced
    assert form.controls["learning_rate"].row not in advanced  # a main hyperparameter
    assert form.sections["sft"].layout.display is None  # the chosen technique's options are shown


class DPOOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(0.1, gt=0, description="KL strength")
    loss_type: Literal["sigmoid", "ipo"] = "sigmoid"

    @model_validator(mode="after")
    def _ipo_beta(self):
        if self.loss_type == "ipo" and self.beta > 1:
            raise ValueError("ipo needs beta <= 1")  # an error about the block as a whole
        return self


class SpecWithDPO(TrainSpec):
    technique: Literal["sft", "dpo"] = "sft"
    dpo: DPOOptions | None = None


def test_form_picks_up_technique_blocks_added_to_the_schema(ws, monkeypatch):
    """A technique added later (a field on the spec, its options class registered beside `sft`) appears in the
    form without touching the form."""
    monkeypatch.setitem(specs.TECHNIQUE_OPTIONS, "dpo", DPOOptions)
    form = ft.ui.train(schema=SpecWithDPO, auto_size=False, model="m", dataset="d.jsonl")
    assert form.controls["dpo.loss_type"].widget.options == ("sigmoid", "ipo")
    assert form.sections["dpo"].layout.display == "none"
    form.controls["technique"].widget.value = "dpo"
    assert form.sections["dpo"].layout.display is None and form.sections["sft"].layout.display == "none"
    form.controls["dpo.beta"].widget.value = "0.3"
    form.controls["sft.packing"].widget.value = True  # hidden block: not sent
    assert form.spec_dict() == {"technique": "dpo", "model": "m", "dataset": "d.jsonl", "dpo": {"beta": 0.3}}
    form.controls["dpo.beta"].widget.value = "-1"
    assert "greater than 0" in form.errors["dpo.beta"]
    form.set(dpo={"beta": 2, "loss_type": "ipo"})
    assert "ipo needs beta <= 1" in form.errors["dpo"] and "ipo needs beta" in form.section_errors["dpo"].value


def test_form_builds_a_valid_spec_and_marks_invalid_fields(ws, tmp_path):
    form = ft.ui.train(model="./tiny", dataset="chat.jsonl", auto_size=False)
    form.set(max_steps=30, learning_rate=5e-3, lora={"r": 4, "target_modules": ["q_proj", "v_proj"]},
             tracking={"experiment": "exp"})
    spec = form.spec()
    assert isinstance(spec, TrainSpec) and form.errors == {}
    assert (spec.max_steps, spec.learning_rate, spec.lora.r, spec.lora.target_modules) == (30, 5e-3, 4, ["q_proj", "v_proj"])
    assert form.spec_dict() == {"model": "./tiny", "dataset": "chat.jsonl", "max_steps": 30, "learning_rate": 5e-3,
                                "lora": {"r": 4, "target_modules": ["q_proj", "v_proj"]},
                                "tracking": {"experiment": "exp"}}

    # typing bad values (as a user would) marks each field with the schema's message
    form.controls["learning_rate"].widget.value = "-1"
    form.controls["batch_size"].widget.value = "many"
    form.controls["lora.r"].widget.value = "0"
    assert set(form.errors) == {"learning_rate", "batch_size", "lora.r"}
    assert "greater than 0" in form.errors["learning_rate"] and "valid integer" in form.errors["batch_size"]
    c = form.controls["lora.r"]
    assert "lora.r: Input should be greater than 0" in c.error.value and "jft-invalid" in c.widget._dom_classes
    assert "Please fix" in form.status.value
    with pytest.raises(ft.SpecError) as ei:
        form.submit()
    assert {f for f, _ in ei.value.errors} == {"learning_rate", "batch_size", "lora.r"}
    assert ft.jobs() == []  # nothing queued

    form.set(learning_rate=1e-3, lora={"r": 8})
    form.controls["batch_size"].widget.value = ""  # back to auto
    assert form.errors == {} and form.controls["lora.r"].error.value == "" and form.validate()

    form.set(lora=False)  # full fine-tuning
    assert form.spec().lora is None and form._bodies["lora"].layout.display == "none"
    with pytest.raises(ft.SpecError, match="colour"):
        form.set(colour="red")


def ends_with_bang(completions, **row):
    """A reward as a user types it in a notebook cell."""
    return [1.0 if c.strip().endswith("!") else 0.0 for c in completions]


def test_grpo_form_takes_notebook_reward_functions_and_shows_their_shipped_source(ws):
    form = ft.ui.train(model="./tiny", dataset="prompts.jsonl", technique="grpo", auto_size=False,
                       grpo={"rewards": [ends_with_bang, "numeric_answer"]})
    box = form.controls["grpo.rewards"]
    text = box.get()
    # the YAML shows exactly the code the job will run, as a readable block, and the box grows to hold it
    assert "type: python" in text and "function: ends_with_bang" in text and "source: |" in text
    assert '    return [1.0 if c.strip().endswith("!") else 0.0 for c in completions]' in text
    assert box.widget.rows >= text.count("\n") + 1
    spec = form.spec()
    assert [r.type for r in spec.grpo.rewards] == ["python", "numeric_answer"]
    assert "endswith" in spec.grpo.rewards[0].source and form.errors == {}

    # editing the YAML as a user would: a weight, then a broken function body
    box.widget.value = text.replace("weight: 1.0", "weight: 2.0")
    assert form.spec().grpo.rewards[0].weight == 2.0
    box.widget.value = text.replace("def ends_with_bang(completions, **row):", "def ends_with_bang(completions, **row)")
    assert "grpo.rewards" in form.errors and "does not parse" in form.errors["grpo.rewards"]

    # a function that cannot be shipped is refused naming the field, not a traceback
    with pytest.raises(ft.SpecError) as ei:
        form.set(grpo={"rewards": [lambda completions, **row: [0.0] * len(completions)]})
    assert ei.value.errors[0][0] == "grpo.rewards" and "lambda" in ei.value.errors[0][1]


def test_form_prefills_auto_sized_values_with_reasons(ws, tiny_model, sft_file):
    form = ft.ui.train(model=str(tiny_model), dataset=str(sft_file))
    resolved = form.wait_sized(timeout=120)
    assert resolved is not None
    again = ft.preview({"model": str(tiny_model), "dataset": str(sft_file)}, ws)
    assert {**resolved.auto, "dataset": None} == {**again.auto, "dataset": None}  # the note says imported / unchanged
    assert resolved.model_copy(update={"auto": {}}) == again.model_copy(update={"auto": {}})
    hint = form.controls["batch_size"].hint.value
    assert f"auto: <b>{resolved.batch_size}</b>" in hint and "fits" in hint and "on cpu" in hint
    assert form.controls["batch_size"].widget.placeholder == f"{resolved.batch_size} (auto)"
    assert "rank for a" in form.controls["lora.r"].hint.value
    assert "usual for sft with LoRA" in form.controls["learning_rate"].hint.value
    assert "fp32" in form.controls["precision"].hint.value
    assert "batch_size" not in form.spec_dict()  # auto stays auto until the user types a value
    form.controls["batch_size"].widget.value = "2"
    form.wait_sized(timeout=60)
    assert "auto:" not in form.controls["batch_size"].hint.value and form.spec_dict()["batch_size"] == 2


def test_form_shows_a_wrong_kind_dataset_on_its_field_and_keeps_the_other_hints(ws, tiny_model, sft_file):
    """Chat rows with technique=dpo: only the preview finds it (the schema cannot), so it is shown on the dataset
    field when the background sizing meets it, and the other fields keep their auto hints, as they do while any
    one field is invalid."""
    form = ft.ui.train(model=str(tiny_model), dataset=str(sft_file), technique="dpo")
    form.wait_sized(timeout=120)
    hint = lambda path: form.controls[path].hint.value  # noqa: E731
    assert "dpo data (preference) is one of" in form.errors["dataset"] and "fit sft data" in form.errors["dataset"]
    assert "dpo data (preference) is one of" in form.controls["dataset"].error.value and "Please fix: dataset" in form.status.value
    assert "auto: <b>" in hint("batch_size") and "usual for dpo with LoRA" in hint("learning_rate")
    assert "rank for a" in hint("lora.r")

    form.controls["technique"].widget.value = "sft"  # the user picks a technique the rows fit: the error goes at once
    assert "dataset" not in form.errors and form.controls["dataset"].error.value == ""
    form.wait_sized(timeout=60)
    assert form.errors == {} and "usual for sft with LoRA" in hint("learning_rate")

    form.controls["lora.r"].widget.value = "0"  # one invalid field: the others keep their auto values
    form.wait_sized(timeout=60)
    assert "greater than 0" in form.errors["lora.r"] and "greater than 0" in form.controls["lora.r"].error.value
    assert "auto: <b>" in hint("batch_size") and "usual for sft with LoRA" in hint("learning_rate")
    assert "auto:" not in hint("lora.r")
    form.controls["max_length"].widget.value = "lots"  # a second one, outside sizing's own inputs
    form.wait_sized(timeout=60)
    assert set(form.errors) == {"lora.r", "max_length"} and "auto: <b>" in hint("batch_size")

    form.set(technique="dpo", lora={"r": 8}, max_length=256)
    with pytest.raises(ft.SpecError) as ei:  # Submit without waiting for sizing: refused on the same field
        form.submit()
    assert [f for f, _ in ei.value.errors] == ["dataset"] and ft.jobs() == []
    assert "dpo data (preference) is one of" in form.controls["dataset"].error.value


def test_clone_and_edit_fills_the_form_from_a_job(ws, tmp_path, broken_model, sft_file):
    submitted = {"model": str(broken_model), "dataset": str(sft_file), "name": "orig", "max_steps": 7,
                 "lora": {"r": 4}, "sft": {"packing": True}, "eval_fraction": 0.2}
    resolved = ft.preview(submitted, ws).model_dump(mode="json")  # what submit stores, without starting a process
    jobstore.insert(ws, job_id="sft-orig", kind="train", technique="sft", name="orig", device="cpu", spec=resolved,
                    submitted=submitted, max_attempts=3)
    job = ft.get_job("sft-orig", ws)
    form = ft.ui.train(job, auto_size=False)
    assert form.spec_dict() == submitted
    assert "filled from job" in form.status.value
    form.set(max_steps=9)
    assert form.spec_dict() == {**submitted, "max_steps": 9}
    full = ft.ui.train(job, resolved=True, auto_size=False)
    assert full.spec_dict()["batch_size"] == job.record.spec["batch_size"]  # resolved: auto values made explicit


def test_dataset_preview_from_the_form_and_ft_ui_datasets(ws, tmp_path):
    from jupyter_ft.core.datasets import demo_data

    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in demo_data.sft_rows(8)))
    view = ft.ui.datasets(str(path))
    assert "The capital of France is Paris." in view.table.value and len(view.rows) == 8
    form = ft.ui.train(dataset=str(path), auto_size=False)
    form.preview_button.click()
    assert "The capital of France is Paris." in form.preview_box.children[0].table.value
    assert "neither a catalog dataset nor a local file" in ft.ui.datasets("org/hub-dataset").value
    assert "catalog is empty" in ft.ui.datasets().value
    ft.datasets.add(str(path), name="capitals", technique="sft", eval_fraction=0.0, progress=False, ws=ws.root)
    chooser = ft.ui.datasets()
    assert chooser.children[0].value.startswith("capitals@")
    assert ft.ui.train(auto_size=False, ws=ws).controls["dataset"].widget.options[0].startswith("capitals@")


# --- live chart ------------------------------------------------------------------------------------------------

def _fake_job(ws, job_id: str, name: str | None = None, technique: str = "sft"):
    """A job row fed by hand through the real event log (what a job process writes), without training."""
    jobstore.insert(ws, job_id=job_id, kind="train", technique=technique, name=name, device="cpu",
                    spec={"model": "m", "dataset": "d.jsonl"}, submitted={}, max_attempts=3)
    jobstore.set_fields(ws, job_id, state="running", started_at=time.time() - 10, total_steps=100, step=0,
                        progress_at=time.time())


def _log(ws, job_id, step, **values):
    jobstore.append_event(ws, job_id, "metrics", {"values": values}, step=step)


def test_metric_groups_cover_each_technique():
    assert metric_group("loss") == metric_group("eval_loss") == "loss"
    assert metric_group("rewards/margins") == metric_group("rewards/chosen") == "rewards"  # DPO
    assert metric_group("rewards/accuracies") == metric_group("mean_token_accuracy") == "accuracy"
    assert metric_group("rewards/exact_match/mean") == metric_group("reward") == "rewards"  # GRPO per function
    assert metric_group("rewards/exact_match/std") == metric_group("reward_std") == "reward spread"
    assert metric_group("kl") == "kl" and metric_group("learning_rate") == "learning rate"
    assert metric_group("completions/mean_length") == "completion length"
    assert metric_group("clip_ratio/low_mean") == "clip_ratio" and metric_group("weird") == "other"
    assert metric_group("train_runtime") is None and metric_group("epoch") is None


def test_chart_panels_resume_dedup_throttle_and_overlay(ws):
    _fake_job(ws, "dpo-a", "dpo run", "dpo")
    for s in range(1, 201):  # 200 logging steps land between two ticks: one batched figure update
        _log(ws, "dpo-a", s, loss=1 / s, **{"rewards/margins": s / 100, "rewards/accuracies": 0.5,
                                            "learning_rate": 1e-4, "epoch": s / 200})
    chart = ft.ui.chart("dpo-a", start=False)
    assert chart.refresh() is True
    assert chart.updates == 1 and chart.panels == ["loss", "rewards", "accuracy", "learning rate"]
    assert [s for s, _ in chart.trace_points("dpo-a", "loss")] == list(range(1, 201))
    assert "epoch" not in chart.metrics_shown("dpo-a")
    assert chart.refresh() and chart.updates == 1  # nothing new: no redraw

    # the job resumed from a checkpoint at step 150: its re-logged steps replace the dead attempt's
    _log(ws, "dpo-a", 151, loss=9.0)
    _log(ws, "dpo-a", 155, eval_loss=2.0, kl=0.1)
    chart.refresh()
    steps = [s for s, _ in chart.trace_points("dpo-a", "loss")]
    assert steps == list(range(1, 152)) and chart.trace_points("dpo-a", "loss")[-1] == (151, 9.0)
    assert chart.panels == ["loss", "rewards", "accuracy", "kl", "learning rate"]
    titles = [a.text for a in chart.figure.layout.annotations]
    assert titles == [f"<b>{p}</b>" for p in chart.panels]
    loss, eval_loss = (next(t for t in chart.figure.data if t.name == n) for n in ("loss", "eval_loss"))
    assert loss.xaxis == eval_loss.xaxis == "x" and eval_loss.line.dash == "dot"

    _fake_job(ws, "grpo-b", "grpo run", "grpo")
    _log(ws, "grpo-b", 10, loss=0.5, reward=0.2, **{"rewards/fmt/mean": 0.2, "rewards/fmt/std": 0.1})
    chart.add("grpo-b")
    chart.refresh()
    assert set(chart.panels) >= {"rewards", "reward spread"}
    a_color = next(t for t in chart.figure.data if t.name == "dpo run · loss").line.color
    b_color = next(t for t in chart.figure.data if t.name == "grpo run · loss").line.color
    assert a_color != b_color  # overlaid runs are told apart by colour

    jobstore.set_fields(ws, "dpo-a", step=151)
    jobstore.finish(ws, "dpo-a", "succeeded")
    assert chart.refresh() is True  # grpo-b still running
    jobstore.finish(ws, "grpo-b", "failed", "reward function 'fmt' raised")
    assert chart.refresh() is False  # every run ended
    text = chart.summary()
    assert "dpo run: succeeded" in text and "reward function 'fmt' raised" in text
    assert chart.runs[0].bar.bar_style == "success" and chart.runs[1].bar.bar_style == "danger"


def _sent(chart) -> dict:
    """The figure as the page gets it: the plotly output the chart's `Output` widget holds."""
    (out,) = chart.plot.outputs
    return out["data"]["application/vnd.plotly.v1+json"]


def test_chart_sends_the_page_named_traces_on_a_panel_each(ws):
    """The browser draws what is sent, not what `figure.data` holds. With plotly's FigureWidget edit messages the
    page showed one panel with `trace 0..3` and tokens on the loss axis (edits set and reset as traitlets were lost,
    and a batch adding panels sent `xaxis3` with `xaxis3.domain`, which plotly.js refuses whole). The chart sends
    the whole figure as output state instead, after every change."""
    _fake_job(ws, "sft-a", "a")
    for s in (1, 2, 3):
        _log(ws, "sft-a", s, loss=3 / s, num_tokens=1000 * s, learning_rate=1e-3)
    chart = ft.ui.chart("sft-a", start=False)
    assert chart.plot.outputs == ()
    chart.refresh()
    _log(ws, "sft-a", 4, loss=0.7, eval_loss=0.9, grad_norm=1.5)  # a panel arrives later: the grid is redone
    chart.refresh()
    fig = _sent(chart)
    traces = {t["name"]: t for t in fig["data"]}
    assert sorted(traces) == ["eval_loss", "grad_norm", "learning_rate", "loss", "num_tokens"]
    assert {n: (t["xaxis"], t["yaxis"]) for n, t in traces.items()} == {
        "loss": ("x", "y"), "eval_loss": ("x", "y"), "learning_rate": ("x2", "y2"), "grad_norm": ("x3", "y3"),
        "num_tokens": ("x4", "y4")}  # tokens moved from the third panel to the fourth when grad norm arrived
    assert traces["num_tokens"]["y"] == [1000.0, 2000.0, 3000.0] and traces["loss"]["x"] == [1, 2, 3, 4]
    assert traces["eval_loss"]["line"]["color"] == traces["loss"]["line"]["color"]
    assert traces["eval_loss"]["line"]["dash"] == "dot"
    assert len({traces[n]["line"]["color"] for n in ("loss", "learning_rate", "num_tokens", "grad_norm")}) == 4
    layout = fig["layout"]
    assert [a["text"] for a in layout["annotations"]] == ["<b>loss</b>", "<b>learning rate</b>", "<b>grad norm</b>",
                                                          "<b>tokens seen</b>"]
    assert [layout[f"xaxis{i}"]["title"]["text"] for i in ("", "2", "3", "4")] == ["", "", "step", "step"]
    domains = {(tuple(layout[f"xaxis{i}"]["domain"]), tuple(layout[f"yaxis{i}"]["domain"])) for i in ("", "2", "3", "4")}
    assert len(domains) == 4  # four separate panels
    assert chart.panels == ["loss", "learning rate", "grad norm", "tokens seen"]

    _fake_job(ws, "sft-b", "b")
    _log(ws, "sft-b", 1, loss=2.0, num_tokens=500)
    chart.add("sft-b")
    chart.refresh()
    names = {t["name"] for t in _sent(chart)["data"]}
    assert {"a · loss", "a · num_tokens", "b · loss", "b · num_tokens"} <= names and "loss" not in names


def test_chart_receives_points_from_a_real_run_as_they_are_logged(ws, tiny_model, sft_file):
    import jupyter_ft.widgets.chart  # noqa: F401  (plotly and ipywidgets loaded before the job starts, not during it)

    job = ft.train(model=str(tiny_model), dataset=str(sft_file), max_steps=40, logging_steps=5,
                   learning_rate=5e-3, eval_fraction=0.25)
    chart = ft.ui.chart(job, interval=0.2)
    seen: list[int] = []
    while not job.record.done:
        seen.append(len(chart.trace_points(job, "loss")))
        time.sleep(0.1)
    assert chart.wait(timeout=30) and not chart.live
    assert job.status == "succeeded", job.logs(tail=30)
    logged = [(m["step"], m["loss"]) for m in job.metrics() if "loss" in m]
    assert chart.trace_points(job, "loss") == logged and len(logged) == 8
    assert any(0 < n < len(logged) for n in seen), seen  # points appeared while the job was still training
    assert {"loss", "eval_loss", "learning_rate", "grad_norm"} <= set(chart.metrics_shown(job))
    assert chart.panels[:1] == ["loss"] and "learning rate" in chart.panels
    assert chart.runs[0].bar.value == 40 and chart.runs[0].bar.bar_style == "success"
    assert "succeeded · step 40/40" in chart.runs[0].info.value


def _kernel_run(kc, code: str, timeout: float = 120) -> str:
    out: list[str] = []
    errors: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    assert reply["content"]["status"] == "ok" and not errors, errors
    return "".join(out)


@pytest.mark.slow
def test_chart_reattaches_after_a_kernel_restart_with_the_whole_history(ws, tiny_model, sft_file):
    from jupyter_client.manager import start_new_kernel

    job = ft.train(model=str(tiny_model), dataset=str(sft_file), max_steps=150, logging_steps=5, learning_rate=5e-3)
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        _kernel_run(kc, f"import jupyter_ft as ft; c = ft.ui.chart({job.id!r}, interval=0.2)")
        code = f"import time; time.sleep(0.5); print(len(c.trace_points({job.id!r}, 'loss')))"
        wait_for(lambda: int(_kernel_run(kc, code).split()[-1]) >= 3, timeout=180, poll=0, what="points in kernel 1")
        before = int(_kernel_run(kc, code).split()[-1])

        km.restart_kernel(now=True)  # like Kernel > Restart: the chart and its thread are gone, the job is not
        kc.wait_for_ready(timeout=60)
        assert job.status in ("running", "succeeded")
        _kernel_run(kc, f"import jupyter_ft as ft; c = ft.ui.chart({job.id!r}, interval=0.2)")
        first = int(_kernel_run(kc, f"c.refresh(); print(len(c.trace_points({job.id!r}, 'loss')))").split()[-1])
        assert first >= before  # the history from before the restart is there at once
        out = _kernel_run(kc, f"import json; c.wait(300); print(json.dumps(c.trace_points({job.id!r}, 'loss')))",
                          timeout=360)
        points = [tuple(p) for p in json.loads(out.strip().splitlines()[-1])]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert job.wait(timeout=60).status == "succeeded"
    assert points == [(m["step"], m["loss"]) for m in job.metrics() if "loss" in m]
    assert [s for s, _ in points] == list(range(5, 151, 5))


# --- jobs panel ----------------------------------------------------------------------------------------------

def test_jobs_panel_lists_jobs_and_its_buttons_act(ws):
    _fake_job(ws, "sft-run", "first")
    jobstore.set_fields(ws, "sft-run", step=40, mlflow_run_id="abc123", mlflow_experiment_id="7",
                        tracking_uri="http://mlflow.example:5000")
    jobstore.insert(ws, job_id="sft-queued", kind="train", technique="sft", name=None, device="cpu",
                    spec={"model": "m", "dataset": "other.jsonl"}, submitted={"model": "m", "dataset": "other.jsonl",
                                                                              "max_steps": 5}, max_attempts=3)
    panel = ft.ui.jobs(live=False)
    assert panel.order == ["sft-queued", "sft-run"]  # newest first
    run, queued = panel.rows["sft-run"], panel.rows["sft-queued"]
    assert run.bar.value == 40 and run.bar.max == 100 and run.steps.value == "40/100"
    assert "running" in run.state.value and "d.jsonl" in run.dataset.value
    assert "http://mlflow.example:5000/#/experiments/7/runs/abc123" in run.mlflow.value
    assert queued.mlflow.value == "" and "other.jsonl" in queued.dataset.value
    assert "2 jobs" in panel.title.value and "sft-queued" in panel.text()

    queued.cancel_button.click()
    assert jobstore.get(ws, "sft-queued").state == "cancelled"
    assert queued.cancel_button.disabled and "cancelled" in queued.state.value

    run.chart_button.click()
    chart = panel.detail.children[1]
    assert type(chart).__name__ == "LiveChart" and chart.job_ids == ["sft-run"]
    queued.clone_button.click()
    form = panel.detail.children[1]
    assert type(form).__name__ == "JobForm" and form.spec_dict() == {"model": "m", "dataset": "other.jsonl", "max_steps": 5}
    assert chart.wait(timeout=5) and not chart.live  # the replaced chart stopped updating

    _fake_job(ws, "sft-new")
    assert panel.refresh() and list(panel.rows)[-1] == "sft-new" and panel.order[0] == "sft-new"


# --- compare -------------------------------------------------------------------------------------------------

@pytest.fixture
def random_adapter(tiny_model, tmp_path):
    """A real PEFT LoRA adapter with non-zero random weights on the tiny model (no training needed)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=64, target_modules="all-linear", init_lora_weights=False))
    out = tmp_path / "adapter"
    peft.save_pretrained(str(out))
    return out


def test_compare_answers_side_by_side_on_a_worker_thread(ws, tiny_model, random_adapter):
    panel = ft.ui.compare(models=["base", str(random_adapter)], prompts=["What is the capital of France?", "Hi!"],
                          max_new_tokens=8)
    assert "working" in panel.status.value  # returned at once; torch loads on the worker thread
    assert "max_new_tokens 8 · greedy" in panel.children[0].value
    panel.wait(timeout=300)
    assert "done in" in panel.status.value, panel.status.value
    assert [r.label for r in panel.refs] == ["base", "adapter"] and panel.refs[0].model == str(tiny_model)
    answers = panel.answers()
    assert [a["prompt"] for a in answers] == ["What is the capital of France?", "Hi!"]
    assert all(isinstance(a["base"], str) and isinstance(a["adapter"], str) for a in answers)
    assert answers[0]["base"] != answers[0]["adapter"]  # the adapter is switched per request
    assert all(r["completion_tokens"] <= 8 for row in panel.results for r in row)
    assert "adapter: " in panel.text() and "<div" in panel.cells[0][1].value


class _EchoChat(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible chat endpoint on loopback: answers with the last user message reversed."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path == "/v1/chat/completions"
        text = body["messages"][-1]["content"][::-1]
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}],
                           "usage": {"completion_tokens": len(text.split())}, "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_compare_endpoint_entries_and_bad_entries(ws, tmp_path, broken_model, sft_file):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoChat)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        panel = ft.ui.compare(models=[f"http://127.0.0.1:{port}/v1#echo", "http://127.0.0.1:9/v1#down"],
                              prompts=["abc", "hello"]).wait(timeout=60)
    finally:
        server.shutdown()
    assert [a["echo"] for a in panel.answers()] == ["cba", "olleh"]
    assert all(a["down"].startswith("error: RuntimeError: http://127.0.0.1:9/v1") for a in panel.answers())
    assert "done with errors" in panel.status.value

    from jupyter_ft.core.registry.model_refs import ModelEntryError

    with pytest.raises(ModelEntryError, match="'base': no adapter names it"):
        ft.ui.compare(models=["base"], prompts=["x"])
    with pytest.raises(ModelEntryError, match="no such job, folder or model"):
        ft.ui.compare(models=[str(tmp_path / "nope")], prompts=["x"])
    job = ft.submit({"model": str(broken_model), "dataset": str(sft_file)}, ws)
    with pytest.raises(ModelEntryError, match=f"job {job.id} is (queued|running|failed)"):
        ft.ui.compare(models=[job.id], prompts=["x"])
    with pytest.raises(ValueError, match="max_new_tokens"):
        ft.ui.compare(models=[f"http://127.0.0.1:{port}/v1"], prompts=["x"], max_new_tokens=0)
