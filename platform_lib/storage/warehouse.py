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


class WarehouseBusy(RuntimeError):
    """Another process (a build, most often) holds a domain's DuckDB file for longer than
    `MESH_WAREHOUSE_WAIT_SECONDS`. The message names the file, never its content."""


def _held(err: duckdb.Error) -> bool:
    return "lock" in str(err).lower()


def open_file(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to one warehouse file (or a fresh one beside it), set up as every
    domain connection is. The caller closes it. While another process holds the file it
    waits (backing off up to `MESH_WAREHOUSE_WAIT_SECONDS`), then raises `WarehouseBusy`."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = {"memory_limit": settings().duckdb_memory_limit}
    deadline, wait = time.monotonic() + settings().warehouse_wait_seconds, 0.1
    while True:  # another process may hold the file for a moment: wait, then give up
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
            break
        except duckdb.IOException as err:
            if not _held(err):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(f"{path.name} is busy: another process (a build?) has held it for "
                                    f"{settings().warehouse_wait_seconds:.0f} s") from None
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            wait = min(wait * 2, 5.0)
    con.execute("SET TimeZone = 'UTC'")
    return con


def scratch() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB reading as a warehouse does: a landed time without a zone is UTC,
    whatever the machine's zone (retention and erasure read landing files through one)."""
    con = duckdb.connect()
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


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `[catalog.]schema.table` (parts may be quoted) exists in the connection's database."""
    schema, name = [part.strip('"') for part in table.split(".")[-2:]]
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
                       "AND table_schema = ? AND table_name = ?", [schema, name]).fetchall()[0][0] > 0


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
