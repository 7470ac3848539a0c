"""The floor: every product's own transformation (its Python build or its dbt model's
compiled SQL) executed bare, in dependency order, in one DuckDB connection: staged sources
typed straight from the landing files, no Dagster, no audit, quarantine or publishing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb

from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.dagster.assets import BUILDS, BuildContext, write_candidate
from platform_lib.dagster.workspace import code_locations, declared_products, declared_sources, in_dependency_order
from platform_lib.declare.spec import DataProduct
from platform_lib.declare.types import DUCKDB_TYPES
from platform_lib.lifecycle.read import port_table_name
from platform_lib.storage.landing import landed_files, scan
from platform_lib.storage.sql import q


class _Quiet:
    def __getattr__(self, _):
        return lambda *a, **k: None


def compiled_models(paths: MeshPaths) -> dict[str, str]:
    """`domain.model` -> compiled SQL, from `dbt compile` of every domain's dbt project
    (run before timing; compiling is not part of the floor)."""
    from platform_lib.dagster.dbt_cli import write_profile  # imports dbt: only where it is used

    found = {}
    for project in sorted((PROJECT_ROOT / "dbt_projects").iterdir()):
        if not (project / "dbt_project.yml").exists():
            continue
        target = paths.home / "floor-dbt" / project.name
        profiles = write_profile(project, paths.warehouse(project.name), target)
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        # --full-refresh: the floor computes every model whole, incremental ones included.
        # `mesh-dbt`: dbt kept warm, as the platform runs it (compiling is not timed anyway).
        subprocess.run([str(Path(sys.executable).parent / "mesh-dbt"), "compile", "--quiet", "--full-refresh",
                        "--project-dir", str(project),
                        "--profiles-dir", str(profiles), "--target-path", str(target)], check=True, env=env,
                       capture_output=True)
        manifest = json.loads((target / "manifest.json").read_text())
        for node in manifest["nodes"].values():
            if node["resource_type"] == "model":
                found[f"{project.name}.{node['name']}"] = node["compiled_code"]
    return found


def run_floor(paths: MeshPaths, models: dict[str, str]) -> tuple[float, dict[str, tuple[int, list[str]]]]:
    """Seconds to run the whole mesh bare, and the rows and columns each product came to."""
    import time

    locations = in_dependency_order(code_locations())
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for location in locations:
        con.execute(f"ATTACH ':memory:' AS {location.name}")
    for location in locations:
        con.execute(f"USE {location.name}")
        for schema in ("staging", "ports", "build", "main"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for source in declared_sources([location]):
            files = landed_files(source, paths.landing_dir(source.domain, source.name)).conforming
            typed = ", ".join(f"TRY_CAST({q(c.name)} AS {DUCKDB_TYPES[c.type]}) AS {q(c.name)}" for c in source.columns)
            # Landed as text first, as staging does: a cast pushed into the reader would be strict.
            con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS {scan(source, files, paths.home)}")
            # An entity keeps its newest version per key (staging's current state) and its history.
            current = ""
            if source.evolves == "entity":
                newest = ", ".join(f"{q(c)} DESC" for c in source.version_order)
                current = f" QUALIFY row_number() OVER (PARTITION BY {', '.join(map(q, source.primary_key))} ORDER BY {newest}) = 1"
                con.execute(f"CREATE TABLE {source.history_table} AS SELECT {typed} FROM _raw")
            con.execute(f"CREATE TABLE {source.table} AS SELECT {typed} FROM _raw{current}")
        for product in _in_order(declared_products([location])):
            con.execute(f"USE {location.name}")
            for ref in product.product_inputs:
                domain, name = ref.split("@")[0].split(".")
                con.execute(f"CREATE OR REPLACE VIEW {port_table_name(ref)} AS SELECT * FROM {domain}.main.{name}")
            if product.kind == "python":
                write_candidate(con, f"main.{product.name}", BUILDS[product.id](BuildContext(con, product, _Quiet())))
            else:
                con.execute(f"CREATE TABLE main.{product.name} AS {models[product.id]}")
    seconds = time.perf_counter() - started
    rows = {p.id: (con.execute(f"SELECT count(*) FROM {p.domain}.main.{p.name}").fetchall()[0][0],
                   con.sql(f"SELECT * FROM {p.domain}.main.{p.name} LIMIT 0").columns)
            for p in declared_products(locations)}
    con.close()
    return seconds, rows


def _in_order(products: list[DataProduct]) -> list[DataProduct]:
    by_id = {p.id: p for p in products}
    graph = {p.id: {i.split("@")[0] for i in p.inputs if i.split("@")[0] in by_id} for p in products}
    return [by_id[i] for i in TopologicalSorter(graph).static_order()]
