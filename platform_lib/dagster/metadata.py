"""What the Dagster UI shows of a product or source, derived from its declaration."""

from __future__ import annotations

from dagster import MetadataValue, TableColumn, TableColumnConstraints, TableSchema

from platform_lib.config import MeshPaths
from platform_lib.declare.spec import DataProduct, Source, _Declared
from platform_lib.governance import usage

DECLARATION = "mesh/declaration"


def column_schema(decl: _Declared) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=c.name,
                type=c.type,
                description=c.description or None,
                constraints=TableColumnConstraints(
                    nullable=not decl.required(c),
                    unique=list(decl.primary_key) == [c.name],
                    other=[f"one of {list(c.accepted_values)}"] if c.accepted_values else [],
                ),
                tags={"classification": c.classification, **({"pii_category": c.pii_category} if c.pii_category else {})},
            )
            for c in decl.columns
        ]
    )


def product_tags(product: DataProduct) -> dict[str, str]:
    return {
        "domain": product.domain,
        "data_product": "",
        "classification": product.classification,
        "tier": product.tier,
    }


def product_metadata(product: DataProduct, paths: MeshPaths) -> dict:
    return {
        "dagster/column_schema": column_schema(product),
        "mesh/product_id": product.id,
        "mesh/version": product.version,
        "mesh/owner": f"{product.owner.role} (team {product.owner.team})",
        "mesh/consumers": ", ".join(product.consumers),
        "mesh/primary_key": ", ".join(product.primary_key),
        "mesh/output_port": MetadataValue.path(str(paths.port(product.domain, product.name, product.major))),
        "mesh/sla": MetadataValue.json(product.sla.model_dump()),
        "mesh/quality_rules": MetadataValue.json(
            [{"name": r.name, "valid_when": r.valid_when, "description": r.description} for r in product.rules]
        ),
        "mesh/retention_days": product.retention_days,
        # The whole declaration, so tools that only see the definitions can rebuild it.
        DECLARATION: MetadataValue.json(product.model_dump(mode="json")),
    }


SOURCE_DECLARATION = "mesh/source_declaration"


def source_metadata(source: Source, paths: MeshPaths) -> dict:
    return {
        "dagster/column_schema": column_schema(source),
        "mesh/source_id": source.id,
        SOURCE_DECLARATION: MetadataValue.json(source.model_dump(mode="json")),
        "mesh/format": source.format,
        "mesh/landing_dir": MetadataValue.path(str(paths.landing_dir(source.domain, source.name))),
        "mesh/primary_key": ", ".join(source.primary_key),
        "mesh/event_time": source.event_time,
        "mesh/evolves": source.evolves,
        **({"mesh/history_table": source.history_table} if source.evolves == "entity" else {}),
    }


def usage_metadata(paths: MeshPaths, product: DataProduct) -> dict:
    """Who read the product lately, as of this materialization (counts, never names), so
    the UI plots its reads over time and flags a retirement candidate: read by nobody in
    90 days, or columns no read took."""
    columns = [c.name for c in product.columns]
    read = usage.usage(paths, {product.id: columns})[product.id]
    idle = [c for c in columns if read.reads and not read.columns[c]]
    return {"mesh/reads_90d": read.reads, "mesh/readers_90d": len(read.readers),
            "mesh/retirement_candidate": read.reads == 0, "mesh/unread_columns_90d": ", ".join(idle) or "none"}
