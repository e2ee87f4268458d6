"""The `compute` and `executor` blocks of a training spec: how many processes train a job and with which strategy,
and where they run. Declarations only; their auto choices and refusals are made at submission by
`jupyter_ft.core.train.compute`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Strategy = Literal["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"]
STRATEGIES: tuple[str, ...] = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")
ALL = frozenset(STRATEGIES)

RAY_ENV = "RAY_ADDRESS"
_MODEL = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False, str_max_length=4096)


class ComputeSpec(BaseModel):
    """How many processes train the job and how they share it. `compute: auto` leaves both to auto."""

    model_config = _MODEL

    processes: int | None = Field(None, ge=1, le=4096, description="processes: one per GPU (or CPU processes, gloo, "
                                  "without one); auto: every GPU of the machine, 1 on CPU")
    strategy: Strategy | None = Field(None, description="ddp | fsdp | deepspeed-zero2 | deepspeed-zero3; auto: from "
                                      "the model size, free memory per device and the installed engines")

    @model_validator(mode="before")
    @classmethod
    def _auto(cls, data: Any) -> Any:
        if isinstance(data, str) and data.strip().lower() == "auto":
            return {}
        if isinstance(data, dict) and isinstance(data.get("processes"), bool):
            raise ValueError(f"processes must be an integer, got {data['processes']!r}")
        if isinstance(data, dict) and data.get("processes") == "auto":
            data = {**data, "processes": None}
        if isinstance(data, dict) and data.get("strategy") == "auto":
            data = {**data, "strategy": None}
        return data


class ExecutorSpec(BaseModel):
    """Where the job's processes run: this machine (`local`) or a Ray cluster (`ray`, one Ray Train worker per
    process of `compute`)."""

    model_config = _MODEL

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="ray: the cluster, host:port (GCS, e.g. 127.0.0.1:6379) or "
                                "ray://host:10001 (Ray Client); default: $RAY_ADDRESS")
    storage_path: str | None = Field(None, description="ray: where Ray Train keeps checkpoints (shared storage the "
                                     "cluster can write: s3://…, gs://…, an NFS path); default on a loopback "
                                     "cluster: the job folder")
    cpus_per_worker: float = Field(1.0, gt=0, le=1024, description="ray: CPUs reserved per worker")
    max_failures: int | None = Field(None, ge=0, le=20, description="ray: worker-group restarts from the last "
                                     "checkpoint; default: max_attempts - 1")

    @field_validator("max_failures", mode="before")
    @classmethod
    def _no_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(f"must be an integer, got {v!r}")
        return v

    @model_validator(mode="after")
    def _ray_only(self) -> ExecutorSpec:
        if self.kind == "local":
            for name in ("address", "storage_path", "max_failures"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is for executor kind 'ray' (this executor is 'local')")
        return self


def processes(spec: Any) -> int:
    """Processes a training spec runs on (1 unless its `compute` block says more)."""
    return spec.compute.processes if spec.compute and spec.compute.processes else 1
