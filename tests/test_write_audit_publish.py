"""A batch that fails its audit is never published: the previous version keeps serving."""

from __future__ import annotations

import duckdb
from deltalake import DeltaTable

from platform_lib.config import MeshPaths

from tests.helpers import land_contacts_without_accounts, mesh_in_process


def test_failed_audit_keeps_serving_the_previous_version(private_mesh):
    root = private_mesh()
    paths = MeshPaths(root)
    port = paths.port("marketing", "lead_scoring_signals", 1)
    version, served = DeltaTable(str(port)).version(), DeltaTable(str(port)).to_pyarrow_table()

    orphans = land_contacts_without_accounts(root)

    second = mesh_in_process("build", "--select", "marketing.lead_scoring_signals", root=root)
    assert second.returncode == 1
    assert "marketing.lead_scoring_signals was not published" in second.stderr
    assert "quality_score" in second.stderr and "not_null:account_id" in second.stderr

    assert DeltaTable(str(port)).version() == version
    assert DeltaTable(str(port)).to_pyarrow_table().equals(served)
    with duckdb.connect(str(paths.warehouse("marketing")), read_only=True) as con:
        held = con.execute(
            "SELECT count(*) FROM quarantine.records WHERE object = 'marketing.lead_scoring_signals' AND rule = 'not_null:account_id'"
        ).fetchall()[0][0]
    assert held == orphans
