"""Asset factories: a staged source, and a Python data product, from their declarations."""


import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from platform_lib.config import MeshPaths
from platform_lib.dagster import openlineage
from platform_lib.dagster.checks import (
    TIMED_CHECKS,
    freshness_policy,
    outcome_checks,
    product_check_specs,
    recorded,
    replayed,
    rule_checks,
    sla_checks,
    source_check_specs,
)
from platform_lib.dagster.lineage import metadata as mesh_lineage_metadata
from platform_lib.dagster.lineage import sql_of
from platform_lib.dagster.metadata import product_metadata, product_tags, source_metadata, usage_metadata
from platform_lib.dagster.resources import DomainWarehouse, MeshResource, writer_pool
from platform_lib.declare import versions
from platform_lib.declare.spec import DataProduct, Source
from platform_lib.lifecycle import consumed, increments, lineage
from platform_lib.lifecycle.publish import PublishContext, Served, audit_and_publish, measure_served
from platform_lib.lifecycle.read import deprecation, import_port
from platform_lib.lifecycle.stage import stage
from platform_lib.sla.doc_sources import describe, python_sources
from platform_lib.storage.disk import full_disk
from platform_lib.storage.ports import OutputPort
from platform_lib.storage.sql import q

# A run with this tag stages every landed file again (`mesh build --full-refresh`).
FULL_REFRESH_TAG = "mesh/full_refresh"


@contextmanager
def told_if_disk_full(paths: MeshPaths):
    """A step that fails on a full disk fails with the folder and the fix, not a traceback."""
    try:
        yield
    except Failure:
        raise
    except Exception as err:
        message = full_disk(err, [paths.home, paths.dagster_home])
        if message is None:
            raise
        raise Failure(description=message) from None


def input_key(ref: str) -> AssetKey:
    return AssetKey(ref.split("@")[0].split("."))


def staging_asset(source: Source) -> AssetsDefinition:
    key = AssetKey(source.key_path)
    referenced = sorted({c.references.split(".")[0] for c in source.columns if c.references} - {source.name})

    @asset(
        key=key,
        group_name=f"{source.domain}_staging",
        description=source.description,
        kinds={"duckdb", source.format},
        tags={"domain": source.domain, "layer": "staging"},
        deps=[AssetKey([source.domain, "staging", r]) for r in referenced],
        check_specs=source_check_specs(key),
        metadata=source_metadata(source, MeshPaths.from_env()),
        pool=writer_pool(source.domain),
    )
    def _stage(context: AssetExecutionContext, warehouse: DomainWarehouse, mesh: MeshResource):
        with told_if_disk_full(mesh.paths), warehouse.get_connection() as con:
            staged = stage(con, source, mesh.paths, context.run_id, full_refresh=full_refresh(context))
        yield from rule_checks(key, staged.result, source_quality_floor)
        metadata = staged.metadata()
        yield MaterializeResult(metadata={
            **metadata,
            "dagster/row_count": staged.rows_staged,
            "files_removed": metadata["files_removed"],
            "unreadable_files": MetadataValue.json(metadata["unreadable_files"]),
        })

    return _stage


# Staging is internal: bad rows are quarantined and the rest staged; products gate publishing.
source_quality_floor = 0.0


@dataclass
class BuildContext:
    """What a product's build function gets: the domain's DuckDB connection, its declaration,
    and for a product computed per key (`updated_by`), the table listing the keys to
    recompute, or None when it is recomputed whole."""

    con: duckdb.DuckDBPyConnection
    product: DataProduct
    log: Any
    changes: str | None = None

    def where_changed(self, keys: str) -> str:
        """`WHERE (keys) IN (the keys to recompute)`, or nothing in a whole recompute: `keys`
        is the SQL giving the product's `updated_by.keys`, in order, from the rows read."""
        if self.changes is None:
            return ""
        listed = ", ".join(q(k) for k in self.product.updated_by.keys)
        return f"WHERE ({keys}) IN (SELECT {listed} FROM {self.changes})"


BuildFn = Callable[[BuildContext], Any]

# Every Python product's build function by product id: what the floor benchmark runs bare.
BUILDS: dict[str, BuildFn] = {}


def data_product(product: DataProduct) -> Callable[[BuildFn], AssetsDefinition]:
    """Turn a declaration and its build function into the product's asset.

    The build returns SQL (over `staging.*` and `ports.*`), a DuckDB relation, or an
    Arrow table / pandas frame; the platform writes, audits and publishes it."""

    def decorator(build: BuildFn) -> AssetsDefinition:
        BUILDS[product.id] = build
        key = AssetKey(product.key_path)
        doc_sources = python_sources(product, build)

        @asset(
            key=key,
            group_name=product.domain,
            description=product.description,
            owners=[product.owner.dagster_owner],
            tags=product_tags(product),
            kinds={"python", "duckdb", "delta"},
            deps=[input_key(i) for i in product.inputs],
            check_specs=product_check_specs(key),
            metadata={**product_metadata(product, MeshPaths.from_env()), **describe(doc_sources)},
            freshness_policy=freshness_policy(product),
            code_version=product.version,
            pool=writer_pool(product.domain),
        )
        def _product(context: AssetExecutionContext, warehouse: DomainWarehouse, mesh: MeshResource):
            paths = mesh.paths
            with told_if_disk_full(paths), warehouse.get_connection() as con:
                warnings, read = import_inputs(con, paths, product.product_inputs, product.domain)
                stamps = consumed.now(con, product.inputs, read, code_stamp(product, build))
                publish = PublishContext(paths, context.run_id, context.instance, doc_sources, tuple(warnings))
                kept = None if full_refresh(context) else consumed.unchanged_since(con, product.id, stamps, OutputPort.of(paths, product))
                if kept is not None and covers(kept, checks_of(context, key)):
                    served = measure_served(con, product, publish)
                else:
                    kept = None
                    plan = increments.prepare(con, product, product.build_table, stamps,
                                              consumed.last_build(con, product.id), full_refresh(context))
                    changes = None if plan.whole else increments.changes_table(product)
                    openlineage.started(context.run_id, product)
                    built = build(BuildContext(con, product, context.log, changes))
                    derived = product_lineage(con, product, sql_of(built))
                    write_candidate(con, product.build_table, built, append=not plan.whole)
                    recomputed = increments.settle(con, product, product.build_table, plan)
                    outcome = audit_and_publish(con, product, product.build_table, publish, recomputed)
                    openlineage.finished(context.run_id, product, derived, None if outcome.published else outcome.error())
                    checks = outcome_checks(outcome)
                    if outcome.published:
                        consumed.record(con, product.id, stamps, outcome.metadata["delta_version"], context.run_id,
                                        recorded(checks))
            if kept is not None:
                yield from unchanged_results(key, stamps, kept, checks_of(context, key), served, usage_metadata(paths, product))
                return
            yield from checks
            if not outcome.published:
                raise Failure(description=outcome.error(), metadata=outcome.metadata)
            yield MaterializeResult(metadata={**outcome.metadata, **plan.metadata(), **mesh_lineage_metadata(derived),
                                              **consumed_metadata(stamps, recomputed=True), **usage_metadata(paths, product)},
                                    data_version=DataVersion(str(outcome.metadata["delta_version"])))

        _product.__doc__ = build.__doc__
        return _product

    return decorator


def product_lineage(con: duckdb.DuckDBPyConnection, product: DataProduct, sql: str | None) -> lineage.Lineage:
    """The column lineage of the SQL a build ran, read against its own warehouse."""
    if sql is None:
        return lineage.Lineage(product.id, problems=["the build returns data, not SQL: its lineage cannot be read"])
    return lineage.derive(product.id, sql, con, lineage.owners(con, product.domain, {product.build_table: product.id}))


def import_inputs(con: duckdb.DuckDBPyConnection, paths: MeshPaths, refs, domain: str) -> tuple[list[str], dict[str, str]]:
    """Load every product input from its port as the domain's service principal: the
    deprecation warnings of pinned ones, and what was read of each."""
    today = datetime.now(timezone.utc).date()
    warnings = [w for w in (deprecation(ref, today) for ref in refs) if w]
    return warnings, {ref: import_port(con, paths, ref, domain) for ref in refs}


def full_refresh(context: AssetExecutionContext) -> bool:
    return context.run.tags.get(FULL_REFRESH_TAG) == "true"


def code_stamp(product: DataProduct, build: BuildFn) -> str:
    """What the product's rows are computed by: its declaration, the module its build
    lives in (constants included), and the older majors served beside it today."""
    module = inspect.getmodule(build)
    try:
        source = inspect.getsource(module) if module else ""
    except (OSError, TypeError):
        source = build.__code__.co_code.hex()
    served = sorted(versions.served_majors(product, datetime.now(timezone.utc).date()))
    return consumed.code_stamp(consumed.declaration(product), source, repr(served))


def consumed_metadata(stamps: consumed.Stamps, recomputed: bool) -> dict:
    return {"recomputed": recomputed, "inputs_consumed": MetadataValue.json(stamps.inputs)}


def checks_of(context: AssetExecutionContext, key: AssetKey) -> set[str]:
    return {c.name for c in context.selected_asset_check_keys if c.asset_key == key}


def covers(kept: consumed.Built, names: set[str]) -> bool:
    """Whether the last build evaluated every content check selected now (one added since: rebuild)."""
    return names - set(TIMED_CHECKS) <= {c["name"] for c in kept.checks}


def unchanged_results(key: AssetKey, stamps: consumed.Stamps, kept: consumed.Built, checks: set[str],
                      served: Served | None = None, usage: dict | None = None):
    """Nothing the asset is built from changed since its last build: its port (or table)
    serves on at the same data version, with the content checks that build evaluated and
    the SLAs measured now."""
    yield from replayed(key, [c for c in kept.checks if c["name"] in checks], kept.run_id)
    if served is not None:
        yield from (c for c in sla_checks(served) if c.check_name in checks)
    metadata = {**consumed_metadata(stamps, recomputed=False), "content_changed": False, "built_by_run": kept.run_id,
                **(usage or {})}
    if kept.delta_version is None:
        yield MaterializeResult(asset_key=key, metadata=metadata)
    else:
        yield MaterializeResult(asset_key=key, metadata={**metadata, "delta_version": kept.delta_version},
                                data_version=DataVersion(str(kept.delta_version)))


def write_candidate(con: duckdb.DuckDBPyConnection, table: str, built: Any, append: bool = False) -> None:
    """The build's rows as the candidate table, or, for the keys a batch changed, added to it."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
    into = f"INSERT INTO {table} BY NAME" if append else f"CREATE OR REPLACE TABLE {table} AS"
    if isinstance(built, str):
        con.execute(f"{into} {built}")
        return
    if isinstance(built, duckdb.DuckDBPyRelation):
        built.create_view("_mesh_built")
    else:
        con.register("_mesh_built", built)
    con.execute(f"{into} SELECT * FROM _mesh_built")
    con.execute("DROP VIEW IF EXISTS _mesh_built")
