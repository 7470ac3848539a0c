"""Every notebook in notebooks/ executes top to bottom on a real Jupyter kernel against a
built mesh, and does what it says: governed reads, a cross-domain combine, a real run."""

from __future__ import annotations

import json

import nbformat
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus
from nbclient import NotebookClient

from platform_lib.config import PROJECT_ROOT

from tests.helpers import mesh_in_process


@pytest.fixture
def run_notebook(module_mesh, monkeypatch):
    root = module_mesh
    monkeypatch.setenv("MESH_HOME", str(root))  # the kernel inherits the environment
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    # Each notebook reads as the principal of a profile file in the home folder, as the README says.
    home = root / "people"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    for principal in ("dana.sdr", "frank.finance", "maria.marketing"):
        profile = home / f"{principal.split('.')[0]}.share"
        if not profile.exists():
            mesh_in_process("token", "issue", principal, "--out", str(profile), root=root, check=True)

    def run(name: str) -> list[str]:
        notebook = nbformat.read(PROJECT_ROOT / "notebooks" / name, as_version=4)
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(PROJECT_ROOT / "notebooks")}}).execute()
        return ["".join(o.get("text", "") if o.get("name") == "stdout" else o.get("data", {}).get("text/plain", "")
                        for o in cell.get("outputs", []) if o.get("name") != "stderr")
                for cell in notebook.cells if cell.cell_type == "code"]

    return run


def reads(root, principal: str) -> list[dict]:
    entries = [json.loads(line) for line in (root / "audit" / "access.jsonl").read_text().splitlines()]
    return [e for e in entries if e.get("principal") == principal]


def test_every_notebook_is_tested():
    assert sorted(p.name for p in (PROJECT_ROOT / "notebooks").glob("*.ipynb")) == [
        "01_discover_and_read.ipynb", "02_combine_on_account_id.ipynb", "03_materialize_a_product.ipynb"]


def test_discover_and_read_through_the_grants(run_notebook, module_mesh):
    root = module_mesh
    out = run_notebook("01_discover_and_read.ipynb")
    assert "marketing.lead_scoring_signals" in out[1] and "revenue_operations.account_360" in out[0]
    assert "dana.sdr read" in out[2] and "rows of marketing.lead_scoring_signals" in out[2]
    assert "refused: dana.sdr has no active grant for sales.opportunity_pipeline" in out[3]
    audited = {(e["product"], e["decision"]) for e in reads(root, "dana.sdr")}
    assert audited == {("marketing.lead_scoring_signals", "mask"), ("sales.opportunity_pipeline", "deny")}


def test_combine_products_of_three_domains_on_account_id(run_notebook, module_mesh):
    root = module_mesh
    out = run_notebook("02_combine_on_account_id.ipynb")
    assert "open pipeline:" in out[2] and "risk_tier" in out[2]
    assert {e["product"] for e in reads(root, "frank.finance")} >= {
        "sales.opportunity_pipeline", "customer_success.account_health", "product.product_health_scores"}


def test_a_product_materialized_in_the_notebook_is_in_the_instance_run_history(run_notebook, module_mesh):
    root = module_mesh
    out = run_notebook("03_materialize_a_product.ipynb")
    run_id = out[0].split("run ")[1].split()[0]
    instance = DagsterInstance.from_config(str(root / "dagster"))
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == DagsterRunStatus.SUCCESS
    event = instance.get_latest_materialization_event(AssetKey(["marketing", "web_behavior"]))
    assert event.run_id == run_id
    assert run_id in out[1]
