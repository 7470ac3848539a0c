"""Write one extraction batch in the source system's format (DuckDB's writers: fast,
streaming, and stable in row order)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

EXTENSION = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}
COPY_OPTIONS = {"csv": "FORMAT csv, HEADER true", "jsonl": "FORMAT json", "parquet": "FORMAT parquet"}


def write_batch(table: pa.Table, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        con.register("batch", table)
        target = str(path).replace("'", "''")
        con.execute(f"COPY batch TO '{target}' ({COPY_OPTIONS[fmt]})")
    finally:
        con.close()
