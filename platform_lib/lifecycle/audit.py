"""Audit a candidate batch inside DuckDB: row rules, quarantine, typed valid rows.

Every declared column, key and rule compiles to one SQL expression that names the
violation, so a whole batch is audited in a single pass in the engine (no copy into
pandas). Rejected rows keep their original record, the rule and a reason; valid rows
come out cast to the declared types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from platform_lib.declare.identifiers import kind_of
from platform_lib.declare.spec import EXTRACTED, Column, _Declared
from platform_lib.declare.types import DUCKDB_TYPES
from platform_lib.storage.quarantine import ensure_quarantine
from platform_lib.storage.sql import lit, q

SAMPLE_ROWS = 5
# An event time may run this far ahead of the platform's clock before it counts as in the future.
EVENT_CLOCK_SKEW = "1 DAY"
REDACTED = "<personal: see quarantine.records>"


@dataclass(frozen=True)
class CompiledRule:
    name: str
    bad_when: str  # SQL that is true for a violating row
    reason: str


@dataclass
class AuditResult:
    object: str
    rows_in: int
    rows_valid: int
    exact_duplicates_dropped: int = 0
    violations: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    drifted_files: dict[str, str] = field(default_factory=dict)
    # A product recomputed per key: the rows of the keys it did not recompute, as they are
    # served (each passed its audit when published). The quality score is the product's as
    # it would be served, as a whole build judges it, not the recomputed rows' alone.
    rows_kept: int = 0

    @property
    def rows_quarantined(self) -> int:
        return self.rows_in - self.exact_duplicates_dropped - self.rows_valid

    @property
    def quality_score(self) -> float:
        audited = self.rows_in - self.exact_duplicates_dropped + self.rows_kept
        return 1.0 if audited == 0 else (self.rows_valid + self.rows_kept) / audited

    def counts(self) -> dict:
        return {
            "rows_in": self.rows_in,
            "rows_valid": self.rows_valid,
            "rows_quarantined": self.rows_quarantined,
            "exact_duplicates_dropped": self.exact_duplicates_dropped,
            "quality_score": float(round(self.quality_score, 6)),
            **({"rows_kept": self.rows_kept} if self.rows_kept else {}),
        }

    def accounting(self, *, withheld_before_audit: int = 0, withheld_after_audit: int = 0) -> dict:
        """Where every input row went: rows_in + rows_kept = rows_published + rows_quarantined
        + exact_duplicates_dropped + rows_withheld (erased subjects, or no consent for the
        purpose). For a staged source, published means staged for the domain's products."""
        return {
            "rows_in": self.rows_in + withheld_before_audit,
            "rows_published": self.rows_valid - withheld_after_audit,
            "rows_quarantined": self.rows_quarantined,
            "exact_duplicates_dropped": self.exact_duplicates_dropped,
            "rows_withheld": withheld_before_audit + withheld_after_audit,
        }


def compared(decl: _Declared, name: str, typed: frozenset[str], alias: str = "") -> str:
    """SQL: column `name` as records are compared by (duplicates, conflicts): a value of its
    declared type as that value, whatever its spelling ('01' and '1' are one integer, '...T00:00:00Z'
    and '... 00:00:00+00' one instant); text, or a value not of its type, as it landed."""
    column = f"{alias}{q(name)}"
    kind = decl.column(name).type
    if name in typed or kind == "string":
        return column
    value = f"TRY_CAST({column} AS {DUCKDB_TYPES[kind]})"
    if kind == "double":
        value = f"({value} + 0)"  # -0 is 0, as the key's hash and DuckDB's equality have it
    return f"coalesce(CAST({value} AS VARCHAR), CAST({column} AS VARCHAR))"


def compile_rules(decl: _Declared, typed: frozenset[str] = frozenset()) -> list[CompiledRule]:
    """Rules in the order a reader would check them; the first violated one is the
    row's quarantine rule. Columns in `typed` already hold their declared type (a built
    product), so their rules skip the text checks that raw landed values need."""
    rules: list[CompiledRule] = []
    for col in decl.columns:
        rules.extend(_column_rules(decl.id, col, required=decl.required(col), typed=col.name in typed))
    for col in decl.columns:
        if col.references:
            table, ref_col = col.references.split(".")
            # A landed value is text: compared as the type it is declared (one not of it is the type rule's).
            value = q(col.name) if col.name in typed else f"TRY_CAST({q(col.name)} AS {DUCKDB_TYPES[col.type]})"
            rules.append(
                CompiledRule(
                    f"known_reference:{col.name}",
                    f"{q(col.name)} IS NOT NULL AND {value} NOT IN "
                    f"(SELECT {q(ref_col)} FROM staging.{q(table)})",
                    f"{col.name} refers to a {ref_col} that {decl.domain} does not know "
                    f"(staging.{table}); fix the reference in the source system or land the missing record",
                )
            )
    event_time = next((c for c in decl.columns if c.name == decl.event_time and c.type in ("timestamp", "date")), None)
    if event_time is not None:
        def stamp(name: str) -> str:
            return q(name) if name in typed else f"TRY_CAST({q(name)} AS TIMESTAMPTZ)"
        when = stamp(event_time.name)
        # The future of a record is judged at its extraction, when it has one: judged at now(),
        # a record a day ahead would be rejected today and staged by a full refresh tomorrow.
        extracted = any(c.name == EXTRACTED and c.type == "timestamp" for c in decl.columns) and event_time.name != EXTRACTED
        clock = f"least({stamp(EXTRACTED)}, now())" if extracted else "now()"
        rules.append(
            CompiledRule(
                f"plausible_time:{event_time.name}",
                f"{when} < TIMESTAMPTZ '1970-01-01 00:00:00+00' OR {when} > {clock} + INTERVAL {EVENT_CLOCK_SKEW}",
                f"{event_time.name} (when the event happened) is before 1970 or in the future; "
                "fix the source system's clock or time zone",
            )
        )
    if decl.primary_key:
        keys = ", ".join(decl.primary_key)
        match = " AND ".join(f"d.{q(k)} IS NOT DISTINCT FROM {compared(decl, k, typed, 'b.')}" for k in decl.primary_key)
        rules.append(
            CompiledRule(
                f"unique_key:{keys}",
                f"EXISTS (SELECT 1 FROM _mesh_duplicate_keys d WHERE {match})",
                f"primary key ({keys}) appears more than once with different values in {decl.id}; "
                "fix: the source must send one version per key",
            )
        )
    for rule in decl.rules:
        rules.append(
            CompiledRule(f"rule:{rule.name}", f"NOT coalesce(({rule.valid_when}), false)",
                         f"{rule.description} ({decl.id} rule {rule.name}); fix: correct the record in the source system")
        )
    return rules


def _column_rules(product_id: str, col: Column, required: bool, typed: bool = False) -> list[CompiledRule]:
    c = q(col.name)
    typ = DUCKDB_TYPES[col.type]
    out = []
    if required:
        empty = f"{c} IS NULL" if typed and col.type != "string" else f"{c} IS NULL OR {_blank(c)}"
        out.append(
            CompiledRule(
                f"not_null:{col.name}",
                empty,
                f"{col.name} is required in {product_id} but is empty; fix: send {col.name} on every record",
            )
        )
    if col.type != "string" and not typed:
        out.append(
            CompiledRule(
                f"valid_type:{col.name}",
                f"{c} IS NOT NULL AND NOT {_blank(c)} AND TRY_CAST({c} AS {typ}) IS NULL",
                f"{col.name} is not a valid {col.type} in {product_id}; fix: send {col.name} as a {col.type}",
            )
        )
    if col.accepted_values:
        values = ", ".join(lit(v) for v in col.accepted_values)
        out.append(
            CompiledRule(
                f"accepted_values:{col.name}",
                f"{c} IS NOT NULL AND CAST({c} AS VARCHAR) NOT IN ({values})",
                f"{col.name} must be one of {list(col.accepted_values)} in {product_id}; fix: map the value in the "
                "source system, or add it to the declaration's accepted values",
            )
        )
    if col.pattern:
        out.append(
            CompiledRule(
                f"pattern:{col.name}",
                f"{c} IS NOT NULL AND NOT regexp_full_match(CAST({c} AS VARCHAR), {lit(col.pattern)})",
                f"{col.name} must match {col.pattern} in {product_id}; fix: correct the identifier in the source system",
            )
        )
    return out


def _blank(c: str) -> str:
    """SQL true when non-null `c` is empty or only spaces. A value starting with a printable
    ASCII character cannot be, so only the others are trimmed: trimming every value was
    most of the cost of a not-null rule on a large text column."""
    text = f"CAST({c} AS VARCHAR)"
    return f"(CASE WHEN {text} >= '!' AND {text} < chr(127) THEN false ELSE trim({text}) = '' END)"


def audit(
    con: duckdb.DuckDBPyConnection,
    decl: _Declared,
    candidate: str,
    target: str,
    run_id: str,
    *,
    drop_exact_duplicates: bool = False,
    writable: bool = False,
) -> AuditResult:
    """Audit relation `candidate` against `decl`; make `target` the valid typed rows and
    keep violations in quarantine.records. Returns counts per rule.

    A clean batch costs one duplicate-key pass and one pass over all rules; when its
    columns already hold their declared types, `target` is a view of it rather than a copy
    (a table all the same when the caller will delete from it: `writable`). Rows are looked
    at one by one (first violated rule, original record, samples) only when some rule fails.
    With `drop_exact_duplicates`, `candidate` is the caller's scratch table (staging's raw
    rows) and loses its extra copies of identical records in place.

    When `candidate` has a boolean `_mesh_new` column (staging audits a new batch together
    with the staged records of the keys it touches), the counts are the new rows' and an
    identical record already staged is the one kept."""
    ensure_quarantine(con)
    typed_already = typed_columns(con, decl, candidate)
    cols = [c.name for c in decl.columns]
    present = con.sql(f"SELECT * FROM {candidate} LIMIT 0").columns
    has_file = "_source_file" in present
    new = "_mesh_new" if "_mesh_new" in present else "true"
    passthrough = cols + (["_source_file"] if has_file else [])

    rows_in = con.execute(f"SELECT count(*) FILTER (WHERE {new}) FROM {candidate}").fetchall()[0][0]
    repeated = _drop_exact_duplicates(con, decl, candidate, has_file, typed_already, new) if drop_exact_duplicates else None
    audited = con.execute(f"SELECT count(*) FILTER (WHERE {new}) FROM {candidate}").fetchall()[0][0]
    duplicated = _find_duplicate_keys(con, decl, candidate, typed_already, repeated)
    # Without a repeated key the unique-key rule cannot fire: no need to look rows up.
    rules = [r for r in compile_rules(decl, typed_already) if duplicated or not r.name.startswith("unique_key:")]

    bad = {r.name: f"coalesce(({r.bad_when}), false)" for r in rules}
    any_bad = " OR ".join(bad.values()) or "false"
    rejected, rejected_new = con.execute(f"SELECT count(*) FILTER (WHERE {any_bad}), count(*) FILTER (WHERE ({any_bad}) AND {new}) "
                                         f"FROM {candidate} b").fetchall()[0]
    violations: dict[str, int] = {}
    if rejected_new:
        counts = con.execute("SELECT " + ", ".join(f"count(*) FILTER (WHERE {b} AND {new})" for b in bad.values())
                             + f" FROM {candidate} b").fetchall()[0]
        violations = {name: int(n) for name, n in zip(bad, counts) if n}

    con.execute(f"CREATE SCHEMA IF NOT EXISTS {target.rsplit('.', 1)[0]}")
    # A view only of a candidate that outlives the audit (staging's raw rows are a temp table).
    if not rejected and not (writable or drop_exact_duplicates) and typed_already == set(cols):
        _drop_unless(con, target, "VIEW")
        con.execute(f"CREATE OR REPLACE VIEW {target} AS SELECT {', '.join(q(c) for c in cols)} FROM {_qualified(con, candidate)}")
    else:
        typed = ", ".join(q(c.name) if c.name in typed_already else f"TRY_CAST({q(c.name)} AS {DUCKDB_TYPES[c.type]}) AS {q(c.name)}"
                          for c in decl.columns)
        keep = f" WHERE NOT ({any_bad})" if rejected else ""
        _drop_unless(con, target, "TABLE")
        con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT {typed} FROM {candidate} b{keep}")
    samples = _quarantine(con, decl, rules, bad, any_bad, candidate, passthrough, has_file, run_id) if rejected else {}
    for scratch in ("_mesh_repeated", "_mesh_duplicate_keys"):
        con.execute(f"DROP TABLE IF EXISTS {scratch}")
    return AuditResult(
        object=decl.id,
        rows_in=rows_in,
        rows_valid=audited - rejected_new,
        exact_duplicates_dropped=rows_in - audited,
        violations=violations,
        samples=samples,
    )


def _drop_exact_duplicates(con: duckdb.DuckDBPyConnection, decl: _Declared, table: str, has_file: bool,
                           typed: frozenset[str], new: str = "true") -> str | None:
    """Delete from `table` every extra copy of a record: a record delivered twice, even in
    two files (a re-sent batch), is one record, kept from the first file it came in (the
    copy already staged, when `new` tells the new rows apart).

    Only records whose key repeats can be copies of each other, so records are grouped by
    the 64-bit hash of their key (of the whole record, without a key) and only those whose
    hash repeats are compared by value: a large batch is neither grouped by every column nor
    copied. Returns the table of repeated key hashes, which also holds every duplicate key."""
    declared = ", ".join(compared(decl, c.name, typed) for c in decl.columns)
    keys = ", ".join(compared(decl, k, typed) for k in decl.primary_key)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_repeated AS "
                f"SELECT hash({keys or declared}) AS h FROM {table} GROUP BY h HAVING count(*) > 1")
    if con.execute("SELECT count(*) FROM _mesh_repeated").fetchone()[0]:
        order = ", ".join(o for o in (new if new != "true" else "", "_source_file" if has_file else "") if o)
        order = f" ORDER BY {order}" if order else ""
        con.execute(f"""DELETE FROM {table} WHERE rowid IN (
            SELECT rowid FROM (SELECT rowid, row_number() OVER (PARTITION BY {declared}{order}) AS _mesh_n
                               FROM {table} WHERE hash({keys or declared}) IN (SELECT h FROM _mesh_repeated))
            WHERE _mesh_n > 1)""")
    return "_mesh_repeated" if keys else None


def _drop_unless(con: duckdb.DuckDBPyConnection, relation: str, kind: str) -> None:
    """Drop `relation` if it is the other kind (a view where a table goes, or the reverse):
    `CREATE OR REPLACE` replaces only its own kind."""
    other = "TABLE" if kind == "VIEW" else "VIEW"
    try:
        con.execute(f"DROP {other} IF EXISTS {relation}")
    except duckdb.CatalogException:
        pass  # it is already a `kind`


def _qualified(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """`relation` with its catalog, so a view in another attached database still finds it."""
    parts = relation.split(".")
    return relation if len(parts) == 3 else ".".join([q(con.execute("SELECT current_database()").fetchone()[0]), *parts])


# DuckDB's own spelling of a declared type, as DESCRIBE reports it.
_DESCRIBED = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def typed_columns(con: duckdb.DuckDBPyConnection, decl: _Declared, relation: str) -> frozenset[str]:
    found = dict(row[:2] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall())
    return frozenset(c.name for c in decl.columns
                     if found.get(c.name) == _DESCRIBED.get(DUCKDB_TYPES[c.type], DUCKDB_TYPES[c.type]))


def _find_duplicate_keys(con: duckdb.DuckDBPyConnection, decl: _Declared, base: str, typed: frozenset[str],
                         repeated: str | None = None) -> int:
    """The keys that occur more than once (the `unique_key` rule looks rows up here); how
    many. Keys are grouped by their 64-bit hash first (cheap; or `repeated` already holds
    the hashes that repeat), then only rows whose hash repeats are grouped by the key
    itself, so a collision never counts as a duplicate."""
    values = [compared(decl, k, typed) for k in decl.primary_key]
    keys = ", ".join(values)
    if not keys:
        con.execute("CREATE OR REPLACE TEMP TABLE _mesh_duplicate_keys AS SELECT NULL AS _none WHERE false")
        return 0
    hashes = f"SELECT h FROM {repeated}" if repeated else f"SELECT hash({keys}) AS h FROM {base} GROUP BY h HAVING count(*) > 1"
    named = ", ".join(f"{v} AS {q(k)}" for v, k in zip(values, decl.primary_key))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _mesh_duplicate_keys AS SELECT {named} FROM {base}
        WHERE hash({keys}) IN ({hashes}) GROUP BY ALL HAVING count(*) > 1"""
    )
    return con.execute("SELECT count(*) FROM _mesh_duplicate_keys").fetchone()[0]


def _quarantine(con, decl: _Declared, rules: list[CompiledRule], bad: dict[str, str], any_bad: str, base: str,
                passthrough: list[str], has_file: bool, run_id: str) -> dict[str, list[str]]:
    """Keep every rejected row with its first violated rule; return a few samples per rule."""
    cols = [c.name for c in decl.columns]
    first = "CASE " + " ".join(f"WHEN {b} THEN {lit(name)}" for name, b in bad.items()) + " END"
    select_cols = ", ".join(q(c) for c in passthrough)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _mesh_rejected AS SELECT {select_cols}, {first} AS _mesh_rule "
                f"FROM {base} b WHERE {any_bad}")
    reasons = "CASE " + " ".join(f"WHEN _mesh_rule = {lit(r.name)} THEN {lit(r.reason)}" for r in rules) + " END"
    record = "to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in cols) + "))"
    con.execute(
        f"""INSERT INTO quarantine.records
        SELECT {lit(decl.id)}, _mesh_rule, {reasons}, {lit(run_id)},
               {'_source_file' if has_file else 'NULL'}, _mesh_record, md5(CAST(_mesh_record AS VARCHAR)), now()
        FROM (SELECT {record} AS _mesh_record, * FROM _mesh_rejected) v
        WHERE NOT EXISTS (SELECT 1 FROM quarantine.records qr
                          WHERE qr.object = {lit(decl.id)} AND qr.rule = v._mesh_rule
                            AND qr.record_hash = md5(CAST(v._mesh_record AS VARCHAR)))"""
    )
    # Samples go into run metadata, which erasure cannot reach: personal values stay in quarantine.
    personal = {c.name for c in decl.columns if c.classification == "pii" or kind_of(c)}
    shown = "to_json(struct_pack(" + ", ".join(
        f"{q(c)} := " + (f"CASE WHEN {q(c)} IS NULL THEN NULL ELSE {lit(REDACTED)} END" if c in personal else q(c))
        for c in cols) + "))"
    samples: dict[str, list[str]] = {}
    for rule, shown_row in con.execute(
        f"SELECT _mesh_rule, CAST({shown} AS VARCHAR) FROM (SELECT *, row_number() OVER (PARTITION BY _mesh_rule) AS _mesh_n "
        f"FROM _mesh_rejected) WHERE _mesh_n <= {SAMPLE_ROWS} ORDER BY _mesh_rule"
    ).fetchall():
        samples.setdefault(rule, []).append(shown_row)
    con.execute("DROP TABLE _mesh_rejected")
    return samples
