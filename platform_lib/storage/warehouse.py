"""A domain's warehouse: its own DuckDB file, the only way the platform opens one.

Every connection is capped at `MESH_DUCKDB_MEMORY_LIMIT` (DuckDB's own default is 80% of
RAM per database, so a few busy domains could claim the machine; beyond the cap it
spills to disk) and runs in UTC, so dates cut from timestamps agree on every machine.
One writing process at a time may hold a domain's file; that is its domain's code location.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from platform_lib.config import MeshPaths, settings
from platform_lib.storage.sql import lit

# Seconds between attempts to open a file another process holds (about 100 s in all).
LOCK_WAITS = (*(0.1 * 2**i for i in range(10)), None)


def open_file(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to one warehouse file (or a fresh one beside it), set up as every
    domain connection is. The caller closes it."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = {"memory_limit": settings().duckdb_memory_limit}
    for wait in LOCK_WAITS:  # another process may hold the file for a moment: wait, then give up
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
            break
        except duckdb.IOException:
            if wait is None:
                raise
            time.sleep(wait)
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def connect(paths: MeshPaths, domain: str, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The domain's warehouse for the length of a block."""
    con = open_file(paths.warehouse(domain), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def compact(db: Path) -> None:
    """Rewrite the database file so deleted rows do not linger in freed blocks."""
    fresh = db.with_name(f".{db.name}.compacting")
    fresh.unlink(missing_ok=True)
    con = duckdb.connect(config={"memory_limit": settings().duckdb_memory_limit})
    try:
        con.execute(f"ATTACH {lit(str(db))} AS old")
        con.execute(f"ATTACH {lit(str(fresh))} AS fresh")
        con.execute("COPY FROM DATABASE old TO fresh")
        con.execute("DETACH old")
        con.execute("DETACH fresh")
    finally:
        con.close()
    os.replace(fresh, db)
    Path(f"{db}.wal").unlink(missing_ok=True)
