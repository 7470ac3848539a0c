"""What every code location defines, compared with a committed snapshot: its assets (group,
kinds, owners, upstream keys), asset checks (and which block), sensors (default status,
minimum interval, targets), schedules (cron, default status) and jobs. A change to any of
them shows here as a readable diff and is accepted on purpose, by rewriting the snapshot:

    MESH_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_definitions_snapshot.py

(the variable is read by this test only). Each location is loaded in this process from its
workspace.yaml module, afresh and under the platform's default settings, so the snapshot
depends neither on the caller's environment, the mesh root, the clock, nor on what other
tests in this process changed before."""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions

from platform_lib import config
from platform_lib.dagster.workspace import code_locations

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
UPDATE = "MESH_UPDATE_SNAPSHOTS"
# The settings that shape definitions (sensor intervals and default statuses, the policy gate's
# registry), pinned to the platform's defaults for the load.
SHAPING = ("automation", "schedules", "landing_sensor_seconds", "automation_sensor_seconds", "erasure_sensor_seconds",
           "governance", "contracts")


def load_defs(module_name: str) -> Definitions:
    """The location's module executed anew (sys.modules is left as it is), under default settings."""
    defaults = {name: config.MeshSettings.model_fields[name].get_default(call_default_factory=True) for name in SHAPING}
    spec = importlib.util.find_spec(module_name)
    module = importlib.util.module_from_spec(spec)
    with config.overridden(**defaults):
        spec.loader.exec_module(module)
    return module.defs


def key(k: AssetKey) -> str:
    return k.to_user_string()


def summary(defs: Definitions) -> dict:
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assets = {
        key(node.key): {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "deps": sorted(key(k) for k in node.parent_keys),
        }
        for node in graph.asset_nodes if node.is_materializable
    }
    checks: dict[str, dict[str, str]] = {}
    for check in graph.asset_check_nodes:
        checks.setdefault(key(check.key.asset_key), {})[check.key.name] = "blocking" if check.blocking else "non-blocking"
    sensors = {
        s.name: {
            "type": s.sensor_type.value,
            "default_status": s.default_status.value,
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "jobs": sorted(t.job_name for t in s.targets),
        }
        for s in repository.sensor_defs
    }
    schedules = {
        s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "default_status": s.default_status.value,
                 "job": s.job_name}
        for s in repository.schedule_defs
    }
    return {"assets": assets, "asset_checks": checks, "sensors": sensors, "schedules": schedules,
            "jobs": sorted(j.name for j in repository.get_all_jobs())}


def as_text(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def flat(data, prefix: str = "") -> dict[str, str]:
    """Every leaf by its path (`marketing / sensors / marketing_landing / minimum_interval_seconds`)."""
    if isinstance(data, dict) and data:
        return {k: v for name, value in data.items() for k, v in flat(value, f"{prefix} / {name}" if prefix else name).items()}
    return {prefix: json.dumps(data)}


def changes(before: dict, after: dict) -> list[str]:
    old, new = flat(before), flat(after)
    return ([f"  changed  {k}: {old[k]} -> {new[k]}" for k in sorted(old.keys() & new.keys()) if old[k] != new[k]]
            + [f"  added    {k}: {new[k]}" for k in sorted(new.keys() - old.keys())]
            + [f"  removed  {k}: {old[k]}" for k in sorted(old.keys() - new.keys())])


def test_definitions_match_the_committed_snapshot():
    loaded = {location.name: summary(load_defs(location.module)) for location in code_locations()}
    current = as_text(loaded)
    if os.environ.get(UPDATE) == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current)
    committed = SNAPSHOT.read_text() if SNAPSHOT.exists() else "{}\n"
    if current != committed:
        listed = "\n".join(changes(json.loads(committed), loaded)) or "  (formatting only)"
        diff = "".join(difflib.unified_diff(committed.splitlines(keepends=True), current.splitlines(keepends=True),
                                            fromfile=f"{SNAPSHOT.relative_to(config.PROJECT_ROOT)} (committed)",
                                            tofile="definitions as loaded now"))
        pytest.fail(
            f"The code locations' definitions differ from the committed snapshot:\n{listed}\n\n{diff}\n"
            f"If the change is intended, accept it and commit the file:\n"
            f"    {UPDATE}=1 python -m pytest {Path(__file__).relative_to(config.PROJECT_ROOT)}", pytrace=False)
