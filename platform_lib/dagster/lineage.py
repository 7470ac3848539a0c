"""The mesh's column lineage, derived from every product's own SQL without building it:
each domain's warehouse laid out empty (its staged sources, every product's port copy, its
own build tables, with their declared columns), each Python build called on it, each dbt
model rendered, and `lifecycle.lineage` run on the SQL. Also Dagster's form of it
(`dagster/column_lineage`) and what lies downstream of a column, across domains."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from dagster import AssetKey, TableColumnDep, TableColumnLineage

from platform_lib.config import PROJECT_ROOT
from platform_lib.declare.spec import VALID_FROM, VALID_TO, DataProduct, Domain, Source
from platform_lib.declare.types import DUCKDB_TYPES
from platform_lib.governance.policies import Derivations
from platform_lib.lifecycle import lineage
from platform_lib.storage.sql import q

if TYPE_CHECKING:
    from platform_lib.dagster.dbt import DbtProject

LINEAGE = "dagster/column_lineage"
UNRESOLVED = "mesh/lineage_unresolved"


def sql_of(built) -> str | None:
    """The SQL a Python build returned (a query, or a DuckDB relation's); None for data."""
    if isinstance(built, str):
        return built
    if isinstance(built, duckdb.DuckDBPyRelation):
        return built.sql_query()
    return None


def metadata(found: lineage.Lineage) -> dict:
    """A materialization's lineage metadata: Dagster's column lineage, and what could not
    be traced (by column, or why the SQL could not be read at all)."""
    deps = {name: [TableColumnDep(asset_key=AssetKey(asset.split(".")), column_name=column)
                   for asset, column in sorted(col.inputs)]
            for name, col in found.columns.items()}
    unresolved = {**found.unresolved, **({"*": found.problems} if found.problems else {})}
    return {LINEAGE: TableColumnLineage(deps_by_column=deps), **({UNRESOLVED: unresolved} if unresolved else {})}


def _create(con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]]) -> None:
    con.execute(f"CREATE TABLE {table} ({', '.join(f'{q(n)} {t}' for n, t in columns)})")


def empty_warehouse(domain: str, sources: list[Source], products: list[DataProduct],
                    published: dict[str, list[tuple[str, str]]] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB laid out as `domain`'s warehouse is when its products build,
    every table empty; a product in `published` is read with those columns (name, logical
    type), as its published contract has them, rather than as declared now."""
    con = duckdb.connect()
    for schema in ("staging", "ports", "build", "main"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for source in sources:
        if source.domain != domain:
            continue
        columns = [(c.name, DUCKDB_TYPES[c.type]) for c in source.columns]
        _create(con, source.table, columns)
        if source.evolves == "entity":
            when = DUCKDB_TYPES[source.column(source.event_time).type]
            _create(con, source.history_table, [*columns, (VALID_FROM, when), (VALID_TO, when)])
    for product in products:
        columns = [(c.name, DUCKDB_TYPES[c.type]) for c in product.columns]
        as_read = [(n, DUCKDB_TYPES[t]) for n, t in (published or {}).get(product.id, [])] or columns
        _create(con, f"ports.{product.domain}__{product.name}", as_read)
        if product.domain == domain:
            _create(con, product.build_table, columns)
    return con


@dataclass(frozen=True)
class Downstream:
    product: DataProduct
    column: str
    direct: bool  # the value itself, copied or renamed all the way (else derived from it)


class MeshLineage:
    """Every product's column lineage, from the declarations of the given code locations."""

    def __init__(self, products: list[DataProduct], sources: list[Source],
                 published: dict[str, list[tuple[str, str]]] | None = None):
        self.products = {p.id: p for p in products}
        # Every PII column of the mesh, as (asset, column): the sources' and the products'.
        self.personal = {(".".join(s.key_path), c.name) for s in sources for c in s.columns if c.classification == "pii"} | {
            (p.id, c.name) for p in products for c in p.columns if c.classification == "pii"}
        self.of: dict[str, lineage.Lineage] = {}
        projects: dict[str, DbtProject] = {}
        for domain in sorted({p.domain for p in products}):
            con = empty_warehouse(domain, sources, products, published)
            owner = lineage.owners(con, domain, {p.build_table: p.id for p in products if p.domain == domain})
            try:
                for product in (p for p in products if p.domain == domain):
                    con.begin()  # whatever a build does to the layout is undone before the next
                    try:
                        self.of[product.id] = self._derive(product, con, owner, projects)
                    finally:
                        con.rollback()
            finally:
                con.close()
        self.of = {p.id: self.of[p.id] for p in products}

    @staticmethod
    def _derive(product: DataProduct, con: duckdb.DuckDBPyConnection, owner: dict[str, str],
                projects: dict[str, DbtProject]) -> lineage.Lineage:
        from platform_lib.dagster.assets import BUILDS, BuildContext
        from platform_lib.dagster.dbt import DbtProject

        try:
            if product.kind == "python":
                sql = sql_of(BUILDS[product.id](BuildContext(con, product, logging.getLogger(__name__), None)))
            else:
                project = projects.setdefault(product.domain, DbtProject(Domain(name=product.domain, description="", owner=product.owner),
                                                                          dbt_project(product.domain)))
                uid = next(u for u, p in project.products.items() if p.id == product.id)
                sql = project.sql(uid)
            return lineage.derive(product.id, sql, con, owner) if sql else \
                lineage.Lineage(product.id, problems=["the build returns data, not SQL: its lineage cannot be read"])
        except Exception as err:  # one build that cannot run on empty tables leaves the others traced
            return lineage.Lineage(product.id, problems=[
                f"the build failed on its inputs laid out empty ({type(err).__name__}: {str(err)[:200]})"])

    def derivations(self) -> Derivations:
        """Each product column's inputs, and whether each reaches it as it was, as plain data
        (for the policies and erasure plans); a column that could not be traced (or a product
        whose SQL could not be read) is left out."""
        return {pid: {name: {i: held["direct"] for i, held in sorted(col.inputs.items())}
                      for name, col in found.columns.items() if not col.unresolved}
                for pid, found in self.of.items() if not found.problems}

    def consumers(self, product_id: str) -> list[DataProduct]:
        """The products that read `product_id`."""
        return [p for p in self.products.values() if product_id in {i.split("@")[0] for i in p.inputs}]

    def downstream(self, product_id: str, column: str | None = None) -> list[Downstream]:
        """Every product column, in any domain, that derives from `product_id` (its
        `column`, or any of its columns and its rows), directly or through other products."""
        found: dict[tuple[str, str], bool] = {}
        frontier = [(product_id, c, True) for c in ([column] if column else [c.name for c in self.products[product_id].columns])]
        while frontier:
            asset, col, direct = frontier.pop()
            for pid, derived in self.of.items():
                for name, lin in derived.columns.items():
                    held = lin.inputs.get((asset, col))
                    # A count of the product's rows depends on the product, not on one column of it.
                    if held is None and (column is not None or asset not in lin.rows_of):
                        continue
                    is_direct = direct and held is not None and held["direct"]
                    if found.get((pid, name)) is None or (is_direct and not found[(pid, name)]):
                        found[(pid, name)] = is_direct
                        frontier.append((pid, name, is_direct))
        return [Downstream(self.products[p], c, d) for (p, c), d in sorted(found.items())]


def dbt_project(domain: str) -> Path:
    return PROJECT_ROOT / "dbt_projects" / domain


@lru_cache(maxsize=1)
def mesh_lineage() -> MeshLineage:
    """The lineage of the workspace's products (loaded once per process)."""
    from platform_lib.dagster.workspace import code_locations, declared_products_unchecked, declared_sources

    locations = code_locations()
    return lineage_of(declared_products_unchecked(locations), declared_sources(locations))


def lineage_of(products: list[DataProduct], sources: list[Source]) -> MeshLineage:
    """The lineage of these declarations, derived once per process for each set of them
    (every erasure plan reads it)."""
    return _lineage_of(json.dumps([[p.model_dump(mode="json") for p in products],
                                   [s.model_dump(mode="json") for s in sources]], sort_keys=True))


@lru_cache(maxsize=4)
def _lineage_of(declarations: str) -> MeshLineage:
    products, sources = json.loads(declarations)
    return MeshLineage([DataProduct.model_validate(p) for p in products], [Source.model_validate(s) for s in sources])
