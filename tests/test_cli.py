"""The `mesh` command line, run as a user runs it."""

from __future__ import annotations

import json

from tests.helpers import mesh


def test_read_prints_a_published_product(built_marketing):
    root, _, _ = built_marketing
    out = mesh("read", "marketing.web_behavior", "--limit", "3", "--format", "json", root=root, check=True,
               principal="maria.marketing")
    rows = json.loads(out.stdout)
    assert len(rows) == 3 and {"account_id", "activity_date", "page_views"} <= set(rows[0])


def test_read_of_an_unknown_product_is_a_clear_error(built_marketing):
    root, _, _ = built_marketing
    out = mesh("read", "marketing.nothing_here", root=root, principal="maria.marketing")
    assert out.returncode != 0
    assert "marketing.nothing_here has no output port yet" in out.stderr


def test_seed_writes_a_landing_zone_and_manifest(tmp_path):
    out = mesh("seed", "--scale", "small", "--seed", "3", "--as-of", "2026-10-01T00:00:00Z", root=tmp_path)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "landing" / "_manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["scale"] == "small"
    assert {s.split("/")[0] for s in manifest["sources"]} == {"marketing", "product", "sales", "customer_success"}
