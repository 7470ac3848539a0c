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


def test_a_port_updated_per_day_is_laid_out_by_day_so_a_replace_of_recent_days_rewrites_only_their_files(tmp_path):
    """A product computed per account and day is written ordered by day in files of
    bounded size: replacing the last days (a batch's usual keys) rewrites the one file
    that holds them, not every file of history, and leaves every other row as it was."""
    import pyarrow as pa

    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.storage.ports import OutputPort

    product = next(p for p in declared_products(code_locations()) if p.id == "product.feature_usage")
    con = duckdb.connect()
    rows = """SELECT printf('ACC-%06d', i % 20000) AS account_id, ['api', 'reports', 'dashboards'][1 + i % 3] AS feature,
                     DATE '2026-01-01' + CAST(i // 6000 AS INTEGER) AS activity_date, 1 + i % 7 AS active_users,
                     8 + i % 13 AS events, TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i) AS first_used_at,
                     TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i + 60) AS last_used_at FROM range({n}) t(i)"""
    con.execute(f"CREATE TABLE history AS {rows.format(n=1_200_000)}")  # 200 days
    port = OutputPort(tmp_path / "v1")
    port.publish(con, "history", product, "first")
    import datetime

    files = pa.table(port.table().get_add_actions(flatten=True)).to_pylist()
    holding = [f for f in files if f["max.activity_date"] >= datetime.date(2026, 7, 18)]
    assert len(files) >= 5 and len(holding) <= 2, [(f["min.activity_date"], f["max.activity_date"]) for f in files]

    where = "activity_date >= DATE '2026-07-18'"  # the last two days
    con.execute(f"CREATE TABLE batch AS SELECT * REPLACE (events + 1000 AS events) FROM history WHERE {where}")
    replaced = port.replace(con, "batch", where, product, "batch")
    metrics = port.table().history(1)[0]["operationMetrics"]
    assert metrics["num_removed_files"] == len(holding), metrics
    assert (replaced.inserted, replaced.deleted) == (12_000, 12_000)
    con.execute(f"CREATE TABLE expected AS SELECT * FROM history WHERE NOT ({where}) UNION ALL SELECT * FROM batch")
    con.register("served", port.dataset())
    assert con.execute("SELECT (SELECT count(*) FROM served), (SELECT count(*) FROM (SELECT * FROM served EXCEPT ALL "
                       "SELECT * FROM expected)), (SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL "
                       "SELECT * FROM served))").fetchall() == [(1_200_000, 0, 0)]


def test_an_older_major_without_the_key_a_product_is_updated_by_is_written_unordered():
    """An older major is shaped from its contract, which may lack a key the current
    version is computed per: its port is then written as it comes, not refused."""
    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.storage.ports import clustering

    product = next(p for p in declared_products(code_locations()) if p.id == "sales.account_interactions")
    assert clustering(product) == ["week_start", "account_id"]
    older = product.model_copy(update={"columns": tuple(c for c in product.columns if c.name != "week_start")})
    assert clustering(older) == ["account_id"]


def test_a_port_reads_as_its_newest_data_commit_whatever_the_commits_that_change_no_rows_carry(tmp_path):
    """Commits that change no rows (a purge's, a vacuum's, a masked twin's new stamp) carry
    the record of the port's newest data commit: its version and fingerprint hold through
    them, a stale record written while a newer publish landed does not win, and a publish
    of the same rows under a new stamp commits the stamp alone."""
    from deltalake import CommitProperties

    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.privacy.stores import purge_history
    from platform_lib.storage.ports import FINGERPRINT, PORT_VERSION, STANDS_FOR, OutputPort

    product = next(p for p in declared_products(code_locations()) if p.id == "product.feature_usage")
    con = duckdb.connect()
    day = """SELECT 'ACC-000001' AS account_id, 'api' AS feature, DATE '{d}' AS activity_date, 1 AS active_users,
                    {n} AS events, TIMESTAMPTZ '{d} 00:00:00+00' AS first_used_at, TIMESTAMPTZ '{d} 01:00:00+00' AS last_used_at"""
    con.execute(f"CREATE TABLE a AS {day.format(d='2026-11-01', n=1)}")
    con.execute(f"CREATE TABLE b AS {day.format(d='2026-11-02', n=2)}")
    port = OutputPort(tmp_path / "v1")
    first = port.publish(con, "a", product, "r1", extra={PORT_VERSION: "7"})

    # The same rows under a new stamp: recorded without a data commit, once.
    again = port.publish(con, "a", product, "r2", extra={PORT_VERSION: "8"})
    assert not again.changed and port.version() == first.delta_version and port.last_commit()[PORT_VERSION] == "8"
    log = port.table().version()
    port.publish(con, "a", product, "r3", extra={PORT_VERSION: "8"})
    assert port.table().version() == log

    # A commit carrying an older record (a purge that began before this publish) loses to it.
    second = port.publish(con, "b", product, "r4")
    stale = {STANDS_FOR: str(first.delta_version), FINGERPRINT: first.fingerprint}
    port.table().alter.set_table_properties({"delta.logRetentionDuration": "interval 30 days"},
                                            commit_properties=CommitProperties(custom_metadata=stale))
    assert (port.version(), port.last_fingerprint()) == (second.delta_version, second.fingerprint)

    # A purge leaves one version, still read as the publish that made it.
    purge_history(port.path)
    assert (port.version(), port.last_fingerprint()) == (second.delta_version, second.fingerprint)
    assert not port.publish(con, "b", product, "r5").changed


def test_a_fingerprint_covers_every_column_whatever_the_columns_are_named():
    from platform_lib.storage.ports import fingerprint

    con = duckdb.connect()
    con.execute("CREATE TABLE one AS SELECT 'x' AS t, 10 AS v")
    con.execute("CREATE TABLE two AS SELECT 'x' AS t, 20 AS v")
    assert fingerprint(con, "one") != fingerprint(con, "two")
