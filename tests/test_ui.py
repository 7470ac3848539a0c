"""The Dagster webserver's GraphQL shows every product, its declaration and the
cross-domain lineage between code locations."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from platform_lib.config import PROJECT_ROOT

from tests.test_mesh import ALL

QUERY = """{ assetNodes {
  assetKey { path } description groupName
  repository { location { name } }
  owners { ... on TeamAssetOwner { team } }
  dependencyKeys { path }
  metadataEntries { label ... on TableSchemaMetadataEntry { schema { columns { name description } } } }
} }"""


AUTOMATION_QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  location { name }
  sensors { name description sensorType }
  schedules { name description cronSchedule }
} } } }"""


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


@pytest.fixture(scope="module")
def asset_nodes(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MESH_HOME": str(home / "mesh"), "DAGSTER_HOME": str(home)}
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                nodes = graphql(port, QUERY)["assetNodes"]
                if {n["repository"]["location"]["name"] for n in nodes} >= {"marketing", "product", "sales", "customer_success", "revenue_operations"}:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the webserver did not load all five code locations"
            time.sleep(2)
        automation = graphql(port, AUTOMATION_QUERY)["repositoriesOrError"]["nodes"]
        yield {".".join(n["assetKey"]["path"]): n for n in nodes} | {"__automation__": automation}
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_every_domain_lists_its_sensors_and_schedules_with_descriptions(asset_nodes):
    by_location = {r["location"]["name"]: r for r in asset_nodes["__automation__"]}
    assert set(by_location) == {"marketing", "product", "sales", "customer_success", "revenue_operations"}
    for name, repo in by_location.items():
        sensors = {s["name"]: s for s in repo["sensors"]}
        expected = {f"{name}_automation", f"{name}_sla_alerts", f"{name}_erasure_inbox"}
        expected |= set() if name == "revenue_operations" else {f"{name}_landing"}  # it lands no source files
        assert set(sensors) == expected
        assert sensors[f"{name}_automation"]["sensorType"] == "AUTO_MATERIALIZE"  # declarative automation
        assert {s["name"] for s in repo["schedules"]} == {"full_rebuild_daily", "retention_daily"}
        assert all(len(d["description"] or "") > 30 for d in [*repo["sensors"], *repo["schedules"]])


@pytest.mark.parametrize("product_id", ALL)
def test_every_product_shows_owner_description_and_column_schema(asset_nodes, product_id):
    node = asset_nodes[product_id]
    domain = product_id.split(".")[0]
    assert node["repository"]["location"]["name"] == domain
    assert node["groupName"] == domain
    assert node["owners"] == [{"team": domain}]
    assert len(node["description"]) > 40
    [schema] = [m["schema"] for m in node["metadataEntries"] if m["label"] == "dagster/column_schema"]
    assert schema["columns"] and all(c["description"] for c in schema["columns"])


def test_cross_domain_edges_are_drawn_between_code_locations(asset_nodes):
    def deps(product_id):
        return {".".join(k["path"]) for k in asset_nodes[product_id]["dependencyKeys"]}

    assert "product.product_health_scores" in deps("customer_success.account_health")
    upstream_domains = {d.split(".")[0] for d in deps("revenue_operations.account_360")}
    assert {"marketing", "product", "sales", "customer_success"} <= upstream_domains
