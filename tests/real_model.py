"""The real model of the real-scale tests: SmolLM2-135M-Instruct, fetched once and cached across test runs."""

from __future__ import annotations

import os
from pathlib import Path

CACHE = Path(os.environ.get("JUPYTER_FT_TEST_MODELS", Path.home() / ".cache" / "jupyter_ft" / "test-models"))


def smollm2_folder() -> Path:
    """The converted folder; built by the product's own fetch into a workspace kept under CACHE."""
    from jupyter_ft.sdk.models import fetch

    return Path(fetch("smollm2-135m-instruct", ws=CACHE / "workspace"))
