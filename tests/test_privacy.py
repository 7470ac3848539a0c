"""Consent: purposes are declared, enforced by the platform, and checked by policy."""

from __future__ import annotations

import pytest
from dagster import AssetKey
from deltalake import DeltaTable
from pydantic import ValidationError

from platform_lib import Column, DataProduct, Owner
from platform_lib.config import MeshPaths
from platform_lib.declare.identifiers import CONTACT_ID
from platform_lib.governance import policies


def test_lead_scoring_keeps_only_contacts_who_consented_to_analytics(built_marketing):
    root, instance, _ = built_marketing
    paths = MeshPaths(root)
    consent = {r["contact_id"]: r for r in DeltaTable(str(paths.port("marketing", "contact_consent", 1))).to_pyarrow_table().to_pylist()}
    leads = DeltaTable(str(paths.port("marketing", "lead_scoring_signals", 1))).to_pyarrow_table().to_pylist()
    assert leads and all(consent[r["contact_id"]]["consent_analytics"] for r in leads)
    assert any(not c["consent_analytics"] for c in consent.values())  # the filter had work to do
    event = instance.get_latest_materialization_event(AssetKey(["marketing", "lead_scoring_signals"]))
    meta = event.asset_materialization.metadata
    assert meta["purpose"].value == "analytics" and meta["rows_without_consent"].value > 0


def _contact_product(**extra) -> DataProduct:
    return DataProduct(
        domain="lab", name="contact_list", version="1.0.0", description="Contacts for a lab campaign, one per row.",
        owner=Owner(team="lab", role="Lab Lead"), primary_key=("contact_id",), event_time="seen_at", retention_days=30,
        columns=(CONTACT_ID, Column(name="seen_at", type="timestamp", description="When the contact was last seen.")),
        **extra,
    )


def test_contact_level_data_without_a_purpose_breaks_the_purpose_policy():
    found = [v for v in policies.evaluate([_contact_product()]) if v.policy == "purpose"]
    assert found and "without a declared purpose" in found[0].message()
    assert not [v for v in policies.evaluate([_contact_product(purpose="email_marketing")]) if v.policy == "purpose"]


def test_a_consent_purpose_reads_the_consent_record_and_unknown_purposes_are_refused():
    assert "marketing.contact_consent" in _contact_product(purpose="email_marketing").inputs
    assert "marketing.contact_consent" not in _contact_product(purpose="customer_support").inputs
    with pytest.raises(ValidationError, match="purpose 'spam' is not one of"):
        _contact_product(purpose="spam")


def test_no_port_s_delta_log_keeps_statistics_of_a_personal_column(built_mesh_template, mesh_build):
    """Anyone who can list a port's Delta log reads its per-file min/max: the mesh keeps
    them for the columns that are not personal only, and keeps them for those."""
    import json

    from platform_lib.dagster.workspace import code_locations, declared_products

    personal_products = 0
    for product in declared_products(code_locations()):
        personal = set(product.personal_columns)
        personal_products += bool(personal)
        port = MeshPaths(built_mesh_template).port(product.domain, product.name, product.major)
        assert DeltaTable(str(port)).metadata().configuration["delta.enableChangeDataFeed"] == "true", product.id
        for log in sorted((port / "_delta_log").glob("*.json")):
            for action in map(json.loads, log.read_text().splitlines()):
                if "add" not in action or not action["add"].get("stats"):
                    continue
                stats = json.loads(action["add"]["stats"])
                assert not personal & (set(stats.get("minValues", {})) | set(stats.get("maxValues", {}))), product.id
                if stats.get("numRecords"):  # and the others' are kept: files are still skipped by them
                    assert set(stats.get("minValues", {})) - personal, product.id
    assert personal_products >= 3
