"""What an endpoint process serves: `ServeConfig` is the JSON file `python -m jupyter_ft.serve --config` reads.

The launcher (core/deploy/endpoints) writes it from a deployment; the server process validates it again on start, so a
hand-written config gets the same field-named errors.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The name the base model is requested by, besides its own id (vLLM serves the base under its path or
# --served-model-name; "base" is what the compare widget and notebooks already say).
BASE_ALIAS = "base"


class ServeConfig(BaseModel):
    """One base model and the LoRA adapters served beside it, on one host/port."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(description="hub id or local folder of the base model")
    served_name: str | None = Field(None, description="the `model` id clients use for the base (default: base_model)")
    adapters: dict[str, str] = Field(default_factory=dict, description="adapter name -> local adapter folder")
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    api_key: str | None = Field(None, description="when set, every /v1 request needs `Authorization: Bearer <key>`")
    max_batch_size: int = Field(16, ge=1, le=1024, description="requests generated together in one step")
    max_queue: int = Field(256, ge=0, le=100_000, description="waiting requests beyond this get 429")
    max_new_tokens_limit: int = Field(4096, ge=1, description="the most tokens one request may ask for")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N, mps")
    batching: Literal["mixed", "serial"] = Field(
        "mixed", description="mixed: requests for any adapters share each forward pass; serial: one request at a "
                             "time, switching adapters with set_adapter (the baseline the benchmark compares with)")

    @field_validator("base_model")
    @classmethod
    def _base_given(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("base_model: give a hub id or a local model folder")
        return v.strip()

    @field_validator("adapters")
    @classmethod
    def _adapter_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name, path in v.items():
            if not name or len(name) > 200 or any(c.isspace() for c in name):
                raise ValueError(f"adapters: {name!r} is not a usable adapter name (1-200 characters, no spaces)")
            if name == BASE_ALIAS:
                raise ValueError(f"adapters: the name {BASE_ALIAS!r} is reserved for the base model")
            if not str(path).strip():
                raise ValueError(f"adapters.{name}: give the adapter's folder")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        v = v.strip().lower()
        if v not in ("auto", "cpu", "mps") and not (v == "cuda" or v.startswith("cuda:") and v[5:].isdigit()):
            raise ValueError(f"device: {v!r} is not one of auto, cpu, cuda, cuda:N, mps")
        return v

    @model_validator(mode="after")
    def _names_distinct(self) -> "ServeConfig":
        if self.served_name and self.served_name in self.adapters:
            raise ValueError(f"adapters: {self.served_name!r} is also the base model's served name")
        return self

    @property
    def base_id(self) -> str:
        """The `model` id of the base in /v1/models."""
        return self.served_name or self.base_model


# --- DeploySpec: what a person asks for; `core.deploy.endpoints` resolves it into a ServeConfig ----------------
# It is the one schema of a deployment: `ft.deploy(...)`, the REST body of `POST endpoints`, the `%%ft_deploy` YAML
# cell and `jupyter-ft deploy` all build it. Validation errors name the field.

import re  # noqa: E402
from typing import Any  # noqa: E402

from pydantic import ValidationError  # noqa: E402

from jupyter_ft.core.spec.base import MAX_LABEL, MAX_PATH, FieldError, Strict, normalise_device  # noqa: E402


NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SERVED_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$")
Engine = Literal["local", "vllm"]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def split_adapter_entry(entry: str) -> tuple[str | None, str]:
    """`"support=support@champion"` -> `("support", "support@champion")`; `"humanlike@3"` -> `(None, ...)`.
    The `served=` prefix (vLLM's `--lora-modules name=path` shape) names the adapter on the endpoint."""
    head, sep, rest = entry.partition("=")
    if sep and rest and "/" not in head and SERVED_RE.match(head):
        return head, rest
    return None, entry


class DeploySpec(Strict):
    """One endpoint: a base model and LoRA adapters served behind one OpenAI-compatible API."""

    kind: Literal["deploy"] = "deploy"
    name: str = Field("default", description="the endpoint's name (letters, digits, _ . -); unique per workspace")
    base: str | None = Field(None, max_length=MAX_PATH,
                             description="base model: folder, hub id or registry ref; default: the adapters' base")
    adapters: list[str] = Field(default_factory=list, max_length=256,
                                description="LoRA adapters: registry refs (name@3, name@champion), job ids or "
                                            "adapter folders; `served=entry` picks the served model name")
    engine: Engine = Field("local", description="local: jupyter_ft's multi-adapter server; vllm: `vllm serve`")
    host: str = Field("127.0.0.1", min_length=1, max_length=MAX_LABEL,
                      description="interface the direct port binds; anything but loopback is an explicit choice")
    port: int | None = Field(None, ge=1, le=65535, description="direct port; empty: a free one")
    max_batch_size: int = Field(8, gt=0, le=1024, description="requests generated together per step")
    max_queue: int = Field(256, gt=0, le=1_000_000, description="waiting requests beyond which a 429 is answered")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    torch_threads: int | None = Field(None, gt=0, le=1024, description="the engine's torch threads on the CPU; auto: "
                                      "the cores shared among this workspace's running CPU jobs and endpoints, less "
                                      "what other programs keep busy")
    max_loras: int | None = Field(None, gt=0, le=1024, description="vLLM: adapters in one batch; auto: all of them")
    max_lora_rank: int | None = Field(None, gt=0, le=512, description="vLLM: largest adapter rank; auto: from the "
                                                                      "adapters' adapter_config.json")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit "
                             f"(it is part of the endpoint's URL); got {v!r}")
        return v

    @field_validator("base")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("empty; leave it out to use the adapters' base model")
        return v.strip() if v else v

    @field_validator("adapters")
    @classmethod
    def _adapters(cls, v: list[str]) -> list[str]:
        out, served = [], set()
        for i, entry in enumerate(v):
            entry = entry.strip()
            if not entry:
                raise FieldError(str(i), "empty adapter entry")
            if len(entry) > MAX_PATH:
                raise FieldError(str(i), f"longer than {MAX_PATH} characters")
            name, _ = split_adapter_entry(entry)
            key = name or entry
            if key in served:
                raise FieldError(str(i), f"{key!r} is listed twice")
            served.add(key)
            out.append(entry)
        return out

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return normalise_device(v)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip()
        if not re.match(r"^[A-Za-z0-9.:\[\]-]+$", v):
            raise ValueError(f"not a host name or address: {v!r}")
        return v

    @model_validator(mode="after")
    def _something_to_serve(self) -> DeploySpec:
        if self.base is None and not self.adapters:
            raise FieldError("base", "name a base model or at least one adapter")
        return self

    @property
    def exposed(self) -> bool:
        """True when the direct port listens beyond this machine (an explicit, logged choice)."""
        return self.host not in LOOPBACK


def parse_deploy_spec(data: dict[str, Any] | str | DeploySpec) -> DeploySpec:
    """A `DeploySpec` from a dict, YAML/JSON text or file; raises `SpecError` naming every bad field."""
    from jupyter_ft.core.spec.train import SpecError, _field_errors, read_spec

    if isinstance(data, DeploySpec):
        return data
    data = read_spec(data, "the deploy spec")
    try:
        return DeploySpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_field_errors(exc)) from None
