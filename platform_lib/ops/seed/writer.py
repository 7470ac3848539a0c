"""Write one extraction batch in the source system's format (DuckDB's writers: fast,
streaming, and stable in row order)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from platform_lib.storage.landing import COPY_OPTIONS


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
