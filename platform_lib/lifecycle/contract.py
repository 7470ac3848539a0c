"""The Pandera schema of a product, derived from its declaration, and its
enforcement in the engine (Pandera's Ibis backend over the domain's DuckDB)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from platform_lib.declare.spec import DataProduct
from platform_lib.declare.types import ibis_types
from platform_lib.lifecycle.audit import typed_columns


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

    if not con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]:
        return _enforce_shape(con, product, table)
    backend = ibis.duckdb.from_connection(con)
    *database, table_name = table.split(".")  # schema.table or catalog.schema.table
    try:
        pandera_schema(product).validate(backend.table(table_name, database=tuple(database)), lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        failures = cases.head(20).astype(str).to_dict("records") if hasattr(cases, "head") else [{"error": str(err)}]
        return ContractResult(False, failures)
    return ContractResult(True, [])


def _enforce_shape(con: duckdb.DuckDBPyConnection, product: DataProduct, table: str) -> ContractResult:
    """An empty batch (a per-key publish whose keys lost all their rows) has only its shape
    to judge: Pandera's Ibis backend reports every row check of an empty table as failed."""
    present = con.sql(f"SELECT * FROM {table} LIMIT 0").columns
    typed = typed_columns(con, product, table)
    failures = [{"column": c.name, "check": f"dtype('{c.type}')" if c.name in present else "column_in_dataframe"}
                for c in product.columns if c.name not in typed]
    failures += [{"column": c, "check": "column_in_schema"} for c in present if c not in {d.name for d in product.columns}]
    return ContractResult(not failures, failures)
