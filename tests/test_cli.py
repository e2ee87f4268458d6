"""`jupyter-ft` commands: submit from YAML and follow, list, status, logs; bad specs exit 2 naming the field."""

import json
import subprocess
import sys


def cli(root, *args, check=True):
    return subprocess.run([sys.executable, "-m", "jupyter_ft.cli", "--root", str(root), *args],
                          capture_output=True, text=True, check=check, timeout=300)


def test_submit_wait_status_logs(ws, tiny_model, sft_file, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"technique: sft\nmodel: {tiny_model}\ndataset: {sft_file}\nmax_steps: 10\nlora:\n  r: 4\n")
    out = cli(ws.root, "submit", str(spec), "--set", "logging_steps=5", "--wait")
    job_id = out.stdout.splitlines()[0]
    assert f"{job_id}: succeeded" in out.stdout and "step 10/10" in out.stdout
    status = json.loads(cli(ws.root, "status", job_id, "--json").stdout)
    assert status["state"] == "succeeded" and status["spec"]["lora"]["r"] == 4 and status["spec"]["logging_steps"] == 5
    assert "succeeded" in cli(ws.root, "logs", job_id, "--tail", "3").stdout
    assert job_id in cli(ws.root, "jobs").stdout


def test_bad_spec_and_unknown_job(ws, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("technique: sft\nmodel: m\ndataset: d.jsonl\nlearning_rate: -3\n")
    r = cli(ws.root, "submit", str(spec), check=False)
    assert r.returncode == 2 and "learning_rate" in r.stderr and "greater than 0" in r.stderr
    r = cli(ws.root, "status", "nope", check=False)
    assert r.returncode == 2 and "no job with id 'nope'" in r.stderr
