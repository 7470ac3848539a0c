"""Right to erasure through `mesh erase`: an interrupted erasure resumes without ever
claiming completion early, and bad subjects are refused before anything happens."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from platform_lib.config import PROJECT_ROOT

from tests.helpers import mesh_in_process, query, traces


def test_an_interrupted_erasure_resumes_and_never_completes_early(private_mesh):
    root = private_mesh()
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

    status = json.loads(mesh_in_process("erase", "--status", "--request-id", "ER-kill-test", "--json", root=root,
                                        check=True).stdout)
    assert status[0]["status"] == "open" and status[0]["verified_at"] is None

    resumed = mesh_in_process("erase", "--request-id", "ER-kill-test", root=root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    erased = [line for line in resumed.stderr.splitlines() if line.startswith("> ") and ("rows removed" in line or "held none" in line)]
    assert all(re.fullmatch(r"> \w+: (\d+ of the subject's rows removed from \d+ store\(s\)|held none of the subject's rows)", line)
               for line in erased), erased
    status = json.loads(mesh_in_process("erase", "--status", "--request-id", "ER-kill-test", "--json", root=root,
                                        check=True).stdout)
    assert status[0]["status"] == "complete"
    assert traces(root, [email]) == []


def test_bad_subjects_are_refused_before_anything_happens(tmp_path):
    for subject, message in [("contact:../../etc/passwd", "is not a valid contact identifier"),
                             ("phone:+1555", "must be one of"),
                             ("email:x' OR 1=1 --@a.com", "is not a valid email identifier")]:
        out = mesh_in_process("erase", "--subject", subject, "--reason", "r", root=tmp_path)
        assert out.returncode != 0 and message in out.stderr, out.stderr
    assert not (tmp_path / "privacy" / "erasures").exists()


def test_a_subject_found_nowhere_is_said_to_be_found_nowhere(private_mesh):
    """A plan for a subject no store holds says so and exits 1 (most often the identifier
    is mistyped); erasing it anyway records the request, and no domain claims rows removed."""
    built = private_mesh()
    plan = mesh_in_process("erase", "--subject", "contact:CON-9999999", "--plan", root=built)
    said = " ".join(plan.stderr.split())
    assert plan.returncode == 1 and "not found: the contact #" in said and "is in no store of the mesh" in said, said
    assert "0 rows in 0 stores" not in said
    as_json = mesh_in_process("erase", "--subject", "contact:CON-9999999", "--plan", "--json", root=built)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["found"] is False

    done = mesh_in_process("erase", "--subject", "contact:CON-9999999", "--reason", "no such contact", root=built)
    assert done.returncode == 0, done.stdout + done.stderr
    for domain in ("marketing", "product", "sales", "customer_success", "revenue_operations"):
        assert f"> {domain}: held none of the subject's rows" in done.stderr, done.stderr
    said = " ".join(done.stderr.split())
    assert "rows removed from" not in said and "subject's rows removed" not in said
    assert "0 rows removed" in said and "the subject was found in no store of the mesh: nothing was removed" in said


def test_the_plan_names_the_columns_computed_from_the_subjects_identifiers(private_mesh):
    """A column computed from an identifier cannot be matched by hash: the plan names it,
    with the path it derives along, and recomputes its product; never with the identifier."""
    root = private_mesh()
    # A contact whose lead score made an account signal: 'contact <id> reached score ...'.
    [(contact,)] = query(root, "revenue_operations", "SELECT min(regexp_extract(detail, 'contact (CON-[0-9]+)', 1)) "
                                                     "FROM build.account_signals WHERE signal_type = 'lead_score_jump'")
    found = json.loads(mesh_in_process("erase", "--subject", f"contact:{contact}", "--plan", "--json", root=root,
                                       check=True).stdout)
    derived = {f"{c['product']}.{c['column']}": c["path"] for c in found.get("columns", []) if not c["direct"]}
    signal = "revenue_operations.account_signals"
    assert {c: derived.get(f"{signal}.{c}") for c in ("detail", "signal_id")} == dict.fromkeys(
        ("detail", "signal_id"), ["marketing.lead_scoring_signals.contact_id"]), derived  # the text, and a hash over it
    assert "account_signals" in found["recompute"]["revenue_operations"]

    out = mesh_in_process("erase", "--subject", f"contact:{contact}", "--plan", root=root, env={"COLUMNS": "200"},
                          check=True)
    said = " ".join(out.stderr.split())
    assert f"{signal}: derived from the subject's identifiers: cleared by recomputing {signal}" in said, said
    assert f"{signal}.detail <- marketing.lead_scoring_signals.contact_id" in said
    assert contact not in out.stdout + out.stderr
