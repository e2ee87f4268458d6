"""The Studio's TypeScript unit tests (jest + ts-jest, `labextension/src/__tests__`), run from pytest so CI runs
them: the Customize form's schema logic, the chart's series and ETA, the jobs list's cursor merge, the dataset
preview's row layout."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

LABEXT = Path(__file__).resolve().parent.parent / "labextension"


def test_labextension_jest_suite():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the TypeScript unit tests need it (apt-get install nodejs)")
    jest = LABEXT / "node_modules" / ".bin" / "jest"
    if not jest.exists():
        pytest.fail(f"{jest} is missing: run `cd labextension && jlpm install` (`make setup` does it)")
    env = {**os.environ, "CI": "true", "FORCE_COLOR": "0"}
    proc = subprocess.run([str(jest), "--ci", "--silent"], cwd=LABEXT, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"jest failed:\n{report[-6000:]}"
    assert "Tests:" in report and "failed" not in report.split("Tests:")[-1].split("\n")[0], report[-3000:]
