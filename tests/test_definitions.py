"""Every code location loads, alone and as the workspace."""

from __future__ import annotations

import subprocess
import sys

import pytest

from platform_lib.config import PROJECT_ROOT
from platform_lib.dagster.workspace import code_locations


@pytest.mark.parametrize("location", code_locations(), ids=lambda loc: loc.name)
def test_code_location_loads_on_its_own(location):
    result = subprocess.run(
        [sys.executable, "-c", f"import dagster, {location.module} as m; dagster.Definitions.validate_loadable(m.defs); print(len(list(m.defs.assets)))"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 0
