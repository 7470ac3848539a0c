"""Entity records change between exports: a source system's kinds of change, each at a known
rate per extraction batch, applied to the current version of its records.

A batch's new versions are full records (every column), each changing at least one value,
stamped with an `updated_at` after the version it supersedes and the batch's `extracted_at`.
Keys never change and no change leaves a column's accepted values or references, so
updates add no defect. The same code evolves the seed's tables and a landed zone's
current records (`mesh seed --increment`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from platform_lib.declare.spec import EXTRACTED
from platform_lib.ops.seed.render import Num, Ts, parse, render

# A table's columns as numpy arrays: labels and text as objects, numbers as numbers.
Frame = dict[str, np.ndarray]


@dataclass(frozen=True)
class Change:
    """One kind of change: `rate` of the records `eligible` for it change per batch. `apply`
    gets those records' values (`_when`: when each changes, epoch seconds) and returns the
    new values of the columns it changes, each different from the old one."""

    name: str
    rate: float
    eligible: Callable[[Frame], np.ndarray]
    apply: Callable[[Frame, np.random.Generator], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Versions:
    """One batch of new versions of a table's records."""

    table: pa.Table           # the new versions, full records in the table's column order
    before: pa.Table          # the versions they supersede, row for row
    rows: np.ndarray          # their positions in the current table
    changes: dict[str, int]   # kind of change -> records it changed
    columns: dict[str, int]   # column -> values changed

    def supersede(self, current: pa.Table) -> pa.Table:
        """The current table once these versions landed (records keep their positions)."""
        order = np.arange(current.num_rows)
        order[self.rows] = current.num_rows + np.arange(len(self.rows))
        return pa.concat_tables([current, self.table.cast(current.schema)]).take(order)


def evolve(current: pa.Table, changes: Sequence[Change], event_time: str, rng: np.random.Generator,
           since: int, until: int) -> Versions:
    """New versions of some of `current`'s records, changed in (since, until] and extracted
    at `until`. A record changes only if its current version is from `since` or before, so
    every new version is strictly later than the one it supersedes."""
    frame = {n: current.column(n).to_numpy(zero_copy_only=False) for n in current.column_names}
    previous = parse(Ts, current.column(event_time))
    settled = (previous >= 0) & (previous <= since)
    picked = {}
    for change in changes:
        pool = np.flatnonzero(settled & change.eligible(frame))
        picked[change.name] = np.sort(rng.choice(pool, round(change.rate * len(pool)), replace=False))
    rows = np.unique(np.concatenate([np.zeros(0, np.int64), *picked.values()]))
    when = since + rng.integers(1, until - since + 1, len(rows))
    work: Frame = {}  # changed columns, for `rows`
    for change in changes:
        at = np.searchsorted(rows, picked[change.name])
        view = {n: work[n][at] if n in work else v[rows[at]] for n, v in frame.items()} | {"_when": when[at]}
        for column, new in change.apply(view, rng).items():
            if column not in work:
                work[column] = frame[column][rows].copy()
            if new.dtype.kind == "f" and work[column].dtype.kind != "f":
                work[column] = parse(Num, work[column]).copy()  # numbers read back as text (CSV)
            work[column][at] = new
    columns = {}
    for name, after in sorted(work.items()):
        before = frame[name][rows]
        if after.dtype.kind == "f":
            before = parse(Num, before)
            same = (before == after) | (np.isnan(before) & np.isnan(after))
        else:
            same = before == after
        columns[name] = int((~same).sum())
    stamped = {event_time: render(Ts, when), EXTRACTED: render(Ts, np.full(len(rows), until, dtype=np.int64))}
    data = {}
    for name in current.column_names:
        if name in stamped:
            data[name] = stamped[name]
        elif name in work:
            kind = current.schema.field(name).type
            data[name] = pa.array(work[name]) if work[name].dtype.kind == "f" else pa.array(work[name], kind)
        else:
            data[name] = current.column(name).take(rows)
    return Versions(pa.table(data), current.take(rows), rows,
                    {c.name: len(picked[c.name]) for c in changes}, columns)


def summary(changes: Sequence[Change], batches: Sequence[Versions], records: int, key: Sequence[str]) -> dict:
    """What the manifest says about a source's updates, as exact counts a reader can recount
    from the landed files: the rates; the records (keys) there were and how many of them got
    new versions; the new versions landed; per kind of change the records it changed, and
    per column the values changed (a version differs from the one it supersedes)."""
    updated = set()
    for b in batches:
        updated.update(zip(*(b.table.column(k).to_pylist() for k in key)))
    total: dict[str, int] = {}
    for b in batches:
        for column, n in b.columns.items():
            total[column] = total.get(column, 0) + n
    return {
        "rates": {c.name: c.rate for c in changes},
        "records": int(records),
        "records_updated": len(updated),
        "versions": sum(b.table.num_rows for b in batches),
        "changes": {c.name: sum(b.changes[c.name] for b in batches) for c in changes},
        "columns": dict(sorted(total.items())),
    }
