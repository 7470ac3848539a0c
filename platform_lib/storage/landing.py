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
import os
import stat
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
# How DuckDB writes each format back (erasure and retention rewrite landed files; the seed lands them).
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


def landed_file(path: Path) -> bool:
    """A regular file, not a link, not hidden (`.name`: the platform's own temporary files)."""
    return not path.name.startswith(".") and stat.S_ISREG(path.lstat().st_mode)


def rewrite_without(con: duckdb.DuckDBPyConnection, path: Path, rows: str, drop: str) -> int:
    """Rewrite the landed file `path` (read by `rows`) without the rows for which `drop`
    holds, atomically: the file is replaced whole, or removed when nothing is left of it.
    Returns the rows taken out."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_landing AS SELECT *, coalesce({drop}, false) AS _mesh_drop FROM {rows}")
    try:
        removed, total = con.execute("SELECT count(*) FILTER (WHERE _mesh_drop), count(*) FROM _mesh_landing").fetchall()[0]
        if removed == total:
            path.unlink()
        elif removed:
            tmp = path.with_name(f".{path.name}.rewriting")
            con.execute(f"COPY (SELECT * EXCLUDE (_mesh_drop) FROM _mesh_landing WHERE NOT _mesh_drop) "
                        f"TO {lit(str(tmp))} ({COPY_OPTIONS[FORMAT_OF[path.suffix]]})")
            os.replace(tmp, path)
    finally:
        con.execute("DROP TABLE IF EXISTS _mesh_landing")
    return removed


def source_files(directory: Path, fmt: str) -> list[Path]:
    """A source's landed files in name order (batches are named in arrival order). Links
    and anything else that is not a regular file are never listed, so never followed."""
    if not directory.is_dir() or directory.is_symlink():
        return []
    return sorted(p for p in directory.glob(f"*{EXTENSIONS[fmt]}") if landed_file(p))


def refused_files(directory: Path, fmt: str) -> dict[Path, str]:
    """What sits in a source's folder but is not a landed file of its format: links, folders,
    devices, files of another format. Each is refused (never opened) with why and the fix."""
    if not directory.is_dir() or directory.is_symlink():
        return {}
    refused = {}
    for p in sorted(directory.iterdir()):
        if p.name.startswith((".", "_")):
            continue
        mode = p.lstat().st_mode
        if stat.S_ISLNK(mode):
            refused[p] = "a symbolic link, which the platform never follows; land the file itself, not a link to it"
        elif not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            refused[p] = f"{kind}; land regular {EXTENSIONS[fmt]} files directly in the source's folder"
        elif p.suffix != EXTENSIONS[fmt]:
            refused[p] = (f"not a {EXTENSIONS[fmt]} file (named '{p.suffix or 'without an extension'}'); this source lands "
                          f"{fmt}: rename it if it is {fmt}, or land it under the source it belongs to")
    return refused


def domain_files(directory: Path) -> list[Path]:
    """Every landed file (any name, any format) under a domain's (or the whole) landing
    folder, without following links."""
    if not directory.is_dir() or directory.is_symlink():
        return []
    found = []
    for folder, _, names in os.walk(directory, followlinks=False):
        found += [p for n in names if landed_file(p := Path(folder) / n)]
    return sorted(found)


def reader(path: Path | list[Path], columns: list[str], file_column: str | None = None) -> str:
    """SQL reading one landed file as text columns, whatever its format; or several files of
    one format and the same `columns`, each row with its file's path in `file_column`."""
    paths = path if isinstance(path, list) else [path]
    source = lit(str(paths[0])) if len(paths) == 1 else "[" + ", ".join(lit(str(p)) for p in paths) + "]"
    also = f", filename = {lit(file_column)}" if file_column else ""
    fmt = FORMAT_OF[paths[0].suffix]
    if fmt == "csv":
        return f"read_csv({source}, all_varchar = true, header = true{also})"
    if fmt == "jsonl":
        spec = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in columns) + "}"
        return f"read_json({source}, format = 'newline_delimited', columns = {spec}{also})"
    return f"read_parquet({source}{also})"


def landed_files(source: Source, directory: Path) -> LandedFiles:
    """Every landed file of `source`, sorted into what staging does with it."""
    return classify(source, source_files(directory, source.format), refused_files(directory, source.format))


def classify(source: Source, files: list[Path], refused: dict[Path, str] | None = None) -> LandedFiles:
    """Sort `files` by what staging does with them: stage, quarantine as drifted or
    unreadable, or count as empty; `refused` ones (never opened) count as unreadable."""
    expected = [c.name for c in source.columns]
    found = LandedFiles([], {}, dict(refused or {}), [])
    for f in files:
        try:
            columns = header(source.format, f)
        except Unreadable as err:
            found.unreadable[f] = str(err)
            continue
        if not columns or not _has_records(f, source.format):
            found.empty.append(f)
            continue
        missing = [c for c in expected if c not in columns]
        extra = [c for c in columns if c not in expected]
        nested = _nested_columns(f) if source.format == "parquet" else {}
        if missing or extra:
            found.drifted[f] = f"missing columns {missing}, unexpected columns {extra}" + _delimiter_hint(source, columns)
        elif nested:
            found.drifted[f] = ("nested values the declaration does not allow: "
                                + ", ".join(f"{c} is {kind}" for c, kind in nested.items()))
        else:
            found.conforming.append(f)
    return found


def _has_records(path: Path, fmt: str) -> bool:
    """Whether a file with a header holds a record: a CSV header alone, or a Parquet file of
    no rows, is an empty export (a JSON Lines file names its columns only in a record)."""
    if fmt == "parquet":
        return pq.read_metadata(path).num_rows > 0
    if fmt == "csv":
        with path.open("rb") as fh:
            lines = (line for line in fh if line.strip())
            next(lines, None)  # the header
            return next(lines, None) is not None
    return True


def _nested_columns(path: Path) -> dict[str, str]:
    """Parquet columns holding nested values (struct, list, map): no declared type is nested."""
    import pyarrow as pa

    return {f.name: str(f.type) for f in pq.read_schema(path) if pa.types.is_nested(f.type)}


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
            return _distinct(pq.read_schema(path).names, fmt)
        except Unreadable:
            raise
        except Exception as err:  # pyarrow: ArrowInvalid / OSError on a truncated or corrupt footer
            raise Unreadable(f"a truncated or corrupt Parquet file ({err}); {_FIX['parquet']}") from None
    if head.startswith(PARQUET_MAGIC) or _is_binary(path):
        raise Unreadable(f"not {fmt} text (it holds {_looks_like(path)}); {_FIX[fmt]}")
    seen = None  # what the lines before the first JSON object held
    with path.open("rb") as fh:
        lines = (fh.readline(MAX_LINE_BYTES) for _ in range(100))
        for raw in lines:
            if not raw:
                if seen is None:
                    return []  # nothing but blank lines
                raise Unreadable(f"{seen}, with no JSON object on any line; {_FIX[fmt]}")
            try:
                text = raw.decode("utf-8-sig").strip()
            except UnicodeDecodeError:
                raise Unreadable(f"its first line is not UTF-8 text; {_FIX[fmt]}") from None
            if not text:
                continue
            if fmt == "csv":
                return _distinct(next(csv.reader([text]), []), fmt)
            try:
                record = json.loads(text)
            except ValueError:
                seen = seen or "lines that are not JSON"
                continue  # a malformed line; the next one may name the columns
            if isinstance(record, dict):
                return list(record)
            seen = seen or ("a JSON array, not one JSON object per line" if isinstance(record, list)
                            else f"a top-level JSON {type(record).__name__} value, not a JSON object")
    raise Unreadable(f"{seen or 'no JSON object'} in its first 100 lines; {_FIX[fmt]}")


def _distinct(names: list[str], fmt: str) -> list[str]:
    """Column names, refused when one is repeated (a reader would keep only one of them)."""
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise Unreadable(f"a file whose header names {', '.join(repr(n) for n in repeated)} more than once; "
                         f"give every column its own name and re-export it")
    return names


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


# SQL true for text (a raw line, a record as JSON) that must never be kept: an erased
# subject's (the suppression list, applied by the privacy layer); None when nothing is.
Withhold = Callable[[str], "str | None"]


def _nothing(_: str) -> None:
    return None


def read_landed(con: duckdb.DuckDBPyConnection, source: Source, files: LandedFiles, home: Path, run_id: str,
                withhold: Withhold = _nothing) -> tuple[int, int]:
    """Stage the conforming files into temp table `_mesh_raw` (declared columns as text plus
    `_source_file`). Lines the reader cannot parse are quarantined, unless `withhold` holds
    them back; a file it cannot read moves to `files.unreadable`. Returns the malformed lines
    quarantined and those withheld."""
    names = [c.name for c in source.columns]
    _text_table(con, "_mesh_raw", names)
    malformed = withheld = 0
    for path in files.conforming:
        try:
            kept, held = _read_file(con, "_mesh_raw", source, path, header(source.format, path), home, run_id, withhold)
            malformed, withheld = malformed + kept, withheld + held
        except Unreadable as err:
            files.unreadable[path] = str(err)
    for path in files.unreadable:
        if path in files.conforming:
            files.conforming.remove(path)
    return malformed, withheld


def quarantine_unreadable(con: duckdb.DuckDBPyConnection, source: Source, unreadable: dict[Path, str], home: Path, run_id: str) -> None:
    """One quarantine record per file that could not be read: the file stays where it landed."""
    for path, why in unreadable.items():
        rel = str(path.relative_to(home))
        record = json.dumps({"file": rel, "bytes": path.lstat().st_size})
        quarantine_insert(con, source.id, UNREADABLE_FILE, lit(f"{rel} is {why}" if why.startswith(("not", "a ")) else f"{rel}: {why}"),
                          run_id, lit(rel), f"CAST({lit(record)} AS JSON)", "(SELECT 1)")


def quarantine_drifted(
    con: duckdb.DuckDBPyConnection, source: Source, files: LandedFiles, run_id: str, home: Path,
    suppressed: Callable[[list[str]], str | None] = lambda _: None, withhold: Withhold = _nothing,
) -> tuple[int, int, int]:
    """Keep every row of a drifted file in quarantine with the drift as its reason (rows
    of erased subjects, by column per `suppressed` or anywhere in the record per `withhold`,
    are dropped, never kept). Returns the rows quarantined, the rows withheld and the
    malformed lines."""
    kept = dropped = malformed = 0
    for path, what in list(files.drifted.items()):
        cols = header(source.format, path)
        _text_table(con, "_mesh_drift", cols)
        try:
            bad, held = _read_file(con, "_mesh_drift", source, path, cols, home, run_id, withhold)
            malformed, dropped = malformed + bad, dropped + held
        except Unreadable as err:
            files.unreadable[path] = str(err)
            del files.drifted[path]
            continue
        rel = str(path.relative_to(home))
        reason = f"schema drift in {rel}: {what}; fix: re-export with the declared columns or update the {source.id} declaration"
        record = "to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in cols) + "))"
        relation = "_mesh_drift"
        drop = " OR ".join(f"coalesce({w}, false)" for w in (suppressed(cols), withhold(record)) if w)
        if drop:
            dropped += con.execute(f"SELECT count(*) FROM _mesh_drift WHERE {drop}").fetchall()[0][0]
            relation = f"(SELECT * FROM _mesh_drift WHERE NOT ({drop}))"
        quarantine_insert(con, source.id, "schema_drift", lit(reason), run_id, lit(rel), record, relation)
        kept += con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
    con.execute("DROP TABLE IF EXISTS _mesh_drift")
    return kept, dropped, malformed


def _text_table(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    cols = ", ".join(f"{q(c)} VARCHAR" for c in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({cols}, _source_file VARCHAR)")


def _read_file(con: duckdb.DuckDBPyConnection, table: str, source: Source, path: Path, columns: list[str],
               home: Path, run_id: str, withhold: Withhold = _nothing) -> tuple[int, int]:
    """Append one file's rows to `table`; quarantine its malformed lines (but those
    `withhold` holds back). Returns the lines quarantined and the lines withheld."""
    rel, fmt, file = str(path.relative_to(home)), source.format, lit(str(path))
    nested = _nested_columns(path) if fmt == "parquet" else {}
    # Nested Parquet values (only ever in a drifted file) are kept as JSON, not as a repr.
    text = ", ".join(f"CAST({'to_json(' + q(c) + ')' if c in nested else q(c)} AS VARCHAR) AS {q(c)}" for c in columns)
    rejects = (f"store_rejects = true, rejects_table = '_mesh_rejects', rejects_scan = '_mesh_reject_scans', "
               f"max_line_size = {MAX_LINE_BYTES}")
    try:
        if fmt == "parquet":
            con.execute(f"INSERT INTO {table} BY NAME SELECT {text}, {lit(rel)} AS _source_file FROM read_parquet({file})")
            return 0, 0
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
            # A declared column holding an object or an array is not a value the declaration allows.
            paths = "[" + ", ".join(lit('$."' + c.replace('"', '\\"') + '"') for c in columns) + "]"
            con.execute(f"""CREATE OR REPLACE TEMP TABLE _mesh_lines AS
                SELECT _line, CASE WHEN NOT (json_valid(_line) AND starts_with(ltrim(_line), '{{')) THEN 'not a JSON object'
                                   WHEN list_has_any(json_type(_line, {paths}), ['OBJECT', 'ARRAY'])
                                   THEN 'a nested value (JSON object or array) where the declaration has a single value'
                              END AS why
                FROM read_csv({file}, delim = {lit(chr(31))}, quote = '', escape = '', header = false, auto_detect = false,
                              columns = {{'_line': 'VARCHAR'}}, {rejects})
                WHERE _line IS NOT NULL AND trim(_line) <> ''""")
            picked = ", ".join(f"v[{i + 1}] AS {q(c)}" for i, c in enumerate(columns))
            con.execute(f"""INSERT INTO {table} BY NAME SELECT {picked}, {lit(rel)} AS _source_file
                FROM (SELECT json_extract_string(_line, {paths}) AS v FROM _mesh_lines WHERE why IS NULL)""")
            bad = ("SELECT line, any_value(csv_line) AS raw, string_agg(DISTINCT error_message, '; ') AS why FROM _mesh_rejects GROUP BY line "
                   "UNION ALL SELECT NULL, _line, why FROM _mesh_lines WHERE why IS NOT NULL")
    except duckdb.Error as err:
        raise Unreadable(f"not readable as {fmt} ({str(err).splitlines()[0]}); {_FIX[fmt]}") from None
    reason = f"{lit(rel + ': ')} || coalesce('line ' || line || ': ', '') || why || {lit('; fix: ' + _FIX[fmt])}"
    record = "to_json(struct_pack(line := line, text := raw))"
    withheld, drop = 0, withhold("raw")
    if drop:  # an erased subject's line is never kept, not even in quarantine
        con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_bad AS SELECT *, coalesce({drop}, false) AS _held FROM ({bad})")
        withheld = con.execute("SELECT count(*) FROM _mesh_bad WHERE _held").fetchall()[0][0]
        bad = "SELECT * EXCLUDE (_held) FROM _mesh_bad WHERE NOT _held"
    quarantine_insert(con, source.id, MALFORMED_LINE, reason, run_id, lit(rel), record, f"({bad})")
    return con.execute(f"SELECT count(*) FROM ({bad})").fetchall()[0][0], withheld


def unknown_folders(landing: Path, declared: dict[str, set[str]], domains: set[str] | None = None) -> list[str]:
    """Landing folders no declared source reads, each a short message with the fix: a folder
    for an unknown domain, or for an unknown source of a known domain. `declared` maps each
    domain to its source names; `domains` narrows the report to those domains."""
    if not landing.is_dir():
        return []
    found = []
    for folder in sorted(p for p in landing.iterdir() if not p.name.startswith((".", "_"))):
        if domains is not None and folder.name not in domains:
            continue
        if folder.name not in declared:
            if folder.is_dir():
                found.append(f"landing/{folder.name}/ is not a domain of the mesh ({', '.join(sorted(declared))}); its files "
                             f"are not staged: move them under their domain's folder, or add the domain (`mesh scaffold domain`)")
            continue
        for source in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            if source.name not in declared[folder.name]:
                found.append(f"landing/{folder.name}/{source.name}/ is not a declared source of {folder.name} "
                             f"({', '.join(sorted(declared[folder.name]))}); its files are not staged: declare the source "
                             f"in domains/{folder.name}/sources.py, or move the files to the source they belong to")
    return found
