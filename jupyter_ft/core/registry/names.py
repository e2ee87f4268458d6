"""Names in the registry, and what a finishing job records for it, without the registry itself: model names and
references (`name@3`, `name@champion`; the catalog reads a dataset's `name@version` with the same `parse_ref`), the
name a job registers under, and the package versions a result depends on. The job store and the spec read these;
they import nothing of the registry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,254}$")
PACKAGES = ("torch", "transformers", "trl", "peft", "jupyter_ft")


def check_name(name: str) -> str:
    """A valid registered-model name (MLflow's and ours: no '@' or '/', which would make references ambiguous)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"{name!r} is not a valid model name: use letters, digits, '_', '-' or '.', starting with a "
                         "letter or digit (at most 100)")
    return name


def derived_name(base_model: str, technique: str) -> str:
    """`tiny-llama` + `dpo` -> `tiny-llama-dpo`: the name a job registers under when its spec names none."""
    base = Path(base_model.rstrip("/")).name or "model"
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", f"{base}-{technique}").strip("-._").lower()
    return (name or "model")[:100]


def parse_ref(text: str) -> tuple[str, str | None]:
    """A reference to a registered model or a catalog dataset, split at its first '@' (no name holds one):
    `"name@3"` -> `("name", "3")`; `"name@champion"` -> `("name", "champion")`; `"name"` or `"name@"` ->
    `("name", None)`."""
    name, sep, sel = str(text).strip().partition("@")
    return name, (sel or None) if sep else None


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on, read without importing them."""
    from importlib import metadata

    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p.replace("_", "-"))
        except metadata.PackageNotFoundError:
            try:
                out[p] = metadata.version(p)
            except metadata.PackageNotFoundError:
                out[p] = "not installed"
    if "jupyter_ft" in out:
        from jupyter_ft.core import __version__

        out["jupyter_ft"] = __version__
    return out


def register_payload(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The `register` event a succeeding training job writes (None when `register_as: false`)."""
    register_as = spec.get("register_as")
    if register_as is False:
        return None
    out = spec.get("output_dir")
    return {"name": register_as or derived_name(spec.get("model", "model"), spec.get("technique", "train")),
            "packages": package_versions(), "output_dir": out}
