"""Where and how wide a job trains: the `compute` and `executor` blocks of a spec, their auto choices and refusals.

`compute` says how many processes (one per GPU; CPU processes without one) and which strategy spreads the work
(`ddp`, `fsdp`, `deepspeed-zero2`, `deepspeed-zero3`). A multi-process job runs under `accelerate launch` with a
config generated here from the spec (`accelerate_config`), so the engines are accelerate's, torch's and
DeepSpeed's, never ours. `executor` says where the processes run: this machine (`local`) or a Ray cluster
(`ray`, as a Ray Train `TorchTrainer`).

Everything that can be decided before a job is queued is decided here, at submission: the auto choices (recorded
with their reasons in `spec.auto`, as the auto-sizing does) and the refusals, each naming the field and what to
configure. No torch and no ray import: engines are detected with `importlib.util.find_spec`, GPUs through the
device probe, a cluster with a TCP connect.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_ft.core.spec.compute import (ALL, RAY_ENV, STRATEGIES, ComputeSpec, ExecutorSpec,  # noqa: F401
                                          processes)
from jupyter_ft.core.spec.train import TrainSpec
from jupyter_ft.core.train.sizing import ModelShape

if TYPE_CHECKING:
    from jupyter_ft.core.devices import DeviceInfo
    from jupyter_ft.core.workspace import Workspace

# Which TRL trainer runs under which strategy (TRL 1.16). Every trainer is an accelerate-prepared `Trainer`, so DDP
# and DeepSpeed ZeRO work for all (TRL: "all trainers can be run with DeepSpeed ZeRO-{1,2,3}"). FSDP needs the
# trainer to prepare its extra models (reference, reward) for it: DPO, KTO, GRPO and Online DPO call
# `trl.models.prepare_fsdp`; SFT has no extra model. ORPO (trl.experimental) has DeepSpeed ZeRO-3 handling but no
# FSDP path, so it is not offered FSDP.
TRAINER_STRATEGIES: dict[str, tuple[str, frozenset[str]]] = {
    "sft": ("SFTTrainer", ALL),
    "dpo": ("DPOTrainer", ALL),
    "kto": ("KTOTrainer", ALL),
    "orpo": ("trl.experimental ORPOTrainer", frozenset({"ddp", "deepspeed-zero2", "deepspeed-zero3"})),
    "grpo": ("GRPOTrainer", ALL),
    "rlaif": ("GRPOTrainer", ALL),
    "online_dpo": ("trl.experimental OnlineDPOTrainer", ALL),
}


def trainer_strategies(technique: str) -> tuple[str, frozenset[str]]:
    """(trainer name, strategies) of a technique; one registered elsewhere is assumed to be a plain accelerate
    `Trainer` (all four)."""
    return TRAINER_STRATEGIES.get(technique, (f"{technique}'s trainer", ALL))


INSTALL_HINT = {"ray": "pip install 'jupyter_ft[ray]'", "deepspeed": "pip install 'jupyter_ft[deepspeed]'"}


# --- what a cluster address means --------------------------------------------------------------------------

def cluster_address(spec: ExecutorSpec) -> str | None:
    return spec.address or os.environ.get(RAY_ENV) or None


def _host_port(address: str) -> tuple[str, int]:
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port or ray://host:port")
    return host.strip("[]"), int(port)


def is_remote(address: str) -> bool:
    """A `ray://` address or a host other than this machine's loopback is remote: its workers do not share this
    machine's filesystem, so they cannot see the workspace. A cluster started here on 127.0.0.1 (as the tests do)
    shares the filesystem and the workspace, so it counts as local."""
    if address.startswith("ray://"):
        return True
    host, _ = _host_port(address)
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def reachable(address: str, timeout: float = 3.0) -> str | None:
    """None if something listens at the address, else why not."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --- auto choices ------------------------------------------------------------------------------------------------

def free_gpu_memory() -> list[int] | None:
    """Free bytes per GPU now, from nvidia-smi (no torch import), or None where it cannot be asked."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    try:
        return [int(line.strip()) * 1024**2 for line in out.stdout.splitlines() if line.strip()]
    except ValueError:
        return None


def training_state_bytes(spec: TrainSpec, shape: ModelShape) -> tuple[int, int]:
    """(weights, gradients + Adam states) in bytes for one replica: what DDP copies to every device and ZeRO/FSDP
    shard across them."""
    bpp = 2 if spec.precision in ("bf16", "fp16") else 4
    weights = shape.params * bpp
    if spec.lora is not None and spec.lora.r:
        r = spec.lora.r
        trainable = shape.layers * r * (4 * 2 * shape.hidden + 3 * (shape.hidden + shape.intermediate))
    else:
        trainable = shape.params
    return weights, trainable * 16  # fp32 master copy, gradient, Adam m and v


def choose_strategy(spec: TrainSpec, shape: ModelShape | None, per_device: int, n: int) -> tuple[str, str]:
    """Pick a strategy from the model size, the free memory per device and the installed engines; say why."""
    allowed = trainer_strategies(spec.technique)[1]
    if n == 1:
        return "ddp", "one process: nothing to shard"
    if shape is None:
        return "ddp", "model size unknown at submission: replicate (ddp), the simplest strategy"
    gb = 1024**3
    weights, states = training_state_bytes(spec, shape)
    budget = 0.6 * per_device  # the rest is for activations
    where = f"{per_device / gb:.0f} GB free per device"
    if weights + states <= budget:
        return "ddp", (f"ddp: a {shape.label} model's weights + optimizer state ({(weights + states) / gb:.1f} GB) fit "
                       f"on each device ({where})")
    has_ds = installed("deepspeed")
    if weights + states / n <= budget and has_ds and "deepspeed-zero2" in allowed:
        return "deepspeed-zero2", (f"deepspeed-zero2: {(weights + states) / gb:.1f} GB per replica does not fit in "
                                   f"{where}; sharding gradients and optimizer state over {n} does")
    if has_ds and "deepspeed-zero3" in allowed and (weights + states) / n <= budget:
        return "deepspeed-zero3", (f"deepspeed-zero3: weights must be sharded too ({(weights + states) / gb:.1f} GB "
                                   f"per replica, {where}, {n} devices)")
    if "fsdp" in allowed:
        fit = "" if (weights + states) / n <= budget else "; it may still not fit: consider LoRA or more devices"
        return "fsdp", (f"fsdp (full shard): {(weights + states) / gb:.1f} GB per replica does not fit in {where}"
                        f"{'' if has_ds else ' and DeepSpeed is not installed'}{fit}")
    return "deepspeed-zero3", f"deepspeed-zero3: {spec.technique} cannot use fsdp and a replica does not fit in {where}"


# --- the one entry point used at submission ---------------------------------------------------------------------

def resolve(spec: TrainSpec, shape: ModelShape | None, device: DeviceInfo, ws: Workspace,
            cuda_count: int | None = None) -> TrainSpec:
    """Fill `compute` auto values (reasons in `spec.auto`) and refuse what cannot work, naming the field. Raises
    `SpecError`. `cuda_count` is the machine's GPU count (probed when None)."""
    from jupyter_ft.core.spec.train import SpecError

    errors: list[tuple[str, str]] = []
    why = dict(spec.auto)
    ex = spec.executor
    compute = spec.compute
    if ex.kind == "ray":
        errors += _ray_refusals(spec, ws)
    if compute is None:
        if errors:
            raise SpecError(errors)
        return spec
    remote_ray = ex.kind == "ray"
    on_gpu = device.kind == "cuda"
    n = compute.processes
    if n is None:
        if remote_ray:
            n, why["compute.processes"] = 2, "2: Ray workers (the cluster's size is not known at submission)"
        elif on_gpu:
            gpus = cuda_count if cuda_count is not None else _cuda_count(ws)
            n, why["compute.processes"] = gpus, f"{gpus}: every GPU of this machine"
        else:
            n, why["compute.processes"] = 1, ("1: on CPU several processes share the same cores (data parallel "
                                             "pays only with more machines); ask for more to use gloo")
    elif not remote_ray:
        if on_gpu:
            gpus = cuda_count if cuda_count is not None else _cuda_count(ws)
            if n > gpus:
                errors.append(("compute.processes", f"{n} processes asked for, one per GPU, but this machine has "
                               f"{gpus} CUDA device(s); ask for at most {gpus}, or run on a Ray cluster "
                               "(executor: {kind: ray, address: ...})"))
        elif device.kind == "mps" and n > 1:
            errors.append(("compute.processes", "MPS has one device: use 1 process, or device: cpu for gloo processes"))
        elif n > (os.cpu_count() or 1):
            errors.append(("compute.processes", f"{n} CPU processes asked for but this machine has {os.cpu_count()} "
                           "cores; each process needs one"))
    strategy = compute.strategy
    name, allowed = trainer_strategies(spec.technique)
    if strategy is None:
        free = free_gpu_memory() if on_gpu else None
        per_device = min(free) if free else device.memory if on_gpu else device.memory // max(n, 1)
        strategy, why["compute.strategy"] = choose_strategy(spec, shape, per_device, n)
        if not on_gpu and strategy != "ddp":
            strategy, why["compute.strategy"] = "ddp", "ddp: fsdp and deepspeed need CUDA GPUs"
    else:
        if strategy not in allowed:
            errors.append(("compute.strategy", f"{spec.technique} ({name}) cannot use {strategy}; it supports "
                           f"{', '.join(s for s in STRATEGIES if s in allowed)}. " + _strategy_table()))
        if strategy != "ddp" and (device.kind != "cuda" and not remote_ray):
            errors.append(("compute.strategy", f"{strategy} needs CUDA GPUs (this job runs on {device.name}); use "
                           "ddp on CPU"))
        if strategy.startswith("deepspeed") and not installed("deepspeed"):
            errors.append(("compute.strategy", f"{strategy} needs DeepSpeed, which is not installed: "
                           f"{INSTALL_HINT['deepspeed']} (or choose ddp or fsdp, which need nothing more)"))
        if remote_ray and strategy != "ddp":
            errors.append(("compute.strategy", f"{strategy} is not offered on Ray yet: Ray Train's TorchTrainer "
                           "runs ddp here; use executor kind 'local' for fsdp or deepspeed"))
    if errors:
        raise SpecError(errors)
    return spec.model_copy(update={"compute": ComputeSpec(processes=n, strategy=strategy), "auto": why})


def _strategy_table() -> str:
    return "Strategies by TRL trainer: " + "; ".join(
        f"{tech} ({name}): {', '.join(s for s in STRATEGIES if s in ok)}" for tech, (name, ok) in TRAINER_STRATEGIES.items())


def _cuda_count(ws: Workspace) -> int:
    from jupyter_ft.core import devices

    return len(devices._probe(ws.root / "devices.json").get("cuda", []))


def _ray_refusals(spec: TrainSpec, ws: Workspace) -> list[tuple[str, str]]:
    ex = spec.executor
    if not installed("ray"):
        return [("executor.kind", f"Ray is not installed here: {INSTALL_HINT['ray']} (the cluster needs the same "
                 "Ray version and jupyter_ft installed)")]
    address = cluster_address(ex)
    if not address:
        return [("executor.address", f"give the Ray cluster's address (127.0.0.1:6379 for `ray start --head` here, "
                 f"ray://head:10001 for a remote one), or set ${RAY_ENV}")]
    try:
        remote = is_remote(address)
    except ValueError as exc:
        return [("executor.address", str(exc))]
    errors: list[tuple[str, str]] = []
    why_not = reachable(address)
    if why_not:
        errors.append(("executor.address", f"cannot reach the Ray cluster at {address} ({why_not}): start it "
                       "(`ray start --head`) or fix the address"))
    if remote:
        uri = spec.tracking.tracking_uri or ws.tracking_uri
        if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
            errors.append(("tracking.tracking_uri", f"the embedded MLflow store ({uri}) lives in this workspace, "
                           "which a remote cluster cannot reach: set tracking.tracking_uri (or $JUPYTER_FT_TRACKING_URI) "
                           "to an MLflow server, e.g. http://mlflow-host:5000"))
        store = ex.storage_path
        if not store:
            errors.append(("executor.storage_path", "a remote cluster needs storage every worker can write for its "
                           "checkpoints: s3://bucket/path, gs://bucket/path or a shared filesystem path"))
        elif "://" not in store and _inside(Path(store).expanduser(), ws.root):
            errors.append(("executor.storage_path", f"{store} is inside this workspace, which a remote cluster cannot "
                           "write: use s3://…, gs://… or a shared filesystem path mounted on every node"))
    return errors


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


# --- accelerate ----------------------------------------------------------------------------------------------------

def accelerate_config(spec: TrainSpec, port: int | None = None) -> dict[str, Any]:
    """The `accelerate launch --config_file` content for a resolved spec (what `accelerate config` would write)."""
    n = processes(spec)
    strategy = (spec.compute.strategy if spec.compute else None) or "ddp"
    on_cpu = spec.device in ("cpu", "mps")
    mixed = {"bf16": "bf16", "fp16": "fp16"}.get(spec.precision, "no")
    cfg: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "machine_rank": 0,
        "num_machines": 1,
        "num_processes": n,
        "main_training_function": "main",
        "mixed_precision": "no" if on_cpu else mixed,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
        "downcast_bf16": "no",
    }
    if port:
        cfg["main_process_ip"] = "127.0.0.1"
        cfg["main_process_port"] = port
    if on_cpu:
        # accelerate's MULTI_CPU launch goes through mpirun; its torchrun launcher (MULTI_GPU) starts the ranks
        # without one, and the job's `use_cpu` (device: cpu) makes each rank a gloo CPU process.
        cfg["distributed_type"] = "MULTI_GPU" if n > 1 else "NO"
        cfg["use_cpu"] = n == 1
    elif strategy == "ddp":
        cfg.update(distributed_type="MULTI_GPU" if n > 1 else "NO", gpu_ids="all")
    elif strategy == "fsdp":
        cfg.update(distributed_type="FSDP", fsdp_config={
            "fsdp_version": 2,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",  # the model's `_no_split_modules` (decoder layers)
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_offload_params": False,
            "fsdp_reshard_after_forward": True,
            "fsdp_state_dict_type": "SHARDED_STATE_DICT",  # resumable checkpoints without gathering on one rank
            "fsdp_activation_checkpointing": bool(spec.gradient_checkpointing),
        })
    else:
        stage = 3 if strategy == "deepspeed-zero3" else 2
        ds: dict[str, Any] = {
            "zero_stage": stage,
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
            "gradient_accumulation_steps": spec.grad_accum or 1,
            "gradient_clipping": 1.0,
        }
        if stage == 3:
            ds.update(zero3_init_flag=True, zero3_save_16bit_model=True)
        cfg.update(distributed_type="DEEPSPEED", deepspeed_config=ds)
    return cfg


