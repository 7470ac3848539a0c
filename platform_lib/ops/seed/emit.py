"""Turn a generated table into landed files: extraction batches, injected defects, and
the manifest entry that says exactly what was injected."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from platform_lib.ops.seed.evolve import Change, Versions, evolve, summary
from platform_lib.ops.seed.render import MALFORMED, NULL, Cat, Ts, render
from platform_lib.ops.seed.writer import write_batch
from platform_lib.storage.landing import EXTENSIONS

DEFECT_RATES = {"null_key": 0.002, "duplicate_record": 0.003, "unknown_enum": 0.002,
                "malformed_timestamp": 0.002, "unknown_reference": 0.002, "late_event": 0.01}
DRIFT = ("marketing", "email_events", "occurred_at", "event_timestamp")


@dataclass(frozen=True)
class Batches:
    """Weekly extraction windows ending at as_of."""

    start: int
    width: int
    count: int

    def of(self, seconds: np.ndarray) -> np.ndarray:
        return np.clip((seconds - self.start) // self.width, 0, self.count - 1)

    def extracted_at(self, batch: int) -> int:
        return self.start + (batch + 1) * self.width


@dataclass
class Table:
    """Columns in export order: name -> (render kind, numeric values)."""

    domain: str
    name: str
    fmt: str
    columns: dict[str, tuple[object, np.ndarray]]
    primary_key: str
    event_time: str = "occurred_at"
    enum: str | None = None
    reference: str | None = None  # column that may point at an unknown record
    unknown_base: int = 900_000
    manifest: dict = field(default_factory=dict)
    on_change: Callable[[list[Versions]], None] | None = None  # what else the source system logs when records change

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))[1])


def emit_entity(table: Table, landing: Path, batches: Batches, exports: int, changes: Sequence[Change],
                rng: np.random.Generator) -> dict:
    """An entity table exported whole (part-00000, no defects) `exports` batches before the
    newest, then once per later batch the new versions of the records that changed in it
    (part-00001...). The manifest entry's `updates` counts exactly what changed."""
    first = batches.count - 1 - exports
    folder = landing / table.domain / table.name
    data = {n: render(k, v) for n, (k, v) in table.columns.items()}
    data["extracted_at"] = render(Ts, np.full(table.rows, batches.extracted_at(first), dtype=np.int64))
    current = pa.table(data)
    paths = [folder / f"part-00000{EXTENSIONS[table.fmt]}"]
    write_batch(current, paths[0], table.fmt)
    landed = []
    for b in range(first + 1, first + 1 + exports):
        versions = evolve(current, changes, table.event_time, rng, batches.extracted_at(b - 1), batches.extracted_at(b))
        if versions.table.num_rows:
            paths.append(folder / f"part-{b - first:05d}{EXTENSIONS[table.fmt]}")
            write_batch(versions.table, paths[-1], table.fmt)
        current = versions.supersede(current)
        landed.append(versions)
    if table.on_change:
        table.on_change(landed)
    entry = _entry(table, paths, landing, table.rows + sum(v.table.num_rows for v in landed), {})
    return entry | {"updates": summary(changes, landed, table.rows, [table.primary_key])}


def emit_events(table: Table, landing: Path, batches: Batches, rng: np.random.Generator, defects: bool) -> dict:
    """An event table exported in batches, with defects injected when asked."""
    occurred = table.columns[table.event_time][1]
    batch = batches.of(occurred)
    n = table.rows
    drift_batch = batches.count // 2 if (table.domain, table.name) == DRIFT[:2] else None
    counts: dict[str, int] = {}
    dup_rows = np.array([], dtype=np.int64)
    if defects:
        eligible = rng.permutation(np.flatnonzero(batch != drift_batch) if drift_batch is not None else np.arange(n))
        take = iter(np.split(eligible, np.cumsum([max(1, round(r * n)) for r in DEFECT_RATES.values()])))
        picked = dict(zip(DEFECT_RATES, take))
        table.columns[table.primary_key][1][picked["null_key"]] = NULL
        counts["null_key"] = len(picked["null_key"])
        if table.enum:
            kind, values = table.columns[table.enum]
            values[picked["unknown_enum"]] = len(kind.values)
            counts["unknown_enum"] = len(picked["unknown_enum"])
        occurred[picked["malformed_timestamp"]] = MALFORMED
        counts["malformed_timestamp"] = len(picked["malformed_timestamp"])
        if table.reference:
            ref = table.columns[table.reference][1]
            ref[picked["unknown_reference"]] = table.unknown_base + rng.integers(0, table.unknown_base // 9, len(picked["unknown_reference"]))
            counts["unknown_account" if table.reference == "account_id" else "unknown_contact"] = len(picked["unknown_reference"])
        late = picked["late_event"]
        moved = np.minimum(batch[late] + rng.integers(1, 3, len(late)), batches.count - 1)
        moved = np.where(moved == drift_batch, batch[late], moved)
        batch[late] = moved
        counts["late_event"] = int((moved > batches.of(occurred[late])).sum())
        dup_rows = picked["duplicate_record"]
        counts["duplicate_record"] = len(dup_rows)

    paths, written = [], 0
    for b in range(batches.count):
        rows = np.flatnonzero(batch == b)
        rows = np.concatenate([rows, dup_rows[batch[dup_rows] == b]])
        rows = rows[rng.permutation(len(rows))]  # exports are not in event order
        data = {name: render(kind, values[rows]) for name, (kind, values) in table.columns.items()}
        data["extracted_at"] = render(Ts, np.full(len(rows), batches.extracted_at(b), dtype=np.int64))
        if b == drift_batch:
            data = {DRIFT[3] if k == DRIFT[2] else k: v for k, v in data.items()}
            counts["schema_drift"] = len(rows)
        path = landing / table.domain / table.name / f"part-{b:05d}{EXTENSIONS[table.fmt]}"
        write_batch(pa.table(data), path, table.fmt)
        paths.append(path)
        written += len(rows)
    entry = _entry(table, paths, landing, written, counts)
    if drift_batch is not None:
        entry["schema_drift"] = {"file": str(paths[drift_batch].relative_to(landing)), "renamed": {DRIFT[2]: DRIFT[3]}}
    return entry


def _entry(table: Table, paths: list[Path], landing: Path, rows: int, defects: dict) -> dict:
    enum_kind = table.columns[table.enum][0] if table.enum else None
    return {
        "format": table.fmt,
        "files": [str(p.relative_to(landing)) for p in paths],
        "rows": int(rows),
        "defects": {k: int(v) for k, v in sorted(defects.items())},
        "columns": {
            "primary_key": table.primary_key,
            "event_time": table.event_time,
            **({"enum": table.enum, "enum_values": list(enum_kind.values)} if isinstance(enum_kind, Cat) else {}),
            **({"reference": table.reference} if table.reference else {}),
        },
    }
