"""The quarantine is governed data: rejected records are read through identity and the
audit log like products; only the owning team sees them whole."""

from __future__ import annotations

import json

from tests.helpers import mesh_in_process


def _read(root, principal, *args):
    return mesh_in_process("quarantine", "marketing", "--json", *args, root=root, principal=principal)


def test_the_owning_team_reads_its_rejected_records_whole(built_marketing):
    root = built_marketing[0]
    out = _read(root, "maria.marketing", "--rule", "schema_drift", "--limit", "3")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows and all(r["rule"] == "schema_drift" and r["record"] and "withheld" not in r["record"] for r in rows)


def test_a_platform_admin_sees_rules_and_reasons_but_never_the_records(built_marketing):
    root = built_marketing[0]
    owner = [json.loads(line) for line in _read(root, "maria.marketing").stdout.splitlines()]
    out = _read(root, "platform.admin")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == len(owner) > 0
    assert all(r["record"].startswith("[withheld") and r["reason"] for r in rows)
    for kept in owner:  # nothing of a record reaches the admin's output
        assert kept["record"] not in out.stdout


def test_another_team_is_refused_and_the_refusal_is_audited(built_marketing):
    root = built_marketing[0]
    out = _read(root, "sam.sales")
    assert out.returncode != 0 and out.stdout == ""
    assert "only the owning team" in out.stderr and "Traceback" not in out.stderr
    log = [json.loads(line) for line in (root / "audit" / "access.jsonl").read_text().splitlines()]
    assert any(e["principal"] == "sam.sales" and e["product"] == "quarantine:marketing" and e["decision"] == "deny" for e in log)
    assert mesh_in_process("audit", "verify", root=root).returncode == 0


def test_a_name_that_is_no_domain_is_refused_clearly(built_marketing):
    root = built_marketing[0]
    for name in ("../../etc", "finance"):
        out = mesh_in_process("quarantine", name, root=root, principal="maria.marketing")
        assert out.returncode != 0 and "not a domain with a warehouse" in out.stderr, out.stderr
