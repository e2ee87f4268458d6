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


def test_errors_are_one_line_and_a_closed_pipe_is_quiet(ws, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = cli(ws.root, "make-tiny-model", str(blocker / "model"), check=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: make-tiny-model: cannot write") and str(blocker / "model") in line
    r = cli(blocker, "jobs", check=False)  # a workspace root that is a file
    assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli(ws.root, "logs", "x", "--tail", "-1", check=False)
    assert r.returncode == 2 and "--tail: must be a positive integer" in r.stderr

    from jupyter_ft.core.jobs import store as jobstore

    for i in range(1000):  # more than a pipe buffer (64 KiB) of table rows
        jobstore.insert(ws, job_id=f"sft-{i:05d}", kind="train", technique="sft", name=None, device="cpu",
                        spec={"model": "m", "dataset": "d.jsonl"}, submitted={}, max_attempts=3)
    r = subprocess.run(f"{sys.executable} -m jupyter_ft.cli --root {ws.root} jobs 2>{tmp_path / 'err'} | head -2",
                       shell=True, capture_output=True, text=True, timeout=120)
    assert r.stdout.splitlines()[1].startswith("sft-00000")
    assert (tmp_path / "err").read_text() == ""
