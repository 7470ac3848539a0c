"""Retention: the domain's scheduled job physically removes what is past its declared retention."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from dagster import DagsterInstance
from deltalake import DeltaTable

from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.dagster.resources import domain_resources
from platform_lib.dagster.retention import retention_job

from tests import sla_lab
from tests.helpers import query

DAY = 24 * 60


def test_the_retention_job_removes_expired_files_rows_and_old_versions(tmp_path, configure):
    governance = tmp_path / "governance"
    shutil.copytree(PROJECT_ROOT / "governance", governance)
    (governance / "retention.yaml").write_text("quarantine_days: 90\nport_old_versions_days: 0\naudit_log_days: 2555\n")
    configure(governance=str(governance))
    sla_lab.land(tmp_path, "old", [5 * DAY, 6 * DAY])
    sla_lab.land(tmp_path, "mixed", [10, 4 * DAY])
    product, asset = sla_lab.event_log(retention_days=3)
    sla_lab.build(tmp_path, asset)
    sla_lab.land(tmp_path, "fresh", [5])
    sla_lab.build(tmp_path, asset)  # a second version, so there is an old one to vacuum
    paths = MeshPaths(tmp_path)
    port = paths.port("sla_lab", "event_log", 1)
    assert DeltaTable(str(port)).to_pyarrow_table().num_rows == 5

    # A file no reader parses whole is left as it landed; the others are still expired.
    broken = tmp_path / "landing" / "sla_lab" / "events" / "broken.jsonl"
    broken.write_text('{"event_id": "b-0", "occurred_at": "2020-01-01T00:00:00Z"}\nnot json\n')
    source = sla_lab.EVENTS.model_copy(update={"retention_days": 3})
    job = retention_job("sla_lab", [source], [product])
    result = job.execute_in_process(resources=domain_resources("sla_lab", paths), instance=DagsterInstance.ephemeral())
    assert result.success

    landing = tmp_path / "landing" / "sla_lab" / "events"
    assert sorted(f.name for f in landing.iterdir()) == ["broken.jsonl", "fresh.jsonl", "mixed.jsonl"]
    # A file holding expired and current rows keeps only the current ones.
    assert [json.loads(line)["event_id"] for line in (landing / "mixed.jsonl").read_text().splitlines()] == ["mixed-0"]
    rows = DeltaTable(str(port)).to_pyarrow_table().column("event_id").to_pylist()
    assert sorted(rows) == ["fresh-0", "mixed-0"]
    [mat] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    meta = mat.event_specific_data.metadata
    assert meta["landing_files_removed"].value == 1
    assert meta["landing_rows_removed"].value == {"sla_lab.events": 3}
    assert meta["warehouse_rows_removed"].value["staging.events"] == 3
    # The landed records staging audits from expire with them: no later run stages them again.
    assert meta["warehouse_rows_removed"].value["landed.events"] == 3
    assert query(tmp_path, "sla_lab", "SELECT count(*) FROM landed.events WHERE starts_with(event_id, 'old') "
                                      "OR event_id = 'mixed-1'") == [(0,)]
    assert meta["port_rows_removed"].value == {"sla_lab.event_log/v1": 3}
    assert meta["port_files_vacuumed"].value["sla_lab.event_log/v1"] >= 2  # the superseded versions' files
    assert len(list(port.glob("*.parquet"))) == 1


def test_retention_vacuums_a_masked_twin_s_old_versions_with_its_port_s(private_mesh):
    """A masked twin's old versions hold the product's rows with personal columns masked:
    they go after the same days as the port's own."""
    from datetime import datetime, timezone

    from platform_lib.dagster.workspace import code_locations, declared_products, declared_sources
    from platform_lib.ops.seed.increment import land_increment
    from platform_lib.privacy.retention import expire_port
    from platform_lib.storage.ports import OutputPort

    from tests.helpers import mesh_in_process

    root = private_mesh()
    paths = MeshPaths(root)
    land_increment(paths, [s for s in declared_sources(code_locations()) if s.domain == "marketing"], "later", rows=2_000)
    out = mesh_in_process("build", "--select", "marketing", root=root)
    assert out.returncode == 0, out.stdout + out.stderr
    product = next(p for p in declared_products(code_locations()) if p.id == "marketing.lead_scoring_signals")
    port = OutputPort.of(paths, product)
    twin = port.masked().path
    assert len(DeltaTable(str(twin)).history()) > 1, "the batch gave the twin a second version"

    expire_port(port.path, product, 0, datetime.now(timezone.utc))
    current = DeltaTable(str(twin))
    assert current.history(1)[0]["operation"] == "VACUUM END"
    assert sorted(f.name for f in twin.glob("*.parquet")) == sorted(u.rsplit("/", 1)[-1] for u in current.file_uris())


def test_retention_reads_a_landed_time_without_a_zone_as_utc_whatever_the_machine_s_zone(tmp_path):
    """Retention runs in a process whose zone is 14 hours ahead of UTC: a landed time
    without a zone is still UTC, as staging reads it, so a record three hours inside the
    retention stays and one three hours past it goes."""
    from datetime import datetime, timedelta, timezone

    cutoff = datetime.now(timezone.utc) - timedelta(days=3)
    folder = tmp_path / "landing" / "sla_lab" / "events"
    folder.mkdir(parents=True)
    naive = lambda t: t.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    (folder / "naive.jsonl").write_text("".join(
        json.dumps({"event_id": name, "channel": "web", "occurred_at": naive(cutoff + timedelta(hours=h)),
                    "extracted_at": naive(cutoff + timedelta(days=3))}) + "\n" for name, h in (("inside", 3), ("past", -3))))
    script = f"""
from pathlib import Path
from dagster import DagsterInstance
from platform_lib.config import MeshPaths
from platform_lib.dagster.resources import domain_resources
from platform_lib.dagster.retention import retention_job
from tests import sla_lab
product, _ = sla_lab.event_log(retention_days=3)
source = sla_lab.EVENTS.model_copy(update={{"retention_days": 3}})
result = retention_job("sla_lab", [source], [product]).execute_in_process(
    resources=domain_resources("sla_lab", MeshPaths(Path({str(tmp_path)!r}))), instance=DagsterInstance.ephemeral())
assert result.success
"""
    env = {**os.environ, "TZ": "Pacific/Kiritimati", "MESH_HOME": str(tmp_path)}
    ran = subprocess.run([sys.executable, "-c", script], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert [json.loads(line)["event_id"] for line in (folder / "naive.jsonl").read_text().splitlines()] == ["inside"]
