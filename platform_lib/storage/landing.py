"""Read a source's landing files into DuckDB without losing a row.

A file whose columns drifted from the declaration has its rows quarantined whole, never
silently reshaped. A file that cannot be read at all (truncated, binary, another format
under this extension, not UTF-8) is kept where it landed and recorded in quarantine with
the reason. A line the reader cannot parse (wrong number of fields, bad encoding, not a
JSON object) is quarantined with the reader's reason; the rest of its file is staged.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow.parquet as pq

from platform_lib.declare.spec import Source
from platform_lib.storage.quarantine import quarantine_insert
from platform_lib.storage.sql import lit, q

EXTENSIONS = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}
FORMAT_OF = {extension: fmt for fmt, extension in EXTENSIONS.items()}
# How DuckDB writes each format back (erasure rewrites landed files; the seed lands them).
COPY_OPTIONS = {"csv": "FORMAT csv, HEADER true", "jsonl": "FORMAT json", "parquet": "FORMAT parquet"}
PARQUET_MAGIC = b"PAR1"
MAX_LINE_BYTES = 64 * 1024 * 1024
MALFORMED_LINE = "malformed_line"
UNREADABLE_FILE = "unreadable_file"
_FIX = {
    "csv": "re-export it as comma-separated UTF-8 CSV with the declared columns on every line",
    "jsonl": "re-export it as UTF-8 JSON Lines, one JSON object per line",
    "parquet": "re-export the file",
}


class Unreadable(ValueError):
    """A landed file the platform cannot read at all; the message says why and the fix."""


@dataclass(frozen=True)
class LandedFiles:
    conforming: list[Path]
    drifted: dict[Path, str]  # file -> what drifted
    unreadable: dict[Path, str] = field(default_factory=dict)  # file -> why, and the fix
    empty: list[Path] = field(default_factory=list)


def source_files(directory: Path, fmt: str) -> list[Path]:
    """A source's landed files in name order (batches are named in arrival order)."""
    return sorted(directory.glob(f"*{EXTENSIONS[fmt]}")) if directory.is_dir() else []


def domain_files(directory: Path) -> list[Path]:
    """Every landed file of any format under a domain's (or the whole) landing folder."""
    return sorted(p for p in directory.rglob("*") if p.suffix in FORMAT_OF and p.is_file()) if directory.is_dir() else []


def reader(path: Path, columns: list[str]) -> str:
    """SQL reading one landed file as text columns, whatever its format."""
    fmt = FORMAT_OF[path.suffix]
    if fmt == "csv":
        return f"read_csv({lit(str(path))}, all_varchar = true, header = true)"
    if fmt == "jsonl":
        spec = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in columns) + "}"
        return f"read_json({lit(str(path))}, format = 'newline_delimited', columns = {spec})"
    return f"read_parquet({lit(str(path))})"


def landed_files(source: Source, directory: Path) -> LandedFiles:
    files = source_files(directory, source.format)
    expected = [c.name for c in source.columns]
    found = LandedFiles([], {}, {}, [])
    for f in files:
        try:
            columns = header(source.format, f)
        except Unreadable as err:
            found.unreadable[f] = str(err)
            continue
        if not columns:
            found.empty.append(f)
            continue
        missing = [c for c in expected if c not in columns]
        extra = [c for c in columns if c not in expected]
        if missing or extra:
            found.drifted[f] = f"missing columns {missing}, unexpected columns {extra}" + _delimiter_hint(source, columns)
        else:
            found.conforming.append(f)
    return found


def header(fmt: str, path: Path) -> list[str]:
    """The file's column names ([] for an empty file); `Unreadable` says why there are none."""
    if path.stat().st_size == 0:
        return []
    with path.open("rb") as fh:
        head = fh.read(8)
    if fmt == "parquet":
        if not head.startswith(PARQUET_MAGIC):
            raise Unreadable(f"not a Parquet file (it holds {_looks_like(path)}); {_FIX['parquet']} as Parquet")
        try:
            return pq.read_schema(path).names
        except Exception as err:  # pyarrow: ArrowInvalid / OSError on a truncated or corrupt footer
            raise Unreadable(f"a truncated or corrupt Parquet file ({err}); {_FIX['parquet']}") from None
    if head.startswith(PARQUET_MAGIC) or _is_binary(path):
        raise Unreadable(f"not {fmt} text (it holds {_looks_like(path)}); {_FIX[fmt]}")
    with path.open("rb") as fh:
        lines = (fh.readline(MAX_LINE_BYTES) for _ in range(100))
        for raw in lines:
            if not raw:
                return []
            try:
                text = raw.decode("utf-8-sig").strip()
            except UnicodeDecodeError:
                raise Unreadable(f"its first line is not UTF-8 text; {_FIX[fmt]}") from None
            if not text:
                continue
            if fmt == "csv":
                return next(csv.reader([text]), [])
            try:
                record = json.loads(text)
            except ValueError:
                continue  # a malformed line; the next one may name the columns
            if isinstance(record, dict):
                return list(record)
    raise Unreadable(f"no JSON object in its first 100 lines; {_FIX[fmt]}")


def _is_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        return b"\x00" in fh.read(64 * 1024)


def _looks_like(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(8)
    for magic, kind in ((PARQUET_MAGIC, "Parquet"), (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "gzip data")):
        if head.startswith(magic):
            return kind
    if _is_binary(path):
        return "binary data"
    return "JSON text" if head.lstrip().startswith((b"{", b"[")) else "text"


def _delimiter_hint(source: Source, columns: list[str]) -> str:
    if source.format != "csv" or len(columns) != 1:
        return ""
    for delimiter, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if delimiter in columns[0]:
            return f" (the header is {name}-separated; the landing contract is comma-separated CSV)"
    return ""


def scan(source: Source, files: list[Path], home: Path, columns: list[str] | None = None) -> str:
    """SQL scanning `files` with every declared column as text plus `_source_file`
    (relative to the mesh root)."""
    names = columns or [c.name for c in source.columns]
    paths = "[" + ", ".join(lit(str(f)) for f in files) + "]"
    if source.format == "csv":
        reader = f"read_csv({paths}, all_varchar = true, header = true, filename = true)"
    elif source.format == "jsonl":
        spec = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
        reader = f"read_json({paths}, format = 'newline_delimited', columns = {spec}, filename = true)"
    else:
        reader = f"read_parquet({paths}, filename = true)"
    select = ", ".join(f"CAST({q(n)} AS VARCHAR) AS {q(n)}" for n in names)
    return f"SELECT {select}, replace(filename, {lit(str(home) + '/')}, '') AS _source_file FROM {reader}"


def read_landed(con: duckdb.DuckDBPyConnection, source: Source, files: LandedFiles, home: Path, run_id: str) -> int:
    """Stage the conforming files into temp table `_mesh_raw` (declared columns as text plus
    `_source_file`). Lines the reader cannot parse are quarantined; a file it cannot read
    moves to `files.unreadable`. Returns the number of malformed lines."""
    names = [c.name for c in source.columns]
    _text_table(con, "_mesh_raw", names)
    malformed = 0
    for path in files.conforming:
        try:
            malformed += _read_file(con, "_mesh_raw", source, path, header(source.format, path), home, run_id)
        except Unreadable as err:
            files.unreadable[path] = str(err)
    for path in files.unreadable:
        if path in files.conforming:
            files.conforming.remove(path)
    return malformed


def quarantine_unreadable(con: duckdb.DuckDBPyConnection, source: Source, unreadable: dict[Path, str], home: Path, run_id: str) -> None:
    """One quarantine record per file that could not be read: the file stays where it landed."""
    for path, why in unreadable.items():
        rel = str(path.relative_to(home))
        record = json.dumps({"file": rel, "bytes": path.stat().st_size})
        quarantine_insert(con, source.id, UNREADABLE_FILE, lit(f"{rel} is {why}" if why.startswith(("not", "a ")) else f"{rel}: {why}"),
                          run_id, lit(rel), f"CAST({lit(record)} AS JSON)", "(SELECT 1)")


def quarantine_drifted(
    con: duckdb.DuckDBPyConnection, source: Source, files: LandedFiles, run_id: str, home: Path,
    suppressed: Callable[[list[str]], str | None] = lambda _: None,
) -> tuple[int, int, int]:
    """Keep every row of a drifted file in quarantine with the drift as its reason (rows
    of erased subjects, per `suppressed`, are dropped, never kept). Returns the rows
    quarantined, the rows suppressed and the malformed lines."""
    kept = dropped = malformed = 0
    for path, what in list(files.drifted.items()):
        cols = header(source.format, path)
        _text_table(con, "_mesh_drift", cols)
        try:
            malformed += _read_file(con, "_mesh_drift", source, path, cols, home, run_id)
        except Unreadable as err:
            files.unreadable[path] = str(err)
            del files.drifted[path]
            continue
        rel = str(path.relative_to(home))
        reason = f"schema drift in {rel}: {what}; fix: re-export with the declared columns or update the {source.id} declaration"
        relation, drop = "_mesh_drift", suppressed(cols)
        if drop:
            dropped += con.execute(f"SELECT count(*) FROM _mesh_drift WHERE {drop}").fetchall()[0][0]
            relation = f"(SELECT * FROM _mesh_drift WHERE NOT ({drop}))"
        record = "to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in cols) + "))"
        quarantine_insert(con, source.id, "schema_drift", lit(reason), run_id, lit(rel), record, relation)
        kept += con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
    con.execute("DROP TABLE IF EXISTS _mesh_drift")
    return kept, dropped, malformed


def _text_table(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    cols = ", ".join(f"{q(c)} VARCHAR" for c in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({cols}, _source_file VARCHAR)")


def _read_file(con: duckdb.DuckDBPyConnection, table: str, source: Source, path: Path, columns: list[str],
               home: Path, run_id: str) -> int:
    """Append one file's rows to `table`; quarantine its malformed lines and return how many."""
    rel, fmt, file = str(path.relative_to(home)), source.format, lit(str(path))
    text = ", ".join(f"CAST({q(c)} AS VARCHAR) AS {q(c)}" for c in columns)
    rejects = (f"store_rejects = true, rejects_table = '_mesh_rejects', rejects_scan = '_mesh_reject_scans', "
               f"max_line_size = {MAX_LINE_BYTES}")
    try:
        if fmt == "parquet":
            con.execute(f"INSERT INTO {table} BY NAME SELECT {text}, {lit(rel)} AS _source_file FROM read_parquet({file})")
            return 0
        con.execute("DROP TABLE IF EXISTS _mesh_rejects")
        con.execute("DROP TABLE IF EXISTS _mesh_reject_scans")
        if fmt == "csv":
            spec = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in columns) + "}"
            con.execute(f"""INSERT INTO {table} BY NAME SELECT {text}, {lit(rel)} AS _source_file
                FROM read_csv({file}, delim = ',', quote = '"', escape = '"', header = true, auto_detect = false,
                              columns = {spec}, {rejects})""")
            bad = "SELECT line, any_value(csv_line) AS raw, string_agg(DISTINCT error_message, '; ') AS why FROM _mesh_rejects GROUP BY line"
        else:
            # Each line as text (the unit separator never appears unescaped in JSON), so a line
            # that is not a JSON object is kept with its reason instead of failing the file.
            con.execute(f"""CREATE OR REPLACE TEMP TABLE _mesh_lines AS
                SELECT _line, json_valid(_line) AND starts_with(ltrim(_line), '{{') AS ok
                FROM read_csv({file}, delim = {lit(chr(31))}, quote = '', escape = '', header = false, auto_detect = false,
                              columns = {{'_line': 'VARCHAR'}}, {rejects})
                WHERE _line IS NOT NULL AND trim(_line) <> ''""")
            paths = "[" + ", ".join(lit('$."' + c.replace('"', '\\"') + '"') for c in columns) + "]"
            picked = ", ".join(f"v[{i + 1}] AS {q(c)}" for i, c in enumerate(columns))
            con.execute(f"""INSERT INTO {table} BY NAME SELECT {picked}, {lit(rel)} AS _source_file
                FROM (SELECT json_extract_string(_line, {paths}) AS v FROM _mesh_lines WHERE ok)""")
            bad = ("SELECT line, any_value(csv_line) AS raw, string_agg(DISTINCT error_message, '; ') AS why FROM _mesh_rejects GROUP BY line "
                   "UNION ALL SELECT NULL, _line, 'not a JSON object' FROM _mesh_lines WHERE NOT ok")
    except duckdb.Error as err:
        raise Unreadable(f"not readable as {fmt} ({str(err).splitlines()[0]}); {_FIX[fmt]}") from None
    reason = f"{lit(rel + ': ')} || coalesce('line ' || line || ': ', '') || why || {lit('; fix: ' + _FIX[fmt])}"
    record = "to_json(struct_pack(line := line, text := raw))"
    quarantine_insert(con, source.id, MALFORMED_LINE, reason, run_id, lit(rel), record, f"({bad})")
    return con.execute(f"SELECT count(*) FROM ({bad})").fetchall()[0][0]
