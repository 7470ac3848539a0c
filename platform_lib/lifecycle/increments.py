"""Recomputing a product for the keys a batch changed, not from all of history.

A product that declares `updated_by` is computed per key (an account, an account and day).
Before its build, the platform reads the change logs of the staged sources it consumed
since its last publish, maps the changed records (before and after) to the product's keys
with the product's own SQL, keeps them in `changes.<product>`, and deletes those keys' rows
from the product's table; the build then computes only those keys (its SQL reads
`changes.<product>` in an incremental run) and appends them. Anything the keys cannot
express recomputes the product whole: the first build, a full refresh, a code change, a
source staged whole, or an input that maps to no keys. Retention and erasure log what they
delete as staging runs, so their keys are recomputed like any other change. Publishing audits only the recomputed keys' rows and replaces
them in the port in one atomic commit (`where_recomputed`), so a failed build leaves the
last version serving, and the next build recomputes the same keys again (the deletes and
appends are idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from platform_lib.declare.spec import DataProduct
from platform_lib.lifecycle.consumed import Built, Stamps, staging_seq
from platform_lib.storage import staged
from platform_lib.storage.ports import NO_ROWS
from platform_lib.storage.sql import q
from platform_lib.storage.warehouse import table_exists

SCHEMA = "changes"
# Delta evaluates `IN (...)` as a chain of ORs: a longer list costs more than the rows it
# spares, so past this many values a key is bounded by its range instead.
IN_LIST_MAX = 100


def changes_table(product: DataProduct) -> str:
    return f"{SCHEMA}.{q(product.name)}"


@dataclass(frozen=True)
class Plan:
    """Whole (and why), or the number of keys to recompute."""

    whole: bool
    reason: str
    keys: int = 0

    def metadata(self) -> dict:
        if self.whole:
            return {"update": "whole", "update_reason": self.reason}
        return {"update": "keys", "update_reason": self.reason, "keys_recomputed": self.keys}


WHOLE = Plan(True, "recomputed whole: the product declares no updated_by")


def prepare(con: duckdb.DuckDBPyConnection, product: DataProduct, table: str, stamps: Stamps, last: Built | None,
            full_refresh: bool) -> Plan:
    """Decide how `product` is recomputed, and make its table ready: dropped for a whole
    recompute, its changed keys deleted (and listed in `changes.<product>`) otherwise."""
    plan = _plan(con, product, table, stamps, last, full_refresh)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    if plan.whole:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"DROP TABLE IF EXISTS {changes_table(product)}")
        return plan
    matched = " AND ".join(f"t.{q(k)} = c.{q(k)}" for k in product.updated_by.keys)
    con.execute(f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM {changes_table(product)} c WHERE {matched})")
    return plan


def settle(con: duckdb.DuckDBPyConnection, product: DataProduct, table: str, plan: Plan) -> str | None:
    """After the build: the condition on the product's rows that selects the recomputed
    keys (what publishing replaces in the port; `NO_ROWS` for no key), or None when the
    product was recomputed whole. No keys are left listed, so a build run by hand (`dbt
    build` in the project) appends nothing twice; the next build lists its own."""
    if product.updated_by is None or not table_exists(con, table):
        return None
    where = None if plan.whole else where_recomputed(con, product, changes_table(product))
    keys = ", ".join(q(k) for k in product.updated_by.keys)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE OR REPLACE TABLE {changes_table(product)} AS SELECT {keys} FROM {table} LIMIT 0")
    return where


def where_recomputed(con: duckdb.DuckDBPyConnection, product: DataProduct, keys_table: str) -> str | None:
    """A condition, in SQL that both DuckDB and Delta read, true for every row of the keys
    listed in `keys_table`: per key column, its values or their range. It may also hold for
    rows of keys not recomputed; publishing replaces those by themselves. None when it
    would hold for every row. A personal key is left out: the condition is kept in the
    port's Delta log, which erasure cannot rewrite."""
    found = dict(row[:2] for row in con.execute(f"DESCRIBE SELECT * FROM {keys_table}").fetchall())
    bounds = []
    for key in product.updated_by.keys:
        literal = None if key in product.personal_columns else _LITERALS.get(found[key])
        n, low, high = con.execute(f"SELECT count(DISTINCT {q(key)}), min({q(key)}), max({q(key)}) FROM {keys_table}").fetchall()[0]
        if n == 0:
            return NO_ROWS
        if literal is None:
            continue
        if n <= IN_LIST_MAX:
            values = con.execute(f"SELECT DISTINCT {q(key)} FROM {keys_table} ORDER BY 1").fetchall()
            bounds.append(f"{q(key)} IN ({', '.join(literal(v) for (v,) in values)})")
        else:
            bounds.append(f"{q(key)} BETWEEN {literal(low)} AND {literal(high)}")
    return " AND ".join(bounds) or None


def _text(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


_LITERALS = {
    "VARCHAR": _text,
    "DATE": lambda v: f"DATE '{v.isoformat()}'",
    "BIGINT": lambda v: str(int(v)),
    "INTEGER": lambda v: str(int(v)),
}


def _plan(con, product: DataProduct, table: str, stamps: Stamps, last: Built | None, full_refresh: bool) -> Plan:
    updated_by = product.updated_by
    if updated_by is None:
        return WHOLE
    if full_refresh:
        return Plan(True, "full refresh")
    if last is None or not table_exists(con, table):
        return Plan(True, "first build")
    if last.code != stamps.code:
        return Plan(True, "its code or declaration changed")
    selects = []
    for ref, stamp in stamps.inputs.items():
        before = last.inputs.get(ref)
        if before == stamp:
            continue
        domain, *_, source = ref.split(".")
        if source not in updated_by.changes or before is None:
            return Plan(True, f"{ref} changed, and updated_by maps none of its changes to keys")
        seen, now = staging_seq(before), staging_seq(stamp)
        if staged.full_since(con, f"{domain}.{source}", seen):
            return Plan(True, f"{ref} was staged whole")
        selects.append(f"SELECT {updated_by.changes[source]} FROM {staged.changes_table(source)} "
                       f"WHERE seq > {seen} AND seq <= {now}")
    names = ", ".join(q(k) for k in updated_by.keys)
    known = " AND ".join(f"{q(k)} IS NOT NULL" for k in updated_by.keys)
    changed = f"SELECT DISTINCT * FROM ({' UNION ALL '.join(selects) or 'SELECT ' + ', '.join(['NULL'] * len(updated_by.keys))}) " \
              f"AS t({names}) WHERE {known}"
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_changed_keys AS {changed}")
    except duckdb.Error as err:
        raise ValueError(f"{product.id}: updated_by.changes does not map the change log to keys {list(updated_by.keys)}: "
                         f"{err}. Each entry is SQL over the source's change log (its key, identifiers and event "
                         "time), giving the keys in order.") from None
    changed, n = "SELECT * FROM _mesh_changed_keys", con.execute("SELECT count(*) FROM _mesh_changed_keys").fetchall()[0][0]
    if updated_by.window_days:  # a change on day d reaches the trailing windows of d .. d + window_days
        *rest, day = [q(k) for k in updated_by.keys]
        start = f"CAST({day} AS TIMESTAMP)"
        changed = (f"SELECT DISTINCT {', '.join(rest + [''])}CAST(unnest(range({start}, {start} + INTERVAL "
                   f"{updated_by.window_days + 1} DAY, INTERVAL 1 DAY)) AS DATE) AS {day} FROM ({changed})")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE OR REPLACE TABLE {changes_table(product)} AS {changed}")
    con.execute("DROP TABLE _mesh_changed_keys")
    return Plan(False, "changed keys", n)
