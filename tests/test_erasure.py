"""Right to erasure on a real built mesh: one request, dropped in the erasure inbox and
carried out by every domain's sensor, removes a contact from every store, copies of its
identifier under other names included (found along column lineage); aggregates lose
exactly the contact's contribution, and nothing brings it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions
from deltalake import DeltaTable

from platform_lib import config
from platform_lib.config import MeshPaths
from platform_lib.storage.ports import MASKED, MASKING, OutputPort, all_ports

from tests.helpers import materialize_domain, mesh_in_process, query, traces

PROBES = ("outreach_targets", "outreach_batches")


def probe_products():
    """Two marketing products that pass a contact's identifier on under other names, declared
    nowhere as an identifier: a copy from the CRM's contacts, and a copy of that copy."""
    from platform_lib import Column, DataProduct, data_product

    from domains.marketing.domain import MARKETING

    def declared(name: str, read: str, column: str) -> DataProduct:
        return DataProduct(
            domain="marketing", name=name, version="1.0.0", retention_days=30, owner=MARKETING.owner,
            description=f"Who outreach goes to, by {column}: a probe of erasure along column lineage.",
            inputs=(read,), primary_key=(column,), event_time="seen_at",
            columns=(Column(name=column, type="string", description="The person outreach goes to."),
                     Column(name="seen_at", type="timestamp", description="When the person's record last changed.")))

    @data_product(declared("outreach_targets", "marketing.staging.contacts", "person_ref"))
    def outreach_targets(ctx):
        return "SELECT contact_id AS person_ref, updated_at AS seen_at FROM staging.contacts"

    @data_product(declared("outreach_batches", "marketing.outreach_targets", "recipient"))
    def outreach_batches(ctx):
        return "SELECT person_ref AS recipient, seen_at FROM ports.marketing__outreach_targets"

    return [outreach_targets, outreach_batches]


@pytest.fixture
def probed(private_mesh, monkeypatch):
    """A private copy of the built mesh whose Marketing code location also has the probes,
    built and published."""
    from platform_lib.dagster.assets import BUILDS

    import domains.marketing.definitions as location

    root = private_mesh()
    monkeypatch.setattr(location, "defs", Definitions.merge(location.defs, Definitions(assets=probe_products())))
    with config.overridden(home=root):
        materialize_domain("marketing", root, selection=[AssetKey(["marketing", p]) for p in PROBES])
    yield root
    for name in PROBES:
        BUILDS.pop(f"marketing.{name}")  # the probes are no products of the mesh


def sensor_loop(root: Path, sensor: str) -> list[dict]:
    """Every domain's `sensor` evaluated and its runs executed, as the daemon would, until idle
    (in this process, on the mesh at `root`: the definitions are already loaded here)."""
    from tests import sensor_loop as loop

    with config.overridden(home=root, dagster_home=root / "dagster"):
        return loop.run(sensor)


def engagement_totals(root: Path) -> dict[str, int]:
    t = DeltaTable(str(MeshPaths(root).port("marketing", "campaign_engagement", 1))).to_pyarrow_table()
    return {c: sum(v for v in t.column(c).to_pylist() if v) for c in ("sends", "deliveries", "opens", "clicks")}


def test_erasing_a_contact_removes_it_from_every_store_and_every_version(probed):
    root = probed
    # A contact known to marketing, sales and customer success, with the most email events.
    contact = query(root, "marketing", "SELECT contact_id FROM staging.email_events GROUP BY 1 ORDER BY count(*) DESC, 1")
    sales = {r[0] for r in query(root, "sales", "SELECT DISTINCT contact_id FROM staging.activities")}
    support = {r[0] for r in query(root, "customer_success", "SELECT DISTINCT contact_id FROM staging.tickets")}
    contact_id = next(c for (c,) in contact if c in sales and c in support)
    email = query(root, "marketing", "SELECT email FROM staging.contacts WHERE contact_id = ?", [contact_id])[0][0]
    contribution = dict(query(root, "marketing", "SELECT event_type || 's', count(*) FROM staging.email_events "
                                                 "WHERE contact_id = ? GROUP BY 1", [contact_id]))
    contribution["deliveries"] = contribution.pop("delivers", 0)
    before = engagement_totals(root)
    assert traces(root, [contact_id, email])  # the scan finds the contact before erasure

    plan = json.loads(mesh_in_process("erase", "--subject", f"contact:{contact_id}", "--plan", "--json", root=root,
                                      check=True).stdout)
    assert {d for d, held in plan["holds"].items() if held} >= {"marketing", "sales", "customer_success"}
    assert "campaign_engagement" in plan["recompute"]["marketing"]
    assert "account_360" in plan["recompute"]["revenue_operations"]
    # The probes' copies of the identifier, declared nowhere: found by hash, like a declared one.
    probes = [f"port:marketing/{p}/v1" for p in PROBES]
    assert {p: plan["holds"]["marketing"].get(p) for p in probes} == dict.fromkeys(probes, 1)
    carried = {f"{c['product']}.{c['column']}": c["path"] for c in plan["columns"] if c["direct"]}
    assert carried["marketing.outreach_batches.recipient"] == [
        "marketing.outreach_targets.person_ref", "marketing.staging.contacts.contact_id"]
    assert traces(root, [contact_id])  # --plan changed nothing

    # The request arrives in the erasure inbox; each domain's sensor carries its own part.
    inbox = root / "privacy" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "ticket-4711.json").write_text(json.dumps({"subject": f"contact:{contact_id}", "reason": "GDPR Art. 17 request"}))
    (inbox / "ticket-4712.json").write_text(json.dumps({"subject": "phone:+15550100", "reason": "wrong kind"}))
    launched = sensor_loop(root, "erasure_inbox")
    assert traces(root, [contact_id, email]) == []
    # The purge of old versions keeps what each port's last publish recorded: a masked twin
    # is still served as masked, and a build with nothing new republishes nothing.
    ports = [OutputPort(f) for f in all_ports(MeshPaths(root))]
    twins = [p for p in ports if p.path.name.endswith(MASKED)]
    assert twins and all(t.last_commit().get(MASKING) for t in twins), [t.path for t in twins if not t.last_commit().get(MASKING)]
    published = {p.path: p.version() for p in ports}

    steps = [(r["location"], r["tags"].get("mesh/erasure_step")) for r in launched if r["tags"].get("mesh/erasure")]
    assert {loc for loc, _ in steps} == {"marketing", "product", "sales", "customer_success", "revenue_operations"}
    assert steps.index(("product", "purge")) < steps.index(("customer_success", "erase"))  # producers first
    failed = [(r["location"], r["tags"].get("mesh/erasure_step"), r["errors"][-1:]) for r in launched if not r["success"]]
    assert [step for _, step, _ in failed] == ["intake"] and "must be one of" in failed[0][2][0]
    # The raw request is gone; the malformed one is set aside with the reason and the fix.
    assert sorted(p.name for p in inbox.rglob("*.json")) == ["ticket-4712.json"]
    assert "must be one of" in (inbox / "rejected" / "ticket-4712.json.error.txt").read_text()

    after = engagement_totals(root)
    assert {k: before[k] - after[k] for k in before} == {k: contribution.get(k, 0) for k in before}
    assert sum(contribution.values()) > 0

    status = json.loads(mesh_in_process("erase", "--status", "--json", root=root, check=True).stdout)
    assert status[0]["status"] == "complete" and set(status[0]["domains"].values()) == {"confirmed"}
    assert status[0]["days_left"] == 30  # received today: the whole 30 days are left
    record = json.loads((root / "privacy" / "erasures" / f"{status[0]['request_id']}.json").read_text())
    assert {p: record["domains"]["marketing"]["rows_removed"].get(p) for p in probes} == dict.fromkeys(probes, 1)
    said = " ".join(mesh_in_process("erase", "--status", "--request-id", status[0]["request_id"], root=root,
                                    env={"COLUMNS": "200"}, check=True).stdout.split())
    assert ("marketing.outreach_batches.recipient <- marketing.outreach_targets.person_ref <- "
            "marketing.staging.contacts.contact_id") in said, said
    entries = [json.loads(line) for line in (root / "audit" / "access.jsonl").read_text().splitlines()]
    record = next(e for e in entries if e.get("event") == "erasure_completed")
    assert record["request_id"] == status[0]["request_id"] and record["rows_removed"] > 0
    assert len(record["subject_hash"]) == 64 and record["verified_at"]
    assert mesh_in_process("audit", "verify", root=root).returncode == 0

    # Rebuilding from the landing zone, even with the contact landing again, never brings it back.
    again = root / "landing" / "marketing" / "contacts" / "part-99999.csv"
    again.write_text("contact_id,account_id,email,first_name,last_name,job_title,country,lifecycle_stage,"
                     "consent_email_marketing,consent_analytics,consent_sales_outreach,created_at,updated_at,extracted_at\n"
                     f"{contact_id},ACC-000001,{email},A,B,CTO,DE,lead,true,true,true,"
                     "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,2026-10-03T00:00:00Z\n")
    rebuilt = mesh_in_process("build", "--select", "marketing", root=root)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    again.unlink()
    assert traces(root, [contact_id, email]) == []
    assert {p.path: p.version() for p in ports if "/marketing/" in str(p.path)} == {
        f: v for f, v in published.items() if "/marketing/" in str(f)}
