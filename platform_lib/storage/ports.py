"""Output ports: each product version is a Delta Lake table at
`<home>/products/<domain>/<product>/v<major>`.

Delta gives atomic commits (a failed publish never leaves a half-written product),
versions, a change data feed, and a format every consumer engine reads. Consumers read
ports only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from platform_lib.config import MeshPaths
from platform_lib.declare.spec import DataProduct
from platform_lib.declare.types import ARROW_TYPES
from platform_lib.storage import failpoints
from platform_lib.storage.sql import q

if TYPE_CHECKING:  # pyarrow.dataset imports pandas: about 0.3 s no load needs
    import pyarrow.dataset as ds

FINGERPRINT = "mesh.fingerprint"
# Commits that change no row of the port: file maintenance and table properties.
NO_DATA_CHANGE = frozenset({"VACUUM START", "VACUUM END", "OPTIMIZE", "SET TBLPROPERTIES"})
# On a commit of those: the version of the data commit whose record it carries (`OutputPort.carried`).
STANDS_FOR = "mesh.stands_for"
BATCH = "mesh.batch"
NO_ROWS = "false"  # a condition no row meets: a replace with nothing to replace


class ProductNotPublished(LookupError):
    pass


@dataclass(frozen=True)
class Publication:
    path: Path
    delta_version: int
    rows: int
    fingerprint: str
    changed: bool
    inserted: int | None = None  # of a replace: the rows it wrote and the rows it took out
    deleted: int | None = None


CLASSIFICATION, MASKING_OF = "mesh.classification", "mesh.masking"


def arrow_schema(product: DataProduct) -> pa.Schema:
    """The port's schema. Each column carries its description and classification, and a
    PII column how it is masked: the data says what in it is personal, for any reader."""
    masks = product.pii_masks
    return pa.schema([
        pa.field(c.name, ARROW_TYPES[c.type], nullable=True, metadata={
            "description": c.description, CLASSIFICATION: c.classification,
            **({MASKING_OF: masks[c.name]} if c.name in masks else {})})
        for c in product.columns
    ])


def port_properties(product: DataProduct) -> dict[str, str]:
    """Every port's table properties: a change data feed, so a consumer reads only what
    changed since the version it last read; and column statistics for the columns that
    are not personal only, since anyone who can list the Delta log reads its min/max."""
    indexed = [c.name for c in product.columns if c.name not in product.personal_columns]
    return {"delta.enableChangeDataFeed": "true", "delta.dataSkippingStatsColumns": ",".join(indexed)}


# A port updated by key is written in files of about this size, ordered by that key (a
# day first): replacing the keys a batch changed then rewrites the few files holding
# them, which Delta's statistics find, not one file holding all of history.
CLUSTERED_FILE_BYTES = 4 << 20


def clustering(product: DataProduct) -> list[str]:
    """The columns a port's rows are ordered by: the product's `updated_by` keys, those of
    a time first (a batch mostly changes recent days); none for a product recomputed whole."""
    if product.updated_by is None:
        return []
    declared = {c.name: c for c in product.columns}  # an older major's shape may lack a key
    keys = [k for k in product.updated_by.keys if k in declared]
    timed = [k for k in keys if declared[k].type in ("date", "timestamp")]
    return timed + [k for k in keys if k not in timed]


def fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Order-insensitive content hash, computed in the engine."""
    # The alias names the row, unless a column of the same name shadows it: one no column has.
    rows, digest = con.execute(f"SELECT count(*), coalesce(bit_xor(hash(_mesh_row)), 0) FROM {table} _mesh_row").fetchall()[0]
    return f"{rows}:{digest}"


def _published_batches(reader: pa.RecordBatchReader, schema: pa.Schema):
    for i, batch in enumerate(reader):
        if i == 1:
            failpoints.reached("port.publish")
        yield batch.cast(schema)
    failpoints.reached("port.publish")  # a one-batch product: its data file is being written


def is_port(folder: Path) -> bool:
    return (folder / "_delta_log").is_dir()


MASKED = ".masked"
# What a masked twin's commit records: the port version it reflects and how it was masked.
PORT_VERSION, MASKING = "mesh.port_version", "mesh.masking"


def _as_data_commit(commit: dict) -> dict | None:
    """A commit that changed the port's rows, or one standing for such a commit (as that
    commit); None for the others."""
    if commit.get("operation") not in NO_DATA_CHANGE:
        return commit
    return {**commit, "version": int(commit[STANDS_FOR])} if STANDS_FOR in commit else None


def _pii(product: DataProduct, name: str) -> bool:
    return any(c.name == name and c.classification == "pii" for c in product.columns)


def port_versions(paths: MeshPaths, domain: str, product: str) -> list[Path]:
    """The served major versions of a product (`v<major>` folders holding a Delta table), oldest first."""
    root = paths.products / domain / product
    found = [p for p in root.glob("v*") if p.name[1:].isdigit() and is_port(p)] if root.is_dir() else []
    return sorted(found, key=lambda p: int(p.name[1:]))


def all_ports(paths: MeshPaths, domain: str | None = None) -> list[Path]:
    """Every output port folder of the mesh, or of one domain."""
    root = paths.products / domain if domain else paths.products
    return sorted(p.parent for p in root.rglob("_delta_log")) if root.is_dir() else []


def drop_change_feed(folder: Path, older_than_hours: float) -> int:
    """Remove the port's change-feed files written more than `older_than_hours` ago (Delta's
    vacuum leaves them: they hold the rows each change took out and put in). A consumer
    that last read a version before them then reads the port whole. Returns the files."""
    cutoff = time.time() - older_than_hours * 3600
    old = [f for f in (folder / "_change_data").glob("*.parquet") if f.stat().st_mtime <= cutoff] \
        if (folder / "_change_data").is_dir() else []
    for f in old:
        f.unlink()
    return len(old)


@dataclass(frozen=True)
class OutputPort:
    path: Path

    @classmethod
    def of(cls, paths: MeshPaths, product: DataProduct, major: int | None = None) -> "OutputPort":
        return cls(paths.port(product.domain, product.name, major or product.major))

    def exists(self) -> bool:
        return is_port(self.path)

    def table(self) -> DeltaTable:
        if not self.exists():
            raise ProductNotPublished(f"no output port at {self.path}: the product has not been published yet")
        return DeltaTable(str(self.path))

    def version(self) -> int | None:
        """The version that last changed the port's rows: what a build read or published.
        A vacuum (retention removes old versions' files daily) commits versions of its own
        that change nothing a reader sees, so nothing reading the port runs again for it."""
        commit = self.last_commit()
        return commit["version"] if commit else None

    def last_fingerprint(self) -> str | None:
        return self.last_commit().get(FINGERPRINT)

    def last_commit(self) -> dict:
        """The newest commit that changed the port's rows, with what its publish recorded."""
        return next(iter(self.data_commits(1)), {})

    def snapshot(self) -> tuple[DeltaTable, int]:
        """The port as it is now, to read from one version throughout, and the version that
        last changed its rows as of it."""
        table = self.table()
        return table, self.data_commits(1, table)[0]["version"]

    def data_commits(self, n: int, snapshot: DeltaTable | None = None) -> list[dict]:
        """The `n` newest commits that changed the port's rows (up to the snapshot's
        version), newest first."""
        if not self.exists():
            return []
        table = self.table()
        at, limit = (snapshot or table).version(), 4 * n
        while True:
            read = table.history(limit)
            history = [c for c in read if c["version"] <= at]
            newest: dict[int, dict] = {}  # the newest record of each version (the log is read newest first)
            for c in filter(None, map(_as_data_commit, history)):
                newest.setdefault(c["version"], c)
            found = sorted(newest.values(), key=lambda c: -c["version"])[:n]
            if len(found) == n:
                return found
            if len(read) < limit:  # the whole log is read
                # An erasure's purge cleans the log behind a checkpoint: with no commit left
                # that changed rows, its oldest entry stands for the rows it holds.
                return found or [{"version": min((c["version"] for c in history), default=at)}]
            limit *= 8

    def carried(self, stamp: dict | None = None) -> CommitProperties:
        """A commit that changes no rows carries the port's last data commit's record and
        version (with `stamp` on top): the port still reads as that commit left it once the
        log behind is cleaned (an erasure's purge, Delta's own cleanup of old log entries)."""
        last = self.last_commit()
        record = {**{k: str(v) for k, v in last.items() if k.startswith("mesh.")}, STANDS_FOR: str(last["version"])} if last else {}
        return CommitProperties(custom_metadata={**record, **{k: str(v) for k, v in (stamp or {}).items()}})

    def set_properties(self, properties: dict[str, str]) -> None:
        self.table().alter.set_table_properties(properties, commit_properties=self.carried())

    def vacuum(self, retention_hours: float) -> list[str]:
        """Remove the files of versions superseded more than `retention_hours` ago."""
        return self.table().vacuum(retention_hours=retention_hours, enforce_retention_duration=False, dry_run=False,
                                   commit_properties=self.carried())

    def _restamp(self, stamp: dict | None) -> None:
        """Record `stamp` (a masked twin's port version) on a port whose rows are already
        what a publish would commit, so the next build finds the twin in step."""
        last = self.last_commit()
        if stamp and any(last.get(k) != str(v) for k, v in stamp.items()):
            held = self.table().metadata().configuration.get("delta.enableChangeDataFeed", "true")
            self.table().alter.set_table_properties({"delta.enableChangeDataFeed": held}, commit_properties=self.carried(stamp))

    def rows_outside(self, con: duckdb.DuckDBPyConnection, where: str) -> int:
        """The current version's rows a replace of `where` keeps (0 without a port)."""
        if not self.exists():
            return 0
        table = self.table()  # one version for both counts
        if where == NO_ROWS:
            return self.rows(table)
        con.register("_mesh_port", table.to_pyarrow_dataset())
        try:
            return self.rows(table) - con.execute(f"SELECT count(*) FROM _mesh_port WHERE {where}").fetchall()[0][0]
        finally:
            con.unregister("_mesh_port")

    def rows(self, snapshot: DeltaTable | None = None) -> int:
        """The rows of the current version (or the snapshot's), from the Delta log's per-file counts."""
        return sum(pa.table((snapshot or self.table()).get_add_actions(flatten=True)).column("num_records").to_pylist())

    def publish(self, con: duckdb.DuckDBPyConnection, table: str, product: DataProduct, run_id: str,
                extra: dict | None = None) -> Publication:
        """Commit `table` as the port's new version, unless the content is unchanged."""
        fp = fingerprint(con, table)
        rows = int(fp.split(":")[0])
        if self.pii() == product.pii_masks and self._holds(con, table, product, fp):  # the schema's record too
            self._restamp(extra)
            return Publication(self.path, self.version(), rows, fp, changed=False)
        self._write(con, table, product, mode="overwrite", schema_mode="overwrite",
                    metadata={FINGERPRINT: fp, "mesh.run_id": run_id, "mesh.product_version": product.version, **(extra or {})})
        return Publication(self.path, self.version(), rows, fp, changed=True)

    def _holds(self, con: duckdb.DuckDBPyConnection, table: str, product: DataProduct, fp: str) -> bool:
        """Whether the port's rows are `table`'s (fingerprint `fp`). A replace records no
        fingerprint of the whole port: after one, both are fingerprinted over the product's
        columns, which reads the port (a whole publish after keyed ones: a full refresh)."""
        last = self.last_fingerprint()
        if last is not None or not self.exists() or BATCH not in self.last_commit():
            return fp == last
        if int(fp.split(":")[0]) != self.rows():
            return False
        cols = ", ".join(q(c.name) for c in product.columns)
        con.register("_mesh_port", self.dataset())
        try:
            return fingerprint(con, f"(SELECT {cols} FROM _mesh_port)") == fingerprint(con, f"(SELECT {cols} FROM {table})")
        finally:
            con.unregister("_mesh_port")

    def replace(self, con: duckdb.DuckDBPyConnection, table: str, where: str, product: DataProduct, run_id: str,
                extra: dict | None = None) -> Publication:
        """Replace the port's rows matching `where` (SQL both DuckDB and Delta read) by
        `table`, which holds exactly the new rows matching it, in one atomic commit whose
        change feed carries only those rows. A batch identical to the last one committed
        (the re-run of a batch whose commit went through) commits nothing."""
        fp = fingerprint(con, table)
        batch = hashlib.sha256(f"{where}\n{fp}".encode()).hexdigest()[:24]
        before = self.rows()
        if where == NO_ROWS or self.last_commit().get(BATCH) == batch:
            if where != NO_ROWS:
                self._restamp(extra)
            return Publication(self.path, self.version(), before, fp, changed=False, inserted=0, deleted=0)
        self._write(con, table, product, mode="overwrite", predicate=where,
                    metadata={BATCH: batch, "mesh.run_id": run_id, "mesh.product_version": product.version, **(extra or {})})
        after, inserted = self.rows(), int(fp.split(":")[0])
        return Publication(self.path, self.version(), after, fp, changed=True, inserted=inserted,
                           deleted=before + inserted - after)

    def pii(self) -> dict[str, str] | None:
        """The PII columns (-> masking) the port's schema records; None for a port whose
        schema records no classification (published before ports carried it)."""
        if not self.exists():
            return None
        fields = self.table().schema().fields
        if not any(CLASSIFICATION in (f.metadata or {}) for f in fields):
            return None
        return {f.name: f.metadata.get(MASKING_OF, "redact") for f in fields if (f.metadata or {}).get(CLASSIFICATION) == "pii"}

    def remove(self) -> None:
        """Take the table away whole: moved aside at once, then deleted."""
        aside = self.path.with_name(f".{self.path.name}.removed-{time.time_ns()}")
        os.rename(self.path, aside)
        shutil.rmtree(aside)

    def masked(self) -> "OutputPort":
        """The port's masked twin: the same product with its PII columns pseudonymized or
        redacted, published beside it for readers granted no PII (`mesh serve` hands its
        files out as they are)."""
        return OutputPort(self.path.with_name(self.path.name + MASKED))

    def _write(self, con: duckdb.DuckDBPyConnection, table: str, product: DataProduct, *, metadata: dict, **how) -> None:
        schema = arrow_schema(product)
        if self.path.name.endswith(MASKED):  # masked values are text, whatever the column held
            schema = pa.schema([f.with_type(pa.string()) if _pii(product, f.name) else f for f in schema])
        cols = ", ".join(q(c.name) for c in product.columns)
        order = clustering(product)
        sorted_by = f" ORDER BY {', '.join(map(q, order))}" if order else ""
        reader = con.sql(f"SELECT {cols} FROM {table}{sorted_by}").to_arrow_reader(256_000)
        cast = pa.RecordBatchReader.from_batches(schema, _published_batches(reader, schema))
        properties = port_properties(product)
        held = self.table().metadata().configuration if self.exists() else properties
        if any(held.get(k) != v for k, v in properties.items()):
            self.table().alter.set_table_properties(properties)  # a port published before they existed
        self.path.mkdir(parents=True, exist_ok=True)
        write_deltalake(str(self.path), cast, name=product.id, description=product.description, configuration=properties,
                        target_file_size=CLUSTERED_FILE_BYTES if order else None,
                        commit_properties=CommitProperties(custom_metadata=metadata), **how)

    def dataset(self, delta_version: int | None = None) -> ds.Dataset:
        dt = self.table()
        if delta_version is not None:
            dt.load_as_version(delta_version)
        return dt.to_pyarrow_dataset()
