"""Write one extraction batch in the source system's format (DuckDB's writers: fast,
streaming, and stable in row order)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb
import pyarrow as pa

from platform_lib.storage.landing import COPY_OPTIONS

# One in-memory DuckDB for every batch this process writes: opening a database costs more
# than writing a batch (a landing zone has a few hundred files). Not shared across a fork.
_lock = threading.Lock()
_con: tuple[int, duckdb.DuckDBPyConnection] | None = None


def _connection() -> duckdb.DuckDBPyConnection:
    global _con
    if _con is None or _con[0] != os.getpid():
        con = duckdb.connect()
        con.execute("SET preserve_insertion_order = true")
        _con = (os.getpid(), con)
    return _con[1]


def write_batch(table: pa.Table, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    target = str(path).replace("'", "''")
    with _lock:
        con = _connection()
        con.register("batch", table)
        try:
            con.execute(f"COPY batch TO '{target}' ({COPY_OPTIONS[fmt]})")
        finally:
            con.unregister("batch")
