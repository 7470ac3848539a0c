"""A product's own audit, through a real build: a clean batch is published whole; a key
the build produced twice with different values sends both rows to quarantine, and the
rest is published."""

from __future__ import annotations

import pytest
from dagster import AssetKey
from deltalake import DeltaTable

from platform_lib import Column, DataProduct, data_product
from platform_lib.config import MeshPaths

from tests.helpers import query
from tests.sla_lab import OWNER, build, land

KEY = AssetKey(["sla_lab", "channel_log"])


def channel_log(sql: str):
    product = DataProduct(
        domain="sla_lab", name="channel_log", version="1.0.0", description="Each event's channel.",
        owner=OWNER, primary_key=("event_id",), inputs=("sla_lab.staging.events",), event_time="occurred_at",
        columns=(
            Column(name="event_id", type="string", description="Event id.", nullable=False),
            Column(name="channel", type="string", description="Channel.", accepted_values=("web", "email")),
            Column(name="occurred_at", type="timestamp", description="When it happened."),
        ),
    )

    @data_product(product)
    def _build(ctx):
        return sql

    return _build


def published(root) -> list[tuple[str, str]]:
    table = DeltaTable(str(MeshPaths(root).port("sla_lab", "channel_log", 1))).to_pyarrow_table()
    return sorted(zip(table.column("event_id").to_pylist(), table.column("channel").to_pylist()))


def accounting(result) -> dict[str, int]:
    meta = result.asset_materializations_for_node("sla_lab__channel_log")[0].metadata
    return {k: meta[k].value for k in ("rows_in", "rows_published", "rows_quarantined")}


def test_a_clean_batch_is_published_whole(tmp_path):
    land(tmp_path, "batch", [5, 6, 7])
    result = build(tmp_path, channel_log("SELECT event_id, channel, occurred_at FROM staging.events"))

    assert accounting(result) == {"rows_in": 3, "rows_published": 3, "rows_quarantined": 0}
    assert published(tmp_path) == [(f"batch-{i}", "web") for i in range(3)]


def test_a_key_built_twice_with_different_values_is_quarantined_and_the_rest_published(tmp_path):
    land(tmp_path, "batch", [5] * 40)
    twice = ("SELECT event_id, channel, occurred_at FROM staging.events "
             "UNION ALL SELECT event_id, 'email', occurred_at FROM staging.events WHERE event_id = 'batch-1'")
    result = build(tmp_path, channel_log(twice))

    assert accounting(result) == {"rows_in": 41, "rows_published": 39, "rows_quarantined": 2}
    assert published(tmp_path) == sorted((f"batch-{i}", "web") for i in range(40) if i != 1)
    kept = query(tmp_path, "sla_lab", "SELECT rule, json_extract_string(record, '$.channel') FROM quarantine.records "
                                      "WHERE object = 'sla_lab.channel_log' ORDER BY 2")
    assert kept == [("unique_key:event_id", "email"), ("unique_key:event_id", "web")]


def test_a_blank_required_value_is_quarantined_as_empty(tmp_path):
    land(tmp_path, "batch", [5] * 80)
    blanks = ("SELECT CASE event_id WHEN 'batch-1' THEN '' WHEN 'batch-2' THEN '   ' WHEN 'batch-3' THEN chr(160) "
              "WHEN 'batch-4' THEN ' padded ' ELSE event_id END AS event_id, channel, occurred_at FROM staging.events")
    result = build(tmp_path, channel_log(blanks))

    assert accounting(result) == {"rows_in": 80, "rows_published": 77, "rows_quarantined": 3}
    assert (" padded ", "web") in published(tmp_path)
    kept = query(tmp_path, "sla_lab", "SELECT rule, count(*) FROM quarantine.records "
                                      "WHERE object = 'sla_lab.channel_log' GROUP BY ALL")
    assert kept == [("not_null:event_id", 3)]


@pytest.mark.parametrize("primary_key", [("event_id",), ()], ids=["keyed", "keyless"])
def test_a_batch_landed_twice_is_staged_once_and_a_changed_copy_is_not_a_duplicate(tmp_path, primary_key):
    """Exact copies (here the same file landed again) are dropped and counted, with or
    without a primary key; a record sent again with a changed value is not a copy."""
    from dagster import materialize

    from platform_lib import staging_asset
    from platform_lib.dagster.resources import domain_resources

    from tests.sla_lab import EVENTS

    land(tmp_path, "batch", [5, 6, 7])
    folder = tmp_path / "landing" / "sla_lab" / "events"
    (folder / "batch-again.jsonl").write_text((folder / "batch.jsonl").read_text())
    changed = (folder / "batch.jsonl").read_text().splitlines()[0].replace('"web"', '"email"')
    (folder / "batch-changed.jsonl").write_text(changed + "\n")
    source = EVENTS.model_copy(update={"primary_key": primary_key})

    result = materialize([staging_asset(source)], resources=domain_resources("sla_lab", MeshPaths(tmp_path)))

    meta = result.asset_materializations_for_node("sla_lab__staging__events")[0].metadata
    assert {k: meta[k].value for k in ("rows_in", "exact_duplicates_dropped")} == {"rows_in": 7, "exact_duplicates_dropped": 3}
    staged = query(tmp_path, "sla_lab", "SELECT event_id, channel FROM staging.events ORDER BY ALL")
    if primary_key:  # the two versions of batch-0 conflict: both are quarantined
        assert staged == [("batch-1", "web"), ("batch-2", "web")]
    else:
        assert staged == [("batch-0", "email"), ("batch-0", "web"), ("batch-1", "web"), ("batch-2", "web")]


def test_a_key_built_in_a_narrower_type_than_declared_is_compared_as_the_value_it_holds(tmp_path):
    """A build may return an integer key as INTEGER where the declaration says BIGINT: the
    duplicate pass compares it as the value it holds, and a key built twice is quarantined."""
    product = DataProduct(
        domain="sla_lab", name="numbered", version="1.0.0", description="Events, numbered.", owner=OWNER,
        primary_key=("seq",), inputs=("sla_lab.staging.events",), event_time="occurred_at",
        columns=(Column(name="seq", type="integer", description="Number.", nullable=False),
                 Column(name="occurred_at", type="timestamp", description="When it happened.")),
    )

    @data_product(product)
    def numbered(ctx):
        return ("SELECT CAST(row_number() OVER (ORDER BY event_id) AS INTEGER) AS seq, occurred_at FROM staging.events "
                "UNION ALL SELECT CAST(1 AS INTEGER), min(occurred_at) - INTERVAL 1 HOUR FROM staging.events")

    land(tmp_path, "batch", [5] * 40)
    meta = build(tmp_path, numbered).asset_materializations_for_node("sla_lab__numbered")[0].metadata
    assert {k: meta[k].value for k in ("rows_in", "rows_published", "rows_quarantined")} == \
        {"rows_in": 41, "rows_published": 39, "rows_quarantined": 2}
