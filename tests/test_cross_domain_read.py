"""Another domain reads a Marketing product through its output port only."""

from __future__ import annotations

import shutil

import duckdb
import pytest
import yaml
from dagster import AssetKey, DagsterInstance, materialize
from deltalake import DeltaTable

from platform_lib import Column, DataProduct, Domain, Owner, data_product
from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.dagster.resources import domain_resources
from platform_lib.declare.identifiers import ACCOUNT_ID
from platform_lib.governance.registry import principals
from platform_lib.lifecycle.read import read_product
from platform_lib.storage.ports import ProductNotPublished

CONSUMER = Domain(
    name="partner_analytics",
    description="A consuming domain used by this test.",
    owner=Owner(team="partner_analytics", role="Partner Analytics Lead"),
)

WEB_TOTALS = DataProduct(
    domain="partner_analytics",
    name="web_totals",
    version="1.0.0",
    description="Page views per account over all days, from Marketing's web_behavior product.",
    owner=CONSUMER.owner,
    primary_key=("account_id",),
    inputs=("marketing.web_behavior",),
    event_time="last_event_at",
    columns=(
        ACCOUNT_ID.model_copy(update={"nullable": False}),
        Column(name="page_views", type="integer", description="Page views, all days.", nullable=False),
        Column(name="last_event_at", type="timestamp", description="Newest event counted."),
    ),
)


@data_product(WEB_TOTALS)
def web_totals(ctx):
    return (
        "SELECT account_id, sum(page_views) AS page_views, max(last_event_at) AS last_event_at "
        "FROM ports.marketing__web_behavior GROUP BY account_id"
    )


def run_consumer(root):
    return materialize(
        [web_totals],
        resources=domain_resources("partner_analytics", MeshPaths(root)),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


@pytest.fixture
def granted(tmp_path, configure):
    """A registry copy in which the consuming domain holds a grant for web_behavior."""
    root = tmp_path / "governance"
    shutil.copytree(PROJECT_ROOT / "governance", root)
    grants = yaml.safe_load((root / "grants.yaml").read_text())
    grants["grants"].append({
        "id": "G-9001", "consumer": "svc_partner_analytics", "product": "marketing.web_behavior", "major": 1,
        "purpose": "partner reporting", "pii_allowed": False, "approver": "maria.marketing",
        "granted": "2026-01-01", "expires": "2099-01-01",
    })
    (root / "grants.yaml").write_text(yaml.safe_dump(grants))
    configure(governance=str(root))


def test_without_a_grant_the_consumer_cannot_read(built_marketing):
    result = run_consumer(built_marketing[0])
    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.cause.message
    assert "svc_partner_analytics has no active grant for marketing.web_behavior v1" in message


def test_consumer_reads_the_port_while_the_producer_holds_its_own_database(built_marketing, granted):
    root, _, _ = built_marketing
    paths = MeshPaths(root)
    # Marketing's DuckDB file is held open for writing by this process: any attempt by the
    # consumer to open it would fail. The consumer only reads the Delta port.
    with duckdb.connect(str(paths.warehouse("marketing"))):
        result = run_consumer(root)
    assert result.success
    source = DeltaTable(str(paths.port("marketing", "web_behavior", 1))).to_pandas()
    expected = source.groupby("account_id")["page_views"].sum().sort_index()
    own_port = DeltaTable(str(paths.port("partner_analytics", "web_totals", 1))).to_pandas()
    published = own_port.set_index("account_id")["page_views"].sort_index()
    assert published.to_dict() == expected.to_dict()
    assert paths.warehouse("partner_analytics").exists()


def test_lineage_edge_points_at_the_producer_asset():
    deps = {d.asset_key for d in web_totals.specs_by_key[AssetKey(["partner_analytics", "web_totals"])].deps}
    assert deps == {AssetKey(["marketing", "web_behavior"])}


def test_an_unpublished_input_fails_with_a_clear_message(tmp_path):
    result = run_consumer(tmp_path)
    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.cause.message
    assert "marketing.web_behavior has no output port yet" in message
    with pytest.raises(ProductNotPublished):
        read_product("marketing.web_behavior", caller=principals()["maria.marketing"], paths=MeshPaths(tmp_path))


def test_product_ids_are_validated():
    with pytest.raises(ValueError, match="not a product id"):
        read_product("../../etc/passwd", caller=principals()["maria.marketing"])
