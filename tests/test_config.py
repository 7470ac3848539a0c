"""One settings object: the environment is read in one place, once, and a bad value is a
clear error naming the variable; a domain's DuckDB file is opened in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from platform_lib import config
from platform_lib.config import PROJECT_ROOT

from tests.helpers import mesh

PLATFORM = PROJECT_ROOT / "platform_lib"


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text())) for p in sorted(PLATFORM.rglob("*.py"))]


def _calls(tree: ast.Module, owner: str, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == name and isinstance(n.func.value, ast.Name) and n.func.value.id == owner]


def test_only_config_reads_or_writes_the_environment():
    offenders = []
    for path, tree in _modules():
        if path.name == "config.py" and path.parent == PLATFORM:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv", "unsetenv") \
                    and isinstance(node.value, ast.Name) and node.value.id == "os":
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert offenders == [], f"read the setting from platform_lib.config.settings() instead: {offenders}"


def test_a_domain_duckdb_file_is_opened_only_by_the_warehouse_module():
    # Elsewhere DuckDB runs in memory only (no database argument): a domain's file is opened
    # through storage/warehouse.py, with its memory cap and time zone.
    offenders = [f"{path.relative_to(PROJECT_ROOT)}:{call.lineno}"
                 for path, tree in _modules() if path != PLATFORM / "storage" / "warehouse.py"
                 for call in _calls(tree, "duckdb", "connect") if call.args or any(k.arg == "database" for k in call.keywords)]
    assert offenders == [], offenders


@pytest.mark.parametrize("variable, value", [("MESH_WORKERS", "0"), ("MESH_AUTOMATION", "sometimes"),
                                             ("MESH_LANDING_SENSOR_SECONDS", "soon")])
def test_a_bad_setting_is_a_clear_error_naming_the_variable(tmp_path, variable, value):
    out = mesh("build", root=tmp_path / "mesh", env={variable: value})
    assert out.returncode != 0
    assert variable in out.stderr and "Traceback" not in out.stderr, out.stderr[-800:]


def test_root_given_on_the_command_line_wins_over_the_environment(tmp_path):
    out = mesh("home", "--root", str(tmp_path / "elsewhere"), root=tmp_path / "mesh")
    assert out.returncode == 0, out.stderr
    assert f"MESH_HOME={(tmp_path / 'elsewhere').resolve()}" in out.stdout


def test_schedules_stay_off_while_automation_runs_when_configured_so():
    """`MESH_SCHEDULES=off` (a test bench): sensors start on with `MESH_AUTOMATION=on`, the
    daily schedules do not; unset, schedules follow automation."""
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    from platform_lib.dagster.automation.switch import schedule_status, sensor_status

    with config.overridden(automation="on", schedules="off"):
        assert (sensor_status(), schedule_status()) == (DefaultSensorStatus.RUNNING, DefaultScheduleStatus.STOPPED)
    with config.overridden(automation="on", schedules=None):
        assert schedule_status() == DefaultScheduleStatus.RUNNING
