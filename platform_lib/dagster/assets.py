"""Asset factories: a staged source, and a Python data product, from their declarations."""


from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import duckdb
from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, Failure, MaterializeResult, MetadataValue, asset

from platform_lib.config import MeshPaths
from platform_lib.dagster.checks import freshness_policy, outcome_checks, product_check_specs, rule_checks, source_check_specs
from platform_lib.dagster.metadata import product_metadata, product_tags, source_metadata
from platform_lib.dagster.resources import DomainWarehouse, MeshResource, writer_pool
from platform_lib.declare.spec import DataProduct, Source
from platform_lib.lifecycle.publish import PublishContext, audit_and_publish
from platform_lib.lifecycle.read import deprecation, import_port
from platform_lib.lifecycle.stage import stage
from platform_lib.sla.doc_sources import describe, python_sources
from platform_lib.storage.disk import full_disk

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
        full_refresh = context.run.tags.get(FULL_REFRESH_TAG) == "true"
        with told_if_disk_full(mesh.paths), warehouse.get_connection() as con:
            staged = stage(con, source, mesh.paths, context.run_id, full_refresh=full_refresh)
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
    """What a product's build function gets: the domain's DuckDB connection and its declaration."""

    con: duckdb.DuckDBPyConnection
    product: DataProduct
    log: Any


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
                warnings = import_inputs(con, paths, product.product_inputs, product.domain)
                write_candidate(con, product.build_table, build(BuildContext(con, product, context.log)))
                publish = PublishContext(paths, context.run_id, context.instance, doc_sources, tuple(warnings))
                outcome = audit_and_publish(con, product, product.build_table, publish)
            yield from outcome_checks(outcome)
            if not outcome.published:
                raise Failure(description=outcome.error(), metadata=outcome.metadata)
            yield MaterializeResult(metadata=outcome.metadata)

        _product.__doc__ = build.__doc__
        return _product

    return decorator


def import_inputs(con: duckdb.DuckDBPyConnection, paths: MeshPaths, refs, domain: str) -> list[str]:
    """Load every product input from its port as the domain's service principal; return
    deprecation warnings for pinned ones."""
    today = datetime.now(timezone.utc).date()
    warnings = [w for w in (deprecation(ref, today) for ref in refs) if w]
    for ref in refs:
        import_port(con, paths, ref, domain)
    return warnings


def write_candidate(con: duckdb.DuckDBPyConnection, table: str, built: Any) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
    if isinstance(built, str):
        con.execute(f"CREATE OR REPLACE TABLE {table} AS {built}")
        return
    if isinstance(built, duckdb.DuckDBPyRelation):
        built.create_view("_mesh_built")
    else:
        con.register("_mesh_built", built)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _mesh_built")
    con.execute("DROP VIEW IF EXISTS _mesh_built")
