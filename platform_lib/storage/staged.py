"""What a domain keeps of its staged sources, in its own DuckDB file.

- `landed.<source>`: every record read from the source's landed files, as text, with the
  file it came in and the hash of its typed key. Staging audits from here, so a new batch
  is compared with what is already staged without reading any earlier file again.
- `staging.<source>`: the audited, typed records products read; for an entity source its
  current version per key, every version in `staging.<source>_history`.
- `ledger.files`: each staged file version (path, size, modification and change times,
  content hash) and what it held; `ledger.stagings`: one row per staging run (retention and
  erasure record what they delete as runs too); `ledger.<source>_changes`: the keys each run
  changed, with the identifiers their records held before and after; `ledger.consumed`: the
  staging run of each referenced source a source has taken the changes of; `ledger.key_epochs`:
  what the landed key hashes were computed with (see `key_epoch`).
Erasure and retention reach these tables like any other (they scan every table).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from platform_lib.declare.identifiers import kind_of
from platform_lib.declare.spec import Source
from platform_lib.declare.types import DUCKDB_TYPES
from platform_lib.storage.sql import lit, q


def landed_table(source: Source) -> str:
    return f"landed.{q(source.name)}"


def changes_table(source: Source | str) -> str:
    return f"ledger.{q((source if isinstance(source, str) else source.name) + '_changes')}"


def key_columns(source: Source) -> list[str]:
    """What identifies a record: its primary key, or the whole record without one."""
    return list(source.primary_key) or [c.name for c in source.columns]


def logged_columns(source: Source) -> list[str]:
    """What the change log records of each changed key: the key, the identifiers other
    sources may point at (a product event's account is a workspace's `account_id`), and the
    event time (a product computed per account and day finds the days a batch changed)."""
    keys = key_columns(source)
    logged = keys + [c.name for c in source.columns if kind_of(c) and c.name not in keys]
    return logged + ([source.event_time] if source.event_time and source.event_time not in logged else [])


def typed(source: Source, column: str, alias: str = "") -> str:
    """SQL: a landed (text) column cast to its declared type."""
    return f"TRY_CAST({alias}{q(column)} AS {DUCKDB_TYPES[source.column(column).type]})"


def key_hash(source: Source, alias: str = "") -> str:
    """SQL: the hash of a landed record's typed key; NULL when a part of a primary key is
    missing or not of its type (such a record is rejected on its own, whatever else is
    staged). Without a primary key the whole record is the key, and an empty value is part
    of it: the same record sent again has the same key."""
    parts = [typed(source, k, alias) for k in key_columns(source)]
    if not source.primary_key:
        return f"hash({', '.join(parts)})"
    missing = " OR ".join(f"{p} IS NULL" for p in parts)
    return f"CASE WHEN {missing} THEN NULL ELSE hash({', '.join(parts)}) END"


def ensure_layout(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    for schema in ("landed", "ledger", "staging"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    text = ", ".join(f"{q(c.name)} VARCHAR" for c in source.columns)
    con.execute(f"CREATE TABLE IF NOT EXISTS {landed_table(source)} ({text}, _source_file VARCHAR, _key UBIGINT)")
    con.execute("""CREATE TABLE IF NOT EXISTS ledger.files (
        source VARCHAR NOT NULL, file VARCHAR NOT NULL, size BIGINT, mtime_ns BIGINT, ctime_ns BIGINT, sha256 VARCHAR,
        status VARCHAR NOT NULL, rows_landed BIGINT, staged_seq BIGINT, run_id VARCHAR, staged_at TIMESTAMPTZ)""")
    # Files staged before change times were kept: compared by content when next seen.
    con.execute("ALTER TABLE ledger.files ADD COLUMN IF NOT EXISTS ctime_ns BIGINT")
    con.execute("""CREATE TABLE IF NOT EXISTS ledger.stagings (
        source VARCHAR NOT NULL, seq BIGINT NOT NULL, run_id VARCHAR, full_refresh BOOLEAN, files_staged BIGINT,
        files_removed BIGINT, keys_changed BIGINT, staged_at TIMESTAMPTZ)""")
    con.execute("CREATE TABLE IF NOT EXISTS ledger.consumed (source VARCHAR NOT NULL, input VARCHAR NOT NULL, seq BIGINT)")
    con.execute("CREATE TABLE IF NOT EXISTS ledger.key_epochs (source VARCHAR NOT NULL, epoch VARCHAR NOT NULL)")
    con.execute("CREATE TABLE IF NOT EXISTS ledger.pending_keys (source VARCHAR NOT NULL, _key UBIGINT NOT NULL)")
    logged = ", ".join(f"{q(c)} {DUCKDB_TYPES[source.column(c).type]}" for c in logged_columns(source))
    # image: 'before' or 'after' the run (a record's identifiers as they were and are), 'key'
    # for the bare key; NULL in a log begun before images were told apart.
    con.execute(f"CREATE TABLE IF NOT EXISTS {changes_table(source)} (seq BIGINT NOT NULL, image VARCHAR, {logged})")
    for column, kind in [("image", "VARCHAR"), *((c, DUCKDB_TYPES[source.column(c).type]) for c in logged_columns(source))]:
        con.execute(f"ALTER TABLE {changes_table(source)} ADD COLUMN IF NOT EXISTS {q(column)} {kind}")


def key_epoch(con: duckdb.DuckDBPyConnection, source: Source) -> str:
    """What the key hashes kept in `landed.<source>` depend on: the key's columns and types,
    and the engine's hash function (probed on fixed values). Staging finds the records of a
    changed key by that hash, so when it changes (DuckDB upgraded, the key declared anew)
    the next run stages whole rather than miss what was staged under the old hashes."""
    declared = ";".join(f"{k}:{DUCKDB_TYPES[source.column(k).type]}" for k in key_columns(source))
    if not source.primary_key:  # the whole record, empty values included (see key_hash)
        declared = f"record;{declared}"
    probe = con.execute("SELECT hash('mesh', 1::BIGINT, 1.5::DOUBLE, true, DATE '2020-01-02', "
                        "TIMESTAMPTZ '2020-01-02 03:04:05+00')").fetchall()[0][0]
    return f"{declared}|{probe}"


def recorded_epoch(con: duckdb.DuckDBPyConnection, source: Source) -> str | None:
    """The key epoch of the source's last staging run (None before epochs were recorded)."""
    row = con.execute("SELECT epoch FROM ledger.key_epochs WHERE source = ?", [source.id]).fetchall()
    return row[0][0] if row else None


def record_epoch(con: duckdb.DuckDBPyConnection, source: Source, epoch: str) -> None:
    con.execute("DELETE FROM ledger.key_epochs WHERE source = ?", [source.id])
    con.execute("INSERT INTO ledger.key_epochs VALUES (?, ?)", [source.id, epoch])


@dataclass(frozen=True)
class FileVersion:
    size: int
    mtime_ns: int
    # The inode's change time: set by the system on any write, so a file rewritten with its
    # size and modification time put back still looks changed (and is compared by content).
    ctime_ns: int
    sha256: str | None = None


def quick_version(path: Path) -> FileVersion:
    st = path.lstat()
    return FileVersion(st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def staged_versions(con: duckdb.DuckDBPyConnection, source: Source) -> dict[str, FileVersion]:
    """The file versions staged for `source`, by path relative to the mesh root."""
    rows = con.execute("SELECT file, size, mtime_ns, ctime_ns, sha256 FROM ledger.files WHERE source = ?", [source.id]).fetchall()
    return {f: FileVersion(size, mtime, ctime, digest) for f, size, mtime, ctime, digest in rows}


def last_staging(con: duckdb.DuckDBPyConnection, source_id: str) -> int:
    """The sequence number of the source's last staging run (0: never staged)."""
    return con.execute("SELECT coalesce(max(seq), 0) FROM ledger.stagings WHERE source = ?", [source_id]).fetchone()[0]


def changed_at(con: duckdb.DuckDBPyConnection, source_id: str) -> int:
    """The sequence number of the last staging run that changed the source's staged rows."""
    try:
        return con.execute("SELECT coalesce(max(seq), 0) FROM ledger.stagings WHERE source = ? AND "
                           "(full_refresh OR keys_changed > 0)", [source_id]).fetchall()[0][0]
    except duckdb.CatalogException:
        return 0


def log_deleted(con: duckdb.DuckDBPyConnection, source_id: str, columns: list[str], rows: str, run: str) -> int:
    """Record staged records about to be deleted outside a staging run (retention,
    erasure) as a run `run` of their source: `rows` (SQL giving the change log's `columns`)
    go into its change log as they were, so what read them is recomputed like after any
    staging run. Returns the records logged."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_deleted AS {rows}")
    n = con.execute("SELECT count(*) FROM _mesh_deleted").fetchall()[0][0]
    if n:
        seq = last_staging(con, source_id) + 1
        listed = ", ".join(q(c) for c in columns)
        con.execute(f"INSERT INTO {changes_table(source_id.split('.')[-1])} (seq, image, {listed}) "
                    f"SELECT {seq}, 'before', * FROM _mesh_deleted")
        con.execute("INSERT INTO ledger.stagings VALUES (?, ?, ?, false, 0, 0, ?, now())", [source_id, seq, run, n])
    con.execute("DROP TABLE _mesh_deleted")
    return n


def keep_pending(con: duckdb.DuckDBPyConnection, source_id: str, where: str) -> None:
    """Before landed records matching `where` are deleted outside a staging run (retention,
    erasure): the keys other landed records still carry are audited again by the source's
    next staging run. A record quarantined as a conflict with a deleted one may now be the
    only record of its key, as a full refresh would find it. Only key hashes some surviving
    record carries are kept."""
    table = f"landed.{q(source_id.split('.')[-1])}"
    con.execute("CREATE TABLE IF NOT EXISTS ledger.pending_keys (source VARCHAR NOT NULL, _key UBIGINT NOT NULL)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_gone AS SELECT rowid AS r, _key FROM {table} WHERE ({where}) AND _key IS NOT NULL")
    con.execute(f"INSERT INTO ledger.pending_keys SELECT DISTINCT ?, _key FROM {table} "
                "WHERE _key IN (SELECT _key FROM _mesh_gone) AND rowid NOT IN (SELECT r FROM _mesh_gone)", [source_id])
    con.execute("DROP TABLE _mesh_gone")


def pending_keys(source: Source) -> str:
    """SQL: the key hashes of `source` left to audit again (see `keep_pending`)."""
    return f"SELECT _key FROM ledger.pending_keys WHERE source = {lit(source.id)}"


def consumed(con: duckdb.DuckDBPyConnection, source: Source, input_id: str) -> int:
    row = con.execute("SELECT seq FROM ledger.consumed WHERE source = ? AND input = ?", [source.id, input_id]).fetchone()
    return row[0] if row else 0


def mark_consumed(con: duckdb.DuckDBPyConnection, source: Source, input_id: str, seq: int) -> None:
    con.execute("DELETE FROM ledger.consumed WHERE source = ? AND input = ?", [source.id, input_id])
    con.execute("INSERT INTO ledger.consumed VALUES (?, ?, ?)", [source.id, input_id, seq])


def full_since(con: duckdb.DuckDBPyConnection, source_id: str, seq: int) -> bool:
    """Whether the source was staged whole (every key changed) after staging run `seq`."""
    return con.execute("SELECT count(*) FROM ledger.stagings WHERE source = ? AND seq > ? AND full_refresh",
                       [source_id, seq]).fetchone()[0] > 0


def forget(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Drop what was staged of `source`, so its next staging reads every landed file again."""
    con.execute(f"DELETE FROM {landed_table(source)}")
    con.execute("DELETE FROM ledger.files WHERE source = ?", [source.id])
    con.execute("DELETE FROM ledger.pending_keys WHERE source = ?", [source.id])


def files_sql(files: list[str]) -> str:
    return "[" + ", ".join(lit(f) for f in files) + "]"
