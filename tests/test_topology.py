"""The production topology, for real: a PostgreSQL server, each domain as its own gRPC code
server, the daemon and `mesh serve`. A batch of landing files for every domain reaches
`revenue_operations.account_360` through sensors and declarative automation alone, and so
does a deal the CRM sends again, closed won; a consumer reads it through Delta Sharing."""

from __future__ import annotations

import csv
import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

import delta_sharing
import pytest
import requests
from dagster import AssetKey, DagsterEventType, DagsterRunStatus
from deltalake import DeltaTable

from mesh_testkit.freshness import wait_published
from mesh_testkit.topology import Topology
from platform_lib import config
from platform_lib.config import MeshPaths
from platform_lib.dagster.workspace import code_locations, declared_products
from platform_lib.governance import identity

ACCOUNT_360 = AssetKey(["revenue_operations", "account_360"])
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
# Generous: the freshness goal is measured by `benchmarks/freshness.py`, not asserted here.
BOUND_SECONDS = 420
# Production automation, with sensors at the local default (15 s, production's 5 s), and no
# schedule firing mid-test (the daily rebuild at 02:00 UTC or retention at 03:30 would add
# runs the test did not cause).
TEST_SETTINGS = {"MESH_LANDING_SENSOR_SECONDS": "15", "MESH_AUTOMATION_SENSOR_SECONDS": "15", "MESH_SCHEDULES": "off"}


def failure_messages(instance, run_id: str) -> list[str]:
    failures = (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE)
    return [str(e.dagster_event.event_specific_data)[:1500] for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.event_type in failures]


def test_landed_files_flow_to_account_360_with_no_manual_launch(landing_root, tmp_path, capsys):
    home = tmp_path / "mesh"
    home.mkdir()
    # Production settings, but sensors tick every 15 s rather than 5 s and no webserver
    # (tests/test_ui.py covers it): the same flow at a third of the background load on CI.
    with Topology(home, overrides=TEST_SETTINGS, webserver=False, server=True) as topology:
        instance = topology.instance()
        # The batch lands the way a source system delivers: complete files, appearing at once.
        staged = tmp_path / "incoming"
        shutil.copytree(landing_root / "landing", staged)
        files = sum(1 for p in staged.rglob("*") if p.is_file() and not p.name.startswith("_"))
        landed_at = time.time()
        os.rename(staged, home / "landing")
        # Asked every 2 s: each look at the instance is a few Postgres connections (Dagster's
        # storage opens one per query), and the latency is the materialization's own time.
        arrival = wait_published(instance, ACCOUNT_360, landed_at, files, timeout=BOUND_SECONDS + 60, poll=2)
        with capsys.disabled():
            print(f"\n[topology] {files} landing files -> revenue_operations.account_360 published in "
                  f"{arrival.latency:.1f}s ({arrival.runs} runs, none launched by hand)")

        runs = [r.dagster_run for r in instance.get_run_records()]
        assert arrival.latency < BOUND_SECONDS
        assert runs and all(r.tags.get("mesh/trigger") in {"landing", "automation"} for r in runs)
        failed = [r for r in runs if r.status != DagsterRunStatus.SUCCESS]
        assert not failed, [(r.tags.get("mesh/code_location"), r.status, failure_messages(instance, r.run_id)) for r in failed]
        # Each domain's landing sensor processed the batch once; nothing ran it again.
        landing_runs = [r.tags["mesh/code_location"] for r in runs if r.tags["mesh/trigger"] == "landing"]
        assert sorted(landing_runs) == ["customer_success", "marketing", "product", "sales"]
        # Every product of every domain was published from the batch.
        for product in declared_products(code_locations()):
            assert instance.get_latest_materialization_event(AssetKey(product.key_path)) is not None, product.id
            assert (home / "products" / product.domain / product.name).is_dir(), product.id

        # An entity update: the CRM sends an open deal again, now closed won. Sales stages the
        # new version and recomputes what reads it; account_360 follows through the sensors.
        # A consumer (finance, granted account_360 without PII) reads it as a BI tool would:
        # the Delta Sharing client, a profile file, `mesh serve`.
        profile = tmp_path / "frank.share"
        with config.overridden(home=home, serve_url=topology.serve_url):
            secret, token = identity.issue(MeshPaths(home), "frank.finance", "topology test")
            identity.write_profile(profile, identity.profile(secret, token))
        read = account_360_as_consumer(profile)
        assert len(read) == DeltaTable(str(home / "products" / "revenue_operations" / "account_360" / "v1")).to_pyarrow_table().num_rows

        deal, columns = open_deal(home / "landing" / "sales" / "opportunities")
        before = account_row(profile, deal["account_id"])
        won = {**deal, "stage": "closed_won", "forecast_category": "closed", "amount_usd": "123456.0",
               "updated_at": later(deal["updated_at"]), "extracted_at": later(deal["extracted_at"])}
        incoming = tmp_path / "part-deal-won.csv"
        with incoming.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerow(won)
        updated_at = time.time()
        os.rename(incoming, home / "landing" / "sales" / "opportunities" / incoming.name)
        wait_published(instance, ACCOUNT_360, updated_at, 1, timeout=BOUND_SECONDS, poll=2)
        after = account_row(profile, deal["account_id"])
        assert after["won_amount_usd"] == pytest.approx(before["won_amount_usd"] + 123456.0)
        assert after["open_opportunities"] == before["open_opportunities"] - 1
        later_runs = [r.dagster_run for r in instance.get_run_records() if r.create_timestamp.timestamp() >= updated_at]
        assert {r.tags.get("mesh/code_location") for r in later_runs} == {"sales", "revenue_operations"}
        assert all(r.status == DagsterRunStatus.SUCCESS for r in later_runs)


def open_deal(folder: Path) -> tuple[dict, list[str]]:
    """The current version of an open deal in the landed CRM exports, and their columns."""
    newest: dict[str, dict] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            for record in reader:
                seen = newest.get(record["opportunity_id"])
                if seen is None or (record["updated_at"], record["extracted_at"]) > (seen["updated_at"], seen["extracted_at"]):
                    newest[record["opportunity_id"]] = record
    deal = next(d for _, d in sorted(newest.items()) if d["stage"] in ("discovery", "demo", "proposal") and d["account_id"])
    return deal, columns


def later(stamp: str) -> str:
    return (datetime.strptime(stamp, STAMP) + timedelta(days=1)).strftime(STAMP)


def account_360_as_consumer(profile: Path):
    """account_360 through `mesh serve`, as a consumer outside the platform reads it."""
    deadline = time.time() + 60
    while True:
        try:
            return delta_sharing.load_as_pandas(f"{profile}#revenue_operations.account_360.v1")
        except requests.ConnectionError:  # the server is still starting
            if time.time() > deadline:
                raise
            time.sleep(1)


def account_row(profile: Path, account_id: str) -> dict:
    rows = account_360_as_consumer(profile)
    rows = rows[rows["account_id"] == account_id].to_dict("records")
    assert len(rows) == 1, rows
    return rows[0]
