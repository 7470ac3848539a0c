"""Hostile input to the platform's own surfaces: product ids, subject ids, request ids, names,
columns and filters carrying path traversal, SQL injection, shell metacharacters or
oversized values are refused with a clear error, and nothing outside the mesh root is read
or written; no principal reads without a grant, by any path; PII never reaches logs, run
metadata or error messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.governance.access import AccessDenied
from platform_lib.governance.registry import principals
from platform_lib.lifecycle.read import read_product
from platform_lib.ops.cli import main
from platform_lib.ops.notebook import Mesh

from tests.helpers import mesh_in_process, query, token_for
from tests.reliability.ledger import record

OUTSIDE = "../../../../../../tmp/mesh-hostile-canary"
HUGE = "a" * 100_000
PRODUCT_IDS = [f"{OUTSIDE}", "marketing.web_behavior/../../x", "marketing.web_behavior; rm -rf ~", "$(touch /tmp/pwned)",
               "marketing.web_behavior' OR '1'='1", "marketing.web_behavior@v1/../v2", HUGE, "", "MARKETING.WEB_BEHAVIOR"]


PRINCIPAL = "svc_revenue_operations"  # granted marketing.web_behavior: refusals below are the values' doing


def untouched_outside(before: set[str]) -> None:
    for written in (Path("/tmp/mesh-hostile-canary"), Path("/tmp/pwned"), PROJECT_ROOT / "x"):
        assert not written.exists(), f"a hostile value wrote {written}"
    assert files_of_project() == before, "a hostile value wrote into the project"


def files_of_project() -> set[str]:
    return {str(p.relative_to(PROJECT_ROOT)) for p in PROJECT_ROOT.iterdir()}


@pytest.mark.parametrize("command", [
    *[("read", p) for p in PRODUCT_IDS],
    *[("product", "show", p) for p in PRODUCT_IDS[:6]],
    ("read", "marketing.web_behavior", "--columns", "account_id,(SELECT 1)"),
    ("read", "marketing.web_behavior", "--columns", f"{OUTSIDE}"),
    ("read", "marketing.web_behavior", "--where", "1=1; DROP TABLE x"),
    ("read", "marketing.web_behavior", "--where", f"{HUGE} = 1"),
    ("read", "marketing.web_behavior", "--version", "v1/../../etc"),
    ("build", "--select", OUTSIDE),
    ("build", "--select", "marketing.web_behavior; rm -rf ~"),
    ("erase", "--subject", f"contact:{OUTSIDE}", "--reason", "r"),
    ("erase", "--subject", "email:$(touch /tmp/pwned)@x.com", "--reason", "r"),
    ("erase", "--subject", f"contact:{HUGE}", "--reason", "r"),
    ("erase", "--request-id", OUTSIDE),
    ("erase", "--status", "--request-id", OUTSIDE),
    ("access", "request", OUTSIDE, "--purpose", "p"),
    ("access", "approve", OUTSIDE),
    ("scaffold", "domain", OUTSIDE),
    ("scaffold", "domain", "evil; rm -rf ~"),
    ("scaffold", "product", "marketing", OUTSIDE, "--from", "sales.accounts"),
    ("contracts", "snapshot", OUTSIDE),
], ids=lambda c: " ".join(c)[:60])
def test_a_hostile_value_is_refused_clearly_and_touches_nothing(command, module_mesh, configure):
    root = module_mesh
    # In-process through click's runner: the same `mesh` command, without a process start per case.
    configure(home=str(root), dagster_home=str(root / "dagster"), token=token_for(root, PRINCIPAL))
    before = files_of_project()
    out = CliRunner().invoke(main, list(command))
    assert out.exit_code != 0, f"accepted: {command[:3]}\n{out.output[-500:]}"
    assert isinstance(out.exception, SystemExit), f"unhandled {out.exception!r}"  # a clean error, no traceback
    error = out.output.strip().splitlines()[-1]
    assert re.search(r"Error|error|not|invalid|must|denied|unknown", error), error
    assert len(out.output) < 4_000, "the error echoes an oversized value back"
    untouched_outside(before)


def test_the_same_commands_with_honest_values_work(module_mesh):
    root = module_mesh
    assert mesh_in_process("read", "marketing.web_behavior", "--columns", "account_id", "--where", "account_id = ACC-000001",
                           "--format", "csv", root=root, principal=PRINCIPAL).returncode == 0
    assert mesh_in_process("product", "show", "marketing.web_behavior", root=root, principal=PRINCIPAL).returncode == 0


def test_a_filter_value_stays_a_value(module_mesh):
    """An injected filter is compared as text: it widens nothing."""
    root = module_mesh
    out = mesh_in_process("read", "marketing.web_behavior", "--where", "account_id = 'x' OR 1=1", "--format", "json",
                          root=root, principal=PRINCIPAL)
    assert out.returncode == 0 and json.loads(out.stdout) == [], out.stdout[-500:] + out.stderr[-500:]


def test_an_ungranted_principal_reads_nothing_by_any_path(module_mesh, configure):
    root = module_mesh
    configure(home=str(root))
    paths = MeshPaths(root)
    # dana.sdr holds no grant on sales.opportunity_pipeline.
    cli = mesh_in_process("read", "sales.opportunity_pipeline", "--format", "csv", root=root, principal="dana.sdr")
    assert cli.returncode != 0 and "OPP-" not in cli.stdout
    for ref in ("sales.opportunity_pipeline", "sales.opportunity_pipeline@v1"):
        with pytest.raises(AccessDenied):
            read_product(ref, caller=principals()["dana.sdr"], paths=paths)
    notebook = Mesh(token=token_for(root, "dana.sdr"), paths=paths)
    with pytest.raises(AccessDenied):
        notebook.read("sales.opportunity_pipeline")
    with pytest.raises(AccessDenied):
        notebook.combine(["marketing.lead_scoring_signals", "sales.opportunity_pipeline"], on="account_id")


def test_pii_never_reaches_logs_run_metadata_or_errors(module_mesh, request):
    root = module_mesh
    emails = {e for (e,) in query(root, "marketing", "SELECT email FROM staging.contacts WHERE email IS NOT NULL")}
    assert len(emails) > 100
    pattern = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
    leaks = {}
    for path in (root / "dagster").rglob("*"):
        if path.is_file():
            found = {m.decode(errors="replace") for m in pattern.findall(path.read_bytes())} & emails
            if found:
                leaks[str(path.relative_to(root))] = sorted(found)[:3]
    assert not leaks, f"personal emails in the Dagster instance (logs, run metadata, errors): {leaks}"
    record(request, rows_in=0, rows_accounted=0, note=f"{len(emails)} emails searched")
