"""What a product was built from, and whether any of it changed since.

Every publish records a stamp of each input the product read: a staged source at the last
staging run that changed it, another domain's port at its Delta version (read whole or
masked), and the product's own code and declaration. A build whose stamps all equal those of
the last publish, with the port still at the version that publish committed, has nothing to
do: the product is reported unchanged instead of being recomputed. A full refresh always
recomputes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import duckdb

from platform_lib.declare.spec import DataProduct
from platform_lib.storage import staged
from platform_lib.storage.ports import OutputPort
from platform_lib.storage.warehouse import table_exists


def code_stamp(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def declaration(product: DataProduct) -> str:
    return product.model_dump_json()


@dataclass(frozen=True)
class Stamps:
    """The inputs' stamps by input reference, and the code's."""

    inputs: dict[str, str]
    code: str

    def digest(self) -> str:
        return code_stamp(json.dumps(self.inputs, sort_keys=True), self.code)


def ensure_layout(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ledger")
    con.execute("""CREATE TABLE IF NOT EXISTS ledger.builds (product VARCHAR NOT NULL, digest VARCHAR NOT NULL,
        inputs JSON, code VARCHAR, delta_version BIGINT, checks JSON, run_id VARCHAR, built_at TIMESTAMPTZ)""")
    con.execute("ALTER TABLE ledger.builds ADD COLUMN IF NOT EXISTS code VARCHAR")  # a ledger begun without it


def staging_stamp(con: duckdb.DuckDBPyConnection, ref: str) -> str:
    """`domain.staging.source`: the last staging run that changed it (retention and erasure
    log what they delete as staging runs too)."""
    domain, _, name = ref.split(".")
    return f"s{staged.changed_at(con, f'{domain}.{name}')}"


def staging_seq(stamp: str) -> int:
    """A staged source's stamp as its staging run (`s12`; `s12.e0` in a ledger begun when
    stamps also counted the warehouse's rewrites)."""
    return int(stamp.split(".")[0][1:])


def now(con: duckdb.DuckDBPyConnection, refs, ports: dict[str, str], code: str) -> Stamps:
    """The stamps of the inputs `refs` as they stand: `ports` holds those of the imported
    ports; the others are staged sources (`domain.staging.source`)."""
    return Stamps({ref: ports[ref] if ref in ports else staging_stamp(con, ref) for ref in refs}, code)


@dataclass(frozen=True)
class Built:
    """The last publish of an asset: what it was built from, the Delta version it committed
    (None for a table without a port), the content checks it evaluated, and its run."""

    inputs: dict[str, str]
    code: str
    digest: str
    delta_version: int | None
    checks: list[dict]
    run_id: str


def last_build(con: duckdb.DuckDBPyConnection, name: str) -> Built | None:
    ensure_layout(con)
    rows = con.execute("SELECT inputs, code, digest, delta_version, checks, run_id FROM ledger.builds WHERE product = ?",
                       [name]).fetchall()
    if not rows:
        return None
    inputs, code, digest, version, checks, run_id = rows[0]
    return Built(json.loads(inputs or "{}"), code or "", digest, version, json.loads(checks or "[]"), run_id)


def unchanged_since(con: duckdb.DuckDBPyConnection, name: str, stamps: Stamps, port: OutputPort | None,
                    table: str | None = None) -> Built | None:
    """The last build of `name`, when it used exactly these stamps and its output is still
    what that build left; None when it must be rebuilt."""
    last = last_build(con, name)
    if last is None or last.digest != stamps.digest():
        return None
    if port is not None:
        return last if port.version() == last.delta_version else None
    return last if table and table_exists(con, table) else None


def record(con: duckdb.DuckDBPyConnection, name: str, stamps: Stamps, delta_version: int | None, run_id: str,
           checks: list[dict]) -> None:
    ensure_layout(con)
    con.execute("DELETE FROM ledger.builds WHERE product = ?", [name])
    con.execute("INSERT INTO ledger.builds (product, digest, inputs, code, delta_version, checks, run_id, built_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, now())",
                [name, stamps.digest(), json.dumps(stamps.inputs, sort_keys=True), stamps.code, delta_version,
                 json.dumps(checks), run_id])
