"""One `--set FIELD=VALUE` parser for every face: the CLI (a real subprocess) and the magics (a real IPython shell)
turn the same spec file and the same items into the same stored spec."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import jupyter_ft as ft
from jupyter_ft.core.spec import overrides

from .test_cli import cli


def test_items_become_one_nested_mapping_of_yaml_values():
    got = overrides.parse(["lora.r=4", "max_steps=50", "lora.target_modules=[q_proj, v_proj]", "output_dir=",
                           "name=run one", "sft.packing=true", "max_steps=60", "grpo.rewards=[numeric_answer]"])
    assert got == {"lora": {"r": 4, "target_modules": ["q_proj", "v_proj"]}, "max_steps": 60, "output_dir": None,
                   "name": "run one", "sft": {"packing": True}, "grpo": {"rewards": ["numeric_answer"]}}
    base = {"model": "m", "lora": {"alpha": 8}, "tracking": {"experiment": "e"}}
    assert overrides.apply(base, ["lora.r=4"]) == {"model": "m", "lora": {"alpha": 8, "r": 4},
                                                   "tracking": {"experiment": "e"}}
    assert overrides.apply({"lora": False}, ["lora.r=4"]) == {"lora": {"r": 4}}  # a block given by --set is on
    assert base == {"model": "m", "lora": {"alpha": 8}, "tracking": {"experiment": "e"}}  # not modified


@pytest.mark.parametrize("items, message", [
    (["max_steps"], "--set 'max_steps': expected FIELD=VALUE"),
    (["=4"], "--set '=4': expected FIELD=VALUE, FIELD a field name or a dotted path"),
    (["lora..r=4"], "--set 'lora..r=4': expected FIELD=VALUE"),
    (["lora.target_modules=[q_proj"], "--set 'lora.target_modules=[q_proj': the value is not valid YAML: line 1"),
    (["lora=false", "lora.r=4"], "--set 'lora.r=4': lora is already set to False by an earlier --set"),
])
def test_bad_items_are_refused_naming_them(items, message):
    with pytest.raises(overrides.OverrideError) as ei:
        overrides.parse(items)
    assert message in str(ei.value) and "\n" not in str(ei.value)


@pytest.fixture
def shell(ws):
    sh = InteractiveShell.instance()
    sh.run_cell("%load_ext jupyter_ft", store_history=False)
    yield sh
    sh.user_ns.pop("ft_job", None)


def test_set_works_the_same_through_the_cli_and_the_magics(ws, shell, capsys, tiny_model, sft_file, tmp_path):
    body = f"model: {tiny_model}\ndataset: {sft_file}\nmax_steps: 3\nlora:\n  alpha: 8\n"
    spec = tmp_path / "spec.yaml"
    spec.write_text(body)
    items = ["--set", "lora.r=4", "--set", "max_steps=2", "--set", "sft.completion_only_loss=false"]

    r = cli(ws.root, "submit", str(spec), *items, check=False)
    assert r.returncode == 0, r.stderr
    from_cli = ft.get_job(r.stdout.strip())
    ft.cancel(from_cli.id)
    result = shell.run_cell(f"%ft_train {spec} {' '.join(items)} --no-chart --var line_job", store_history=False)
    assert result.success, capsys.readouterr().err
    from_line = shell.user_ns["line_job"]
    ft.cancel(from_line.id)
    result = shell.run_cell(f"%%ft_train {' '.join(items)} --no-chart --var cell_job\n{body}", store_history=False)
    assert result.success, capsys.readouterr().err
    from_cell = shell.user_ns["cell_job"]
    ft.cancel(from_cell.id)

    want = {"model": str(tiny_model), "dataset": str(sft_file), "max_steps": 2, "lora": {"alpha": 8, "r": 4},
            "sft": {"completion_only_loss": False}}
    for job in (from_cli, from_line, from_cell):
        rec = job.record
        assert rec.submitted == want, (job.id, rec.submitted)
        assert (rec.spec["lora"]["r"], rec.spec["lora"]["alpha"], rec.spec["max_steps"]) == (4, 8, 2)
        assert rec.spec["sft"]["completion_only_loss"] is False
    drop = ("auto",)  # the same spec, resolved on the same machine
    assert ({k: v for k, v in from_cli.record.spec.items() if k not in drop}
            == {k: v for k, v in from_line.record.spec.items() if k not in drop}
            == {k: v for k, v in from_cell.record.spec.items() if k not in drop})


def test_a_bad_set_is_one_clear_error_in_both_faces(ws, shell, capsys, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("model: m\ndataset: d.jsonl\n")
    r = cli(ws.root, "submit", str(spec), "--set", "max_steps", check=False)
    assert r.returncode == 2 and r.stderr.strip() == "error: --set 'max_steps': expected FIELD=VALUE"
    r = cli(ws.root, "submit", str(spec), "--set", "lora.rank=4", check=False)
    assert r.returncode == 2 and "lora.rank: unknown field" in r.stderr and "Traceback" not in r.stderr
    result = shell.run_cell(f"%ft_train {spec} --set max_steps --no-chart", store_history=False)
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec) == "--set 'max_steps': expected FIELD=VALUE"
    assert ft.jobs() == []
