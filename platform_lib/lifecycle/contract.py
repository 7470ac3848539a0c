"""The Pandera schema of a product, derived from its declaration, and its
enforcement in the engine (Pandera's Ibis backend over the domain's DuckDB)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from platform_lib.declare.spec import DataProduct
from platform_lib.declare.types import ibis_types


def pandera_schema(product: DataProduct):
    """A `pandera.ibis.DataFrameSchema`: types, nullability, accepted values, strict columns."""
    import pandera.ibis as pa

    dtypes = ibis_types()
    columns = {}
    for col in product.columns:
        checks = []
        if col.accepted_values:
            checks.append(pa.Check.isin(list(col.accepted_values)))
        columns[col.name] = pa.Column(
            dtypes[col.type],
            checks=checks,
            nullable=not product.required(col),
            description=col.description,
        )
    return pa.DataFrameSchema(columns, strict=True, name=product.id, description=product.description)


@dataclass
class ContractResult:
    passed: bool
    failures: list[dict]


def enforce(con: duckdb.DuckDBPyConnection, product: DataProduct, table: str) -> ContractResult:
    """Validate `table` against the product's Pandera schema without leaving DuckDB."""
    import ibis
    from pandera.errors import SchemaErrors

    backend = ibis.duckdb.from_connection(con)
    *database, table_name = table.split(".")  # schema.table or catalog.schema.table
    try:
        pandera_schema(product).validate(backend.table(table_name, database=tuple(database)), lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        failures = cases.head(20).astype(str).to_dict("records") if hasattr(cases, "head") else [{"error": str(err)}]
        return ContractResult(False, failures)
    return ContractResult(True, [])
