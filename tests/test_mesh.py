"""The whole mesh, built with `mesh build` from an empty root as a user would."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import duckdb
import pytest
from dagster import AssetKey
from deltalake import DeltaTable

from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.dagster.workspace import code_locations

from tests.helpers import land_contacts_without_accounts, mesh, mesh_in_process

PRODUCTS = {
    "marketing": ("campaign_engagement", "contact_consent", "web_behavior", "lead_scoring_signals"),
    "product": ("feature_usage", "session_analytics", "product_health_scores"),
    "sales": ("accounts", "opportunity_pipeline", "account_interactions", "deal_intelligence"),
    "customer_success": ("account_health", "engagement_metrics", "support_interactions"),
    "revenue_operations": ("account_360", "account_signals", "prioritized_outreach"),
}
ALL = [f"{d}.{p}" for d, ps in PRODUCTS.items() for p in ps]


def port(root, product_id) -> DeltaTable:
    domain, name = product_id.split(".")
    return DeltaTable(str(MeshPaths(root).port(domain, name, 1)))


def test_build_runs_every_code_location_in_order_and_summarises(mesh_build):
    result = mesh_build
    assert result.returncode == 0, result.stdout + result.stderr
    order = [line.split(":")[0].lstrip("> ").strip() for line in result.stderr.splitlines() if "materializing" in line]
    assert order.index("product") < order.index("customer_success") < order.index("revenue_operations")
    assert set(order) == {loc.name for loc in code_locations()}
    for product_id in ALL:
        assert product_id in result.stdout


@pytest.mark.parametrize("product_id", ALL)
def test_every_product_is_published(module_mesh, product_id):
    root = module_mesh
    assert port(root, product_id).to_pyarrow_dataset().count_rows() > 0


def test_account_360_has_one_row_per_valid_account(module_mesh):
    root = module_mesh
    with duckdb.connect(str(MeshPaths(root).warehouse("sales")), read_only=True) as con:
        valid_accounts = con.execute("SELECT count(*) FROM staging.accounts").fetchall()[0][0]
    table = port(root, "revenue_operations.account_360").to_pyarrow_table()
    assert table.num_rows == valid_accounts
    assert len(set(table.column("account_id").to_pylist())) == valid_accounts
    lifecycles = set(table.column("lifecycle").to_pylist())
    assert {"customer", "prospect"} <= lifecycles


def test_a_quarantined_source_row_never_reaches_a_consumer(module_mesh):
    """Events pointing at unknown accounts are quarantined by Product and appear in no port."""
    root = module_mesh
    with duckdb.connect(str(MeshPaths(root).warehouse("product")), read_only=True) as con:
        bad = {
            r[0]
            for r in con.execute(
                "SELECT record->>'account_id' FROM quarantine.records "
                "WHERE object = 'product.events' AND rule = 'known_reference:account_id'"
            ).fetchall()
        }
    assert bad
    for product_id in ALL:
        data = port(root, product_id).to_pyarrow_table()
        if "account_id" in data.column_names:
            assert not bad & set(data.column("account_id").to_pylist()), product_id


def test_prioritized_outreach_excludes_accounts_with_a_late_stage_deal(module_mesh):
    root = module_mesh
    pipeline = port(root, "sales.opportunity_pipeline").to_pandas()
    late = set(pipeline[pipeline.is_open & pipeline.stage.isin(["proposal", "negotiation"])].account_id)
    ranked = port(root, "revenue_operations.prioritized_outreach").to_pandas()
    assert late and len(ranked) > 0
    assert not late & set(ranked.account_id)
    assert list(ranked.priority_rank) == sorted(ranked.priority_rank)
    assert ranked.priority_score.is_monotonic_decreasing


def test_signal_catalog_uses_only_declared_types(module_mesh):
    from domains.revenue_operations.products.account_signals import SIGNAL_TYPES

    root = module_mesh
    signals = port(root, "revenue_operations.account_signals").to_pandas()
    assert set(signals.signal_type) <= set(SIGNAL_TYPES)
    assert len(set(signals.signal_type)) >= 4
    assert signals.strength.between(0, 1).all()


def test_every_product_reports_all_five_slas(module_mesh):
    root = module_mesh
    out = mesh_in_process("sla", "report", "--json", root=root, check=True)
    report = json.loads(out.stdout)
    slas: dict[str, set] = {}
    for line in report["products"]:
        if line["evaluations"] >= 1:
            slas.setdefault(f"{line['domain']}.{line['product']}", set()).add(line["sla"])
    five = {"freshness", "availability", "schema_stability", "quality_score", "documentation_currency"}
    assert {p: five for p in ALL} == {p: slas.get(p, set()) for p in ALL}
    assert {d["domain"] for d in report["domains"]} == set(PRODUCTS)
    table = mesh_in_process("sla", "report", "--domain", "sales", root=root, check=True).stdout
    assert "sales.deal_intelligence" in table and "Domain roll-up" in table and "marketing." not in table


def test_failed_sla_checks_reach_the_alert_log(module_mesh):
    from dagster import DagsterInstance, build_sensor_context

    from platform_lib.dagster.sla_alerts import Notifier, sla_alert_sensor

    root = module_mesh
    instance = DagsterInstance.from_config(str(root / "dagster"))
    sink = Notifier(home=str(root))
    sensor = sla_alert_sensor("sales", [AssetKey(["sales", p]) for p in PRODUCTS["sales"]])
    context = build_sensor_context(instance=instance, resources={"notifier": sink})
    first = sensor(context)
    alerts = [json.loads(line) for line in open(sink.log_path)]
    assert alerts and {a["product"].split(".")[0] for a in alerts} == {"sales"}
    assert {"freshness"} <= {a["sla"] for a in alerts}
    # Dagster files a tick that starts no run as skipped: the reason says what the tick did.
    assert first.skip_message == f"no run to start; {len(alerts)} new failed SLA check(s) notified to {sink.log_path}"
    again = build_sensor_context(instance=instance, resources={"notifier": sink}, cursor=context.cursor)
    assert sensor(again).skip_message == "no run to start; no new failed SLA check since the last tick"
    assert len(open(sink.log_path).readlines()) == len(alerts)  # nothing is sent twice


def test_sla_alerts_start_off_like_every_sensor_unless_automation_is_on(configure):
    """MESH_AUTOMATION decides whether sensors start on; the SLA alert sensor is no exception."""
    from dagster import DefaultSensorStatus

    from platform_lib.dagster.sla_alerts import sla_alert_sensor

    configure(automation="off")
    assert sla_alert_sensor("sales", [AssetKey(["sales", "accounts"])]).default_status == DefaultSensorStatus.STOPPED
    configure(automation="on")
    assert sla_alert_sensor("sales", [AssetKey(["sales", "accounts"])]).default_status == DefaultSensorStatus.RUNNING


def test_outreach_suggests_only_contacts_who_consented_to_sales_outreach(module_mesh):
    root = module_mesh
    consent = {r["contact_id"]: r for r in port(root, "marketing.contact_consent").to_pyarrow_table().to_pylist()}
    outreach = port(root, "revenue_operations.prioritized_outreach").to_pyarrow_table().to_pylist()
    suggested = [r["contact_id"] for r in outreach if r["contact_id"]]
    assert suggested and all(consent[c]["consent_sales_outreach"] for c in suggested)
    # Some accounts' best lead did not consent: the best consenting one is suggested instead.
    leads = port(root, "marketing.lead_scoring_signals").to_pyarrow_table().to_pylist()
    best = {}
    for lead in leads:
        if lead["score"] > best.get(lead["account_id"], {"score": -1})["score"]:
            best[lead["account_id"]] = lead
    assert any(not consent[best[r["account_id"]]["contact_id"]]["consent_sales_outreach"] for r in outreach
               if r["account_id"] in best)


def test_side_by_side_the_location_heading_the_longest_chain_starts_first():
    """Of the locations ready, the one with the longest chain of runs still to come after
    it starts first, by each location's expected time: Customer Success (which Revenue
    Operations waits on) before Sales and Marketing once Product is done, when its runs take longer."""
    code = """
import json, sys
from platform_lib.dagster.workspace import code_locations
from platform_lib.ops.parallel import fork_each
seconds = json.loads(sys.argv[1])
order = []
fork_each(code_locations(), 1, lambda loc: loc.name, lambda loc, producers: True,
          lambda loc, result, exitcode: order.append(result), lambda name: seconds.get(name, 1.0))
print(json.dumps(order))
"""
    def order(seconds: dict[str, float]) -> list[str]:
        out = subprocess.run([sys.executable, "-c", code, json.dumps(seconds)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    slow = order({"product": 5, "customer_success": 3})
    assert slow[:2] == ["product", "customer_success"] and slow[-1] == "revenue_operations", slow
    assert order({"marketing": 9})[0] == "marketing"  # its chain (9 + Revenue Operations) is the longest
    even = order({})
    assert even[0] == "product" and even[-1] == "revenue_operations", even  # Product heads a chain of three


def test_side_by_side_a_failed_producer_stops_only_its_consumers(private_mesh):
    """Locations run side by side; when Marketing fails, Revenue Operations (which reads it)
    is not run, while Sales still builds, and what every consumer reads is unchanged (no
    new input: no new version)."""
    root = private_mesh()
    before = {p: port(root, p).version() for p in ALL}
    land_contacts_without_accounts(root)

    result = mesh("build", "--select", "marketing", "--select", "sales", "--select", "revenue_operations", root=root,
                  env={"MESH_WORKERS": "2"})

    assert result.returncode == 1
    assert "marketing.lead_scoring_signals was not published" in result.stderr
    assert "revenue_operations: not run, its producer marketing did not publish" in result.stderr
    finished = dict(re.findall(r"^> (\w+): (ok|FAILED) in ", result.stderr, re.MULTILINE))
    assert finished == {"marketing": "FAILED", "sales": "ok"}
    assert {p: port(root, p).version() for p in ALL} == before


def test_dbt_keeps_its_artifacts_and_parse_under_the_mesh_root(module_mesh):
    root = module_mesh
    for domain in ("marketing", "product", "customer_success"):
        artifacts = root / "dbt" / domain
        assert (artifacts / "partial_parse.msgpack").is_file(), domain
        assert not any((artifacts / "runs").iterdir()), "a successful run's folder is removed"
        assert not list((PROJECT_ROOT / "dbt_projects" / domain / "target").glob("*_dbt_models-*")), "per-run folders in the project"


def test_each_domain_duckdb_is_capped_and_the_cap_is_configuration(tmp_path, configure):
    from platform_lib.dagster.resources import DomainWarehouse

    def limit() -> str:
        with DomainWarehouse(domain="sales", home=str(tmp_path)).get_connection() as con:
            return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    assert limit() == "1.8 GiB"  # DuckDB reports 2GB (decimal) in binary units
    configure(duckdb_memory_limit="512MB")
    assert limit() == "488.2 MiB"
