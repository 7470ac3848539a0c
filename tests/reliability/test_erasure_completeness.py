"""Erasure leaves nothing behind and never loses a request, on a real built mesh: the
subject is found by content in what staging could not parse (drifted files, unparsed lines,
their quarantined records), a suppressed subject is never written again, not even to
quarantine; a malformed file in every domain's landing zone does not stop an erasure, and
one started while a build holds a domain's warehouse is recorded, waits, and completes.
Each case is verified by `traces`, which reads every store as raw bytes and through its reader."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dagster import AssetKey

from platform_lib.config import MeshPaths

from tests.helpers import materialize_domain, mesh_in_process, query, traces
from tests.reliability.ledger import record

DOMAIN = "marketing"


@pytest.fixture
def root(private_mesh):
    return private_mesh()


def a_contact(root, n: int = 3) -> list[tuple[str, str]]:
    """Contacts with an email who also have email events: (contact_id, email)."""
    return query(root, DOMAIN, "SELECT c.contact_id, c.email FROM staging.contacts c WHERE c.email IS NOT NULL AND "
                               "c.contact_id IN (SELECT contact_id FROM staging.email_events) ORDER BY 1 LIMIT ?", [n])


def stage(root, *sources: str) -> dict[str, dict]:
    result = materialize_domain(DOMAIN, root, selection=[AssetKey([DOMAIN, "staging", s]) for s in sources])
    assert result.success
    return {e.asset_key.path[-1]: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def outside_landing(found: list[str]) -> list[str]:
    return [f for f in found if not f.startswith("landing/")]


def test_erasure_finds_the_subject_in_quarantine_and_unparsed_files_by_content(root, request):
    (subject, email), (other, other_email), (third, _) = a_contact(root)
    landing = root / "landing" / DOMAIN
    # A drifted file (columns renamed), a broken JSON line and a CSV line with missing fields,
    # each holding the subject beside other people's records.
    (landing / "contacts" / "part-drift.csv").write_text(
        f"person,e_mail,company\n{subject},{email},ACC-000001\n{other},{other_email},ACC-000002\n")
    # The last broken line holds the subject's e-mail alone: found as the identifier the
    # contact resolves to, not as the one the request names.
    (landing / "email_events" / "part-broken.jsonl").write_text(
        f'{{"event_id": "E-ok"}}\n{{"event_id": "E-broken-1", "contact_id": "{subject}",\nsent to {email}\n'
        f'{{"event_id": "E-broken-2", "contact_id": "{third}",\n{{"event_id": "E-broken-3", "note": "bounced: {email.upper()}",\n')
    (landing / "content_downloads" / "part-short.csv").write_text(
        "download_id,contact_id\nD-short-1,{}\nD-short-2,{}\n".format(subject, third))
    stage(root, "contacts", "email_events", "content_downloads")
    assert [t for t in traces(root, [subject, email]) if "quarantine.records" in t], "the case must put the subject in quarantine"

    out = mesh_in_process("erase", "--subject", f"contact:{subject}", "--reason", "GDPR Art. 17", root=root)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "complete" in out.stdout + out.stderr
    assert traces(root, [subject, email]) == []
    # Nobody else's record was lost: the other people's lines and quarantined records stay.
    assert other in (landing / "contacts" / "part-drift.csv").read_text()
    assert third in (landing / "email_events" / "part-broken.jsonl").read_text()
    assert query(root, DOMAIN, "SELECT count(*) FROM quarantine.records WHERE contains(CAST(record AS VARCHAR), ?)", [third])[0][0] >= 2

    # The same subject lands again, in a drifted file and in a broken line: withheld and
    # counted, never written to quarantine.
    stage(root, "contacts", "email_events")  # the files the erasure rewrote: staged again first
    (landing / "contacts" / "part-again.csv").write_text(f"person,e_mail\n{subject},{email}\n{other},{other_email}\n")
    (landing / "email_events" / "part-again.jsonl").write_text(f'{{"event_id": "E-again"}}\n{{"contact_id": "{subject}", broken\n')
    after = stage(root, "contacts", "email_events")
    assert outside_landing(traces(root, [subject, email])) == []
    grew = {s: {k: after[s][k] for k in ("rows_in", "rows_quarantined", "rows_withheld")} for s in after}  # this run read the new files only
    assert grew["contacts"] == {"rows_in": 2, "rows_quarantined": 1, "rows_withheld": 1}, grew
    assert grew["email_events"] == {"rows_in": 2, "rows_quarantined": 1, "rows_withheld": 1}, grew
    for meta in after.values():
        assert meta["rows_in"] == meta["rows_published"] + meta["rows_quarantined"] + meta["exact_duplicates_dropped"] + meta["rows_withheld"]
    record(request, rows_in=4, rows_accounted=sum(g["rows_quarantined"] + g["rows_withheld"] for g in grew.values()),
           note="subject landed again after erasure")


MALFORMED = {"csv": b'a,a,b\n1,2\n"unterminated,3\n', "jsonl": b'[{"a": 1}]\n{broken\n', "parquet": b"PAR1 not really"}


def test_erasure_is_recorded_while_a_build_holds_a_warehouse_and_tolerates_malformed_files(root, request):
    (subject, email), *_ = a_contact(root, 1)
    paths = MeshPaths(root)
    for domain in ("marketing", "product", "sales", "customer_success"):
        for folder in sorted(p for p in (paths.landing / domain).iterdir() if p.is_dir()):
            fmt = next(f.suffix for f in folder.iterdir())
            (folder / f"part-malformed{fmt}").write_bytes(MALFORMED[fmt.lstrip(".")])
    (paths.landing / DOMAIN / "content_downloads" / "part-subject.csv").write_text(f"download_id\nD-1,{subject},x,y,z\n")

    # A build holds marketing's warehouse: the request is recorded and waits, with a clear message.
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(300)", str(paths.warehouse(DOMAIN))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        out = mesh_in_process("erase", "--subject", f"contact:{subject}", "--reason", "GDPR Art. 17", "--request-id",
                              "ER-busy", root=root, env={"MESH_WAREHOUSE_WAIT_SECONDS": "1"})
        assert out.returncode != 0
        message = out.stdout + out.stderr
        assert "ER-busy is recorded" in message and "marketing.duckdb is busy" in message, message
        assert "Traceback" not in message and subject not in message and email not in message, message
        status = json.loads(mesh_in_process("erase", "--status", "--json", root=root, check=True).stdout)
        assert [(s["request_id"], s["status"]) for s in status] == [("ER-busy", "open")]
        assert status[0]["waiting"], status
        assert (root / "privacy" / "suppression.jsonl").read_text().count("ER-busy") >= 1  # suppressed at once
    finally:
        holder.kill()
        holder.wait()

    # Once the file is free, the erasure inbox sensors carry the waiting request on with no
    # one's help: one domain plans it, then each does its part (`mesh erase --request-id`
    # resumes it by hand as well: tests/test_erasure_cli.py).
    from tests.test_erasure import sensor_loop

    launched = sensor_loop(root, "erasure_inbox")
    assert [r for r in launched if r["tags"].get("mesh/erasure_step") == "plan"], launched
    assert all(r["success"] for r in launched), [r["errors"] for r in launched if not r["success"]]
    status = json.loads(mesh_in_process("erase", "--status", "--json", root=root, check=True).stdout)
    assert status[0]["status"] == "complete" and not status[0]["waiting"]
    assert traces(root, [subject, email]) == []
    # Every malformed file is still where it landed (only the subject's line went).
    assert len(list(paths.landing.rglob("part-malformed*"))) >= 4
    record(request, rows_in=0, rows_accounted=0, note="request recorded while busy")


# Identifiers and texts where engines, cases and punctuation differ: an e-mail with a
# non-breaking space or a vertical tab (whitespace to Python's `\s`, not to DuckDB's RE2),
# identifiers glued to one another, in other cases, with trailing dots, in odd Unicode.
ODD_IDENTIFIERS = ["jane\u00a0doe@example.com", "jo\x0bhn@x.com", "-x@y.com", "+b@x.com", "CON-0000123",
                   "con-0000124", "ACC-000001", "usr-0000001", "kelvin@\u212aelvin.com", "a.b@c.d"]
ODD_TEXTS = ["bounced: JANE\u00a0DOE@EXAMPLE.COM,", "to jo\x0bhn@x.com.", "ACC-000001-x@y.com", "USR-0000001+b@x.com",
             '{"contact": "Con-0000123", broken', "(con-0000124).", "acc-000001;usr-0000001", "mail kelvin@\u212aelvin.com",
             "a.b@c.d...", "no identifier at all", "EVT-1 ses_2 page /pricing", ""]


@pytest.mark.parametrize("subject", ODD_IDENTIFIERS)
def test_a_text_search_finds_the_same_identifiers_in_duckdb_and_in_python_and_its_literals_skip_only_text_without_them(subject, tmp_path):
    """Text is searched in DuckDB (landed lines, quarantine) and in Python (a landed file's
    lines when it is rewritten): both must find the same subject. A search given the
    subject's literals (`keys.literal_of`) must find what the search without them finds."""
    import duckdb

    from platform_lib.privacy.keys import digest, literal_of, sql_text_match, text_digests

    salt = "ab" * 32
    keys = {digest(salt, subject)}
    literals = {literal_of(subject)} - {None}
    con = duckdb.connect()
    con.execute("CREATE TABLE k AS SELECT unnest(?::VARCHAR[]) AS h", [sorted(keys)])
    con.execute("CREATE TABLE texts AS SELECT unnest(?::VARCHAR[]) AS t", [ODD_TEXTS])
    found = {t for (t,) in con.execute(f"SELECT t FROM texts WHERE {sql_text_match(salt, 't', 'k')}").fetchall()}
    narrowed = {t for (t,) in con.execute(f"SELECT t FROM texts WHERE {sql_text_match(salt, 't', 'k', literals)}").fetchall()}
    in_python = {t for t in ODD_TEXTS if text_digests(salt, t) & keys}
    narrowed_in_python = {t for t in ODD_TEXTS if text_digests(salt, t, literals) & keys}
    assert found, f"the case must hold the subject {subject!r} somewhere"
    assert found == in_python == narrowed == narrowed_in_python


@pytest.mark.parametrize("order", ["subject first", "subject last"])
def test_a_table_scan_tells_identifiers_apart_that_a_collation_calls_equal(order):
    """Warehouse tables and ports are matched one distinct value at a time: values a
    column's collation calls equal ('a@x.com', 'á@x.com') must still be told apart."""
    import duckdb

    from platform_lib.privacy.keys import digest
    from platform_lib.privacy.stores import Matcher, warehouse_matches

    salt = "cd" * 32
    rows = ["a@x.com", "á@x.com"] if order == "subject first" else ["á@x.com", "a@x.com"]
    con = duckdb.connect()
    con.execute("CREATE SCHEMA s")
    con.execute("CREATE TABLE s.people (email VARCHAR COLLATE NOACCENT, n INTEGER)")
    con.executemany("INSERT INTO s.people VALUES (?, ?)", [[r, i] for i, r in enumerate(rows)])
    matcher = Matcher(salt, frozenset({digest(salt, "a@x.com")}), {"email": "email"})
    matcher.load(con)
    assert warehouse_matches(con, matcher, delete=True) == {"s.people": 1}
    assert con.execute("SELECT email FROM s.people").fetchall() == [("á@x.com",)]
