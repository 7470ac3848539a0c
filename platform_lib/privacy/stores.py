"""Every store the platform owns, and how to find, remove and physically purge a subject's
records in each: landing files, a domain's DuckDB warehouse (staging, build tables, port
copies, quarantine) and Delta output ports with all their retained versions.

Matching is by salted hash (`keys.sql_digest`) over the columns that carry identifiers;
`carriers` maps those column names to their identifier kind. `Store` names one store.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
from deltalake import CommitProperties, DeltaTable, write_deltalake

from platform_lib.config import MeshPaths
from platform_lib.privacy.keys import sql_digest, sql_text_match, text_digests
from platform_lib.storage.landing import FORMAT_OF, MAX_LINE_BYTES, Unreadable, header, landed_file, reader, rewrite_without
from platform_lib.storage.ports import OutputPort, drop_change_feed
from platform_lib.storage.sql import lit, q

KEYS = "_mesh_erase_keys"


# ---- naming a store --------------------------------------------------------------------

StoreKind = Literal["landing", "warehouse", "port", "history"]


@dataclass(frozen=True)
class Store:
    """One store of a domain: a landing file, a warehouse table, or a port folder (`port`
    when its current version holds the subject, `history` when only older versions do).

    Erasure requests record stores by `str(store)` (`landing:landing/<domain>/<file>`,
    `warehouse:<domain>.duckdb:<schema>.<table>`, `port:<domain>/<product>/v<N>`,
    `history:...`), and `mesh erase` shows that form: it is on disk in existing requests,
    so `__str__` and `parse` are its only writer and reader and must keep it as it is."""

    kind: StoreKind
    domain: str
    name: str  # landing: the file under the domain's landing folder; warehouse: `schema.table`; else `<product>/v<N>`

    @classmethod
    def landing(cls, paths: MeshPaths, file: Path) -> Store:
        domain, *rest = file.relative_to(paths.landing).parts
        return cls("landing", domain, "/".join(rest))

    @classmethod
    def table(cls, domain: str, table: str) -> Store:
        return cls("warehouse", domain, table)

    @classmethod
    def port(cls, paths: MeshPaths, folder: Path, current: bool = True) -> Store:
        domain, *rest = folder.relative_to(paths.products).parts
        return cls("port" if current else "history", domain, "/".join(rest))

    @classmethod
    def parse(cls, key: str) -> Store:
        kind, _, where = key.partition(":")
        if kind == "landing" and where.startswith("landing/"):
            domain, _, name = where.removeprefix("landing/").partition("/")
        elif kind == "warehouse":
            domain, _, name = where.partition(".duckdb:")
        elif kind in ("port", "history"):
            domain, _, name = where.partition("/")
        else:
            domain = name = ""
        if not (domain and name):
            raise ValueError(f"'{key}' names no store (landing:, warehouse:, port: or history:)")
        return cls(kind, domain, name)

    def __str__(self) -> str:
        if self.kind == "landing":
            return f"landing:landing/{self.domain}/{self.name}"
        if self.kind == "warehouse":
            return f"warehouse:{self.domain}.duckdb:{self.name}"
        return f"{self.kind}:{self.domain}/{self.name}"

    @property
    def product(self) -> str:
        """A port's product name (`port` and `history` only)."""
        return self.name.rsplit("/", 1)[0]

    def path(self, paths: MeshPaths) -> Path:
        """The landing file or port folder (`landing`, `port` and `history` only)."""
        return (paths.landing if self.kind == "landing" else paths.products) / self.domain / self.name


@dataclass(frozen=True)
class Matcher:
    """Recognises the subject's rows: its identifier hashes, the salt, the carrier columns,
    and the literals every identifier of the subject holds (`keys.literal_of`; None: unknown,
    every text is searched)."""

    salt: str
    hashes: frozenset[str]
    carriers: dict[str, str]
    literals: frozenset[str] | None = None

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {KEYS} AS SELECT unnest(?::VARCHAR[]) AS h", [sorted(self.hashes)])

    def where(self, columns: list[str], relation: str | None = None) -> str | None:
        """SQL: whether a row holds one of the subject's identifiers in a carrier column.
        With the `relation` the columns are read from (a table, or one cheap to read again),
        each distinct value is hashed once rather than each row's (a table of events holds
        few people many times)."""
        found = [c for c in columns if c in self.carriers]
        if not found:
            return None
        return " OR ".join(self.is_subject(c, relation) for c in found)

    def is_subject(self, column: str, relation: str | None = None) -> str:
        """SQL: whether the value of carrier `column` is one of the subject's identifiers."""
        if relation is None:
            return f"coalesce({sql_digest(self.salt, q(column))} IN (SELECT h FROM {KEYS}), false)"
        # Compared as bytes: a collation would make values the hash tells apart equal.
        value = f"encode(CAST({q(column)} AS VARCHAR))"
        held = (f"SELECT _mesh_v FROM (SELECT DISTINCT {value} AS _mesh_v FROM {relation}) "
                f"WHERE {sql_digest(self.salt, 'decode(_mesh_v)')} IN (SELECT h FROM {KEYS})")
        return f"coalesce({value} IN ({held}), false)"

    def text(self, expr: str) -> str:
        """For what is kept as text (quarantined records, unparsed lines): any identifier-shaped
        token in it that is one of the subject's."""
        return sql_text_match(self.salt, expr, KEYS, self.literals)

    def where_json(self, record: str) -> str:
        """For quarantine: the original record is JSON, whatever its columns were."""
        return " OR ".join(
            f"coalesce({sql_digest(self.salt, f'json_extract_string({record}, {lit(c)})')} IN (SELECT h FROM {KEYS}), false)"
            for c in sorted(self.carriers)
        )


# ---- landing files ---------------------------------------------------------------------
#
# A landed file is searched by content, whatever state it is in: every line of a CSV or
# JSON Lines file as text (so unparsed lines and drifted columns are covered), every row of
# a Parquet file over its carrier columns and the text of its other columns; a file no
# reader can open is read as raw bytes. Matching lines are removed; what parses by column
# is also matched by its carrier columns.

_NOT_TEXT = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT",
             "DOUBLE", "FLOAT", "DECIMAL", "BOOLEAN", "DATE", "TIME", "TIMESTAMP", "INTERVAL", "BLOB")


def _lines_sql(path: Path | str, listed: bool = False) -> str:
    """Every line of a file (or, `listed`, of a SQL list of files, each line with its file
    in `_mesh_file`) as text, nothing sniffed."""
    source = path if listed else lit(str(path))
    also = ", filename = '_mesh_file'" if listed else ""
    return (f"read_csv({source}, delim = {lit(chr(31))}, quote = '', escape = '', header = false, "
            f"auto_detect = false, columns = {{'_line': 'VARCHAR'}}, max_line_size = {MAX_LINE_BYTES}{also})")


def _parquet_text(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[str], str]:
    """A Parquet file's column names, and SQL for the text of its non-numeric columns."""
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({lit(str(path))})").fetchall()
    text = [q(name) for name, kind, *_ in described if not str(kind).upper().startswith(_NOT_TEXT)]
    return [name for name, *_ in described], ("concat_ws(' ', " + ", ".join(f"CAST({c} AS VARCHAR)" for c in text) + ")"
                                              if text else "NULL")


def _by_column(con: duckdb.DuckDBPyConnection, matcher: Matcher, path: Path) -> int:
    """Rows matched by carrier column, for a file that parses by column (0 otherwise)."""
    try:
        columns = header(FORMAT_OF[path.suffix], path)
        where = matcher.where(columns)
        if not where:
            return 0
        return con.execute(f"SELECT count(*) FROM {reader(path, columns)} WHERE {where}").fetchall()[0][0]
    except (Unreadable, duckdb.Error, UnicodeError):
        return 0


def _by_text(con: duckdb.DuckDBPyConnection, matcher: Matcher, path: Path) -> int:
    """Lines (CSV, JSON Lines) or rows (Parquet) whose text holds the subject; raw bytes when
    no reader can open the file."""
    fmt = FORMAT_OF.get(path.suffix)
    try:
        if fmt == "parquet":
            columns, text = _parquet_text(con, path)
            where = " OR ".join(w for w in (matcher.text(text), matcher.where(columns)) if w)
            return con.execute(f"SELECT count(*) FROM read_parquet({lit(str(path))}) WHERE {where}").fetchall()[0][0]
        if fmt in ("csv", "jsonl"):
            return con.execute(f"SELECT count(*) FROM {_lines_sql(path)} WHERE {matcher.text('_line')}").fetchall()[0][0]
    except duckdb.Error:
        pass
    return sum(1 for _ in _raw_lines(matcher, path, matching=True))


def _raw_lines(matcher: Matcher, path: Path, matching: bool):
    """The file's lines as bytes (each with its line end) that hold the subject (`matching`)
    or do not."""
    with path.open("rb") as fh:
        for raw in fh:
            hit = bool(text_digests(matcher.salt, raw.decode("utf-8", errors="replace"), matcher.literals) & matcher.hashes)
            if hit == matching:
                yield raw


def _is_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        return b"\x00" in fh.read(64 * 1024)


def fingerprint(path: Path) -> str:
    """What tells a file's content has not changed: its size and a hash of its bytes. File
    times cannot: a write through a memory map leaves them, and coarse clocks repeat them.
    Hashing reads the file at disk speed, far faster than searching it for the subject."""
    digest = hashlib.blake2b(digest_size=32)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return f"{path.stat().st_size}:{digest.hexdigest()}"


def landing_matches(con: duckdb.DuckDBPyConnection, matcher: Matcher, path: Path) -> int:
    """Records of the subject in a landed file, whatever it holds (never fails on content)."""
    if not landed_file(path):
        return 0
    return max(_by_text(con, matcher, path), _by_column(con, matcher, path))


def landing_matches_all(con: duckdb.DuckDBPyConnection, matcher: Matcher, paths: list[Path]) -> dict[Path, int]:
    """`landing_matches` of each file. The lines of all CSV and JSON Lines files are read in
    one query (the lines reader sniffs nothing, so each file reads as it does alone); if any
    file fails it, each is read alone. Their records are matched by column a group of files
    with the same columns at a time (`_by_column_all`). A Parquet file's text search already
    matches its carrier columns."""
    files = {p for p in paths if landed_file(p)}
    lined = [p for p in paths if p in files and FORMAT_OF.get(p.suffix) in ("csv", "jsonl")]
    by_text = {p: 0 for p in lined}
    if lined:
        sources = "[" + ", ".join(lit(str(p)) for p in lined) + "]"
        try:
            counted = con.execute(f"SELECT _mesh_file, count(*) FROM {_lines_sql(sources, listed=True)} "
                                  f"WHERE {matcher.text('_line')} GROUP BY _mesh_file").fetchall()
            by_text |= {Path(name): n for name, n in counted}
        except duckdb.Error:
            by_text = {p: _by_text(con, matcher, p) for p in lined}
    by_column = _by_column_all(con, matcher, lined)
    return {p: max(by_text[p], by_column[p]) if p in by_text else _by_text(con, matcher, p) if p in files else 0
            for p in paths}


def _by_column_all(con: duckdb.DuckDBPyConnection, matcher: Matcher, paths: list[Path]) -> dict[Path, int]:
    """`_by_column` of each CSV or JSON Lines file. Files of one format whose header names the
    same columns are read in one query; when it fails, each is read alone, as `_by_column`."""
    counts, groups = {}, {}
    for p in paths:
        try:
            columns = header(FORMAT_OF[p.suffix], p)
        except (Unreadable, UnicodeError):
            counts[p] = 0
            continue
        if matcher.where(columns):
            groups.setdefault((FORMAT_OF[p.suffix], tuple(columns)), []).append(p)
        else:
            counts[p] = 0
    for (_, columns), files in groups.items():
        try:
            counted = con.execute(f"SELECT _mesh_file, count(*) FROM {reader(files, list(columns), '_mesh_file')} "
                                  f"WHERE {matcher.where(list(columns))} GROUP BY _mesh_file").fetchall()
            counts |= dict.fromkeys(files, 0) | {Path(name): n for name, n in counted}
        except duckdb.Error:
            counts |= {p: _by_column(con, matcher, p) for p in files}
    return counts


def rewrite_landing_file(con: duckdb.DuckDBPyConnection, matcher: Matcher, path: Path, known: bool = False) -> int:
    """Rewrite the file without the subject's records (atomically); a file left without
    records is removed. Rows are matched by carrier column where the file parses, then any
    line still holding the subject as text goes too. A file no reader can open and that
    holds the subject as text is removed whole (it was never staged; quarantine records it)."""
    if not landed_file(path):
        return 0
    removed = _rewrite_by_column(con, matcher, path) if known or _by_column(con, matcher, path) else 0
    if not path.exists() or not _by_text(con, matcher, path):
        return removed
    fmt = FORMAT_OF.get(path.suffix)
    if fmt == "parquet":
        try:
            columns, text = _parquet_text(con, path)
            where = " OR ".join(w for w in (matcher.text(text), matcher.where(columns)) if w)
            return removed + rewrite_without(con, path, f"read_parquet({lit(str(path))})", where)
        except duckdb.Error:
            pass
    if fmt == "parquet" or _is_binary(path):
        hits = _by_text(con, matcher, path)
        path.unlink()
        return removed + hits
    tmp = path.with_name(f".{path.name}.erasing")
    hits = sum(1 for _ in _raw_lines(matcher, path, matching=True))
    with tmp.open("wb") as out:
        out.writelines(_raw_lines(matcher, path, matching=False))
    kept = [line for line in tmp.read_bytes().splitlines() if line.strip()]
    if len(kept) <= (1 if fmt == "csv" else 0):  # nothing but a header is left
        tmp.unlink()
        path.unlink()
    else:
        os.replace(tmp, path)
    return removed + hits


def _rewrite_by_column(con: duckdb.DuckDBPyConnection, matcher: Matcher, path: Path) -> int:
    try:
        columns = header(FORMAT_OF[path.suffix], path)
        where = matcher.where(columns)
        return rewrite_without(con, path, reader(path, columns), where) if where else 0
    except (Unreadable, duckdb.Error, UnicodeError):
        return 0  # the text pass covers it


# ---- a domain's DuckDB warehouse -------------------------------------------------------


def tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, list[str]]]:
    rows = con.execute(
        """SELECT t.table_schema, t.table_name, list(c.column_name ORDER BY c.ordinal_position)
        FROM information_schema.tables t JOIN information_schema.columns c
          ON c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.table_catalog = t.table_catalog
        WHERE t.table_type = 'BASE TABLE' AND t.table_catalog = current_database()
        GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    return [(s, t, cols) for s, t, cols in rows]


def warehouse_matches(con: duckdb.DuckDBPyConnection, matcher: Matcher, delete: bool = False) -> dict[str, int]:
    """Rows of the subject per table (quarantine included); deleted when `delete`."""
    found = {}
    for schema, table, columns in tables(con):
        name = f"{q(schema)}.{q(table)}"
        if (schema, table) == ("quarantine", "records"):  # by column, and by content: drifted names, raw lines
            where = f"{matcher.where_json('record')} OR {matcher.text('record')} OR {matcher.text('reason')}"
        else:
            where = matcher.where(columns, name)
        if not where:
            continue
        n = con.execute(f"SELECT count(*) FROM {name} WHERE {where}").fetchall()[0][0]
        if n:
            found[f"{schema}.{table}"] = n
            if delete:
                con.execute(f"DELETE FROM {name} WHERE {where}")
    return found


# ---- Delta output ports ----------------------------------------------------------------


def port_matches(con: duckdb.DuckDBPyConnection, matcher: Matcher, folder: Path) -> int:
    """Rows of the subject in the port's current version."""
    table = DeltaTable(str(folder)).to_pyarrow_table()
    where = matcher.where(table.column_names, "_mesh_port")
    if not where:
        return 0
    con.register("_mesh_port", table)
    try:
        return con.execute(f"SELECT count(*) FROM _mesh_port WHERE {where}").fetchall()[0][0]
    finally:
        con.unregister("_mesh_port")


def erase_port_rows(con: duckdb.DuckDBPyConnection, matcher: Matcher, folder: Path, request_id: str) -> int:
    """Commit a version without the subject's rows. The predicate stays in the engine, so
    the Delta log never records the identifier."""
    dt = DeltaTable(str(folder))
    table = dt.to_pyarrow_table()
    where = matcher.where(table.column_names, "_mesh_port")
    if not where:
        return 0
    con.register("_mesh_port", table)
    try:
        removed = con.execute(f"SELECT count(*) FROM _mesh_port WHERE {where}").fetchall()[0][0]
        if removed:
            kept = con.sql(f"SELECT * FROM _mesh_port WHERE NOT ({where})").to_arrow_table()
            kept = kept.cast(table.schema)
            write_deltalake(str(folder), kept, mode="overwrite",
                            commit_properties=CommitProperties(custom_metadata={"mesh.erasure": request_id}))
    finally:
        con.unregister("_mesh_port")
    return removed


def purge_history(folder: Path) -> int:
    """Keep only the current version: remove every data file and log entry older than it,
    so no time travel reaches erased data. Returns the number of files removed."""
    # The commits below change no rows: they carry the last data commit's record (its
    # fingerprint, batch and masking), whose log entry the cleanup removes.
    port = OutputPort(folder)
    removed = len(port.vacuum(0))
    removed += drop_change_feed(folder, 0)
    before = set((folder / "_delta_log").iterdir())
    port.set_properties({"delta.logRetentionDuration": "interval 0 days"})
    DeltaTable(str(folder)).create_checkpoint()
    # Log cleanup only drops entries behind a checkpoint older than the cutoff: let the
    # checkpoint just written age past "now" before cleaning.
    time.sleep(0.05)
    DeltaTable(str(folder)).cleanup_metadata()
    port.set_properties({"delta.logRetentionDuration": "interval 30 days"})
    return removed + len(before - set((folder / "_delta_log").iterdir()))


def port_files_matches(con: duckdb.DuckDBPyConnection, matcher: Matcher, folder: Path) -> int:
    """Verification: the subject in ANY data file in the folder (referenced or not) or in
    the column statistics of any log entry."""
    found = 0
    for f in sorted(folder.rglob("*.parquet")):
        if f.parent.name == "_delta_log":
            continue
        data = f"read_parquet({lit(str(f))})"
        columns = [name for name, *_ in con.execute(f"DESCRIBE SELECT * FROM {data}").fetchall()]  # a struct's fields are not columns
        where = matcher.where(columns, data)
        if where:
            found += con.execute(f"SELECT count(*) FROM {data} WHERE {where}").fetchall()[0][0]
    for entry in sorted((folder / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            stats = json.loads(line).get("add", {}).get("stats")
            if stats:
                values = json.loads(stats)
                bounds = [v for k in ("minValues", "maxValues") for c, v in values.get(k, {}).items() if c in matcher.carriers]
                found += _matching_values(con, matcher, bounds)
    return found


def _matching_values(con: duckdb.DuckDBPyConnection, matcher: Matcher, values: list) -> int:
    if not values:
        return 0
    return con.execute(
        f"SELECT count(*) FROM (SELECT unnest(?::VARCHAR[]) AS v) WHERE {sql_digest(matcher.salt, 'v')} IN (SELECT h FROM {KEYS})",
        [[str(v) for v in values]],
    ).fetchall()[0][0]
