"""A new extraction batch for every event source of a domain, as a source system would land
it: the newest batch's rows again, with fresh primary keys and every timestamp moved
forward by the same offset, so the newest event happened now. Entity
exports (sources other sources reference) are left alone, so every reference still holds:
only primary-key columns that are free identifiers (no reference, no accepted values, not
a timestamp) get the batch's suffix; a timestamp key is made new by the shift.
Files appear atomically (written aside, then renamed), as the landing contract requires."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from platform_lib.config import MeshPaths
from platform_lib.declare.spec import Source
from platform_lib.storage.landing import COPY_OPTIONS, EXTENSIONS, landed_files, reader
from platform_lib.storage.sql import lit, q

STAMP = "%Y-%m-%dT%H:%M:%SZ"


def land_increment(paths: MeshPaths, sources: Sequence[Source], tag: str, now: datetime | None = None) -> list[Path]:
    if not tag.replace("-", "").isalnum():
        raise ValueError(f"batch tag '{tag[:20]}' may only hold letters, digits and '-'")
    stamp = (now or datetime.now(timezone.utc)).strftime(STAMP)
    referenced = {c.references.split(".")[0] for s in sources for c in s.columns if c.references}
    written = []
    con = duckdb.connect()
    for source in sources:
        suffixed = _free_key_columns(source)
        folder = paths.landing_dir(source.domain, source.name)
        newest = landed_files(source, folder).conforming[-1:] if source.name not in referenced else []
        for template in newest:
            names = [c.name for c in source.columns]
            newest_event = con.execute(f"SELECT max(TRY_CAST({q(source.event_time)} AS TIMESTAMP)) "
                                       f"FROM {reader(template, names)}").fetchall()[0][0]
            shift = f"(TIMESTAMP {lit(stamp.rstrip('Z'))} - TIMESTAMP {lit(str(newest_event))})"
            fresh = {c.name: f"coalesce(strftime(TRY_CAST({q(c.name)} AS TIMESTAMP) + {shift}, {lit(STAMP)}), {q(c.name)})"
                     for c in source.columns if c.type == "timestamp"}
            fresh |= {"extracted_at": lit(stamp)} | {k: f"{q(k)} || {lit('-' + tag)}" for k in suffixed}
            select = ", ".join(f"{fresh.get(n, q(n))} AS {q(n)}" for n in names)
            target = folder / f"part-{tag}{EXTENSIONS[source.format]}"
            aside = folder / f".part-{tag}.tmp"
            con.execute(f"COPY (SELECT {select} FROM {reader(template, names)}) TO {lit(str(aside))} "
                        f"({COPY_OPTIONS[source.format]})")
            os.replace(aside, target)
            written.append(target)
    con.close()
    return written


def _free_key_columns(source: Source) -> list[str]:
    """The key columns a new batch can suffix without breaking a reference or a rule."""
    columns = {c.name: c for c in source.columns}
    key = [columns[k] for k in source.primary_key]
    free = [c.name for c in key if c.type != "timestamp" and not c.references and not c.accepted_values]
    if not free and not any(c.type == "timestamp" for c in key):
        raise ValueError(f"{source.domain}.{source.name}: no primary-key column can be made new for a batch; "
                         "declare a free identifier or a timestamp in its primary key")
    return free
