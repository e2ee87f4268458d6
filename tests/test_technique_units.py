"""A technique is one unit: one module, found by the registry, shows in the JSON schema, the job form and the CLI,
and trains as a job, without touching anything else. Here the module is installed the way a third-party technique
is (a distribution with a `jupyter_ft.techniques` entry point on the path), so every process sees it: the form's
kernel, the CLI, the scheduler and the job."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_ft.core.train import techniques
from jupyter_ft.core.spec.train import TECHNIQUES, TrainSpec
from jupyter_ft.training.techniques import trainer_of

from .test_cli import cli

REPO = Path(__file__).resolve().parents[1]

UNIT = '''
"""SFT that records a tag with its run: a trivial technique, as one module outside jupyter_ft."""
from pydantic import Field

from jupyter_ft.core.spec.base import FieldError
from jupyter_ft.core.train.techniques import Technique, sft


class TaggedSFTOptions(sft.SFTOptions):
    """SFT that records a tag with its run."""

    tag: str = Field("plain", min_length=1, max_length=40, description="a label recorded with the run")


def check(spec):
    if spec.max_length is not None and spec.max_length < 32:  # None: auto, sized from the data later
        raise FieldError("max_length", "tagged_sft needs max_length >= 32")


def build_trainer(ctx):
    from jupyter_ft.training.techniques import sft as sft_trainer  # the job side: imported in the job process only

    ctx.note("tagged_sft.tag", ctx.spec.options.tag)
    return sft_trainer.build_trainer(ctx)


TECHNIQUE = Technique(name="tagged_sft", options=TaggedSFTOptions, data="sft", learning_rate=(3e-3, 3e-4),
                      build_trainer=build_trainer, check=check, auto=sft.auto)
CLASH = Technique(name="lora", options=TaggedSFTOptions, data="sft", learning_rate=(3e-3, 3e-4),
                  build_trainer=build_trainer)
'''

# what a kernel with the plugin installed sees: the schema, the form (built from it), validation; and no torch
KERNEL = '''
import json, sys
import jupyter_ft as ft
from jupyter_ft.core.spec.train import SpecError, TrainSpec, parse_spec

props = TrainSpec.model_json_schema()["properties"]
form = ft.ui.train(auto_size=False, model="m", dataset="d.jsonl")
out = {"enum": props["technique"]["enum"], "block": "tagged_sft" in props, "lora_kept": "r" in str(props["lora"]),
       "choices": list(form.controls["technique"].widget.options),
       "hidden": form.sections["tagged_sft"].layout.display}
form.controls["technique"].widget.value = "tagged_sft"
form.controls["tagged_sft.tag"].widget.value = "blue"
out["shown"] = form.sections["tagged_sft"].layout.display
out["spec"] = form.spec_dict()
out["tag"] = form.spec().options.tag
try:
    parse_spec({"model": "m", "dataset": "d", "technique": "tagged_sft", "max_length": 8})
except SpecError as exc:
    out["check"] = exc.errors
out["heavy"] = [m for m in ("torch", "trl", "transformers", "peft") if m in sys.modules]
print(json.dumps(out))
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch) -> Path:
    """`jft_tagged_sft.py` plus the dist-info `pip install` would write, first on PYTHONPATH for every process."""
    site = tmp_path / "site"
    (site / "jft_tagged_sft-0.1.dist-info").mkdir(parents=True)
    (site / "jft_tagged_sft.py").write_text(UNIT)
    (site / "jft_tagged_sft-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jft-tagged-sft\nVersion: 0.1\n")
    (site / "jft_tagged_sft-0.1.dist-info" / "entry_points.txt").write_text(textwrap.dedent("""\
        [jupyter_ft.techniques]
        tagged_sft = jft_tagged_sft
        clash = jft_tagged_sft:CLASH
        broken = jft_no_such_module
        """))
    import os

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")]))
    return site


def test_builtin_units_are_registered_in_order_with_their_declarations():
    assert TECHNIQUES == ("sft", "dpo", "orpo", "kto", "grpo", "rlaif", "online_dpo")
    for name in TECHNIQUES:
        unit = techniques.get(name)
        assert TrainSpec.model_fields[name].annotation == unit.options | None
        assert unit.data in ("sft", "preference", "prompt")
        assert unit.build_trainer == f"jupyter_ft.training.techniques.{name}:build_trainer"
        assert callable(trainer_of(unit))
    assert techniques.get("dpo").learning_rate == (5e-5, 5e-7) and techniques.get("grpo").data == "prompt"
    with pytest.raises(KeyError, match="unknown technique 'magic'; expected one of sft, dpo"):
        techniques.get("magic")
    with pytest.raises(ValueError, match="data must be one of sft, preference, prompt"):
        techniques.Technique(name="x", options=techniques.get("sft").options, data="pairs",
                             learning_rate=(1e-4, 1e-5), build_trainer=print)


def test_a_technique_module_shows_in_schema_form_and_cli_and_trains(ws, plugin, tiny_model, sft_file, tmp_path):
    kernel = subprocess.run([sys.executable, "-c", KERNEL], capture_output=True, text=True, timeout=120)
    assert kernel.returncode == 0, kernel.stderr
    seen = json.loads(kernel.stdout.strip().splitlines()[-1])
    assert seen["enum"][-1] == "tagged_sft" and seen["block"] and seen["lora_kept"]  # `lora` clash refused
    assert "tagged_sft" in seen["choices"] and seen["hidden"] == "none" and seen["shown"] is None
    assert seen["spec"] == {"technique": "tagged_sft", "model": "m", "dataset": "d.jsonl", "tagged_sft": {"tag": "blue"}}
    assert seen["tag"] == "blue" and seen["heavy"] == []
    assert seen["check"] == [["max_length", "tagged_sft needs max_length >= 32"]]
    # a broken or clashing plugin is reported (a warning naming it), never a crash and never silent
    assert "jft_no_such_module" in kernel.stderr and "'lora': its name is taken by a field" in kernel.stderr

    listing = cli(ws.root, "techniques")
    row = next(line for line in listing.stdout.splitlines() if line.startswith("tagged_sft "))
    assert "sft" in row and "0.003/0.0003" in row and "SFT that records a tag with its run." in row
    assert "not registered: entry point 'broken'" in listing.stderr
    assert "entry point 'tagged_sft' (jft_tagged_sft, from jft-tagged-sft)" in row

    spec = tmp_path / "tagged.yaml"
    spec.write_text(f"technique: tagged_sft\nmodel: {tiny_model}\ndataset: {sft_file}\nmax_steps: 2\nlogging_steps: 1\n")
    out = cli(ws.root, "submit", str(spec), "--set", "tagged_sft.tag=blue", "--set", "lora.r=4", "--wait", check=False)
    job_id = out.stdout.splitlines()[0]
    assert out.returncode == 0 and f"{job_id}: succeeded" in out.stdout, out.stdout[-3000:] + out.stderr[-2000:]
    assert "[jupyter_ft] tagged_sft.tag: blue" in out.stdout  # its own build_trainer ran in the job
    stored = json.loads(cli(ws.root, "status", job_id, "--json").stdout)["spec"]
    assert stored["tagged_sft"]["tag"] == "blue" and stored["lora"]["r"] == 4
    assert stored["learning_rate"] == 3e-3 and "usual for tagged_sft" in stored["auto"]["learning_rate"]
    assert stored["tagged_sft"]["packing"] is False and "tagged_sft.packing" in stored["auto"]  # its auto ran


def test_cli_json_listing_and_schema(capsys):
    from jupyter_ft.cli import main as cli_mod

    assert cli_mod.main(["techniques", "--json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert list(listed) == list(TECHNIQUES) and listed["grpo"]["origin"] == "built-in (jupyter_ft.core.train.techniques.grpo)"
    assert "num_generations" in listed["grpo"]["options"]["properties"] and listed["sft"]["learning_rate"]["lora"] == 2e-4
    assert cli_mod.main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["properties"]["technique"]["enum"] == list(TECHNIQUES) and "dpo" in schema["properties"]


def test_a_job_whose_technique_is_not_installed_where_it_runs_fails_saying_so(ws, tiny_model, sft_file):
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.training import runner
    from jupyter_ft.training.errors import JobInputError

    jobstore.insert(ws, job_id="x-1", kind="train", technique="gone", name=None, device="cpu",
                    spec={"technique": "gone", "model": str(tiny_model), "dataset": str(sft_file)},
                    submitted={}, max_attempts=1)
    with pytest.raises(JobInputError, match="technique: 'gone' is not installed where the job runs "
                                            r"\(installed: sft, dpo, orpo, kto, grpo, rlaif, online_dpo\)"):
        runner.run(ws, jobstore.get(ws, "x-1"))  # the runner turns JobInputError into a failed, unretried job


def test_reward_dry_run_takes_any_technique_whose_options_list_rewards():
    from jupyter_ft.training.rewards import dry_run

    spec = {"model": "m", "dataset": "d.jsonl", "technique": "online_dpo", "online_dpo": {"rewards": ["exact_match"]}}
    result = dry_run(spec, rows=[{"prompt": "2+2?", "answer": "4"}], completions=["4", "five"])
    assert result.rewards == ["exact_match"] and [r["exact_match"] for r in result.rows] == [1.0, 0.0]
    with pytest.raises(ValueError, match="dry_run scores the rewards of grpo/rlaif/online_dpo jobs; this spec's "
                                         "technique is 'dpo'"):
        dry_run({"model": "m", "dataset": "d.jsonl", "technique": "dpo"}, rows=[{"prompt": "q"}], completions=["a"])
