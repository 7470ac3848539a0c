"""Logical column types, and every map from them: DuckDB, Arrow, Delta, ODCS, Ibis (Pandera) and dbt."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa

LogicalType = Literal["string", "integer", "double", "boolean", "date", "timestamp"]

DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

# How the types are stored in the Delta output ports (Delta protocol primitive names).
DELTA_TYPES: dict[str, str] = {
    "string": "string",
    "integer": "long",
    "double": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}

# ODCS `logicalType` of each type (the contract export).
ODCS_TYPES: dict[str, str] = {
    "string": "string",
    "integer": "integer",
    "double": "number",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


def ibis_types() -> dict:
    """The Ibis type of each, for Pandera's Ibis backend (imported only when a contract runs)."""
    import ibis.expr.datatypes as dt

    return {
        "string": dt.String(),
        "integer": dt.Int64(),
        "double": dt.Float64(),
        "boolean": dt.Boolean(),
        "date": dt.Date(),
        "timestamp": dt.Timestamp(timezone="UTC", scale=6),
    }


# How a scaffolded dbt model declares each type (`data_type` in its YAML).
SQL_TYPES = {"string": "varchar", "integer": "bigint", "double": "double", "boolean": "boolean", "date": "date",
             "timestamp": "timestamptz"}

# dbt `data_type` spellings (lower-cased, without length/precision) -> logical type.
FROM_SQL: dict[str, str] = {
    **{t: "string" for t in ("varchar", "text", "string", "char")},
    **{t: "integer" for t in ("bigint", "integer", "int", "int64", "smallint", "hugeint", "int8", "int4")},
    **{t: "double" for t in ("double", "float", "real", "decimal", "numeric", "float8")},
    **{t: "boolean" for t in ("boolean", "bool")},
    "date": "date",
    **{t: "timestamp" for t in ("timestamptz", "timestamp with time zone", "timestamp")},
}


def logical_from_sql(data_type: str) -> str:
    base = data_type.lower().split("(")[0].strip()
    if base not in FROM_SQL:
        raise ValueError(
            f"data_type '{data_type}' has no mesh logical type; use one of {sorted(set(FROM_SQL))}"
        )
    return FROM_SQL[base]
