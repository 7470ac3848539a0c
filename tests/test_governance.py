"""Federated governance: policies fail broken declarations, grants gate every read path,
PII is masked without PII access, owners approve access, and the audit log is tamper-evident."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from datetime import date, timedelta

import pyarrow as pa
import pytest
import yaml
from deltalake import write_deltalake

from platform_lib import SLA, Column, DataProduct, Owner
from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID
from platform_lib.governance import policies
from platform_lib.governance.access import AccessDenied, pseudonym
from platform_lib.governance.registry import principals
from platform_lib.governance.secrets import masking_key
from platform_lib.lifecycle.read import read_product

from tests.helpers import mesh_in_process


@pytest.fixture
def governance(tmp_path, configure):
    """A private copy of the governance registry, so tests can change grants and requests."""
    root = tmp_path / "governance"
    shutil.copytree(PROJECT_ROOT / "governance", root)
    configure(governance=str(root))
    return root


def product(**changes) -> DataProduct:
    base = dict(
        domain="marketing", name="probe", version="1.0.0", retention_days=365,
        description="A product used to probe the global policies.",
        owner=Owner(team="marketing", role="Marketing Operations Lead"), primary_key=("account_id",),
        event_time="seen_at",
        columns=(
            ACCOUNT_ID.model_copy(update={"nullable": False}),
            Column(name="seen_at", type="timestamp", description="When it was seen."),
        ),
    )
    return DataProduct(**{**base, **changes})


BROKEN = {
    "ownership": dict(owner=Owner(team="sales", role="Sales Operations Manager")),
    "documentation": dict(columns=(ACCOUNT_ID, Column(name="seen_at", type="timestamp"))),
    "classification": dict(columns=(ACCOUNT_ID, Column(name="seen_at", type="timestamp", description="x"),
                                    Column(name="email", type="string", description="Email.", classification="pii")),
                           purpose="customer_support"),
    "sla": dict(sla=SLA(quality_min=0)),
    "common_identifiers": dict(columns=(Column(name="account_id", type="integer", description="Account."),
                                        Column(name="seen_at", type="timestamp", description="x"))),
    "naming": dict(columns=(ACCOUNT_ID, Column(name="seen_at", type="timestamp", description="x"),
                            Column(name="created", type="timestamp", description="Created."))),
    "access": dict(inputs=("sales.opportunity_pipeline",)),
    "retention": dict(retention_days=None),
    "purpose": dict(columns=(ACCOUNT_ID, Column(name="seen_at", type="timestamp", description="x"),
                             CONTACT_ID)),
}


@pytest.mark.parametrize("policy", sorted(BROKEN))
def test_each_policy_fails_a_broken_declaration_with_a_clear_message(policy, governance):
    assert not policies.evaluate([product()])
    [violation] = policies.evaluate([product(**BROKEN[policy])])
    assert violation.policy == policy
    message = violation.message()
    assert f"[{policy}] domain marketing, product marketing.probe" in message and "Fix:" in message


def test_an_unsemantic_version_is_rejected_at_declaration():
    with pytest.raises(ValueError, match="version '1.0' is not semantic"):
        product(version="1.0")


def test_exemptions_are_explicit_listed_and_expire(governance):
    (governance / "exemptions.yaml").write_text(yaml.safe_dump({"exemptions": [
        {"policy": "retention", "product": "marketing.probe", "reason": "legal review pending", "expires": "2099-01-01"}]}))
    [violation] = policies.evaluate([product(retention_days=None)])
    assert violation.exempted_by.reason == "legal review pending"
    policies.enforce([product(retention_days=None)])  # exempt: does not raise
    (governance / "exemptions.yaml").write_text(yaml.safe_dump({"exemptions": [
        {"policy": "retention", "product": "marketing.probe", "reason": "old", "expires": "2020-01-01"}]}))
    with pytest.raises(policies.PolicyViolation, match="no retention declared"):
        policies.enforce([product(retention_days=None)])


def test_an_exemption_is_granted_by_an_authenticated_platform_admin_and_records_who(governance, tmp_path):
    args = ("policy", "exempt", "retention", "marketing.web_behavior", "--reason", "legal review pending", "--until",
            (date.today() + timedelta(days=30)).isoformat())
    refused = mesh_in_process(*args, root=tmp_path, principal="maria.marketing")
    assert refused.returncode != 0 and "maria.marketing is not a platform admin" in refused.stderr
    assert mesh_in_process(*args, root=tmp_path).returncode != 0  # no credential, no exemption
    granted = mesh_in_process(*args, root=tmp_path, principal="platform.admin")
    assert granted.returncode == 0, granted.stderr
    [exemption] = yaml.safe_load((governance / "exemptions.yaml").read_text())["exemptions"]
    assert exemption["approved_by"] == "platform.admin" and exemption["reason"] == "legal review pending"


def test_mesh_policy_check_passes_and_says_what_it_checked():
    out = mesh_in_process("policy", "check", "--json", root=MeshPaths.from_env().home)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert len(report["checked"]["products"]) == 17 and len(report["checked"]["policies"]) == 11
    assert report["violations"] == []


def test_removing_a_grant_stops_the_consumer_domain_from_loading(governance):
    grants = yaml.safe_load((governance / "grants.yaml").read_text())
    grants["grants"] = [g for g in grants["grants"] if g["consumer"] != "svc_customer_success"]
    (governance / "grants.yaml").write_text(yaml.safe_dump(grants))
    # A deployment whose registry is this copy (the registry is where the code is, never an
    # environment variable): its location fails to load.
    load = f"from platform_lib import config; config.configure(governance={str(governance)!r}); import domains.customer_success.definitions"
    result = subprocess.run([sys.executable, "-c", load], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert ("[access] domain customer_success, product customer_success.account_health: reads "
            "product.product_health_scores without an active grant for svc_customer_success") in result.stderr


def test_no_grant_no_read_through_the_cli_or_the_python_api(built_marketing, governance):
    root = built_marketing[0]
    out = mesh_in_process("read", "marketing.lead_scoring_signals", root=root, principal="frank.finance")
    assert out.returncode != 0
    assert "frank.finance has no active grant for marketing.lead_scoring_signals v1" in out.stderr
    assert "mesh access request marketing.lead_scoring_signals" in out.stderr
    with pytest.raises(AccessDenied, match="no active grant"):
        read_product("marketing.lead_scoring_signals", caller=principals()["frank.finance"], paths=MeshPaths(root))


def test_a_grant_without_pii_access_returns_masked_pii(built_marketing, governance):
    root = built_marketing[0]
    masked = read_product("marketing.lead_scoring_signals", caller=principals()["dana.sdr"], paths=MeshPaths(root)).to_pylist()
    owner = read_product("marketing.lead_scoring_signals", caller=principals()["maria.marketing"], paths=MeshPaths(root)).to_pylist()
    assert any("@" in (r["email"] or "") for r in owner)
    # Keyed pseudonyms: the same on every read (products still join on them), and not the
    # plain hash of the value, which anyone could compute for a guessed email.
    key = masking_key(MeshPaths(root))
    for seen, raw in zip(masked, owner):
        if raw["email"]:
            assert seen["email"] == pseudonym(raw["email"], key) != "sha256:" + hashlib.sha256(raw["email"].encode()).hexdigest()
    assert [r["score"] for r in masked] == [r["score"] for r in owner]  # only PII changes
    out = mesh_in_process("read", "marketing.lead_scoring_signals", "--format", "json", "--limit", "5", root=root, principal="dana.sdr")
    assert out.returncode == 0 and "@" not in out.stdout
    with pytest.raises(AccessDenied, match="masked PII"):
        read_product("marketing.lead_scoring_signals", caller=principals()["dana.sdr"], where=["email = x@y.com"], paths=MeshPaths(root))


def test_masking_holds_without_a_contract_and_fails_closed_when_nothing_says_what_is_personal(
        built_marketing, governance, configure, tmp_path):
    root = built_marketing[0]
    configure(contracts=str(tmp_path / "no-contracts"))  # no snapshot: the port's schema says what is PII
    masked = read_product("marketing.lead_scoring_signals", caller=principals()["dana.sdr"], paths=MeshPaths(root))
    assert masked.num_rows and not any("@" in (e or "") for e in masked.column("email").to_pylist())
    # A port that records no classification, with no contract: never read masked.
    legacy = MeshPaths(root).port("marketing", "legacy_export", 1)
    write_deltalake(str(legacy), pa.table({"account_id": ["ACC-000001"], "email": ["someone@example.com"]}))
    grants = yaml.safe_load((governance / "grants.yaml").read_text())
    grants["grants"].append({"id": "G-9002", "consumer": "dana.sdr", "product": "marketing.legacy_export", "major": 1,
                             "purpose": "x", "pii_allowed": False, "approver": "maria.marketing",
                             "granted": "2026-01-01", "expires": "2099-01-01"})
    (governance / "grants.yaml").write_text(yaml.safe_dump(grants))
    try:
        with pytest.raises(AccessDenied, match="cannot be read masked"):
            read_product("marketing.legacy_export", caller=principals()["dana.sdr"], paths=MeshPaths(root))
    finally:
        shutil.rmtree(legacy.parent)  # the built mesh is shared by this worker's tests


def test_the_owner_approves_access_and_a_non_owner_cannot(built_marketing, governance):
    root = built_marketing[0]
    asked = mesh_in_process("access", "request", "marketing.web_behavior", "--purpose", "marketing spend review", root=root,
                 principal="frank.finance")
    assert asked.returncode == 0, asked.stderr
    request_id = asked.stdout.split()[0]
    refused = mesh_in_process("access", "approve", request_id, root=root, principal="sam.sales")
    assert refused.returncode != 0 and "only its owner (Marketing Operations Lead, team marketing)" in refused.stderr
    assert mesh_in_process("read", "marketing.web_behavior", root=root, principal="frank.finance").returncode != 0
    approved = mesh_in_process("access", "approve", request_id, root=root, principal="maria.marketing")
    assert approved.returncode == 0, approved.stderr
    assert mesh_in_process("read", "marketing.web_behavior", "--limit", "3", root=root, principal="frank.finance").returncode == 0
    listed = mesh_in_process("access", "list", root=root).stdout
    assert request_id in listed and "approved" in listed


def test_editing_one_audit_entry_breaks_verification(built_marketing, governance, tmp_path):
    root = built_marketing[0]
    mesh_in_process("read", "marketing.web_behavior", "--limit", "2", root=root, principal="maria.marketing", check=True)
    assert "intact" in mesh_in_process("audit", "verify", root=root, check=True).stdout
    log = root / "audit" / "access.jsonl"
    backup = tmp_path / "access.jsonl"
    shutil.copy(log, backup)
    try:
        lines = log.read_text().splitlines()
        entry = json.loads(lines[0])
        entry["rows"] += 1
        lines[0] = json.dumps(entry, sort_keys=True)
        log.write_text("\n".join(lines) + "\n")
        out = mesh_in_process("audit", "verify", root=root)
        assert out.returncode != 0 and "entry 1 was modified" in out.stderr
    finally:
        shutil.copy(backup, log)


def test_a_column_pii_in_any_major_is_masked_in_every_major(configure, tmp_path):
    """A column made PII in v2 is not served raw in v1 while v1 is still served."""
    from platform_lib.governance.access import pii_columns

    contracts = tmp_path / "contracts" / "sales" / "accounts"
    contracts.mkdir(parents=True)
    v1 = json.loads((PROJECT_ROOT / "contracts" / "sales" / "accounts" / "v1.json").read_text())
    assert all(c.get("classification") != "pii" for c in v1["columns"] if c["name"] == "owner_rep")
    v2 = {**v1, "version": "2.0.0", "columns": [
        {**c, "classification": "pii", "pii_category": "name", "masking": "redact"} if c["name"] == "owner_rep" else c
        for c in v1["columns"]]}
    (contracts / "v1.json").write_text(json.dumps(v1))
    (contracts / "v2.json").write_text(json.dumps(v2))
    configure(contracts=str(tmp_path / "contracts"))
    assert pii_columns("sales.accounts", 1, MeshPaths(tmp_path / "mesh")).get("owner_rep") == "redact"
