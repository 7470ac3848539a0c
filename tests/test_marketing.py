"""Marketing end to end: staged sources, three published products, their metadata."""

from __future__ import annotations

import json

import duckdb
import pytest
from dagster import AssetKey, DagsterEventType
from deltalake import DeltaTable

from platform_lib.config import MeshPaths

from tests.helpers import domain_defs, materialize_domain

PRODUCTS = ("campaign_engagement", "contact_consent", "web_behavior", "lead_scoring_signals")

# How each defect kind of the generator's manifest shows up in quarantine.
RULE_FOR_DEFECT = {
    "null_key": lambda cols: f"not_null:{cols['primary_key']}",
    "unknown_enum": lambda cols: f"accepted_values:{cols['enum']}",
    "malformed_timestamp": lambda cols: f"valid_type:{cols['event_time']}",
    "unknown_account": lambda cols: "known_reference:account_id",
    "unknown_contact": lambda cols: "known_reference:contact_id",
    "schema_drift": lambda cols: "schema_drift",
}


def warehouse(root):
    return duckdb.connect(str(MeshPaths(root).warehouse("marketing")), read_only=True)


def materializations(instance, key: AssetKey):
    return [
        r.event_log_entry.dagster_event.step_materialization_data.materialization
        for r in instance.fetch_materializations(key, limit=100).records
    ]


@pytest.mark.parametrize("product", PRODUCTS)
def test_product_is_published_to_its_delta_port(built_marketing, product):
    root, instance, _ = built_marketing
    port = MeshPaths(root).port("marketing", product, 1)
    table = DeltaTable(str(port)).to_pyarrow_table()
    [mat] = materializations(instance, AssetKey(["marketing", product]))
    assert table.num_rows > 0
    assert table.num_rows == mat.metadata["rows_published"].value == mat.metadata["dagster/row_count"].value
    ledger = {k: mat.metadata[k].value for k in ("rows_in", "rows_quarantined", "exact_duplicates_dropped", "rows_withheld")}
    assert ledger["rows_in"] == table.num_rows + ledger["rows_quarantined"] + ledger["exact_duplicates_dropped"] + ledger["rows_withheld"]


def test_quarantine_per_rule_equals_the_defects_manifest(built_marketing):
    root, instance, _ = built_marketing
    manifest = json.loads((root / "landing" / "_manifest.json").read_text())
    checked = 0
    with warehouse(root) as con:
        for name, source in manifest["sources"].items():
            domain, table = name.split("/")
            if domain != "marketing":
                continue
            expected = {
                RULE_FOR_DEFECT[kind](source["columns"]): n
                for kind, n in source["defects"].items()
                if kind in RULE_FOR_DEFECT and n
            }
            found = dict(
                con.execute(
                    "SELECT rule, count(*) FROM quarantine.records WHERE object = ? GROUP BY rule",
                    [f"marketing.{table}"],
                ).fetchall()
            )
            assert found == expected, name
            [mat] = materializations(instance, AssetKey(["marketing", "staging", table]))
            assert mat.metadata["exact_duplicates_dropped"].value == source["defects"].get("duplicate_record", 0), name
            # Nothing is lost: every landed row is staged, quarantined or an exact duplicate.
            rows_in = mat.metadata["rows_in"].value
            assert rows_in == source["rows"], name
            assert rows_in == (
                mat.metadata["rows_valid"].value
                + mat.metadata["rows_quarantined"].value
                + mat.metadata["exact_duplicates_dropped"].value
            )
            checked += sum(expected.values())
    assert checked > 0


def test_quarantined_rows_keep_rule_reason_run_and_original_record(built_marketing):
    root, _, result = built_marketing
    with warehouse(root) as con:
        rows = con.execute(
            "SELECT rule, reason, run_id, source_file, record FROM quarantine.records WHERE object = 'marketing.email_events'"
        ).fetchall()
    assert rows
    for rule, reason, run_id, source_file, record in rows:
        assert reason and run_id == result.run_id and source_file.startswith("landing/marketing/email_events/")
        assert isinstance(json.loads(record), dict)


def test_campaign_engagement_counts_every_valid_send(built_marketing):
    root, _, _ = built_marketing
    port = DeltaTable(str(MeshPaths(root).port("marketing", "campaign_engagement", 1))).to_pyarrow_table()
    with warehouse(root) as con:
        expected = con.execute(
            "SELECT count(*) FROM staging.email_events e JOIN staging.contacts c USING (contact_id) WHERE event_type = 'send'"
        ).fetchall()[0][0]
    assert sum(port.column("sends").to_pylist()) == expected > 0


def test_lead_scores_follow_the_documented_rule(built_marketing):
    from domains.marketing.products.lead_scoring_signals import GRADES, MQL_BONUS, POINTS, UNSUBSCRIBE_PENALTY

    root, _, _ = built_marketing
    rows = DeltaTable(str(MeshPaths(root).port("marketing", "lead_scoring_signals", 1))).to_pyarrow_table().to_pylist()
    for row in rows:
        raw = sum(min(row[col] * per, cap) for col, (per, cap) in POINTS.items())
        raw += MQL_BONUS if row["lifecycle_stage"] in ("mql", "sql") else 0
        raw -= UNSUBSCRIBE_PENALTY if row["unsubscribed"] else 0
        score = max(0, min(100, raw))
        assert row["score"] == score
        assert row["grade"] == next((g for floor, g in GRADES if score >= floor), "D")
    assert len({r["grade"] for r in rows}) > 1


@pytest.mark.parametrize("product", PRODUCTS)
def test_product_carries_its_declaration_in_the_ui(product):
    defs = domain_defs("marketing")
    key = AssetKey(["marketing", product])
    spec = defs.resolve_assets_def(key).specs_by_key[key]
    assert spec.owners == ["team:marketing"]
    assert spec.group_name == "marketing"
    assert spec.description and len(spec.description) > 40
    assert spec.tags["domain"] == "marketing" and spec.tags["tier"] == "gold"
    assert spec.metadata["mesh/version"].startswith("1.")
    assert "Marketing Operations Lead" in spec.metadata["mesh/owner"]
    columns = spec.metadata["dagster/column_schema"].columns
    assert columns and all(c.description for c in columns)
    assert {c.tags["classification"] for c in columns} <= {"public", "internal", "pii"}


def test_every_product_has_audit_checks_and_dbt_tests_become_checks(built_marketing):
    _, instance, _ = built_marketing
    defs = domain_defs("marketing")
    graph = defs.resolve_asset_graph()
    for product in PRODUCTS:
        checks = {c.name for c in graph.get_check_keys_for_assets({AssetKey(["marketing", product])})}
        assert {"audit_rules", "quality_score", "schema_contract"} <= checks, product
    dbt_checks = {c.name for c in graph.get_check_keys_for_assets({AssetKey(["marketing", "campaign_engagement"])})}
    assert any(name.startswith("not_null") for name in dbt_checks)
    evaluations = [
        r.event_log_entry.dagster_event.event_specific_data
        for r in instance.get_records_for_run(
            run_id=built_marketing[2].run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
    ]
    by_name = {(e.asset_key.path[-1], e.check_name): e for e in evaluations}
    for product in PRODUCTS:
        assert by_name[(product, "schema_contract")].passed
        assert by_name[(product, "quality_score")].passed


def test_rebuilding_unchanged_data_publishes_nothing_new(built_marketing):
    root, _, _ = built_marketing
    paths = MeshPaths(root)
    before = {p: DeltaTable(str(paths.port("marketing", p, 1))).version() for p in PRODUCTS}
    result = materialize_domain("marketing", root)
    for p in PRODUCTS:
        [mat] = [
            e.step_materialization_data.materialization
            for e in result.get_asset_materialization_events()
            if e.asset_key == AssetKey(["marketing", p])
        ]
        assert mat.metadata["content_changed"].value is False
        assert DeltaTable(str(paths.port("marketing", p, 1))).version() == before[p]
