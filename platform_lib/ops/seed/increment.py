"""A new extraction batch, landed into an existing landing zone as its source systems would
land it (`mesh seed --increment NAME`, and the freshness benchmark's batches).

Event sources get new events: the newest batch's rows again (with `rows`, the newest events
of as many of the newest files as that takes), with fresh primary keys and
every timestamp moved forward by the same offset, so the newest event happened now. Only
primary-key columns that are free identifiers (no reference, no accepted values, not a
timestamp) get the batch's suffix; a timestamp key is made new by the shift. Entity
sources get new versions of a known share of their current records (the latest version
across the landed files), changed as `changes.py` says, with updated_at and extracted_at
now: no key is new, so every reference still holds. A source that logs an entity's moves
(`changes.MOVES`: an opportunity's stage history) gets one event per move those versions
make.

Nothing lands unless all of it can, and each file appears atomically (written aside as a
dot-file, then renamed), as the landing contract requires. The record of what landed is
`landing/_increments/NAME.json`. Same landing zone, name and time: same files."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np

from platform_lib.config import MeshPaths
from platform_lib.declare.spec import EXTRACTED, Source
from platform_lib.ops.seed.changes import CHANGES, MOVES
from platform_lib.ops.seed.evolve import evolve, summary
from platform_lib.storage.landing import COPY_OPTIONS, EXTENSIONS, landed_files, reader
from platform_lib.storage.sql import lit, q

STAMP = "%Y-%m-%dT%H:%M:%SZ"
# The scratch table of an entity's moved records: each column as it became, and the time.
AFTER, MOVED_AT = "__after", "_seed_moved_at"


class IncrementRefused(ValueError):
    """A batch that cannot land; the message says why and the fix. Nothing was written."""


def land_increment(paths: MeshPaths, sources: Sequence[Source], tag: str, now: datetime | None = None,
                   rows: int | None = None) -> list[Path]:
    """Land batch `tag` for `sources`; returns the files written."""
    landed = land_batch(paths, sources, tag, now, rows)
    return [paths.landing / f for entry in landed.values() for f in entry["files"]]


def increment(paths: MeshPaths, sources: Sequence[Source], name: str, now: datetime | None = None,
              rows: int | None = None) -> dict:
    """Land batch `name` for every source and record it in landing/_increments/NAME.json;
    with `rows`, about that many new events in all (see `land_batch`)."""
    now = _second(now)
    record_path = paths.landing / "_increments" / f"{name}.json"
    if record_path.exists():
        raise IncrementRefused(f"batch '{name}' already landed ({record_path.relative_to(paths.home)}); "
                               "give the new batch another name")
    landed = land_batch(paths, sources, name, now, rows)
    record = {
        "name": name,
        "landed_at": now.strftime(STAMP),
        "files": sum(len(e["files"]) for e in landed.values()),
        "rows": sum(e["rows"] for e in landed.values()),
        "sources": landed,
    }
    record_path.parent.mkdir(exist_ok=True)
    aside = record_path.with_name(f".{record_path.name}.tmp")
    aside.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(aside, record_path)
    return record


def land_batch(paths: MeshPaths, sources: Sequence[Source], name: str, now: datetime | None = None,
               rows: int | None = None) -> dict:
    """Land batch `name` for `sources` that have landed files; returns per source
    ("domain/name") its format, files (relative to the landing folder), rows and, for an
    entity, its `updates` as the seed's manifest counts them. With `rows`, the event
    sources together land about that many (each its share of their newest files' rows, the
    newest ones), so a batch is the same size whatever the history it lands on."""
    if not name.replace("-", "").isalnum():
        raise IncrementRefused(f"batch name '{name[:20]}' may only hold letters, digits and '-'")
    now = _second(now)
    landed = {s.id: landed_files(s, paths.landing_dir(s.domain, s.name)).conforming for s in sources}
    if not any(landed.values()):
        raise IncrementRefused(f"no landing zone to add to under {paths.landing}: write one first with `mesh seed`")
    targets = {s.id: paths.landing_dir(s.domain, s.name) / f"part-{name}{EXTENSIONS[s.format]}" for s in sources}
    clash = sorted(str(t.relative_to(paths.home)) for t in targets.values() if t.exists())
    if clash:
        raise IncrementRefused(f"batch '{name}' already landed ({clash[0]}{' and more' if len(clash) > 1 else ''}); "
                               "give the new batch another name")
    record, written = {}, []
    con = duckdb.connect()
    try:
        logs = {f"{s.domain}/{s.name}" for s in sources} & set(MOVES)
        limits = _shares(con, [s for s in sources if landed[s.id] and s.evolves != "entity"
                               and f"{s.domain}/{s.name}" not in logs], landed, rows)
        # Entities first: a source logging their moves lands the moves their versions make.
        for source in sorted((s for s in sources if landed[s.id]), key=lambda s: s.evolves != "entity"):
            aside = _aside(targets[source.id])
            if source.evolves == "entity":
                entry = _versions(con, source, landed[source.id], aside, name, now)
            elif f"{source.domain}/{source.name}" in logs:
                entry = _moves(con, source, aside, now, *MOVES[f"{source.domain}/{source.name}"])
            else:
                entry = _events(con, source, landed[source.id], aside, name, now, limits.get(source.id))
            if entry:
                written.append((aside, targets[source.id]))
                record[f"{source.domain}/{source.name}"] = entry | {
                    "format": source.format, "files": [str(targets[source.id].relative_to(paths.landing))]}
    except BaseException:
        for aside in (_aside(t) for t in targets.values()):
            aside.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    for aside, target in written:  # every file was written: now they appear, each whole
        os.replace(aside, target)
    return record


def _shares(con: duckdb.DuckDBPyConnection, sources: list[Source], landed: dict, rows: int | None) -> dict[str, int]:
    """Each event source's part of a batch of about `rows` new events, in proportion to its newest file."""
    if rows is None:
        return {}
    names = {s.id: [c.name for c in s.columns] for s in sources}
    sizes = {s.id: con.execute(f"SELECT count(*) FROM {reader(landed[s.id][-1], names[s.id])}").fetchall()[0][0]
             for s in sources}
    total = sum(sizes.values()) or 1
    return {sid: max(1, round(rows * n / total)) for sid, n in sizes.items()}


def _events(con: duckdb.DuckDBPyConnection, source: Source, files: list[Path], out: Path, tag: str, now: datetime,
            limit: int | None = None) -> dict:
    """The newest file again (or the `limit` newest events of the newest files, as many
    files as it takes), keys made new, timestamps moved so the newest event is now."""
    stamp = now.strftime(STAMP)
    suffixed = _free_key_columns(source)
    names = [c.name for c in source.columns]
    chosen = files[-1:]
    held = con.execute(f"SELECT count(*) FROM {reader(chosen[0], names)}").fetchall()[0][0] if limit else 0
    for earlier in reversed(files[:-1]):  # a smaller history's newest file may hold fewer than the batch
        if not limit or held >= limit:
            break
        chosen.insert(0, earlier)
        held += con.execute(f"SELECT count(*) FROM {reader(earlier, names)}").fetchall()[0][0]
    template = " UNION ALL BY NAME ".join(f"SELECT * FROM {reader(f, names)}" for f in chosen)
    newest_event = con.execute(f"SELECT max(TRY_CAST({q(source.event_time)} AS TIMESTAMP)) "
                               f"FROM ({template})").fetchall()[0][0]
    newest_first = f" ORDER BY TRY_CAST({q(source.event_time)} AS TIMESTAMP) DESC NULLS LAST LIMIT {int(limit)}" if limit else ""
    shift = f"(TIMESTAMP {lit(stamp.rstrip('Z'))} - TIMESTAMP {lit(str(newest_event))})"
    fresh = {c.name: f"coalesce(strftime(TRY_CAST({q(c.name)} AS TIMESTAMP) + {shift}, {lit(STAMP)}), {q(c.name)})"
             for c in source.columns if c.type == "timestamp"}
    fresh |= {EXTRACTED: lit(stamp)} | {k: f"{q(k)} || {lit('-' + tag)}" for k in suffixed}
    select = ", ".join(f"{fresh.get(n, q(n))} AS {q(n)}" for n in names)
    # Read as text first: a cast the reader would push into the file's scan is strict.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _seed_newest AS SELECT {', '.join(map(q, names))} FROM ({template})")
    batch = f"SELECT {select} FROM (SELECT * FROM _seed_newest{newest_first})"
    _write(con, batch, source, out)
    rows = con.execute(f"SELECT count(*) FROM ({batch})").fetchall()[0][0]
    con.execute("DROP TABLE _seed_newest")
    return {"rows": rows}


def _versions(con: duckdb.DuckDBPyConnection, source: Source, files: list[Path], out: Path, name: str,
              now: datetime) -> dict | None:
    """New versions of a share of the source's current records, changed now."""
    changes = CHANGES.get(f"{source.domain}/{source.name}", ())
    if not changes:
        return None  # a source the seed does not know how to change
    names = [c.name for c in source.columns]
    key = ", ".join(q(k) for k in source.primary_key)
    order = ", ".join(f"TRY_CAST({q(c)} AS TIMESTAMP) DESC NULLS LAST" for c in source.version_order)
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {reader(f, names)}" for f in files)
    current = con.sql(f"""SELECT {', '.join(q(n) for n in names)} FROM ({union})
        WHERE {' AND '.join(f'{q(k)} IS NOT NULL' for k in source.primary_key)}
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) = 1 ORDER BY {key}""").to_arrow_table()
    seed = int.from_bytes(hashlib.sha256(f"{name}/{source.id}".encode()).digest()[:8], "big")
    when = int(now.timestamp())
    versions = evolve(current, changes, source.event_time, np.random.default_rng(seed), when - 1, when)
    if not versions.table.num_rows:
        return None
    con.register("_seed_versions", versions.table)
    _write(con, "SELECT * FROM _seed_versions", source, out)
    entity = f"{source.domain}/{source.name}"
    if entity in {logged for logged, *_ in MOVES.values()}:
        # What each changed record was and became, for the source logging its moves (`_moves`).
        con.register("_seed_current", current)
        after = ", ".join(f"v.{q(n)} AS {q(n + AFTER)}" for n in names)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_moved(entity)} AS "
                    f"SELECT c.*, {after}, v.{q(source.event_time)} AS {MOVED_AT} FROM _seed_current c "
                    f"JOIN _seed_versions v USING ({key})")
        con.unregister("_seed_current")
    con.unregister("_seed_versions")
    return {"rows": versions.table.num_rows,
            "updates": summary(changes, [versions], current.num_rows, source.primary_key)}


def _moved(entity: str) -> str:
    """The scratch table of an entity's records this batch changed: as they were, and with
    `AFTER` appended to each column's name, as they became."""
    return "_seed_moved_" + entity.replace("/", "__")


def _moves(con: duckdb.DuckDBPyConnection, source: Source, out: Path, now: datetime,
           entity: str, column: str, before: str, after: str) -> dict | None:
    """One event per record of `entity` whose new version moved `column`: from its value
    before to the new one, at the new version's time; its other columns as the entity's."""
    moved = _moved(entity)
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [moved]).fetchall()[0][0]:
        return None  # the entity got no new versions in this batch
    picked = {before: q(column), after: q(column + AFTER), source.event_time: MOVED_AT, EXTRACTED: lit(now.strftime(STAMP))}
    select = ", ".join(f"{picked.get(c.name, q(c.name))} AS {q(c.name)}" for c in source.columns)
    batch = f"SELECT {select} FROM {moved} WHERE {q(column)} IS DISTINCT FROM {q(column + AFTER)}"
    rows = con.execute(f"SELECT count(*) FROM ({batch})").fetchall()[0][0]
    if not rows:
        return None
    _write(con, batch, source, out)
    return {"rows": rows}


def _write(con: duckdb.DuckDBPyConnection, select: str, source: Source, path: Path) -> None:
    con.execute(f"COPY ({select}) TO {lit(str(path))} ({COPY_OPTIONS[source.format]})")


def _aside(target: Path) -> Path:
    """Where a file is written before it lands: a dot-file, which readers never list."""
    return target.with_name(f".{target.stem}.tmp")


def _second(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)


def _free_key_columns(source: Source) -> list[str]:
    """The key columns a new batch can suffix without breaking a reference or a rule."""
    columns = {c.name: c for c in source.columns}
    key = [columns[k] for k in source.primary_key]
    free = [c.name for c in key if c.type != "timestamp" and not c.references and not c.accepted_values]
    if not free and not any(c.type == "timestamp" for c in key):
        raise ValueError(f"{source.domain}.{source.name}: no primary-key column can be made new for a batch; "
                         "declare a free identifier or a timestamp in its primary key")
    return free
