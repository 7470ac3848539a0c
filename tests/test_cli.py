"""The `mesh` command line: the installed command as a user runs it, and its commands
through click in this process (the same commands, without an interpreter start each)."""

from __future__ import annotations

import json

from tests.helpers import mesh, mesh_in_process


def test_read_prints_a_published_product(built_marketing):
    root, _, _ = built_marketing
    out = mesh_in_process("read", "marketing.web_behavior", "--limit", "3", "--format", "json", root=root, check=True,
                          principal="maria.marketing")
    rows = json.loads(out.stdout)
    assert len(rows) == 3 and {"account_id", "activity_date", "page_views"} <= set(rows[0])


def test_read_of_an_unknown_product_is_a_clear_error(built_marketing):
    root, _, _ = built_marketing
    out = mesh_in_process("read", "marketing.nothing_here", root=root, principal="maria.marketing")
    assert out.returncode != 0
    assert "marketing.nothing_here has no output port yet" in out.stderr


def test_seed_writes_a_landing_zone_and_manifest(tmp_path):
    out = mesh("seed", "--scale", "small", "--seed", "3", "--as-of", "2026-10-01T00:00:00Z", root=tmp_path)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "landing" / "_manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["scale"] == "small"
    assert {s.split("/")[0] for s in manifest["sources"]} == {"marketing", "product", "sales", "customer_success"}


def test_read_pins_a_version_filters_and_writes_csv_and_parquet(built_marketing, tmp_path):
    import io

    import pyarrow.parquet as pq

    root, _, _ = built_marketing
    csv = mesh_in_process("read", "marketing.web_behavior", "--version", "v1", "--columns", "account_id,page_views",
                          "--where", "page_views >= 3", "--limit", "50", "--format", "csv", root=root, check=True,
                          principal="maria.marketing").stdout.splitlines()
    assert csv[0] == "account_id,page_views" and len(csv) > 1
    assert all(int(line.split(",")[1]) >= 3 for line in csv[1:])
    binary = mesh_in_process("read", "marketing.web_behavior", "--limit", "5", "--format", "parquet", root=root,
                             check=True, principal="maria.marketing", binary=True).stdout
    assert pq.read_table(io.BytesIO(binary)).num_rows == 5
    bad = mesh_in_process("read", "marketing.web_behavior", "--where", "1=1; DROP TABLE x", root=root,
                          principal="maria.marketing")
    assert bad.returncode != 0 and "is not 'column op value'" in bad.stderr


def mesh_bytes(root, *args: str) -> bytes:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "MESH_HOME": str(root), "DAGSTER_HOME": str(root / "dagster"), "MESH_PRINCIPAL": "maria.marketing"}
    return subprocess.run([str(Path(sys.executable).parent / "mesh"), *args], env=env, capture_output=True,
                          check=True, timeout=300).stdout


def test_piped_output_follows_columns_and_never_cuts_a_value(built_marketing):
    """Piped, tables are as wide as COLUMNS says (160 without it), and a value too long for
    its column folds onto the next line instead of being cut."""
    root, _, _ = built_marketing
    for columns in ("90", "230"):
        shown = mesh_in_process("product", "show", "marketing.web_behavior", root=root, check=True, principal="maria.marketing",
                     env={"COLUMNS": columns})
        widths = {len(line) for line in shown.stdout.splitlines() if line.startswith(("┃", "│"))}
        assert max(widths) <= int(columns), (columns, max(widths))
        assert "…" not in shown.stdout
    facts = json.loads(mesh_in_process("product", "show", "marketing.web_behavior", "--json", root=root, check=True,
                            principal="maria.marketing").stdout)
    sample = shown.stdout.split("sample rows (governed read")[1]
    listed = {line.split("│")[1].strip() for line in sample.splitlines() if line.startswith("│")}
    assert {c["name"] for c in facts["schema"]} <= listed  # one line per column: none falls off the edge
    wide = mesh_in_process("catalog", root=root, check=True, env={"COLUMNS": "230"}).stdout
    assert max(len(line) for line in wide.splitlines()) > 160  # the room COLUMNS gives is used
    read = mesh_in_process("read", "marketing.web_behavior", "--limit", "3", root=root, check=True, principal="maria.marketing").stdout
    assert 80 < max(len(line) for line in read.splitlines()) <= 160  # piped without COLUMNS: 160, not rich's 80
