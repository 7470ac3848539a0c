"""Open standards: every product's ODCS contract passes `datacontract lint`, every ODPS
descriptor validates against the published ODPS v1 JSON schema, and the two agree."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
import yaml

from platform_lib.catalog.export import export
from platform_lib.config import MeshPaths
from platform_lib.declare import versions as contracts

from tests import sla_lab
from tests.helpers import mesh_in_process
from tests.test_mesh import ALL

ODPS_SCHEMA = Path(__file__).parent / "standards" / "odps-json-schema-v1.0.0.json"
DATACONTRACT = Path(sys.executable).parent / "datacontract"


def lint(path: Path) -> subprocess.CompletedProcess:
    """`datacontract lint`, the command a user runs."""
    return subprocess.run([str(DATACONTRACT), "lint", str(path)], capture_output=True, text=True, timeout=120)


def lint_failures(path: Path) -> list[str]:
    """What `datacontract lint` runs (`DataContract.lint`), in this process: one start-up for all contracts."""
    from datacontract.data_contract import DataContract

    run = DataContract(data_contract_file=str(path), inline_references=True).lint()
    return [f"{c.name}: {c.reason}" for c in run.checks if c.result in ("failed", "error")]


def odps_errors(doc: dict) -> list[str]:
    schema = json.loads(ODPS_SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("mesh")
    out = tmp_path_factory.mktemp("standards")
    for fmt in ("odcs", "odps"):
        result = mesh_in_process("contracts", "export", "--format", fmt, "--out", str(out / fmt), root=root)
        assert result.returncode == 0, result.stderr
    return root, out


def test_every_odcs_contract_passes_datacontract_lint(exported):
    root, out = exported
    files = sorted((out / "odcs").glob("*.odcs.yaml"))
    assert {f.name.rsplit(".", 3)[0] for f in files} == set(ALL)
    failed = {f.name: problems for f in files if (problems := lint_failures(f))}
    assert not failed, failed

    contract = yaml.safe_load((out / "odcs" / "marketing.lead_scoring_signals.v1.odcs.yaml").read_text())
    assert contract["apiVersion"] == "v3.1.0" and contract["status"] == "active"
    assert contract["version"] == "1.2.0" and contract["domain"] == "marketing"
    assert contract["servers"][0]["path"] == str(MeshPaths(root).port("marketing", "lead_scoring_signals", 1))
    assert contract["servers"][0]["format"] == "delta"
    props = {p["name"]: p for p in contract["schema"][0]["properties"]}
    assert props["email"]["classification"] == "pii" and props["contact_id"]["primaryKey"] is True
    assert props["score"]["logicalType"] == "integer" and props["score"]["physicalType"] == "long"
    sla = {s["property"]: s for s in contract["slaProperties"]}
    assert {"latency", "availability", "retention", "frequency"} <= set(sla)
    assert sla["retention"]["value"] > 0 and sla["retention"]["unit"] == "d"
    assert contract["team"]["members"][0] == {"username": "maria.marketing", "role": "owner",
                                              "description": "Marketing Operations Lead"}


def test_lint_rejects_a_contract_that_breaks_the_standard(exported, tmp_path):
    _, out = exported
    broken = tmp_path / "broken.odcs.yaml"
    broken.write_text((out / "odcs" / "sales.accounts.v1.odcs.yaml").read_text().replace("logicalType: number", "logicalType: double"))
    result = lint(broken)
    assert result.returncode != 0 and "'double' is not one of" in result.stdout.replace("\n", " ")
    assert any("'double' is not one of" in problem for problem in lint_failures(broken))


def test_odps_descriptors_validate_and_point_at_the_odcs_contracts(exported):
    _, out = exported
    descriptors = {f.name.rsplit(".", 2)[0]: yaml.safe_load(f.read_text()) for f in (out / "odps").glob("*.odps.yaml")}
    assert set(descriptors) == set(ALL)
    assert {pid: odps_errors(doc) for pid, doc in descriptors.items() if odps_errors(doc)} == {}

    contract_ids = {yaml.safe_load(f.read_text())["id"] for f in (out / "odcs").glob("*.yaml")}
    for doc in descriptors.values():
        for port in doc.get("inputPorts", []) + doc["outputPorts"]:
            assert port["contractId"] in contract_ids, (doc["id"], port)
    account_360 = descriptors["revenue_operations.account_360"]
    assert {p["name"] for p in account_360["inputPorts"]} == {
        "sales.accounts", "sales.opportunity_pipeline", "sales.account_interactions", "marketing.web_behavior",
        "marketing.campaign_engagement", "marketing.lead_scoring_signals", "product.product_health_scores",
        "customer_success.account_health"}
    health = descriptors["customer_success.account_health"]
    assert [p["name"] for p in health["inputPorts"]] == ["product.product_health_scores"]


def test_a_deprecated_major_gets_its_own_contract_and_output_port(tmp_path, configure):
    configure(contracts=str(tmp_path / "contracts"))
    today = datetime.now(timezone.utc).date()
    v1, _ = sla_lab.event_log()
    contracts.write_snapshot(v1, today)
    v2, _ = sla_lab.event_log(version="2.0.0", rename=True, deprecations={1: today + timedelta(days=30)},
                              compatibility={1: "SELECT event_id, source_channel AS channel, occurred_at FROM {batch}"})

    written = export("odcs", [v2], tmp_path / "odcs", MeshPaths(tmp_path))
    assert [p.name for p in written] == ["sla_lab.event_log.v1.odcs.yaml", "sla_lab.event_log.v2.odcs.yaml"]
    old = yaml.safe_load(written[0].read_text())
    assert old["status"] == "deprecated" and old["version"] == "1.0.0"
    assert [p["name"] for p in old["schema"][0]["properties"]] == ["event_id", "channel", "occurred_at"]
    assert all(lint(p).returncode == 0 for p in written)

    descriptor = yaml.safe_load(export("odps", [v2], tmp_path / "odps", MeshPaths(tmp_path))[0].read_text())
    assert odps_errors(descriptor) == []
    assert [(p["version"], p["contractId"]) for p in descriptor["outputPorts"]] == [
        ("1.0.0", "urn:gtm-mesh:contract:sla_lab.event_log:v1"), ("2.0.0", "urn:gtm-mesh:contract:sla_lab.event_log:v2")]


def test_a_served_major_without_its_snapshot_is_a_clear_error(tmp_path, configure):
    configure(contracts=str(tmp_path / "contracts"))
    v2, _ = sla_lab.event_log(version="2.0.0", rename=True,
                              deprecations={1: datetime.now(timezone.utc).date() + timedelta(days=30)})
    with pytest.raises(FileNotFoundError, match=r"sla_lab.event_log: major v1 is still served but has no contract snapshot"):
        export("odcs", [v2], tmp_path / "odcs", MeshPaths(tmp_path))
