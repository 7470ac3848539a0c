"""Column lineage from the products' own SQL: right on a hand-checked set, reported rather
than guessed where it cannot be read, emitted on every materialization, and asked with
`mesh impact` before a change."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import uuid

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from platform_lib.config import PROJECT_ROOT
from platform_lib.dagster.lineage import LINEAGE, UNRESOLVED, mesh_lineage
from platform_lib.lifecycle import lineage

from tests.helpers import mesh_in_process
from tests.openlineage_spec import check_run_event


@pytest.fixture(scope="module")
def mesh():
    return mesh_lineage()


def inputs(found, product: str, column: str) -> set[tuple[str, str]]:
    return set(found.of[product].columns[column].inputs)


def test_every_column_of_every_product_is_traced(mesh):
    assert len(mesh.of) == 17
    for product_id, found in mesh.of.items():
        declared = [c.name for c in mesh.products[product_id].columns]
        assert sorted(found.columns) == sorted(declared), product_id
        assert not found.unresolved and not found.problems, (product_id, found.unresolved, found.problems)


def test_account_360_traces_each_column_to_its_domain(mesh):
    found = mesh.of["revenue_operations.account_360"]
    for column in ("account_id", "account_name", "segment", "industry", "owner_rep"):
        assert inputs(mesh, "revenue_operations.account_360", column) == {("sales.accounts", column)}
        assert found.columns[column].kinds == {"copy"}
    assert inputs(mesh, "revenue_operations.account_360", "customer_health_score") == {("customer_success.account_health", "health_score")}
    assert found.columns["customer_health_score"].kinds == {"rename"}
    assert inputs(mesh, "revenue_operations.account_360", "open_pipeline_usd") == {
        ("sales.opportunity_pipeline", "amount_usd"), ("sales.opportunity_pipeline", "is_open")}
    assert "aggregate" in found.columns["open_pipeline_usd"].kinds
    assert inputs(mesh, "revenue_operations.account_360", "web_sessions_30d") == {("marketing.web_behavior", "sessions")}
    # From three domains at once: the newest scoring time among the inputs.
    assert inputs(mesh, "revenue_operations.account_360", "data_as_of") == {
        ("customer_success.account_health", "as_of"), ("marketing.lead_scoring_signals", "scored_at"),
        ("product.product_health_scores", "scored_at")}
    # Every input of every column is one of the product's declared inputs.
    declared = set(mesh.products["revenue_operations.account_360"].inputs)
    assert {asset for c in found.columns.values() for asset, _ in c.inputs} <= declared


def test_a_python_product_and_a_dbt_product(mesh):
    # Python: sales.opportunity_pipeline over the CRM's staged records.
    assert inputs(mesh, "sales.opportunity_pipeline", "opportunity_name") == {("sales.staging.opportunities", "name")}
    assert mesh.of["sales.opportunity_pipeline"].columns["opportunity_name"].kinds == {"rename"}
    assert inputs(mesh, "sales.opportunity_pipeline", "owner_rep") == {("sales.staging.accounts", "owner_rep")}
    assert inputs(mesh, "sales.opportunity_pipeline", "is_open") == {("sales.staging.opportunities", "stage")}
    # dbt: marketing.campaign_engagement, rendered from its model.
    assert inputs(mesh, "marketing.campaign_engagement", "campaign_name") == {("marketing.staging.campaigns", "campaign_name")}
    assert inputs(mesh, "marketing.campaign_engagement", "campaign_id") == {
        ("marketing.staging.email_events", "campaign_id"), ("marketing.staging.content_downloads", "campaign_id")}
    downloads = mesh.of["marketing.campaign_engagement"].columns["downloads"]
    assert downloads.rows_of == {"marketing.staging.content_downloads"} and "row_count" in downloads.kinds


def test_what_cannot_be_read_is_reported_not_guessed():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging; CREATE TABLE staging.leads (lead_id VARCHAR, email VARCHAR)")
    owner = lineage.owners(con, "marketing")
    found = lineage.derive("marketing.probe", "SELECT lead_id, lower(email) AS email_key, x.y AS mystery "
                                              "FROM staging.leads, elsewhere.things AS x", con, owner)
    assert found.columns["lead_id"].inputs and found.columns["lead_id"].kinds == {"copy"}
    assert set(found.columns["email_key"].inputs) == {("marketing.staging.leads", "email")}
    assert not found.columns["mystery"].inputs and found.columns["mystery"].unresolved
    broken = lineage.derive("marketing.probe", "SELECT FROM WHERE", con, owner)
    assert broken.problems and not broken.columns


def test_mesh_impact_names_every_downstream_column_and_its_owner(tmp_path):
    out = mesh_in_process("impact", "sales.opportunity_pipeline", "--column", "amount_usd", "--json",
                          root=tmp_path, check=True)
    reached = {(r["product"], r["column"]) for r in json.loads(out.stdout)}
    assert reached == {("revenue_operations.account_360", "open_pipeline_usd"),
                       ("revenue_operations.account_360", "won_amount_usd"),
                       ("revenue_operations.prioritized_outreach", "open_pipeline_usd")}
    assert all(r["owner"]["team"] == "revenue_operations" for r in json.loads(out.stdout))
    table = mesh_in_process("impact", "sales.opportunity_pipeline", "--column", "amount_usd", root=tmp_path,
                            check=True).stdout
    assert "3 columns in 2 products" in table and "Revenue Operations Lead" in table
    whole = json.loads(mesh_in_process("impact", "sales.accounts", "--json", root=tmp_path,
                                       check=True).stdout)
    assert ("revenue_operations.account_360", "account_name", True) in {(r["product"], r["column"], r["direct"]) for r in whole}
    unknown = mesh_in_process("impact", "sales.opportunity_pipeline", "--column", "nope", root=tmp_path)
    assert unknown.returncode != 0 and "has no column nope" in unknown.stderr


def test_every_materialization_carries_its_column_lineage(module_mesh):
    instance = DagsterInstance.from_config(str(module_mesh / "dagster"))
    for key, column, expected in (
        (["revenue_operations", "account_360"], "open_pipeline_usd", ("sales", "opportunity_pipeline")),
        (["marketing", "campaign_engagement"], "campaign_name", ("marketing", "staging", "campaigns")),
    ):
        event = instance.get_latest_materialization_event(AssetKey(key))
        metadata = event.asset_materialization.metadata
        assert UNRESOLVED not in metadata
        deps = metadata[LINEAGE].value.deps_by_column[column]
        assert AssetKey(list(expected)) in {d.asset_key for d in deps}, key


RENAMES = {
    # column renamed in a branch -> the consumer columns `mesh contracts check` must name, and the consumers it spares
    "amount_usd": ({"revenue_operations.account_360.open_pipeline_usd", "revenue_operations.account_360.won_amount_usd",
                    "revenue_operations.prioritized_outreach.open_pipeline_usd"}, None),
    "is_won": ({"revenue_operations.account_360.won_amount_usd"}, "revenue_operations.prioritized_outreach"),
}


@pytest.mark.parametrize("column", sorted(RENAMES))
def test_a_breaking_rename_names_the_consumer_columns_it_breaks_and_those_it_spares(column, tmp_path):
    """In a branch that renames a column of sales.opportunity_pipeline, `mesh contracts
    check` fails and names the consumers' columns that derive from it, with their owners."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT, project, ignore=shutil.ignore_patterns(
        ".venv", ".mesh", ".git", "logs", "__pycache__", ".pytest_cache", "*.egg-info"))
    declaration = project / "domains" / "sales" / "products" / "opportunity_pipeline.py"
    text = declaration.read_text()
    assert f'("{column}",' in text
    text = text.replace(f'("{column}",', f'("{column}_renamed",').replace(f"{column} IS NULL OR {column} >= 0",
                                                                        f"{column}_renamed IS NULL OR {column}_renamed >= 0")
    text = text.replace(f"o.{column},", f"o.{column} AS {column}_renamed,").replace(f" AS {column},", f" AS {column}_renamed,")
    declaration.write_text(text)
    out = subprocess.run([sys.executable, "-m", "platform_lib.ops.cli", "contracts", "check"], cwd=project,
                         env={**os.environ, "PYTHONPATH": str(project), "COLUMNS": "200"}, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode != 0
    said = " ".join(out.stderr.split())
    broken, spared = RENAMES[column]
    assert f"sales.opportunity_pipeline: the change to {column} breaks {len(broken)} consumer column(s)" in said, said[-3000:]
    for name in broken:
        assert f"{name} (derived; owner Revenue Operations Lead, team revenue_operations)" in said, name
    if spared:
        assert f"unaffected consumers: {spared}" in said
    else:
        assert "unaffected consumers" not in said


def _probe(**columns):
    """A marketing product whose build copies a contact's email under another name."""
    from platform_lib import Column, DataProduct, Owner, data_product
    from platform_lib.declare.identifiers import CONTACT_ID

    declared = DataProduct(
        domain="marketing", name="email_probe", version="1.0.0", retention_days=30, purpose="customer_support",
        description="A product that carries a contact's email on, to probe the PII lineage policy.",
        owner=Owner(team="marketing", role="Marketing Operations Lead"), primary_key=("contact_id",),
        event_time="seen_at",
        columns=(CONTACT_ID.model_copy(update={"nullable": False}),
                 Column(name="seen_at", type="timestamp", description="When the contact was last seen."),
                 Column(name="contact_email", type="string", description="The contact's address.", **columns),
                 Column(name="emails_on_file", type="integer", description="How many addresses the contact has.",
                        deidentified="a count of addresses")),
    )

    @data_product(declared)
    def email_probe(ctx):
        return ("SELECT contact_id, max(updated_at) AS seen_at, lower(email) AS contact_email, "
                "count(email) AS emails_on_file FROM staging.contacts GROUP BY contact_id, email")

    return declared


@pytest.mark.parametrize("classified", [False, True])
def test_pii_follows_the_data(mesh, classified):
    """A column derived from a PII column is PII, or a declared de-identification; the
    policy names the path otherwise."""
    from platform_lib.dagster.assets import BUILDS
    from platform_lib.dagster.lineage import MeshLineage
    from platform_lib.dagster.workspace import code_locations, declared_sources
    from platform_lib.governance import policies

    probe = _probe(**({"classification": "pii", "pii_category": "email", "masking": "hash"} if classified else {}))
    products = [*mesh.products.values(), probe]
    try:
        found = MeshLineage(products, declared_sources(code_locations()))
    finally:
        BUILDS.pop(probe.id)  # the probe is no product of the mesh
    violations = [v for v in policies.evaluate(products, derivations=found.derivations(), personal=found.personal)
                  if v.policy == "pii_lineage"]
    if classified:
        assert violations == []
    else:
        [violation] = violations
        assert violation.product == "marketing.email_probe"
        assert ("column contact_email derives from PII (marketing.staging.contacts.email -> "
                "marketing.email_probe.contact_email) but is not classified pii") in violation.message()
        assert "deidentified" in violation.fix


def test_every_product_build_sends_openlineage_run_events(module_mesh, tmp_path):
    """START, then COMPLETE with the output's schema and column lineage, per product, through
    the OpenLineage client's file transport."""
    events_file = tmp_path / "openlineage.jsonl"
    built = mesh_in_process("build", "--select", "marketing", "--full-refresh", root=module_mesh,
                            env={"MESH_OPENLINEAGE_FILE": str(events_file), "MESH_WORKERS": "1"})
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert events
    for event in events:  # a run event as the OpenLineage spec defines it
        check_run_event(event)
        assert event["job"]["namespace"] == "gtm-data-mesh"
        assert str(uuid.UUID(event["run"]["runId"])) == event["run"]["runId"]
    # The check itself refuses what the spec does not define.
    complete = next(e for e in events if e["eventType"] == "COMPLETE")
    for spoil in (lambda e: e["outputs"][0]["facets"]["schema"]["fields"][0].update(kind="x"),
                  lambda e: e["outputs"][0]["facets"]["schema"].update(_schemaURL="https://example.com/not-a-facet.json"),
                  lambda e: e["run"].pop("runId"), lambda e: e.update(eventType="DONE"), lambda e: e.update(eventTime="today")):
        spoilt = copy.deepcopy(complete)
        spoil(spoilt)
        with pytest.raises((AssertionError, ValueError, TypeError)):
            check_run_event(spoilt)
    by_job = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)
    products = {p.id: p for p in mesh_lineage().products.values() if p.domain == "marketing"}
    assert set(by_job) == set(products)
    for name, sent in by_job.items():
        assert [e["eventType"] for e in sent] == ["START", "COMPLETE"] and sent[0]["run"]["runId"] == sent[1]["run"]["runId"]
        [output] = sent[1]["outputs"]
        assert output["name"] == name
        assert [f["name"] for f in output["facets"]["schema"]["fields"]] == [c.name for c in products[name].columns]
    campaign = next(e for e in by_job["marketing.campaign_engagement"] if e["eventType"] == "COMPLETE")
    fields = campaign["outputs"][0]["facets"]["columnLineage"]["fields"]
    [source] = fields["campaign_name"]["inputFields"]
    assert (source["name"], source["field"], source["transformations"][0]["subtype"]) == (
        "marketing.staging.campaigns", "campaign_name", "IDENTITY")


def test_with_no_transport_set_nothing_is_sent_and_the_client_is_not_loaded(tmp_path):
    """Every product build calls the OpenLineage hooks; with neither a file nor a URL set
    they send nothing, and the process never pays for importing the client."""
    probe = ("import sys\n"
             "from platform_lib.dagster import openlineage\n"
             "from platform_lib.dagster.lineage import mesh_lineage\n"
             "product = next(iter(mesh_lineage().products.values()))\n"
             "openlineage.started('run-1', product)\n"
             "openlineage.finished('run-1', product, None, 'boom')\n"
             "print('openlineage.client' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESH_OPENLINEAGE")}
    env["MESH_HOME"] = str(tmp_path / "mesh")
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
    assert not list(tmp_path.rglob("*.jsonl"))
