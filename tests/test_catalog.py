"""The federated catalog: search across every domain, and one product's full story."""

from __future__ import annotations

import json

from tests.helpers import mesh_in_process
from tests.test_mesh import ALL


def test_search_ranks_the_best_match_first(tmp_path):
    out = mesh_in_process("catalog", "health", "--json", root=tmp_path, check=True)
    ids = [h["id"] for h in json.loads(out.stdout)]
    assert set(ids[:2]) == {"customer_success.account_health", "product.product_health_scores"}


def test_search_by_column_lists_every_product_carrying_it(tmp_path):
    from tests.helpers import domain_defs  # noqa: F401  (loads definitions in-process too)

    out = mesh_in_process("catalog", "--column", "account_id", "--json", root=tmp_path, check=True)
    found = {h["id"] for h in json.loads(out.stdout)}
    assert len(found) >= 14 and found <= set(ALL)
    pii = json.loads(mesh_in_process("catalog", "--classification", "pii", "--json", root=tmp_path, check=True).stdout)
    assert [h["id"] for h in pii] == ["marketing.lead_scoring_signals"]


def test_signal_types_are_searchable(tmp_path):
    out = mesh_in_process("catalog", "usage_surge", "--json", root=tmp_path, check=True)
    assert json.loads(out.stdout)[0]["id"] == "revenue_operations.account_signals"


def test_product_show_tells_the_whole_story_through_the_governed_path(built_marketing):
    root = built_marketing[0]
    out = mesh_in_process("product", "show", "marketing.lead_scoring_signals", "--json", root=root, check=True, principal="dana.sdr")
    facts = json.loads(out.stdout)
    assert facts["owner"]["role"] == "Marketing Operations Lead"
    assert facts["served"][0]["major"] == "v1" and facts["served"][0]["rows"] > 0
    assert "revenue_operations.prioritized_outreach" in facts["downstream"]
    assert {g["consumer"] for g in facts["grants"]} >= {"dana.sdr", "svc_revenue_operations"}
    assert {s["sla"] for s in facts["sla_status"]} == {"freshness", "availability", "schema_stability", "quality_score",
                                                      "documentation_currency"}
    assert facts["sample"] and all(r["email"].startswith("pseudonym:") for r in facts["sample"])
    denied = mesh_in_process("product", "show", "marketing.lead_scoring_signals", "--json", root=root, check=True, principal="frank.finance")
    assert json.loads(denied.stdout)["sample"].startswith("not shown: frank.finance has no active grant")


def test_product_show_prints_missing_values_and_numbers_as_they_are(built_marketing):
    """account_health's sample rows hold missing values (no CSAT yet, no renewal date) and
    integer columns: the table prints every row, and the JSON stays valid JSON with nulls
    and integers."""
    root = built_marketing[0]
    shown = mesh_in_process("product", "show", "customer_success.account_health", root=root, principal="chloe.cs")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    assert "sample rows (governed read, 5 rows)" in shown.stdout and "ACC-" in shown.stdout

    out = mesh_in_process("product", "show", "customer_success.account_health", "--json", root=root, check=True,
                          principal="chloe.cs")

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    sample = json.loads(out.stdout, parse_constant=refuse)["sample"]
    assert len(sample) == 5
    assert any(v is None for row in sample for v in row.values())  # missing values are null
    assert all(isinstance(r["days_to_renewal"], int) or r["days_to_renewal"] is None for r in sample)
    assert all(isinstance(r["health_score"], int) and isinstance(r["arr_usd"], float) for r in sample)
    assert all(isinstance(r["is_active"], bool) for r in sample)
