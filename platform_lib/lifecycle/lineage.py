"""Column lineage from a product's own SQL: for each output column, the input columns it
derives from (sqlglot, DuckDB's dialect), each marked direct (copied or renamed) or
transformed, the tables whose row counts feed it (`count(*)`), and what could not be
traced. A part that cannot be resolved is reported as such, never guessed.

The SQL is read against the warehouse it runs in (its tables' columns come from the
connection's catalog), and every table is named by the asset it holds: a staged source
(`sales.staging.accounts`) or a product (`marketing.web_behavior`, read through its port),
so lineage crosses domains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope, traverse_scope

DIALECT = "duckdb"


@dataclass
class ColumnLineage:
    name: str
    # (asset id, column) -> whether it reaches the output unchanged, and what happens on the way
    inputs: dict[tuple[str, str], dict] = field(default_factory=dict)
    kinds: set[str] = field(default_factory=set)  # copy, rename, aggregate, window, expression, cast, constant, row_count
    rows_of: set[str] = field(default_factory=set)  # assets whose row count (count(*)) feeds the column
    unresolved: list[str] = field(default_factory=list)

    @property
    def direct(self) -> bool:
        """Copied or renamed: the output holds the input's values as they were."""
        return bool(self.inputs) and not self.rows_of and all(v["direct"] for v in self.inputs.values())

    def to_json(self) -> dict:
        return {"kinds": sorted(self.kinds), "rows_of": sorted(self.rows_of), "unresolved": self.unresolved,
                "inputs": [{"asset": a, "column": c, "direct": v["direct"], "via": sorted(v["kinds"] - {"identity"})}
                           for (a, c), v in sorted(self.inputs.items())]}


@dataclass
class Lineage:
    """One product's column lineage."""

    product_id: str
    columns: dict[str, ColumnLineage] = field(default_factory=dict)
    reads: set[str] = field(default_factory=set)  # assets its SQL reads
    problems: list[str] = field(default_factory=list)  # why part or all of it could not be derived

    @property
    def unresolved(self) -> dict[str, list[str]]:
        return {n: c.unresolved for n, c in self.columns.items() if c.unresolved}


def owners(con: duckdb.DuckDBPyConnection, domain: str, products: dict[str, str] | None = None) -> dict[str, str]:
    """`schema.table` -> the asset it holds, for the tables of a domain's warehouse: staged
    sources (and their history), port copies of other products, and the domain's own
    build tables (`products`: build table -> product id)."""
    tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                         "WHERE table_catalog = current_database()").fetchall()
    names = {f"{s}.{t}" for s, t in tables}
    found = dict(products or {})
    for schema, table in tables:
        if schema == "staging":
            base = table.removesuffix("_history") if f"staging.{table.removesuffix('_history')}" in names else table
            found[f"staging.{table}"] = f"{domain}.staging.{base}"
        elif schema == "ports" and "__" in table:
            found[f"ports.{table}"] = ".".join(table.split("__", 1))
    return found


def catalog_schema(con: duckdb.DuckDBPyConnection) -> dict:
    """{schema: {table: {column: type}}} of the connection's own catalog."""
    rows = con.execute("SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_catalog = current_database() ORDER BY table_schema, table_name, ordinal_position").fetchall()
    out: dict = {}
    for schema, table, column, dtype in rows:
        out.setdefault(schema, {}).setdefault(table, {})[column] = dtype
    return out


def derive(product_id: str, sql: str, con: duckdb.DuckDBPyConnection, owner: dict[str, str], database: str = "") -> Lineage:
    """The column lineage of `sql` (one query) as run on `con`; `database` is a catalog name
    the SQL qualifies tables with (dbt's), dropped before reading it."""
    found = Lineage(product_id)
    try:
        _derive(found, sql, con, owner, database)
    except (sqlglot.errors.SqlglotError, ValueError, KeyError) as err:
        found.problems.append(f"the SQL could not be analysed ({type(err).__name__}: {str(err)[:200]})")
    return found


def _derive(found: Lineage, sql: str, con: duckdb.DuckDBPyConnection, owner: dict[str, str], database: str) -> None:
    schema = catalog_schema(con)
    tree = _strip_catalog(sqlglot.parse_one(sql, dialect=DIALECT), database)
    qualified = qualify(tree, schema=schema, dialect=DIALECT, validate_qualify_columns=False, identify=False,
                        quote_identifiers=False)
    whole_query_unresolved = None
    # DuckDB's UNION [ALL] BY NAME pairs branch columns by name, sqlglot's lineage by
    # position: the right branch is put in the left's order when both name the same columns.
    for setop in list(qualified.find_all(exp.SetOperation)):
        if not setop.args.get("by_name"):
            continue
        left, right = setop.left.named_selects, setop.right
        if isinstance(right, exp.Select) and set(left) == set(right.named_selects) and "*" not in left:
            by_name = {e.alias_or_name: e for e in right.selects}
            right.set("expressions", [by_name[n] for n in left])
            setop.set("by_name", None)
        else:
            whole_query_unresolved = "a UNION BY NAME whose branches name different columns"
    root = build_scope(qualified)
    if root is None:
        raise ValueError("not a query")
    ctes = {s.expression.parent.alias: s for s in traverse_scope(qualified) if s.is_cte}

    def table_id(t: exp.Table) -> str | None:
        return owner.get(f"{t.db}.{t.name}") if t.db else None

    def base_tables(src) -> set[str]:
        """The assets under a FROM item (a table, a CTE, a derived table)."""
        if isinstance(src, exp.Table):
            if not src.db and src.name in ctes:
                return base_tables(ctes[src.name])
            return {table_id(src) or f"?{src.sql(DIALECT)}"}
        if isinstance(src, Scope):
            if _one_row(src.expression):  # a one-row aggregate multiplies nothing
                return set()
            out = set()
            for s in src.sources.values():
                out |= base_tables(s)
            for s in src.set_operation_scopes:
                out |= base_tables(s)
            return out
        return set()

    for scope in traverse_scope(qualified):
        for src in scope.sources.values():
            if isinstance(src, exp.Table) and (tid := table_id(src)):
                found.reads.add(tid)
    # Untrimmed: sqlglot would otherwise copy the whole query for every column on the path
    # (half the cost of a derivation); `_holds_values` reads what the trimmed copy would hold.
    for name, top in lineage(None, qualified, schema, dialect=DIALECT, scope=root, trim_selects=False).items():
        column = ColumnLineage(name)
        _walk(top, [], column, schema, owner, base_tables)
        if whole_query_unresolved:
            column.unresolved.append(whole_query_unresolved)
        if not column.inputs and not column.rows_of and not column.unresolved:
            column.kinds.add("constant")
        elif column.direct:
            column.kinds.add("rename" if any(c != name for _, c in column.inputs) else "copy")
        for v in column.inputs.values():
            column.kinds |= v["kinds"] - {"identity"}
        found.columns[name] = column


def _strip_alias(e: exp.Expression) -> exp.Expression:
    return e.this if isinstance(e, exp.Alias) else e


def _hop(e: exp.Expression) -> str:
    """What one SELECT expression on a column's path does to it."""
    e = _strip_alias(e)
    if isinstance(e, exp.Column):
        return "identity"
    if e.find(exp.Window):
        return "window"
    if agg := e.find(exp.AggFunc):
        return f"aggregate:{type(agg).__name__}"
    if isinstance(e, exp.Cast) and isinstance(e.this, exp.Column):
        return "cast"
    return "expression"


def _strip_catalog(tree: exp.Expression, database: str) -> exp.Expression:
    if database:
        for table in tree.find_all(exp.Table):
            if table.catalog == database:
                table.set("catalog", None)
    return tree


def _one_row(select: exp.Expression) -> bool:
    """A SELECT that always gives one row: aggregates without GROUP BY, HAVING or windows."""
    return (isinstance(select, exp.Select) and not select.args.get("group") and not select.args.get("having")
            and bool(select.selects) and all(_strip_alias(e).find(exp.AggFunc) and not e.find(exp.Window)
                                             for e in select.selects))


def _holds_values(node: Node) -> bool:
    """Whether the SELECT a column is read from holds a VALUES list anywhere but in the
    other columns' expressions: in its own expression, FROM, joins, CTEs or clauses."""
    source = node.source
    if not isinstance(source, exp.Select):
        return source.find(exp.Values) is not None
    parts = [node.expression, *(v for k, v in source.args.items() if k != "expressions")]
    return any(isinstance(item, exp.Expression) and item.find(exp.Values) is not None
               for part in parts for item in (part if isinstance(part, list) else [part]))


def _walk(node: Node, path: list[str], column: ColumnLineage, schema: dict, owner: dict, base_tables) -> None:
    e = node.expression
    if isinstance(e, exp.Table):  # a leaf: a table's column
        name = exp.to_column(node.name).name
        asset = owner.get(f"{e.db}.{e.name}") if e.db else None
        if asset is None:
            column.unresolved.append(f"{node.name}: {e.sql(DIALECT)} is not a staged source, a port or a build table")
        elif name not in schema.get(e.db, {}).get(e.name, {}):
            column.unresolved.append(f"{node.name}: {e.db}.{e.name} has no column {name}")
        else:
            kinds = {h.split(":")[0] for h in path}
            held = column.inputs.setdefault((asset, name), {"direct": True, "kinds": set()})
            held["direct"] = held["direct"] and kinds <= {"identity"}
            held["kinds"] |= kinds
        return
    if isinstance(e, exp.Placeholder):
        column.unresolved.append(f"{node.name}: no input has this column")
        return
    if isinstance(node.source, exp.Values) or (isinstance(e, exp.Identifier) and _holds_values(node)):
        return  # a column of an inline VALUES list: constants
    if node.name in ("UNION", "INTERSECT", "EXCEPT"):
        for d in node.downstream:
            _walk(d, path, column, schema, owner, base_tables)
        return
    if node.name == "*" or isinstance(e, exp.Star):
        column.unresolved.append(f"{node.name}: a * whose columns are unknown")
        return
    kind = _hop(e)
    inner = _strip_alias(e)
    if inner.find(exp.Columns):
        column.unresolved.append(f"{node.name}: a COLUMNS(...) expression, which sqlglot does not expand")
        return
    # count(*): the column is how many rows its FROM has. A literal under an aggregate
    # (sum(1) over a UNION branch) counts rows too; 0 and NULL add nothing but under count.
    counts_rows = any(isinstance(c.this, exp.Star) for c in inner.find_all(exp.Count))
    if not node.downstream and not kind.startswith("aggregate") and not inner.find(exp.Column):
        above = next((h for h in reversed(path) if h.startswith("aggregate")), None)
        neutral = isinstance(inner, exp.Null) or (isinstance(inner, exp.Literal) and not inner.is_string
                                                  and inner.this in ("0", "0.0"))
        if above and (above == "aggregate:Count" or not neutral):
            counts_rows, kind = True, "identity"
    if counts_rows:
        for src in [node.source.args.get("from_"), *(node.source.args.get("joins") or [])]:
            if src is not None:
                for t in src.find_all(exp.Table):
                    column.rows_of |= base_tables(t)
        column.kinds |= {h.split(":")[0] for h in [*path, kind]} - {"identity"} | {"row_count"}
    for d in node.downstream:
        _walk(d, [*path, kind], column, schema, owner, base_tables)
