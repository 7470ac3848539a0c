"""Every code location loads, alone and as the workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from platform_lib.settings import PROJECT_ROOT
from platform_lib.workspace import code_locations


def test_workspace_validates():
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("location", code_locations(), ids=lambda loc: loc.name)
def test_code_location_loads_on_its_own(location):
    result = subprocess.run(
        [sys.executable, "-c", f"import {location.module} as m; print(len(list(m.defs.assets)))"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 0
