"""What an endpoint process serves: `ServeConfig` is the JSON file `python -m jupyter_ft.serve --config` reads.

The launcher (core/endpoints) writes it from a deployment; the server process validates it again on start, so a
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
