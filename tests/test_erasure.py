"""Right to erasure on a real built mesh: one request removes a contact from every store,
aggregates lose exactly the contact's contribution, nothing brings it back, and an
interrupted erasure resumes without ever claiming completion early."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from platform_lib.settings import PROJECT_ROOT, MeshPaths
from tests.helpers import copy_of_built_mesh, mesh


@pytest.fixture(scope="module")
def built(built_mesh_template, tmp_path_factory):
    root, result = copy_of_built_mesh(built_mesh_template, tmp_path_factory.mktemp("mesh") / "root")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def query(root: Path, domain: str, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(MeshPaths(root).warehouse(domain)), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def traces(root: Path, needles: list[str]) -> list[str]:
    """Every place under the mesh root where a needle is found: raw bytes of every file,
    then decoded: every row of every Parquet file (Delta data, old files included) and
    every text value of every DuckDB table (compressed on disk)."""
    needles = [n.lower() for n in needles]
    found = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        data = f.read_bytes().lower()
        found += [f"{f.relative_to(root)} (bytes)" for n in needles if n.encode() in data]
        if f.suffix == ".parquet":
            text = json.dumps(pq.read_table(f).to_pylist(), default=str).lower()
            found += [f"{f.relative_to(root)} (rows)" for n in needles if n in text]
        if f.suffix == ".duckdb":
            con = duckdb.connect(str(f), read_only=True)
            cols = con.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns "
                               "WHERE table_catalog = current_database() AND data_type IN ('VARCHAR', 'JSON')").fetchall()
            for schema, table, column in cols:
                for n in needles:
                    hit = con.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE contains(lower("{column}"), ?)', [n]).fetchall()
                    if hit[0][0]:
                        found.append(f"{f.relative_to(root)}:{schema}.{table}.{column}")
            con.close()
    return found


def engagement_totals(root: Path) -> dict[str, int]:
    t = DeltaTable(str(MeshPaths(root).port("marketing", "campaign_engagement", 1))).to_pyarrow_table()
    return {c: sum(v for v in t.column(c).to_pylist() if v) for c in ("sends", "deliveries", "opens", "clicks")}


def test_erasing_a_contact_removes_it_from_every_store_and_every_version(built):
    root = built
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

    plan = json.loads(mesh("erase", "--subject", f"contact:{contact_id}", "--plan", "--json", root=root, check=True).stdout)
    assert {d for d, held in plan["holds"].items() if held} >= {"marketing", "sales", "customer_success"}
    assert "campaign_engagement" in plan["recompute"]["marketing"]
    assert "account_360" in plan["recompute"]["revenue_operations"]
    assert traces(root, [contact_id])  # --plan changed nothing

    done = mesh("erase", "--subject", f"contact:{contact_id}", "--reason", "GDPR Art. 17 request", root=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "complete" in done.stderr
    assert traces(root, [contact_id, email]) == []

    after = engagement_totals(root)
    assert {k: before[k] - after[k] for k in before} == {k: contribution.get(k, 0) for k in before}
    assert sum(contribution.values()) > 0

    status = json.loads(mesh("erase", "--status", "--json", root=root, check=True).stdout)
    assert status[0]["status"] == "complete" and set(status[0]["domains"].values()) == {"confirmed"}
    entries = [json.loads(line) for line in (root / "audit" / "access.jsonl").read_text().splitlines()]
    record = next(e for e in entries if e.get("event") == "erasure_completed")
    assert record["request_id"] == status[0]["request_id"] and record["rows_removed"] > 0
    assert len(record["subject_hash"]) == 64 and record["verified_at"]
    assert mesh("audit", "verify", root=root).returncode == 0

    # Rebuilding from the landing zone, even with the contact landing again, never brings it back.
    again = root / "landing" / "marketing" / "contacts" / "part-99999.csv"
    again.write_text("contact_id,account_id,email,first_name,last_name,job_title,country,lifecycle_stage,"
                     "consent_email_marketing,consent_analytics,consent_sales_outreach,created_at,updated_at,extracted_at\n"
                     f"{contact_id},ACC-000001,{email},A,B,CTO,DE,lead,true,true,true,"
                     "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,2026-10-03T00:00:00Z\n")
    rebuilt = mesh("build", "--select", "marketing", root=root)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    again.unlink()
    assert traces(root, [contact_id, email]) == []


def test_an_interrupted_erasure_resumes_and_never_completes_early(built):
    root = built
    users = query(root, "product", "SELECT email FROM staging.users WHERE email IS NOT NULL ORDER BY user_id LIMIT 1")
    email = users[0][0]
    env = {**os.environ, "MESH_HOME": str(root), "DAGSTER_HOME": str(root / "dagster")}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mesh"), "erase", "--subject", f"email:{email}",
                             "--reason", "interrupted", "--request-id", "ER-kill-test"],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    record = root / "privacy" / "erasures" / "ER-kill-test.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if record.exists() and any(p["phase"] != "pending" for p in json.loads(record.read_text())["domains"].values()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    status = json.loads(mesh("erase", "--status", "--request-id", "ER-kill-test", "--json", root=root, check=True).stdout)
    assert status[0]["status"] == "open" and status[0]["verified_at"] is None

    resumed = mesh("erase", "--request-id", "ER-kill-test", root=root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    status = json.loads(mesh("erase", "--status", "--request-id", "ER-kill-test", "--json", root=root, check=True).stdout)
    assert status[0]["status"] == "complete"
    assert traces(root, [email]) == []


def test_bad_subjects_are_refused_before_anything_happens(tmp_path):
    for subject, message in [("contact:../../etc/passwd", "is not a valid contact identifier"),
                             ("phone:+1555", "must be one of"),
                             ("email:x' OR 1=1 --@a.com", "is not a valid email identifier")]:
        out = mesh("erase", "--subject", subject, "--reason", "r", root=tmp_path)
        assert out.returncode != 0 and message in out.stderr, out.stderr
    assert not (tmp_path / "privacy" / "erasures").exists()


def test_a_request_dropped_in_the_inbox_is_carried_out_by_every_domains_sensor(built):
    root = built
    contact_id, email = query(root, "marketing", "SELECT contact_id, email FROM staging.contacts "
                                                 "WHERE email IS NOT NULL ORDER BY contact_id DESC LIMIT 1")[0]
    inbox = root / "privacy" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "ticket-4711.json").write_text(json.dumps(
        {"subject": f"contact:{contact_id}", "reason": "GDPR art. 17, ticket 4711", "request_id": "ER-inbox-4711"}))
    (inbox / "ticket-4712.json").write_text(json.dumps({"subject": "phone:+15550100", "reason": "wrong kind"}))

    env = {**os.environ, "MESH_HOME": str(root), "DAGSTER_HOME": str(root / "dagster")}
    loop = subprocess.run([sys.executable, "-m", "tests.sensor_loop", "erasure_inbox"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert loop.returncode == 0, loop.stderr[-3000:]
    launched = json.loads(loop.stdout.strip().splitlines()[-1])

    status = json.loads(mesh("erase", "--status", "--request-id", "ER-inbox-4711", "--json", root=root, check=True).stdout)
    assert status[0]["status"] == "complete", status
    assert traces(root, [contact_id, email]) == []
    # Each domain ran its own part, and a consumer erased only after its producers confirmed.
    steps = [(r["location"], r["tags"].get("mesh/erasure_step")) for r in launched if r["tags"].get("mesh/erasure") == "ER-inbox-4711"]
    assert {loc for loc, _ in steps} == {"marketing", "product", "sales", "customer_success", "revenue_operations"}
    assert steps.index(("product", "purge")) < steps.index(("customer_success", "erase"))
    failed = [(r["location"], r["tags"].get("mesh/erasure_step"), r["errors"][-1:]) for r in launched if not r["success"]]
    assert [f for f in failed if f[1] != "intake"] == []
    # The raw request is gone; the malformed one is set aside with the reason and the fix.
    assert sorted(p.name for p in inbox.rglob("*.json")) == ["ticket-4712.json"]
    assert "must be one of" in (inbox / "rejected" / "ticket-4712.json.error.txt").read_text()
    entries = [json.loads(line) for line in (root / "audit" / "access.jsonl").read_text().splitlines()]
    [record] = [e for e in entries if e.get("event") == "erasure_completed" and e["request_id"] == "ER-inbox-4711"]
    assert record["rows_removed"] > 0 and contact_id not in json.dumps(entries)
