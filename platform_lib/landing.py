"""Read a source's landing files into DuckDB, separating files whose columns drifted
from the declaration (their rows are quarantined whole, never silently reshaped)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow.parquet as pq

from platform_lib.audit import lit, q
from platform_lib.spec import Source

EXTENSIONS = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}


@dataclass(frozen=True)
class LandedFiles:
    conforming: list[Path]
    drifted: dict[Path, str]  # file -> what drifted


def landed_files(source: Source, directory: Path) -> LandedFiles:
    files = sorted(directory.glob(f"*{EXTENSIONS[source.format]}")) if directory.is_dir() else []
    expected = [c.name for c in source.columns]
    conforming, drifted = [], {}
    for f in files:
        found = header(source.format, f)
        missing = [c for c in expected if c not in found]
        extra = [c for c in found if c not in expected]
        if missing or extra:
            drifted[f] = f"missing columns {missing}, unexpected columns {extra}"
        else:
            conforming.append(f)
    return LandedFiles(conforming, drifted)


def header(fmt: str, path: Path) -> list[str]:
    if fmt == "parquet":
        return pq.read_schema(path).names
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        if fmt == "csv":
            return next(csv.reader(fh), [])
        first = fh.readline()
        return list(json.loads(first)) if first.strip() else []


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


def quarantine_drifted(
    con: duckdb.DuckDBPyConnection, source: Source, drifted: dict[Path, str], run_id: str, home: Path,
    suppressed: Callable[[list[str]], str | None] = lambda _: None,
) -> int:
    """Keep every row of a drifted file in quarantine with the drift as its reason (rows
    of erased subjects, per `suppressed`, are dropped, never kept)."""
    total = 0
    for path, what in drifted.items():
        cols = header(source.format, path)
        record = "to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in cols) + "))"
        reason = (
            f"schema drift in {path.relative_to(home)}: {what}; fix: re-export with the declared "
            f"columns or update the {source.id} declaration"
        )
        relation = scan(source, [path], home, cols)
        drop = suppressed(cols)
        if drop:
            relation = f"SELECT * FROM ({relation}) WHERE NOT ({drop})"
        con.execute(
            f"""INSERT INTO quarantine.records
            SELECT {lit(source.id)}, 'schema_drift', {lit(reason)}, {lit(run_id)}, {lit(str(path.relative_to(home)))},
                   rec, md5(CAST(rec AS VARCHAR)), now()
            FROM (SELECT {record} AS rec FROM ({relation})) v
            WHERE NOT EXISTS (SELECT 1 FROM quarantine.records qr WHERE qr.object = {lit(source.id)}
                              AND qr.rule = 'schema_drift' AND qr.record_hash = md5(CAST(v.rec AS VARCHAR)))"""
        )
        total += con.execute(f"SELECT count(*) FROM ({relation})").fetchall()[0][0]
    return total
