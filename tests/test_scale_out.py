"""Scaling out: `compute` (processes, strategy, auto) and `executor` (local, ray) in the job spec.

Fast tests: auto choices with reasons, every refusal names its field and what to configure, and the accelerate
config generated for each strategy is accepted by accelerate's own config loader and launch validation.
Slow tests: a local job under `accelerate launch` with 2 CPU processes (gloo) against one process with the same
global batch; a Ray cluster started here on loopback runs a data-parallel SFT job (2 workers, gloo), survives a
killed worker by resuming from Ray's checkpoint, and stops on the cluster when cancelled.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import yaml

import jupyter_ft as ft
from jupyter_ft.core import procs
from jupyter_ft.core.train import compute
from jupyter_ft.core.devices import DeviceInfo
from jupyter_ft.core.spec.train import SpecError, parse_spec

from .test_jobs import mlflow_run, wait_for, wait_forwarded

GPU = DeviceInfo("cuda", "cuda:0", "test GPU", 80 * 1024**3, True, 16)
CPU = DeviceInfo("cpu", "cpu", "CPU", 16 * 1024**3, False, 2)


def _spec(**fields):
    return parse_spec({"model": "./m", "dataset": "d.jsonl", **fields})


def _errors(exc: SpecError) -> dict[str, str]:
    return dict(exc.errors)


# --- auto and refusals ------------------------------------------------------------------------------------------

def test_compute_auto_on_cpu_records_why(ws):
    s = compute.resolve(_spec(compute="auto", device="cpu"), None, CPU, ws)
    assert s.compute.processes == 1 and s.compute.strategy == "ddp"
    assert "CPU" in s.auto["compute.processes"] and s.auto["compute.strategy"]
    assert compute.resolve(_spec(device="cpu"), None, CPU, ws).compute is None  # default: one plain process


def test_compute_auto_on_gpus_takes_every_gpu_and_shards_what_does_not_fit(ws):
    from jupyter_ft.core.train.sizing import ModelShape

    small = ModelShape(params=1_200_000_000, hidden=2048, layers=16, intermediate=8192, vocab=128256, source="t")
    s = compute.resolve(_spec(compute="auto", device="cuda", precision="bf16", lora={"r": 16}), small, GPU, ws,
                        cuda_count=8)
    assert s.compute.processes == 8 and s.compute.strategy == "ddp", s.auto
    assert "8: every GPU" in s.auto["compute.processes"] and "fit on each device" in s.auto["compute.strategy"]
    big = ModelShape(params=70_000_000_000, hidden=8192, layers=80, intermediate=28672, vocab=128256, source="t")
    s = compute.resolve(_spec(compute="auto", device="cuda", precision="bf16", lora=False), big, GPU, ws,
                        cuda_count=8)
    # 70B full fine-tuning does not fit replicated; DeepSpeed is not installed here, so FSDP shards it
    assert s.compute.strategy == ("fsdp" if not compute.installed("deepspeed") else "deepspeed-zero3"), s.auto
    assert "does not fit" in s.auto["compute.strategy"]


def test_more_gpus_than_exist_is_refused(ws):
    with pytest.raises(SpecError) as e:
        compute.resolve(_spec(compute={"processes": 4}, device="cuda"), None, GPU, ws, cuda_count=1)
    assert "4 processes" in _errors(e.value)["compute.processes"] and "1 CUDA device" in str(e.value)


def test_strategy_the_technique_cannot_use_names_the_trainers(ws):
    with pytest.raises(SpecError) as e:
        compute.resolve(_spec(technique="orpo", compute={"processes": 2, "strategy": "fsdp"}, device="cuda"),
                        None, GPU, ws, cuda_count=2)
    msg = _errors(e.value)["compute.strategy"]
    assert "orpo" in msg and "cannot use fsdp" in msg and "dpo (DPOTrainer): ddp, fsdp" in msg


def test_fsdp_on_cpu_and_missing_deepspeed_are_refused(ws):
    with pytest.raises(SpecError) as e:
        compute.resolve(_spec(compute={"processes": 2, "strategy": "fsdp"}, device="cpu"), None, CPU, ws)
    assert "needs CUDA GPUs" in _errors(e.value)["compute.strategy"]
    if compute.installed("deepspeed"):
        pytest.skip("deepspeed is installed here")
    with pytest.raises(SpecError) as e:
        compute.resolve(_spec(compute={"processes": 2, "strategy": "deepspeed-zero3"}, device="cuda"), None, GPU,
                        ws, cuda_count=2)
    assert "pip install 'jupyter_ft[deepspeed]'" in _errors(e.value)["compute.strategy"]


def test_bad_compute_and_executor_fields_are_named():
    for bad, field in [({"compute": {"processes": True}}, "compute"), ({"compute": {"strategy": "zero"}}, "compute.strategy"),
                       ({"executor": {"kind": "local", "address": "h:1"}}, "executor"),
                       ({"executor": {"kind": "slurm"}}, "executor.kind")]:
        with pytest.raises(SpecError) as e:
            _spec(**bad)
        assert field in _errors(e.value), (bad, e.value.errors)


def test_unreachable_cluster_is_refused_at_submission(ws, tiny_model, sft_file):
    if not compute.installed("ray"):
        pytest.skip("ray not installed")
    port = procs.free_port()
    with pytest.raises(SpecError) as e:
        ft.train(model=str(tiny_model), dataset=str(sft_file),
                 executor={"kind": "ray", "address": f"127.0.0.1:{port}"})
    assert "cannot reach the Ray cluster" in _errors(e.value)["executor.address"]
    assert ft.jobs() == []  # nothing queued


def test_remote_cluster_refuses_embedded_mlflow_and_workspace_storage(ws):
    if not compute.installed("ray"):
        pytest.skip("ray not installed")
    spec = _spec(device="cpu", executor={"kind": "ray", "address": "ray://10.255.0.1:10001",
                                         "storage_path": str(ws.root / "ckpts")})
    with pytest.raises(SpecError) as e:
        compute.resolve(spec, None, CPU, ws)
    errs = _errors(e.value)
    assert "embedded MLflow store" in errs["tracking.tracking_uri"] and "http://" in errs["tracking.tracking_uri"]
    assert "inside this workspace" in errs["executor.storage_path"]
    assert compute.is_remote("ray://127.0.0.1:10001") and not compute.is_remote("127.0.0.1:6379")


def test_ray_not_installed_says_what_to_install(ws, monkeypatch):
    monkeypatch.setattr(compute, "installed", lambda module: module != "ray")
    with pytest.raises(SpecError) as e:
        compute.resolve(_spec(device="cpu", executor={"kind": "ray", "address": "127.0.0.1:6379"}), None, CPU, ws)
    assert "pip install 'jupyter_ft[ray]'" in _errors(e.value)["executor.kind"]


# --- the accelerate config, validated by accelerate itself ------------------------------------------------------

@pytest.mark.parametrize("strategy,device", [("ddp", "cpu"), ("ddp", "cuda"), ("fsdp", "cuda"),
                                             ("deepspeed-zero2", "cuda"), ("deepspeed-zero3", "cuda")])
def test_generated_accelerate_config_is_accepted_by_accelerate(tmp_path, strategy, device):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DistributedType
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    spec = _spec(device=device, precision="fp32" if device == "cpu" else "bf16", grad_accum=2,
                 compute={"processes": 2, "strategy": strategy})
    path = tmp_path / "accelerate.yaml"
    path.write_text(yaml.safe_dump(compute.accelerate_config(spec, port=29555)))
    cfg = load_config_from_file(str(path))  # accelerate's loader: unknown keys and bad enum values raise here
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(["--config_file", str(path), "x.py"]))
    assert args.num_processes == 2
    if strategy == "ddp":
        assert cfg.distributed_type == DistributedType.MULTI_GPU and args.multi_gpu  # torchrun launcher
        prepare_multi_gpu_env(args)
    elif strategy == "fsdp":
        assert args.use_fsdp
        env = prepare_multi_gpu_env(args)
        assert env["FSDP_VERSION"] == "2" and env["FSDP_STATE_DICT_TYPE"] == "SHARDED_STATE_DICT"
        from accelerate.utils import FullyShardedDataParallelPlugin

        old = dict(os.environ)
        try:
            os.environ.update(env)
            plugin = FullyShardedDataParallelPlugin()  # reads and validates every FSDP_* value
        finally:
            os.environ.clear()
            os.environ.update(old)
        assert plugin.fsdp_version == 2 and plugin.auto_wrap_policy is not None
    else:
        assert args.use_deepspeed and cfg.deepspeed_config["zero_stage"] == int(strategy[-1])
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
        assert env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == strategy[-1]


# --- a real multi-process job through accelerate launch -------------------------------------------------------

@pytest.mark.slow
def test_two_cpu_processes_match_one_process_with_the_same_global_batch(ws, tiny_model, sft_file):
    common = dict(model=str(tiny_model), dataset=str(sft_file), max_steps=12, grad_accum=1, learning_rate=5e-3,
                  logging_steps=2, device="cpu", seed=7, eval_fraction=0.0)  # 64 rows: whole global batches
    one = ft.train(batch_size=8, **common)
    two = ft.train(batch_size=4, compute={"processes": 2}, **common)  # 2 × 4 = the same global batch of 8
    for job in (one, two):
        job.wait(timeout=600)
        assert job.status == "succeeded", job.logs(tail=40)
        assert job.record.step == 12 and job.record.total_steps == 12
    cfg = yaml.safe_load((two.dir / "accelerate.yaml").read_text())  # stored with the job
    assert cfg["num_processes"] == 2 and two.record.spec["compute"] == {"processes": 2, "strategy": "ddp"}
    log = two.logs()
    assert "2 processes" in log and log.count("[jupyter_ft] step 12/12 loss") == 1  # only rank 0 reports
    l1 = [m["loss"] for m in one.metrics() if "loss" in m]
    l2 = [m["loss"] for m in two.metrics() if "loss" in m]
    assert len(l1) == len(l2) == 6
    # The same rows per step and the same mean gradient (DDP averages the ranks' halves): each logged loss within 5%
    # (measured: equal to the third decimal when both see whole global batches; rank sharding may regroup rows).
    assert all(abs(a - b) <= 0.05 * a for a, b in zip(l1, l2)), (l1, l2)
    assert l2[-1] < l2[0]
    wait_forwarded(ws, two)
    run = mlflow_run(two)
    assert run.info.status == "FINISHED" and run.data.params["compute.processes"] == "2"
    assert (two.output_dir / "adapter_config.json").is_file()


# --- a Ray cluster on loopback ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_cluster():
    if not compute.installed("ray"):
        pytest.skip("ray not installed (pip install 'jupyter_ft[ray]')")
    from .ray_cluster import LoopbackCluster

    cluster = LoopbackCluster(cpus=2).start()
    yield cluster
    cluster.stop()
    assert not [p for p in cluster.processes() if p.is_running() and p.status() != "zombie"]


def _workers(job) -> dict:
    path = job.dir / "ray_workers.json"
    return json.loads(path.read_text()) if path.is_file() else {}


@pytest.mark.slow
@pytest.mark.serial  # on a loaded machine the kill can beat Ray's registration of the checkpoints: a rerun from step 0
@pytest.mark.timeout(1800)  # Ray starts new worker processes after the kill; minutes on a loaded 2-core machine
def test_ray_job_data_parallel_survives_a_dead_worker(ws, tiny_model, sft_file, ray_cluster):
    job = ft.train(model=str(tiny_model), dataset=str(sft_file), max_steps=240, batch_size=4, grad_accum=1,
                   learning_rate=5e-3, logging_steps=20, checkpoint_every=40, device="cpu",
                   compute={"processes": 2}, executor={"kind": "ray", "address": ray_cluster.address})
    assert job.record.spec["executor"]["kind"] == "ray"
    assert [j.id for j in ft.jobs()] == [job.id]
    wait_for(lambda: job.record.step >= 60 or job.record.state not in ("queued", "running"), timeout=600,
             what="step 60 on the cluster")
    assert job.status == "running", job.logs(tail=60)
    first = _workers(job)
    assert set(first) == {"0", "1"}
    ray_dir = ws.job_dir(job.id) / "ray"  # the step-40 checkpoint is on the storage path before the kill
    wait_for(lambda: any(ray_dir.glob("*/checkpoint_*")), timeout=300, what="a checkpoint in Ray's storage")
    os.kill(first["1"]["pid"], signal.SIGKILL)  # one Ray Train worker dies mid-run
    job.wait(timeout=1500)
    rec = job.record
    assert rec.state == "succeeded", job.logs(tail=80)
    assert rec.step == 240 and rec.total_steps == 240 and rec.attempt == 2
    log = job.logs()
    assert "Ray restarted the worker group" in log and "resuming from checkpoint-" in log
    resumed_at = int(log.split("resuming from checkpoint-")[1].split()[0])
    assert resumed_at >= 40 and f"starting at step {resumed_at}" in log
    assert _workers(job)["1"]["pid"] != first["1"]["pid"]
    steps = [m["step"] for m in job.metrics() if "loss" in m]
    assert steps == list(range(20, 241, 20))  # the re-run steps replace the dead attempt's in the chart
    wait_forwarded(ws, job)
    run = mlflow_run(job)
    assert run.info.status == "FINISHED" and "loss" in run.data.metrics
    assert run.data.tags["jupyter_ft.executor"].startswith("ray 127.0.0.1:")
    assert (job.output_dir / "adapter_config.json").is_file()
    assert any((job.dir / "ray").rglob("checkpoint_*"))  # Ray Train's checkpoints in the storage path


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ray_job_cancel_stops_it_on_the_cluster(ws, tiny_model, sft_file, ray_cluster):
    job = ft.train(model=str(tiny_model), dataset=str(sft_file), max_steps=100000, batch_size=4, grad_accum=1,
                   logging_steps=50, device="cpu", compute={"processes": 2},
                   executor={"kind": "ray", "address": ray_cluster.address})
    wait_for(lambda: job.record.step > 0 or job.record.state not in ("queued", "running"), timeout=600,
             what="training on the cluster")
    workers = _workers(job)
    assert job.status == "running" and len(workers) == 2, job.logs(tail=60)
    assert job.cancel() == "cancelling"
    job.wait(timeout=120)
    assert job.status == "cancelled"
    wait_for(lambda: not any(procs.alive(w["pid"]) for w in workers.values()), timeout=60,
             what="the Ray workers to stop")
    wait_forwarded(ws, job)
    assert mlflow_run(job).info.status == "KILLED"


def test_ray_mirror_counts_each_worker_group_restart_as_an_attempt(ws, capsys):
    """What the Ray driver does with its workers' messages, on a real workspace (no cluster needed)."""
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.training.ray_job import Mirror

    job = jobstore.insert(ws, job_id="sft-mirror", kind="train", technique="sft", name=None, device="cpu",
                          spec={}, submitted={}, max_attempts=3)
    job = jobstore.claim_next(ws, set())
    ws.job_dir(job.id).mkdir(parents=True)
    m = Mirror(ws, job, sink=None, max_attempts=3)
    for item in [("start", 0, 100, "h"), ("start", 1, 101, "h"), ("fields", {"total_steps": 10, "step": 4}),
                 ("event", "metrics", {"values": {"loss": 2.0}}, 4),
                 ("start", 1, 201, "h"), ("start", 0, 200, "h"),  # the group restarted (rank 1 reported first)
                 ("event", "metrics", {"values": {"loss": 1.5}}, 4)]:
        m.apply(*item)
    assert "Ray restarted the worker group: attempt 2/3" in capsys.readouterr().out
    rec = jobstore.get(ws, job.id)
    assert rec.attempt == 2 and rec.step == 4 and rec.total_steps == 10
    assert json.loads((ws.job_dir(job.id) / "ray_workers.json").read_text()) == {
        "0": {"pid": 200, "host": "h", "attempt": 2}, "1": {"pid": 201, "host": "h", "attempt": 2}}
    assert [m["loss"] for m in ft.get_job(job.id, ws).metrics()] == [1.5]  # the re-logged step replaces the old
