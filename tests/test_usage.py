"""Usage from the access audit log: who reads each product and column, how often, for what;
what nobody read is a retirement candidate, in `mesh usage` and in the catalog."""

from __future__ import annotations

import json

from tests.helpers import mesh_in_process


def usage(root, *args) -> dict:
    return json.loads(mesh_in_process("usage", "--json", *args, root=root, check=True).stdout)


def test_reads_make_usage_and_the_unread_are_retirement_candidates(module_mesh):
    root = module_mesh
    before = usage(root)
    assert "revenue_operations.prioritized_outreach" in before["retirement_candidates"]["products"]
    # Consumer domains' builds are reads too: account_360 read web_behavior for Revenue Operations.
    web = next(p for p in before["products"] if p["product"] == "marketing.web_behavior")
    assert web["readers"].get("svc_revenue_operations", 0) >= 1

    mesh_in_process("read", "revenue_operations.prioritized_outreach", "--columns", "account_id", "--purpose",
                    "daily outreach list", root=root, principal="dana.sdr", check=True)
    after = usage(root, "--product", "revenue_operations.prioritized_outreach")
    [read] = after["products"]
    assert read["reads"] == 1 and read["readers"] == {"dana.sdr": 1} and read["purposes"] == {"daily outreach list": 1}
    assert read["columns"]["account_id"] == 1 and read["last_read"]
    assert "revenue_operations.prioritized_outreach" not in after["retirement_candidates"]["products"]
    assert "account_id" not in after["retirement_candidates"]["columns"]["revenue_operations.prioritized_outreach"]
    # A refused read is no use.
    mesh_in_process("read", "sales.opportunity_pipeline", root=root, principal="dana.sdr")
    assert "dana.sdr" not in next(p for p in usage(root)["products"] if p["product"] == "sales.opportunity_pipeline")["readers"]


def test_the_catalog_shows_usage(module_mesh):
    root = module_mesh
    shown = json.loads(mesh_in_process("product", "show", "revenue_operations.account_signals", "--json", root=root,
                                       principal="rafael.revops", check=True).stdout)
    assert shown["usage"]["days"] == 90 and "reads" in shown["usage"]
    assert shown["usage"]["retirement_candidate"] == (shown["usage"]["reads"] == 0)
    text = mesh_in_process("usage", root=root, check=True).stdout
    assert "Retirement candidates (nobody read them in 90 days)" in text


def test_the_catalog_lists_reads_and_flags_what_nobody_read(module_mesh):
    root = module_mesh
    listed = {h["id"]: h for h in json.loads(mesh_in_process("catalog", "--json", root=root, check=True).stdout)}
    assert listed["marketing.web_behavior"]["reads_90d"] >= 1 and not listed["marketing.web_behavior"]["retirement_candidate"]
    idle = [pid for pid, h in listed.items() if h["retirement_candidate"]]
    assert idle and all(listed[pid]["reads_90d"] == 0 for pid in idle)
    assert "none: retire?" in mesh_in_process("catalog", root=root, check=True, env={"COLUMNS": "220"}).stdout


def test_each_materialization_carries_the_product_s_reads(private_mesh):
    """The asset's own metadata says how much it is read, as of each materialization, and
    flags a retirement candidate; the UI plots the counts over its materializations."""
    from dagster import AssetKey, DagsterInstance

    root = private_mesh("usage-metadata")
    instance = DagsterInstance.from_config(str(root / "dagster"))

    def latest(product: str) -> dict:
        event = instance.get_latest_materialization_event(AssetKey(product.split(".")))
        return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}

    built = latest("revenue_operations.prioritized_outreach")
    assert built["mesh/reads_90d"] == 0 and built["mesh/retirement_candidate"] is True

    mesh_in_process("read", "revenue_operations.prioritized_outreach", "--columns", "account_id", "--purpose",
                    "daily outreach list", root=root, principal="dana.sdr", check=True)
    mesh_in_process("build", "--select", "revenue_operations", root=root, check=True, env={"MESH_WORKERS": "1"})
    now = latest("revenue_operations.prioritized_outreach")
    assert now["content_changed"] is False  # nothing to rebuild, and its reads are told all the same
    assert now["mesh/reads_90d"] == 1 and now["mesh/readers_90d"] == 1 and now["mesh/retirement_candidate"] is False
    assert "account_id" not in now["mesh/unread_columns_90d"] and "priority_rank" in now["mesh/unread_columns_90d"]
    assert "dana.sdr" not in json.dumps(now, default=str)
    assert latest("revenue_operations.account_360")["mesh/reads_90d"] >= 1  # read by the outreach build
