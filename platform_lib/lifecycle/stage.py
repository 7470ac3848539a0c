"""Stage a source: each landed file version once, and only the keys it changed.

A run lists the source's landed files and compares each with the file versions already
staged (size and modification time first, then the content hash), so an unchanged file is
never opened. A new file's records are read into `landed.<source>`; a rewritten or removed
file's earlier records leave it. The keys those records carry are the keys that changed,
with the keys whose reference (an account, a contact) changed in the source it points to.
Only the records of those keys are audited again, with the same audit a full staging
runs on everything, so a chain of runs stages exactly what one full run would.

An event source is append-only: one key with two different records is a conflict, and
both are quarantined. An entity source keeps every version of a key: the one with the
latest event time (then extraction time) is current in `staging.<source>`, and all are in
`staging.<source>_history` with `valid_from` / `valid_to`.

The whole run is one DuckDB transaction: a killed run stages nothing, and the next one
does its work again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from platform_lib.config import MeshPaths
from platform_lib.declare.identifiers import KINDS, kind_of
from platform_lib.declare.spec import VALID_FROM, VALID_TO, Source
from platform_lib.lifecycle.audit import AuditResult, audit, compared
from platform_lib.privacy.suppression import suppressed_when, withheld_text
from platform_lib.storage import failpoints, staged
from platform_lib.storage.landing import (
    MALFORMED_LINE,
    classify,
    quarantine_drifted,
    quarantine_unreadable,
    read_landed,
    refused_files,
    source_files,
)
from platform_lib.storage.quarantine import ensure_quarantine
from platform_lib.storage.sql import q
from platform_lib.storage.warehouse import table_exists

WORK = "stage_work"


@dataclass
class Staged:
    """What one staging run of a source did."""

    source: Source
    result: AuditResult
    seq: int
    full_refresh: bool
    files_staged: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_unchanged: int = 0
    landed_files: int = 0  # everything in the source's folder now, refused entries included
    drifted_files: list[str] = field(default_factory=list)
    unreadable_files: dict[str, str] = field(default_factory=dict)
    empty_files: list[str] = field(default_factory=list)
    rows_landed: int = 0
    rows_suppressed: int = 0
    drift_rows: int = 0
    malformed_rows: int = 0
    keys_changed: int = 0
    rows_reaudited: int = 0  # staged earlier, audited again with the new rows of their key
    rows_staged: int = 0
    versions: int | None = None

    def metadata(self) -> dict:
        counts = {
            **self.result.counts(),
            **self.result.accounting(withheld_before_audit=self.rows_suppressed),
            "rows_suppressed": self.rows_suppressed,
            "rows_landed": self.rows_landed,
            "files_staged": len(self.files_staged),
            "files_unchanged": self.files_unchanged,
            "files_removed": self.files_removed,
            "keys_recomputed": self.keys_changed,
            "rows_reaudited": self.rows_reaudited,
            "staging_run": self.seq,
            "full_refresh": self.full_refresh,
            "landed_files": self.landed_files,
            "drifted_files": self.drifted_files,
            "unreadable_files": self.unreadable_files,
            "empty_files": self.empty_files,
            "rows_staged": self.rows_staged,
        }
        if self.versions is not None:
            counts["versions"] = self.versions
        return counts


def identifier_carriers(source: Source) -> set[str]:
    """Columns a person or company is recognised by, also under a drifted file's names."""
    return {c.name for c in source.columns if kind_of(c)} | set(KINDS)


def stage(con: duckdb.DuckDBPyConnection, source: Source, paths: MeshPaths, run_id: str,
          full_refresh: bool = False) -> Staged:
    """Stage what landed for `source` since its last staging (everything, with
    `full_refresh` or the first time), in one transaction."""
    ensure_quarantine(con)
    staged.ensure_layout(con, source)
    con.begin()
    try:
        outcome = _stage(con, source, paths, run_id, full_refresh)
        con.execute(f"DROP TABLE IF EXISTS {WORK}.{q(source.name)}")
        failpoints.reached("stage.commit")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return outcome


def _stage(con: duckdb.DuckDBPyConnection, source: Source, paths: MeshPaths, run_id: str, full_refresh: bool) -> Staged:
    seq = staged.last_staging(con, source.id) + 1
    epoch, before = staged.key_epoch(con, source), staged.recorded_epoch(con, source)
    full = full_refresh or seq == 1 or before not in (None, epoch)
    if full:
        staged.forget(con, source)
    folder = paths.landing_dir(source.domain, source.name)
    present = {str(p.relative_to(paths.home)): p for p in source_files(folder, source.format)}
    known = staged.staged_versions(con, source)
    fresh, unchanged = _new_versions(con, source, present, known)
    outcome = Staged(source, AuditResult(source.id, 0, 0), seq, full, files_unchanged=len(unchanged),
                     files_removed=sorted(f for f in known if f not in present))

    keys = staged.key_columns(source)
    typed_keys = ", ".join(f"{staged.typed(source, k)} AS {q(k)}" for k in keys)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_changed AS SELECT NULL::UBIGINT AS _key, {typed_keys} "
                f"FROM {staged.landed_table(source)} WHERE false")
    replaced = [f for f in known if f not in present or f in fresh]
    if replaced:  # what those file versions contributed goes; their keys are audited again
        where = f"list_contains({staged.files_sql(replaced)}, _source_file)"
        con.execute(f"INSERT INTO _mesh_changed SELECT _key, {typed_keys} FROM {staged.landed_table(source)} "
                    f"WHERE {where} AND _key IS NOT NULL")
        con.execute(f"DELETE FROM {staged.landed_table(source)} WHERE {where}")
    refused = refused_files(folder, source.format)
    outcome.landed_files = len(present) + len(refused)
    _land(con, source, paths, run_id, classify(source, [present[f] for f in fresh], refused), outcome)
    con.execute(f"INSERT INTO _mesh_changed SELECT _key, {typed_keys} FROM _mesh_new WHERE _key IS NOT NULL")
    # Keys whose other records retention or erasure deleted: audited again, as a full run would.
    con.execute(f"INSERT INTO _mesh_changed SELECT _key, {typed_keys} FROM {staged.landed_table(source)} "
                f"WHERE _key IN ({staged.pending_keys(source)})")
    # Audited whole: the first run, a full refresh, or a referenced source staged whole since.
    every_key = _referenced_changes(con, source) or full
    con.execute("CREATE OR REPLACE TEMP TABLE _mesh_changed AS SELECT DISTINCT * FROM _mesh_changed")
    outcome.keys_changed = con.execute("SELECT count(*) FROM _mesh_changed").fetchone()[0]

    if every_key or outcome.keys_changed or outcome.rows_landed:
        logged = ", ".join(q(c) for c in staged.logged_columns(source))
        # The audit counts the new rows; the staged ones of the keys they touch are audited with them.
        new = "true" if full else f"list_contains({staged.files_sql(list(fresh))}, _source_file)"
        # Records compared as the audit compares them: values of their type, whatever the spelling.
        record = ", ".join(compared(source, c.name, frozenset()) for c in source.columns)
        if every_key:
            candidate = f"SELECT * EXCLUDE (_key), {new} AS _mesh_new FROM {staged.landed_table(source)}"
        else:
            match = " AND ".join(f"c.{q(k)} IS NOT DISTINCT FROM {staged.typed(source, k, 'l.')}" for k in keys)
            # A keyless record sent again is a copy of one staged before, as in a full run:
            # the staged keyless records are narrowed by one column's hash, then compared whole.
            one = compared(source, source.event_time or source.columns[0].name, frozenset())
            con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_copies AS SELECT rowid AS r FROM {staged.landed_table(source)} "
                        f"WHERE _key IS NULL AND NOT {new} AND hash({one}) IN (SELECT hash({one}) FROM _mesh_new WHERE _key IS NULL)")
            # The rows are found by key hash alone first: only the row groups holding them
            # are then read whole, not every landed record (a join reads all it projects).
            candidate = (f"SELECT * EXCLUDE (_key), {new} AS _mesh_new FROM {staged.landed_table(source)} l "
                         f"WHERE rowid IN (SELECT rowid FROM {staged.landed_table(source)} "
                         "WHERE _key IN (SELECT _key FROM _mesh_changed)) AND EXISTS "
                         f"(SELECT 1 FROM _mesh_changed c WHERE c._key = l._key AND {match}) "
                         f"UNION ALL SELECT * EXCLUDE (_key), true FROM _mesh_new WHERE _key IS NULL "
                         f"UNION ALL SELECT * EXCLUDE (_key), false FROM {staged.landed_table(source)} l "
                         f"WHERE rowid IN (SELECT r FROM _mesh_copies) AND hash({record}) IN "
                         f"(SELECT hash({record}) FROM _mesh_new WHERE _key IS NULL)")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_raw AS {candidate}")
        outcome.rows_reaudited = con.execute("SELECT count(*) FILTER (WHERE NOT _mesh_new) FROM _mesh_raw").fetchone()[0]
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {WORK}")
        work = f"{WORK}.{q(source.name)}"
        outcome.result = audit(con, _versioned(source), "_mesh_raw", work, run_id, drop_exact_duplicates=True)
        # Staged rows come from landed records only: when the changed keys had none before
        # this run (new keys of an event batch), nothing staged holds them either.
        held = bool(replaced) or outcome.rows_reaudited > 0
        _merge(con, source, work, every_key, held)
        outcome.keys_changed = con.execute("SELECT count(*) FROM _mesh_changed").fetchone()[0]
        con.execute("DROP TABLE _mesh_raw")
    for rule, rows in (("schema_drift", outcome.drift_rows), (MALFORMED_LINE, outcome.malformed_rows)):
        if rows:  # read from the files but never audited: counted here
            outcome.result.rows_in += rows
            outcome.result.violations[rule] = rows

    if every_key:  # the staging run is marked whole: every key may have changed, none is listed
        outcome.keys_changed = con.execute(f"SELECT count(DISTINCT ({', '.join(q(k) for k in keys)})) "
                                           f"FROM {source.history_table if source.evolves == 'entity' else source.table}").fetchone()[0]
    elif outcome.keys_changed:
        # Each changed key, with the identifiers its records held before and hold now: a
        # record elsewhere pointing at any of them is audited again.
        nothing = ", ".join(f"NULL AS {q(c)}" for c in staged.logged_columns(source)[len(keys):])
        con.execute(f"""INSERT INTO {staged.changes_table(source)} (seq, image, {logged}) SELECT DISTINCT {seq}, * FROM (
            SELECT 'key', {', '.join(q(k) for k in keys)}{', ' + nothing if nothing else ''} FROM _mesh_changed
            UNION ALL SELECT 'before', * FROM _mesh_before
            UNION ALL SELECT 'after', {logged} FROM ({_current(source, work)}) t
                      WHERE EXISTS (SELECT 1 FROM _mesh_changed c WHERE {_same_key(source, 't')}))""")
    _record_files(con, source, run_id, seq, fresh, outcome)
    con.execute("INSERT INTO ledger.stagings VALUES (?, ?, ?, ?, ?, ?, ?, now())",
                [source.id, seq, run_id, every_key, len(fresh), len(outcome.files_removed), outcome.keys_changed])
    staged.record_epoch(con, source, epoch)
    con.execute("DELETE FROM ledger.pending_keys WHERE source = ?", [source.id])
    outcome.rows_staged = con.execute(f"SELECT count(*) FROM {source.table}").fetchone()[0]
    if source.evolves == "entity":
        outcome.versions = con.execute(f"SELECT count(*) FROM {source.history_table}").fetchone()[0]
    for scratch in ("_mesh_changed", "_mesh_new", "_mesh_before", "_mesh_copies"):
        con.execute(f"DROP TABLE IF EXISTS {scratch}")
    return outcome


def _new_versions(con, source: Source, present: dict[str, Path], known: dict[str, staged.FileVersion]):
    """The files whose version was not staged yet (new or rewritten), and those that were.
    A file with the staged size, modification and change times is not opened; one that only
    looks changed (touched, copied) is compared by content."""
    fresh, unchanged = {}, []
    for rel, path in present.items():
        version = staged.quick_version(path)
        before = known.get(rel)
        if before and (before.size, before.mtime_ns, before.ctime_ns) == (version.size, version.mtime_ns, version.ctime_ns):
            unchanged.append(rel)
            continue
        digest = staged.content_hash(path)
        if before and before.sha256 == digest:
            con.execute("UPDATE ledger.files SET mtime_ns = ?, ctime_ns = ? WHERE source = ? AND file = ?",
                        [version.mtime_ns, version.ctime_ns, source.id, rel])
            unchanged.append(rel)
            continue
        fresh[rel] = staged.FileVersion(version.size, version.mtime_ns, version.ctime_ns, digest)
    return fresh, unchanged


def _land(con, source: Source, paths: MeshPaths, run_id: str, files, outcome: Staged) -> None:
    """Read the new file versions into `landed.<source>` (and temp `_mesh_new`): drifted
    files and malformed lines to quarantine, erased subjects withheld everywhere."""
    carriers = identifier_carriers(source)

    def suppressed(columns: list[str]) -> str | None:
        return suppressed_when(con, paths, [c for c in columns if c in carriers])

    withhold = withheld_text(con, paths)  # erased subjects are never kept, not even in quarantine
    drift_rows, drift_suppressed, drift_malformed = quarantine_drifted(con, source, files, run_id, paths.home, suppressed, withhold)
    malformed, lines_withheld = read_landed(con, source, files, paths.home, run_id, withhold)
    quarantine_unreadable(con, source, files.unreadable, paths.home, run_id)
    withheld = drift_suppressed + lines_withheld
    drop = suppressed([c.name for c in source.columns])
    if drop:  # hashed once per row
        withheld += con.execute(f"DELETE FROM _mesh_raw WHERE {drop}").fetchall()[0][0]
    con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_new AS SELECT *, {staged.key_hash(source)} AS _key FROM _mesh_raw")
    con.execute(f"INSERT INTO {staged.landed_table(source)} SELECT * FROM _mesh_new")
    con.execute("DROP TABLE _mesh_raw")
    outcome.rows_suppressed = withheld
    outcome.drift_rows, outcome.malformed_rows = drift_rows, malformed + drift_malformed
    outcome.drifted_files = [str(p.relative_to(paths.home)) for p in files.drifted]
    outcome.unreadable_files = {str(p.relative_to(paths.home)): why for p, why in files.unreadable.items()}
    outcome.empty_files = [str(p.relative_to(paths.home)) for p in files.empty]
    outcome.files_staged = [str(p.relative_to(paths.home)) for p in files.conforming]
    outcome.rows_landed = con.execute("SELECT count(*) FROM _mesh_new").fetchone()[0]


def _referenced_changes(con, source: Source) -> bool:
    """Add to `_mesh_changed` the keys of records whose reference changed: an account that
    arrived, left or became invalid in the source a record points to is audited again with
    it (a record rejected for an unknown account is staged once the account lands). True
    when every key must be audited again: a referenced source was staged whole since."""
    every_key = False
    for column in source.columns:
        if not column.references:
            continue
        table, ref_col = column.references.split(".")
        input_id = f"{source.domain}.{table}"
        if not table_exists(con, f"staging.{q(table)}"):
            raise ValueError(f"{source.id}: {column.name} references {table}, which has not been staged yet; "
                             f"stage {source.domain}.staging.{table} first (a build of the whole domain does)")
        seen, newest = staged.consumed(con, source, input_id), staged.last_staging(con, input_id)
        if newest > seen:
            tracked = ref_col in con.sql(f"SELECT * FROM {staged.changes_table(table)} LIMIT 0").columns
            if staged.full_since(con, input_id, seen) or not tracked:
                every_key = True
            elif con.execute(f"SELECT count(*) FROM {staged.changes_table(table)} WHERE seq > {seen}").fetchone()[0]:
                typed_keys = ", ".join(f"{staged.typed(source, k, 'l.')} AS {q(k)}" for k in staged.key_columns(source))
                con.execute(f"""INSERT INTO _mesh_changed SELECT l._key, {typed_keys} FROM {staged.landed_table(source)} l
                    WHERE l._key IS NOT NULL AND {staged.typed(source, column.name, 'l.')} IN
                          ({_arrived_or_left(table, ref_col, seen)})""")
        staged.mark_consumed(con, source, input_id, newest)
    return every_key


def _arrived_or_left(table: str, ref_col: str, seen: int) -> str:
    """SQL: the values of `table.ref_col` that may have appeared or gone in a staging run
    since `seen`. A value some changed record held before a run and some holds after it was
    there all along in that run (an account whose owner changed): no reference to it
    changed then. Each run is judged on its own: an account that arrived in one run and
    changed in the next arrived."""
    kept = "coalesce(bool_or(image = 'before'), false) AND coalesce(bool_or(image = 'after'), false)"
    return (f"SELECT DISTINCT {q(ref_col)} FROM (SELECT {q(ref_col)} FROM {staged.changes_table(table)} "
            f"WHERE seq > {seen} AND {q(ref_col)} IS NOT NULL GROUP BY seq, {q(ref_col)} HAVING NOT ({kept}))")


def _versioned(source: Source) -> Source:
    """What the audit holds unique: an event's key; an entity version's key and its time."""
    if source.evolves != "entity":
        return source
    return source.model_copy(update={"primary_key": (*source.primary_key, *source.version_order)})


def _merge(con, source: Source, work: str, every_key: bool, held: bool) -> None:
    """Put the audited records of the changed keys in place of the staged ones; what the
    changed keys held before stays in `_mesh_before`, for the change log. Without `held`,
    no staged row has a changed key: the new ones are only added."""
    cols = ", ".join(q(c.name) for c in source.columns)
    logged = ", ".join(q(c) for c in staged.logged_columns(source))
    targets = {source.table: _current(source, work)}
    if source.evolves == "entity":
        pk = ", ".join(q(k) for k in staged.key_columns(source))
        order = ", ".join(q(c) for c in source.version_order)
        targets[source.history_table] = (
            f"SELECT {cols}, {q(source.event_time)} AS {VALID_FROM}, "
            f"lead({q(source.event_time)}) OVER (PARTITION BY {pk} ORDER BY {order}) AS {VALID_TO} FROM {work}")
    keys = ", ".join(q(k) for k in staged.key_columns(source))
    for scratch in ("_mesh_held", "_mesh_differs"):  # keys that had staged rows; those whose rows changed
        con.execute(f"CREATE OR REPLACE TEMP TABLE {scratch} AS SELECT {keys} FROM _mesh_changed LIMIT 0")
    for target, built in targets.items():
        if every_key or not table_exists(con, target):
            con.execute(f"CREATE OR REPLACE TABLE {target} AS {built}")
            continue
        # One scan of the key columns finds the changed keys' rows; reading and deleting
        # them by rowid then touches only the row groups that hold them.
        con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_rows AS SELECT rowid AS r FROM {target} t "
                    + (f"WHERE EXISTS (SELECT 1 FROM _mesh_changed c WHERE {_same_key(source, 't')})" if held else "LIMIT 0"))
        if target == source.table:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_before AS SELECT {logged} FROM {target} "
                        "WHERE rowid IN (SELECT r FROM _mesh_rows)")
        if held:
            _note_differing(con, source, target, built)
        con.execute(f"DELETE FROM {target} WHERE rowid IN (SELECT r FROM _mesh_rows)")
        con.execute(f"INSERT INTO {target} {built}")
    if not every_key:
        # A key staged again as it was (a file rewritten with the same records, a record
        # sent again), or with no staged rows before or after (its records quarantined),
        # changed nothing: nothing that reads it is recomputed for it.
        con.execute(f"DELETE FROM _mesh_changed c WHERE CASE WHEN EXISTS (SELECT 1 FROM _mesh_held d WHERE {_same_key(source, 'd')}) "
                    f"THEN NOT EXISTS (SELECT 1 FROM _mesh_differs d WHERE {_same_key(source, 'd')}) "
                    f"ELSE NOT EXISTS (SELECT 1 FROM {work} d WHERE {_same_key(source, 'd')}) END")
        if held:
            con.execute(f"DELETE FROM _mesh_before c WHERE NOT EXISTS (SELECT 1 FROM _mesh_changed d WHERE {_same_key(source, 'd')})")
    for scratch in ("_mesh_rows", "_mesh_held", "_mesh_differs", "_mesh_was"):
        con.execute(f"DROP TABLE IF EXISTS {scratch}")


def _note_differing(con, source: Source, target: str, built: str) -> None:
    """Of the changed keys that had rows in `target` (added to `_mesh_held`), add to
    `_mesh_differs` those whose rows `built` does not put back as they were: compared
    exactly, as a multiset of whole rows in their JSON form (which tells -0 from 0, as a
    column's value does). A key that had no rows there is new or changed anyway."""
    keys = ", ".join(q(k) for k in staged.key_columns(source))
    row = "to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in con.sql(f"SELECT * FROM {target} LIMIT 0").columns) + "))"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_was AS SELECT {keys}, {row} AS _mesh_r FROM {target} "
                "WHERE rowid IN (SELECT r FROM _mesh_rows)")
    con.execute(f"INSERT INTO _mesh_held SELECT DISTINCT {keys} FROM _mesh_was")
    now = f"SELECT {keys}, {row} AS _mesh_r FROM ({built}) c WHERE EXISTS (SELECT 1 FROM _mesh_was t WHERE {_same_key(source, 't')})"
    con.execute(f"INSERT INTO _mesh_differs SELECT DISTINCT {keys} FROM "
                f"((SELECT * FROM _mesh_was EXCEPT ALL {now}) UNION ALL ({now} EXCEPT ALL SELECT * FROM _mesh_was))")


def _current(source: Source, work: str) -> str:
    """SQL: the staged records of `work` that are current (an entity's newest version per key)."""
    cols = ", ".join(q(c.name) for c in source.columns)
    if source.evolves != "entity":
        return f"SELECT {cols} FROM {work}"
    pk = ", ".join(q(k) for k in staged.key_columns(source))
    newest = ", ".join(f"{q(c)} DESC" for c in source.version_order)
    return f"SELECT {cols} FROM {work} QUALIFY row_number() OVER (PARTITION BY {pk} ORDER BY {newest}) = 1"


def _same_key(source: Source, alias: str) -> str:
    return " AND ".join(f"{alias}.{q(k)} IS NOT DISTINCT FROM c.{q(k)}" for k in staged.key_columns(source))


def _record_files(con, source: Source, run_id: str, seq: int, fresh: dict[str, staged.FileVersion], outcome: Staged) -> None:
    """Each staged file version in the ledger with what became of it; removed ones leave."""
    gone = [*outcome.files_removed, *fresh]
    if gone:
        con.execute(f"DELETE FROM ledger.files WHERE source = ? AND list_contains({staged.files_sql(gone)}, file)", [source.id])
    if not fresh:
        return
    status = {**{f: "drifted" for f in outcome.drifted_files}, **{f: "unreadable" for f in outcome.unreadable_files},
              **{f: "empty" for f in outcome.empty_files}}
    counts = dict(con.execute("SELECT _source_file, count(*) FROM _mesh_new GROUP BY ALL").fetchall())
    con.executemany("INSERT INTO ledger.files (source, file, size, mtime_ns, ctime_ns, sha256, status, rows_landed, "
                    "staged_seq, run_id, staged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                    [[source.id, rel, v.size, v.mtime_ns, v.ctime_ns, v.sha256, status.get(rel, "staged"), counts.get(rel, 0), seq, run_id]
                     for rel, v in fresh.items()])
