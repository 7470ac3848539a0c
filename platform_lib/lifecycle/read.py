"""Reading products: always from output ports, never from another domain's DuckDB."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from platform_lib.config import MeshPaths
from platform_lib.declare import versions as contracts
from platform_lib.declare.names import brief, parse_ref
from platform_lib.declare.spec import NAME
from platform_lib.governance import access, identity, registry
from platform_lib.governance.registry import Principal
from platform_lib.storage.ports import OutputPort, ProductNotPublished, port_versions
from platform_lib.storage.sql import lit, q
from platform_lib.storage.warehouse import connect as connect_warehouse
from platform_lib.storage.warehouse import table_exists

if TYPE_CHECKING:
    from deltalake import DeltaTable


def resolve_port(paths: MeshPaths, ref: str) -> OutputPort:
    """The pinned major version, or the newest one served."""
    domain, product, major = parse_ref(ref)
    if major is None:
        majors = [int(p.name[1:]) for p in port_versions(paths, domain, product)]
        if not majors:
            raise ProductNotPublished(f"{domain}.{product} has no output port yet: its domain must publish it first")
        major = majors[-1]
    return OutputPort(paths.port(domain, product, major))


def deprecation(ref: str, today: date) -> str | None:
    """A warning when `ref` pins a deprecated major version; an error once it is retired."""
    domain, product, major = parse_ref(ref)
    if major is None:
        return None
    snapshot = contracts.load_snapshot(f"{domain}.{product}", major) or {}
    notice = snapshot.get("deprecation")
    if not notice:
        return None
    sunset = date.fromisoformat(notice["sunset"])
    if today > sunset:
        raise RetiredVersion(
            f"{ref} was retired on {sunset}; it is no longer published. Move the input to "
            f"{domain}.{product}@{notice['superseded_by']} (see contracts/{domain}/{product}/)."
        )
    return f"{ref} is deprecated and retires on {sunset} ({(sunset - today).days} days); move to {notice['superseded_by']}"


class RetiredVersion(LookupError):
    pass


def port_table_name(ref: str) -> str:
    domain, product, _ = parse_ref(ref)
    return f"ports.{domain}__{product}"


def _major(port: OutputPort) -> int:
    return int(port.path.name[1:])


def import_port(con: duckdb.DuckDBPyConnection, paths: MeshPaths, ref: str, consumer_domain: str) -> str:
    """Copy another domain's published product into this domain's DuckDB, read through
    its Delta output port as the domain's service principal (grants and masking apply),
    as `ports.<domain>__<product>`. The access decision is taken on every call. The copy
    is made only when the port's version or the decision's masking changed since the last
    one, and then from the port's change feed since the version last read, when it has
    one that covers them (all of the port otherwise).
    Returns what was read: `<major>@<delta version>`, masked or whole."""
    port = resolve_port(paths, ref)
    product_id = ".".join(parse_ref(ref)[:2])
    principal = registry.service_principal(consumer_domain)
    decision = _decide(principal, product_id, _major(port), purpose=f"build of {consumer_domain}", paths=paths)
    table = port_table_name(ref)
    masking = access.masking(decision, product_id, _major(port), paths)
    read_as = masking.name
    # One snapshot serves the whole import: a producer may commit meanwhile, and a copy of a
    # newer version stamped with this one would have the newer commit's changes applied again.
    snapshot, version = port.snapshot()
    stamp = f"v{_major(port)}@{version}:{read_as}"
    con.execute("CREATE SCHEMA IF NOT EXISTS ports")
    con.execute("CREATE SCHEMA IF NOT EXISTS ledger")
    con.execute("CREATE TABLE IF NOT EXISTS ledger.imports (port_table VARCHAR NOT NULL, stamp VARCHAR NOT NULL)")
    held = con.execute("SELECT stamp FROM ledger.imports WHERE port_table = ?", [table]).fetchall()
    held = held[0][0] if held and table_exists(con, table) else None
    if held == stamp:
        return stamp
    last = _last_read(held, f"v{_major(port)}@", f":{read_as}")
    changes = _changes_since(port, snapshot, last) if last is not None else None
    columns = _net_changes(con, changes, masking) if changes is not None else None
    con.execute("BEGIN TRANSACTION")  # the copy and its stamp change together, or not at all
    try:
        if columns is not None:
            rows = _apply_net_changes(con, table, columns)
        else:
            columns, rows = _copy_whole(con, table, snapshot, masking)
        con.execute("DELETE FROM ledger.imports WHERE port_table = ?", [table])
        con.execute("INSERT INTO ledger.imports VALUES (?, ?)", [table, stamp])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    access.record(principal, product_id, _major(port), columns, rows, f"build of {consumer_domain}", decision, paths)
    return stamp


CHANGE_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")  # what a change feed adds to each row


def _last_read(held: str | None, major: str, read_as: str) -> int | None:
    """The port version a held copy was read at, if it was read the same way (same major,
    same masking)."""
    if held is None or not held.startswith(major) or not held.endswith(read_as):
        return None
    version = held[len(major):-len(read_as)]
    return int(version) if version.isdigit() else None


def _changes_since(port: OutputPort, snapshot: DeltaTable, last: int) -> pa.RecordBatchReader | None:
    """The port's change feed from version `last` (exclusive) to the snapshot's, or None
    when a copy of the whole port is the better read: a version in between rewrote the port
    whole (its feed would be every row out and in again), or the feed does not cover them."""
    version = snapshot.version()
    if version <= last:  # the port was made again from scratch since (`last` changed its rows)
        return None
    table = port.table()  # the log as it is now: commits after the snapshot are passed over
    for commit in table.history(table.version() - last):
        if not last < commit["version"] <= version:
            continue
        parameters = commit.get("operationParameters") or {}
        if commit["operation"] in ("CREATE TABLE", "WRITE") and parameters.get("mode") == "Overwrite" \
                and not parameters.get("predicate"):
            return None
    if snapshot.metadata().configuration.get("delta.enableChangeDataFeed") != "true":
        return None
    try:
        return snapshot.load_cdf(starting_version=last + 1, ending_version=version)
    except Exception:  # a version before the feed was enabled, or files vacuumed: read it all
        return None


def _copy_whole(con: duckdb.DuckDBPyConnection, table: str, snapshot: DeltaTable, masking: access.Masking) -> tuple[list[str], int]:
    """Copy the port's version in `snapshot` into `table`; its columns and rows."""
    con.register("_mesh_port", snapshot.to_pyarrow_dataset())
    try:
        columns = con.sql("SELECT * FROM _mesh_port LIMIT 0").columns
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {masking.select(columns)} FROM _mesh_port")
    finally:
        con.unregister("_mesh_port")
    return columns, con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def _net_changes(con: duckdb.DuckDBPyConnection, feed, masking: access.Masking) -> list[str] | None:
    """Read a port's change `feed` into `_mesh_net`: the net change of each row (a row
    taken out and put back unchanged, as a replace of its key does, cancels out). Returns
    the port's columns, or None when the feed cannot be read whole (a file of it is gone:
    retention and erasure remove them with old versions)."""
    con.register("_mesh_feed", feed)
    try:
        columns = [c for c in con.sql("SELECT * FROM _mesh_feed LIMIT 0").columns if c not in CHANGE_COLUMNS]
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _mesh_net AS
            SELECT {', '.join(q(c) for c in columns)}, sum(_mesh_sign) AS _mesh_net FROM (
                SELECT {masking.select(columns)},
                       CASE WHEN _change_type IN ('insert', 'update_postimage') THEN 1 ELSE -1 END AS _mesh_sign
                FROM _mesh_feed)
            GROUP BY ALL HAVING sum(_mesh_sign) <> 0""")
        return columns
    except duckdb.Error:
        return None
    finally:
        con.unregister("_mesh_feed")


def _apply_net_changes(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> int:
    """Bring the copy `table` to the port's version by `_mesh_net`; the rows changed."""
    same = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM n.{q(c)}" for c in columns)
    con.execute(f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM _mesh_net n WHERE n._mesh_net < 0 AND {same})")
    con.execute(f"INSERT INTO {table} SELECT {', '.join(q(c) for c in columns)} FROM _mesh_net WHERE _mesh_net > 0")
    changed = con.execute("SELECT coalesce(sum(abs(_mesh_net)), 0) FROM _mesh_net").fetchall()[0][0]
    con.execute("DROP TABLE _mesh_net")
    return int(changed)


FILTER = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(=|!=|<=|>=|<|>)\s*(.+?)\s*$")


def parse_filters(where: list[str] | None, columns: list[str]) -> tuple[str, list]:
    """`column op value` conditions, ANDed, as parameterised SQL (values never become SQL)."""
    clauses, params = [], []
    for condition in where or []:
        m = FILTER.match(condition)
        if not m or m[1] not in columns:
            raise ValueError(
                f"filter '{brief(condition)}' is not 'column op value' over this product's columns (op: = != < <= > >=)"
            )
        clauses.append(f"{q(m[1])} {m[2]} ?")
        params.append(m[3].strip("'\""))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def read_product(
    ref: str,
    *,
    columns: list[str] | None = None,
    where: list[str] | None = None,
    limit: int | None = None,
    purpose: str | None = None,
    caller: Principal | None = None,
    paths: MeshPaths | None = None,
) -> pa.Table:
    """Read a published product from its output port as an Arrow table, as `caller` (an
    authenticated principal; by default the one this process's credential proves). No
    grant: `AccessDenied`; a grant without PII access: PII columns come back as keyed
    pseudonyms or redacted. Every read is audited."""
    paths = paths or MeshPaths.from_env()
    who = caller or identity.caller(paths)
    port = resolve_port(paths, ref)
    product_id = ".".join(parse_ref(ref)[:2])
    decision = _decide(who, product_id, _major(port), purpose, paths)
    masking = access.masking(decision, product_id, _major(port), paths)
    con = duckdb.connect()
    try:
        con.register("product", port.dataset())
        available = con.sql("SELECT * FROM product LIMIT 0").columns
        chosen = columns or available
        unknown = [c for c in chosen if c not in available]
        if unknown:
            raise ValueError(f"{product_id} has no columns {[brief(c) for c in unknown]}; it has {available}")
        masked_filters = [w for w in where or [] if (m := FILTER.match(w)) and m[1] in masking.columns]
        if masked_filters:
            raise access.AccessDenied(f"cannot filter on masked PII columns without PII access: {masked_filters}")
        condition, params = parse_filters(where, available)
        sql = f"SELECT {masking.select(chosen)} FROM product{condition}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        table = con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()
    access.record(who, product_id, _major(port), chosen, table.num_rows, purpose, decision, paths)
    return table


def _decide(principal, product_id: str, major: int, purpose: str | None, paths: MeshPaths) -> access.Decision:
    decision = access.decide(principal, product_id, major, datetime.now(timezone.utc).date())
    if not decision.allowed:
        access.record(principal, product_id, major, [], 0, purpose, decision, paths)
        raise access.AccessDenied(decision.reason)
    return decision


# The quarantine keeps rejected records whole, personal data included: its domain's owners
# read them to fix their sources; a platform admin sees why rows were rejected, never the
# records; anyone else is refused.
QUARANTINE_COLUMNS = ("object", "rule", "reason", "run_id", "source_file", "quarantined_at")
WITHHELD = "[withheld: the record may hold personal data; the owning team can read it]"


def read_quarantine(
    domain: str,
    *,
    object_id: str | None = None,
    rule: str | None = None,
    limit: int = 50,
    caller: Principal | None = None,
    paths: MeshPaths | None = None,
) -> pa.Table:
    """Rejected records of `domain`, newest first, as `caller` (by default the principal
    this process's credential proves). Every read is audited, refusals included."""
    paths = paths or MeshPaths.from_env()
    who = caller or identity.caller(paths)
    if not NAME.fullmatch(domain) or not paths.warehouse(domain).exists():
        raise LookupError(f"'{brief(domain)}' is not a domain with a warehouse; name one of the workspace's code locations")
    owner = who.team == domain
    if owner:
        decision = access.Decision(True, False, f"{who.id} belongs to {domain}'s team")
    elif who.platform_admin:
        decision = access.Decision(True, True, f"{who.id} is a platform admin: records withheld")
    else:
        decision = access.Decision(False, True, f"{who.id} is not on {domain}'s team: only the owning team reads its "
                                                "quarantine, which holds rejected records whole")
        access.record(who, f"quarantine:{domain}", 0, [], 0, None, decision, paths)
        raise access.AccessDenied(decision.reason)
    filters = [(column, value) for column, value in (("object", object_id), ("rule", rule)) if value]
    where = " WHERE " + " AND ".join(f"{column} = ?" for column, _ in filters) if filters else ""
    record = "CAST(record AS VARCHAR)" if owner else lit(WITHHELD)
    with connect_warehouse(paths, domain, read_only=True) as con:
        kept = con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_schema = 'quarantine' AND table_name = 'records'").fetchall()[0][0]
        if kept:
            table = con.sql(f"SELECT {', '.join(QUARANTINE_COLUMNS)}, {record} AS record FROM quarantine.records{where} "
                            f"ORDER BY quarantined_at DESC, object, rule LIMIT {max(0, int(limit))}",
                            params=[value for _, value in filters]).to_arrow_table()
        else:
            table = pa.table({c: pa.array([], pa.string()) for c in (*QUARANTINE_COLUMNS, "record")})
    access.record(who, f"quarantine:{domain}", 0, [*QUARANTINE_COLUMNS, "record"], table.num_rows, None, decision, paths)
    return table
