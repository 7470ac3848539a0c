"""The Dagster UI as a user opens it, `mesh ui`, over a built mesh: its GraphQL shows every
product, its declaration and the cross-domain lineage between code locations, the runs
`mesh build` started filed under their code locations and re-executable from the UI, and
the UI starts without warnings or pop-ups and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import mesh
from tests.test_mesh import ALL

LOCATIONS = {"marketing", "product", "sales", "customer_success", "revenue_operations"}

QUERY = """{ assetNodes {
  assetKey { path } description groupName
  repository { location { name } }
  owners { ... on TeamAssetOwner { team } }
  dependencyKeys { path }
  metadataEntries { label ... on TableSchemaMetadataEntry { schema { columns { name description } } } }
  assetMaterializations(limit: 1) { runId }
  internalFreshnessPolicy { ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds } }
  assetChecksOrError { ... on AssetChecks { checks { name description } } }
} }"""


AUTOMATION_QUERY = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  location { name }
  sensors { name description sensorType sensorState { status } }
  schedules { name description cronSchedule scheduleState { status } }
} } } }"""

RUNS_QUERY = """query ($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {
  runId status jobName assetSelection { path }
  repositoryOrigin { repositoryLocationName repositoryName }
  tags { key value }
} } } }"""

JOB_RUNS_QUERY = """query ($location: String!) { pipelineOrError(params: {
  repositoryLocationName: $location, repositoryName: "__repository__", pipelineName: "__ASSET_JOB"}) {
  ... on Pipeline { runs { runId } }
  ... on PythonError { message }
} }"""

REEXECUTE = """mutation ($parent: String!) { launchPipelineReexecution(reexecutionParams: {
  parentRunId: $parent, strategy: ALL_STEPS}) {
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } }
} }"""

RUN_QUERY = """query ($id: ID!) { runOrError(runId: $id) { ... on Run {
  status repositoryOrigin { repositoryLocationName }
  assetMaterializations { assetKey { path } }
} } }"""


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


WORKSPACE_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename }
} } } }"""


def loaded(port: int) -> set[str]:
    """The code locations the UI has loaded (a location that failed to load is not)."""
    entries = graphql(port, WORKSPACE_QUERY)["workspaceOrError"].get("locationEntries", [])
    return {e["name"] for e in entries if e["loadStatus"] == "LOADED"
            and (e["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def family(pid: int) -> set[int]:
    """`pid` and every process descended from it that is still alive."""
    found, frontier = set(), {pid}
    while frontier:
        found |= frontier
        children = set()
        for p in frontier:
            try:
                children |= {int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()}
            except OSError:
                pass
        frontier = children - found
    return alive(found)


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie has stopped; only its exit status is left)."""
    def state(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return "Z"

    return {p for p in pids if state(p) != "Z"}


@pytest.fixture(scope="module")
def ui(private_mesh):
    """`mesh ui` over a private copy of the built mesh, started in the background by a shell
    script (which makes it ignore SIGINT), after one more `mesh build` of two locations side
    by side (each location's run in its own forked process)."""
    root = private_mesh("ui")
    side_by_side = mesh("build", "--select", "marketing.staging.campaigns", "--select", "sales.staging.accounts",
                        root=root, env={"MESH_WORKERS": "2"})
    assert side_by_side.returncode == 0, side_by_side.stdout + side_by_side.stderr
    port = free_port()
    log = root.parent / "ui.log"
    env = {**os.environ, "MESH_HOME": str(root)}
    env.pop("DAGSTER_HOME", None)  # `mesh ui` finds the instance under the mesh root
    script = subprocess.run(
        ["bash", "-c", f'"{Path(sys.executable).parent / "mesh"}" ui --port {port} >"{log}" 2>&1 & echo $!'],
        cwd=root.parent, env=env, capture_output=True, text=True, check=True, start_new_session=True,
    )
    pid = int(script.stdout.strip())
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                # The workspace's load status is cheap to ask for; every asset node is asked
                # for once the five locations say they are loaded.
                if loaded(port) >= LOCATIONS:
                    nodes = graphql(port, QUERY)["assetNodes"]
                    if {n["repository"]["location"]["name"] for n in nodes} >= LOCATIONS:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the UI did not load all five code locations:\n" + log.read_text()
            time.sleep(2)
        started = family(pid)
        yield {"port": port, "pid": pid, "root": root, "log": log, "startup_log": log.read_text(),
               "nodes": {".".join(n["assetKey"]["path"]): n for n in nodes}}
    finally:  # whatever a failed test left running, the UI's processes only
        for p in alive(started | family(pid)):
            os.kill(p, signal.SIGKILL)


def test_every_domain_lists_its_sensors_and_schedules_with_descriptions_all_off_by_default(ui):
    by_location = {r["location"]["name"]: r for r in graphql(ui["port"], AUTOMATION_QUERY)["repositoriesOrError"]["nodes"]}
    assert set(by_location) == LOCATIONS
    for name, repo in by_location.items():
        sensors = {s["name"]: s for s in repo["sensors"]}
        expected = {f"{name}_automation", f"{name}_sla_alerts", f"{name}_erasure_inbox"}
        expected |= set() if name == "revenue_operations" else {f"{name}_landing"}  # it lands no source files
        assert set(sensors) == expected
        assert sensors[f"{name}_automation"]["sensorType"] == "AUTO_MATERIALIZE"  # declarative automation
        assert {s["name"] for s in repo["schedules"]} == {"full_rebuild_daily", "retention_daily"}
        assert all(len(d["description"] or "") > 30 for d in [*repo["sensors"], *repo["schedules"]])
        # MESH_AUTOMATION is off by default: every sensor and schedule waits to be switched on.
        assert {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]} == dict.fromkeys(expected, "STOPPED")
        assert {s["scheduleState"]["status"] for s in repo["schedules"]} == {"STOPPED"}


@pytest.mark.parametrize("product_id", ALL)
def test_every_product_shows_owner_description_and_column_schema(ui, product_id):
    node = ui["nodes"][product_id]
    domain = product_id.split(".")[0]
    assert node["repository"]["location"]["name"] == domain
    assert node["groupName"] == domain
    assert node["owners"] == [{"team": domain}]
    assert len(node["description"]) > 40
    [schema] = [m["schema"] for m in node["metadataEntries"] if m["label"] == "dagster/column_schema"]
    assert schema["columns"] and all(c["description"] for c in schema["columns"])


def test_cross_domain_edges_are_drawn_between_code_locations(ui):
    def deps(product_id):
        return {".".join(k["path"]) for k in ui["nodes"][product_id]["dependencyKeys"]}

    assert "product.product_health_scores" in deps("customer_success.account_health")
    upstream_domains = {d.split(".")[0] for d in deps("revenue_operations.account_360")}
    assert {"marketing", "product", "sales", "customer_success"} <= upstream_domains


def test_the_ui_opens_on_the_mesh_s_instance_with_every_product_s_materialization(ui):
    """`mesh ui` serves the instance `mesh build` recorded in: no rebuild, no temporary instance."""
    assert all(ui["nodes"][p]["assetMaterializations"] for p in ALL), \
        [p for p in ALL if not ui["nodes"][p]["assetMaterializations"]]


def test_mesh_build_runs_belong_to_their_code_location(ui):
    """Runs of `mesh build`, one location after another and side by side, are filed under
    their code location: their origin names it, the location's run filter (the tag the UI
    filters and draws its timeline by) finds them, and so does the location's asset job."""
    runs = graphql(ui["port"], RUNS_QUERY, {"filter": {"tags": [{"key": "mesh/build", "value": "true"}]}})["runsOrError"]["results"]
    runs = [r for r in runs if not any(t["key"] == "dagster/parent_run_id" for t in r["tags"])]  # not re-executions
    assert len(runs) == len(LOCATIONS) + 2  # the whole mesh, then two locations side by side
    for run in runs:
        location = {t["key"]: t["value"] for t in run["tags"]}["mesh/code_location"]
        assert run["repositoryOrigin"] == {"repositoryLocationName": location, "repositoryName": "__repository__"}, run
    for location in LOCATIONS:
        built = {r["runId"] for r in runs if {"key": "mesh/code_location", "value": location} in r["tags"]}
        filtered = graphql(ui["port"], RUNS_QUERY, {"filter": {"tags": [
            {"key": ".dagster/repository", "value": f"__repository__@{location}"}]}})["runsOrError"]["results"]
        assert built <= {r["runId"] for r in filtered}, location
        job = graphql(ui["port"], JOB_RUNS_QUERY, {"location": location})["pipelineOrError"]
        assert built <= {r["runId"] for r in job["runs"]}, (location, job)


def test_a_mesh_build_run_is_re_executed_from_the_ui(ui):
    """Re-executing a `mesh build` run from the UI finds its code: the new run is launched
    in the location's code server and materializes the same asset again."""
    sales = graphql(ui["port"], RUNS_QUERY, {"filter": {"tags": [
        {"key": "mesh/build", "value": "true"}, {"key": "mesh/code_location", "value": "sales"}]}})["runsOrError"]["results"]
    [parent] = [r for r in sales if r["assetSelection"] == [{"path": ["sales", "staging", "accounts"]}]]
    launched = graphql(ui["port"], REEXECUTE, {"parent": parent["runId"]})["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 300
    while (run := graphql(ui["port"], RUN_QUERY, {"id": run_id})["runOrError"])["status"] not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline, run
        time.sleep(2)
    assert run["status"] == "SUCCESS", ui["log"].read_text()[-3000:]
    assert run["repositoryOrigin"] == {"repositoryLocationName": "sales"}
    assert run["assetMaterializations"]


def test_the_freshness_policy_and_check_tell_one_story(ui):
    """The policy fails once a product goes unpublished for longer than its freshness target
    (no warning minutes after a run), and the check beside it says why the two can differ."""
    from platform_lib.dagster.workspace import code_locations, declared_products

    targets = {p.id: p.sla.freshness_minutes for p in declared_products(code_locations())}
    for product_id in ALL:
        node = ui["nodes"][product_id]
        window = {"failWindowSeconds": int(targets[product_id] * 60), "warnWindowSeconds": None}
        assert node["internalFreshnessPolicy"] == window, product_id
        [check] = [c for c in node["assetChecksOrError"]["checks"] if c["name"] == "freshness"]
        assert "freshness policy" in check["description"] and "last published" in check["description"]


def test_the_ui_starts_without_warnings_or_pop_ups(ui):
    """No community pop-up on the first visit, no usage statistics, and nothing in the log
    the project could avoid (a dagster.yaml beside the workspace, `dagster dev` superseded)."""
    assert graphql(ui["port"], "{ shouldShowNux }")["shouldShowNux"] is False
    assert "telemetry:\n  enabled: false" in (ui["root"] / "dagster" / "dagster.yaml").read_text()
    log = ui["startup_log"]
    assert "Serving dagster-webserver" in log
    assert not re.search(r"warning|superseded|Traceback", log, re.IGNORECASE), log


def test_sigterm_stops_the_ui_and_every_process_it_started(ui):
    """Last in the module: `mesh ui` (what scripts/start leaves running) stops cleanly on
    SIGTERM, even started in the background by a script, and leaves no process behind."""
    started = family(ui["pid"])
    assert len(started) > 3  # dagster dev, its webserver and daemon, the code servers
    os.kill(ui["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 120
    while alive(started):
        assert time.monotonic() < deadline, ("still running", alive(started))
        time.sleep(1)
    assert "Dagster services shut down" in ui["log"].read_text()
