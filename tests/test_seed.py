"""The synthetic source systems: deterministic, honest about their defects, realistic."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import duckdb
import pytest

from platform_lib.ops.seed import generate

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


def digest(root):
    h = hashlib.sha256()
    for path in sorted((root / "landing").rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def reader(landing, entry, files=None):
    paths = [str(landing / f) for f in (files or entry["files"])]
    if entry["format"] == "csv":
        return f"read_csv({paths}, all_varchar = true)"
    if entry["format"] == "jsonl":
        return f"read_json({paths}, format = 'newline_delimited', union_by_name = true)"
    return f"read_parquet({paths}, union_by_name = true)"


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path, landing_root):
    generate(tmp_path / "a", scale="small", seed=7, as_of=AS_OF)
    generate(tmp_path / "b", scale="small", seed=8, as_of=AS_OF)
    assert digest(tmp_path / "a") == digest(landing_root)
    assert digest(tmp_path / "b") != digest(landing_root)


def test_every_domain_and_format_is_landed(landing_root):
    manifest = json.loads((landing_root / "landing" / "_manifest.json").read_text())
    assert {s.split("/")[0] for s in manifest["sources"]} == {"marketing", "product", "sales", "customer_success"}
    assert {s["format"] for s in manifest["sources"].values()} == {"csv", "jsonl", "parquet"}
    assert 80_000 <= sum(s["rows"] for s in manifest["sources"].values()) <= 150_000


def test_manifest_counts_match_the_files(landing_root):
    """Recount every injected defect straight from the landed files."""
    landing = landing_root / "landing"
    manifest = json.loads((landing / "_manifest.json").read_text())
    con = duckdb.connect()
    for name, entry in manifest["sources"].items():
        cols, defects = entry["columns"], entry["defects"]
        drift = entry.get("schema_drift", {}).get("file")
        clean_files = [f for f in entry["files"] if f != drift]
        rel = reader(landing, entry, clean_files)
        total = con.execute(f"SELECT count(*) FROM {rel}").fetchall()[0][0]
        if drift:
            drift_rel = reader(landing, entry, [drift])
            drift_cols = con.execute(f"SELECT * FROM {drift_rel} LIMIT 0").description
            assert "event_timestamp" in [d[0] for d in drift_cols] and "occurred_at" not in [d[0] for d in drift_cols]
            assert con.execute(f"SELECT count(*) FROM {drift_rel}").fetchall()[0][0] == defects["schema_drift"]
            total += defects["schema_drift"]
        assert total == entry["rows"], name
        if not defects:
            continue
        pk, ts = cols["primary_key"], cols["event_time"]
        count = lambda where: con.execute(f"SELECT count(*) FROM {rel} WHERE {where}").fetchall()[0][0]  # noqa: E731
        assert count(f"{pk} IS NULL") == defects["null_key"], name
        assert count(f"{ts} IS NOT NULL AND TRY_CAST({ts} AS TIMESTAMPTZ) IS NULL") == defects["malformed_timestamp"], name
        if "enum" in cols:
            values = ", ".join(f"'{v}'" for v in cols["enum_values"])
            assert count(f"CAST({cols['enum']} AS VARCHAR) NOT IN ({values})") == defects["unknown_enum"], name
        ref = cols.get("reference")
        if ref == "account_id":
            assert count("account_id >= 'ACC-9'") == defects["unknown_account"], name
        if ref == "contact_id":
            assert count("contact_id >= 'CON-9'") == defects["unknown_contact"], name
        distinct = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT * FROM {rel})").fetchall()[0][0]
        assert total - defects.get("schema_drift", 0) - distinct == defects["duplicate_record"], name


@pytest.mark.parametrize("source", ["sales/accounts", "marketing/accounts"])
def test_identifiers_share_one_format_and_universe(landing_root, source):
    landing = landing_root / "landing"
    con = duckdb.connect()
    ids = con.execute(f"SELECT account_id FROM read_csv('{landing / source}/*.csv', all_varchar = true)").fetchall()
    assert all(len(i) == 10 and i.startswith("ACC-") and i[4:].isdigit() for (i,) in ids)
    other = "marketing/accounts" if source == "sales/accounts" else "sales/accounts"
    assert set(ids) == set(con.execute(f"SELECT account_id FROM read_csv('{landing / other}/*.csv', all_varchar = true)").fetchall())


def test_the_same_person_has_the_same_email_everywhere(landing_root):
    landing = landing_root / "landing"
    con = duckdb.connect()
    mismatches = con.execute(f"""
        SELECT count(*) FROM read_csv('{landing}/marketing/contacts/*.csv', all_varchar = true) m
        JOIN read_csv('{landing}/sales/contacts/*.csv', all_varchar = true) s USING (contact_id)
        JOIN read_csv('{landing}/product/users/*.csv', all_varchar = true) u USING (contact_id)
        WHERE m.email <> s.email OR m.email <> u.email""").fetchall()[0][0]
    users = con.execute(f"SELECT count(*) FROM read_csv('{landing}/product/users/*.csv')").fetchall()[0][0]
    assert mismatches == 0 and users > 0


def test_usage_has_weekly_seasonality_and_a_heavy_tail(landing_root):
    con = duckdb.connect()
    events = f"read_parquet('{landing_root}/landing/product/events/*.parquet')"
    weekday, weekend = con.execute(f"""
        SELECT count(*) FILTER (WHERE isodow(t) <= 5) / 5.0, count(*) FILTER (WHERE isodow(t) > 5) / 2.0
        FROM (SELECT TRY_CAST(occurred_at AS TIMESTAMP) t FROM {events}) WHERE t IS NOT NULL""").fetchall()[0]
    assert weekday > 2 * weekend
    top_share = con.execute(f"""
        WITH per AS (SELECT account_id, count(*) n FROM {events} GROUP BY 1),
        ranked AS (SELECT n, row_number() OVER (ORDER BY n DESC) r, count(*) OVER () total FROM per)
        SELECT sum(n) FILTER (WHERE r <= total / 10) / sum(n) FROM ranked""").fetchall()[0][0]
    assert top_share > 0.4


def declared():
    """Every source the four domains declare, by its manifest name ("domain/name")."""
    import importlib

    return {f"{s.domain}/{s.name}": s for d in DOMAINS for s in importlib.import_module(f"domains.{d}.sources").SOURCES}


DOMAINS = ("marketing", "product", "sales", "customer_success")


def recount(con, files, source) -> dict:
    """An entity source's versions, counted from its files: records (keys), records with
    later versions, later versions, those not later than the version they supersede or that
    change nothing, and per column the values a version changed."""
    fmt = source.format
    paths = [str(f) for f in files]
    rel = (f"read_csv({paths}, all_varchar = true)" if fmt == "csv"
           else f"read_parquet({paths}, union_by_name = true)")
    key = ", ".join(source.primary_key)
    cols = [c.name for c in source.columns if c.name not in (source.event_time, "extracted_at")]
    lags = ", ".join(f"lag({c}) OVER k AS _prev_{i}" for i, c in enumerate(cols))
    changed = [f"{c} IS DISTINCT FROM _prev_{i}" for i, c in enumerate(cols)]
    row = con.execute(f"""
        WITH w AS (
            SELECT *, row_number() OVER k AS _n, lag({source.event_time}) OVER k AS _prev_at, {lags} FROM {rel}
            WINDOW k AS (PARTITION BY {key} ORDER BY TRY_CAST({source.event_time} AS TIMESTAMP), TRY_CAST(extracted_at AS TIMESTAMP)))
        SELECT count(DISTINCT ({key})), count(DISTINCT ({key})) FILTER (WHERE _n > 1), count(*) FILTER (WHERE _n > 1),
               count(*) FILTER (WHERE _n > 1 AND TRY_CAST({source.event_time} AS TIMESTAMP) <= TRY_CAST(_prev_at AS TIMESTAMP)),
               count(*) FILTER (WHERE _n > 1 AND NOT ({' OR '.join(changed)})),
               count(*) FILTER (WHERE TRY_CAST({source.event_time} AS TIMESTAMP) > TRY_CAST(extracted_at AS TIMESTAMP)),
               {', '.join(f'count(*) FILTER (WHERE _n > 1 AND {c})' for c in changed)}
        FROM w""").fetchall()[0]
    return {"records": row[0], "records_updated": row[1], "versions": row[2], "not_later": row[3], "unchanged": row[4],
            "after_export": row[5], "columns": {c: n for c, n in zip(cols, row[6:]) if n}}


def test_entity_updates_are_what_the_manifest_says(landing_root):
    """Every entity source has later versions, and the manifest's counts are the files'."""
    landing = landing_root / "landing"
    manifest = json.loads((landing / "_manifest.json").read_text())
    sources = declared()
    entities = {n for n, s in sources.items() if s.evolves == "entity"}
    assert {n for n, e in manifest["sources"].items() if "updates" in e} == entities
    con = duckdb.connect()
    for name in sorted(entities):
        entry, source = manifest["sources"][name], sources[name]
        updates = entry["updates"]
        found = recount(con, [landing / f for f in entry["files"]], source)
        assert found == {"records": updates["records"], "records_updated": updates["records_updated"],
                         "versions": updates["versions"], "not_later": 0, "unchanged": 0, "after_export": 0,
                         "columns": updates["columns"]}, name
        assert entry["rows"] == updates["records"] + updates["versions"] and updates["versions"] > 0, name
        assert entry["defects"] == {}, name
        # Later files hold only records the full export had, each file one extraction.
        first, *later = entry["files"]
        new, had = (set(con.execute(f"SELECT DISTINCT {source.primary_key[0]} FROM {reader(landing, entry, files)}").fetchall())
                    for files in (later, [first]))
        assert new <= had, name
        stamps = [con.execute(f"SELECT DISTINCT extracted_at FROM {reader(landing, entry, [f])}").fetchall() for f in entry["files"]]
        assert all(len(s) == 1 for s in stamps) and stamps == sorted(stamps), name


def test_deals_only_move_forward_and_the_stage_history_logs_them(landing_root):
    from domains.sales.domain import STAGES

    forecast = {"prospecting": "omitted", "discovery": "pipeline", "demo": "pipeline", "proposal": "best_case",
                "negotiation": "commit", "closed_won": "closed", "closed_lost": "closed"}
    landing = landing_root / "landing"
    con = duckdb.connect()
    con.execute(f"""CREATE VIEW deals AS
        SELECT *, list_position({list(STAGES)}, stage) AS rank,
               lag(stage) OVER k AS prev_stage, lag(list_position({list(STAGES)}, stage)) OVER k AS prev_rank
        FROM read_csv('{landing}/sales/opportunities/*.csv', all_varchar = true)
        WINDOW k AS (PARTITION BY opportunity_id ORDER BY TRY_CAST(updated_at AS TIMESTAMP))""")
    moves = con.execute("SELECT count(*) FROM deals WHERE stage <> prev_stage").fetchall()[0][0]
    backwards = con.execute("SELECT count(*) FROM deals WHERE rank < prev_rank").fetchall()[0][0]
    after_close = con.execute("SELECT count(*) FROM deals WHERE prev_stage LIKE 'closed%'").fetchall()[0][0]
    assert moves > 0 and backwards == 0 and after_close == 0
    pairs = con.execute("SELECT DISTINCT stage, forecast_category FROM deals").fetchall()
    assert all(forecast[s] == f for s, f in pairs), pairs
    unlogged = con.execute(f"""SELECT count(*) FROM deals d WHERE stage <> prev_stage AND NOT EXISTS (
        SELECT 1 FROM read_json('{landing}/sales/opportunity_stage_history/*.jsonl', format = 'newline_delimited') h
        WHERE h.opportunity_id = d.opportunity_id AND h.from_stage = d.prev_stage AND h.to_stage = d.stage
          AND TRY_CAST(h.occurred_at AS TIMESTAMP) = TRY_CAST(d.updated_at AS TIMESTAMP))""").fetchall()[0][0]
    assert unlogged == 0


def test_every_version_keeps_accepted_values_and_references(landing_root):
    landing = landing_root / "landing"
    manifest = json.loads((landing / "_manifest.json").read_text())
    sources = declared()
    con = duckdb.connect()
    checked = 0
    for name, source in sources.items():
        if source.evolves != "entity":
            continue
        rel = reader(landing, manifest["sources"][name])
        for column in source.columns:
            if column.accepted_values:
                allowed = ", ".join(f"'{v}'" for v in column.accepted_values)
                bad = con.execute(f"SELECT count(*) FROM {rel} WHERE {column.name} NOT IN ({allowed})").fetchall()[0][0]
                assert bad == 0, f"{name}.{column.name}"
                checked += 1
            if column.references:
                table, key = column.references.split(".")
                target = reader(landing, manifest["sources"][f"{source.domain}/{table}"])
                bad = con.execute(f"SELECT count(*) FROM {rel} WHERE {column.name} IS NOT NULL "
                                  f"AND {column.name} NOT IN (SELECT {key} FROM {target})").fetchall()[0][0]
                assert bad == 0, f"{name}.{column.name}"
                checked += 1
    assert checked >= 6


def test_an_increment_is_new_fresh_and_keeps_every_reference(tmp_path, landing_root):
    """`land_increment` (the freshness benchmark's batches): per event source, the newest
    file again with unseen keys, its newest event at `now`; per entity source, new versions
    of records it had, changed at `now`; per source logging an entity's moves (a deal's
    stage history), the moves those versions make. References and rules hold."""
    import importlib
    import shutil

    from platform_lib.config import MeshPaths
    from platform_lib.ops.seed.changes import MOVES
    from platform_lib.ops.seed.increment import land_increment
    from platform_lib.privacy.stores import reader as landed

    shutil.copytree(landing_root / "landing", tmp_path / "landing")
    paths, now = MeshPaths(tmp_path), datetime(2026, 11, 2, 12, 30, tzinfo=timezone.utc)
    con = duckdb.connect()

    def rows(source, files, columns):
        names = [c.name for c in source.columns]
        union = " UNION ALL ".join(f"SELECT {', '.join(columns)} FROM {landed(f, names)}" for f in files)
        return set(con.execute(union).fetchall())

    for domain in DOMAINS:
        sources = importlib.import_module(f"domains.{domain}.sources").SOURCES
        written = {p.parent.name: p for p in land_increment(paths, sources, "b1", now)}
        assert set(written) == {s.name for s in sources}, domain
        for source in sources:
            new = written[source.name]
            earlier = sorted(p for p in new.parent.iterdir() if p != new and not p.name.startswith("."))
            key = list(source.primary_key)
            newest = rows(source, [new], [f"max(TRY_CAST({source.event_time} AS TIMESTAMP))"])
            assert newest == {(now.replace(tzinfo=None),)}, source.name
            if source.evolves == "entity":
                assert rows(source, [new], key) <= rows(source, earlier, key), f"{source.name}: a new key"
                assert rows(source, [new], ["TRY_CAST(extracted_at AS TIMESTAMP)"]) == {(now.replace(tzinfo=None),)}
                continue
            if f"{domain}/{source.name}" in MOVES:  # the moves the entity's new versions make
                entity, column, before, after = MOVES[f"{domain}/{source.name}"]
                moved = next(s for s in sources if f"{domain}/{s.name}" == entity)
                ref = moved.primary_key[0]
                versions = rows(moved, [written[moved.name]], [ref, column, moved.event_time])
                events = rows(source, [new], [ref, after, source.event_time])
                assert events and events <= versions, f"{source.name}: a move no new version made"
                assert all(a != b for a, b in rows(source, [new], [before, after]))
                continue
            # Null keys are the seed's injected defects, copied with the batch.
            repeated = {k for k in rows(source, [new], key) & rows(source, earlier, key) if None not in k}
            assert not repeated, f"{source.name}: keys repeat {sorted(repeated)[:3]}"
            for column in source.columns:
                if column.references or column.accepted_values:
                    assert rows(source, [new], [column.name]) == rows(source, earlier[-1:], [column.name]), \
                        f"{source.name}.{column.name} changed values"


def test_mesh_seed_increment_lands_a_recorded_batch_once(tmp_path, landing_root):
    """`mesh seed --increment NAME`: one batch into the existing landing zone, recorded with
    exact counts; the same name again, or no landing zone, fails and changes nothing."""
    import shutil

    from tests.helpers import mesh_in_process

    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        shutil.copytree(landing_root / "landing", root / "landing")
    sources = declared()
    con = duckdb.connect()
    landing = roots[0] / "landing"
    before = {n: recount(con, sorted(landing.glob(f"{n}/*.{s.format}")), s) for n, s in sources.items() if s.evolves == "entity"}
    for root in roots:
        out = mesh_in_process("seed", "--increment", "b1", "--as-of", "2026-11-02T12:30:00Z", root=root)
        assert out.returncode == 0, out.stderr
    assert "batch b1 landed" in out.stderr
    assert digest(roots[0]) == digest(roots[1]), "same landing zone and name, different files"

    record = json.loads((landing / "_increments" / "b1.json").read_text())
    assert record["landed_at"] == "2026-11-02T12:30:00Z" and set(record["sources"]) == set(sources)
    assert record["files"] == len(sources) and record["rows"] == sum(e["rows"] for e in record["sources"].values())
    for name, entry in record["sources"].items():
        [file] = entry["files"]
        assert file == f"{name}/part-b1.{sources[name].format}"
        assert con.execute(f"SELECT count(*) FROM {reader(landing, entry)}").fetchall()[0][0] == entry["rows"], name
        if name not in before:
            continue
        updates, after = entry["updates"], recount(con, sorted(landing.glob(f"{name}/*.{sources[name].format}")), sources[name])
        assert after["records"] == before[name]["records"] == updates["records"], f"{name}: a new key"
        assert after["versions"] - before[name]["versions"] == updates["versions"] == updates["records_updated"] == entry["rows"] > 0
        assert after["not_later"] == after["unchanged"] == after["after_export"] == 0, name
        changed = {c: after["columns"].get(c, 0) - before[name]["columns"].get(c, 0) for c in after["columns"]}
        assert {c: n for c, n in changed.items() if n} == updates["columns"], name

    landed = digest(roots[0])
    again = mesh_in_process("seed", "--increment", "b1", root=roots[0])
    assert again.returncode != 0 and "batch 'b1' already landed" in again.stderr
    assert digest(roots[0]) == landed
    empty = tmp_path / "empty"
    out = mesh_in_process("seed", "--increment", "b1", root=empty)
    assert out.returncode != 0 and "write one first with `mesh seed`" in out.stderr
    assert not empty.exists()


def test_an_increment_of_a_given_size_lands_about_that_many_of_the_newest_events(tmp_path, landing_root):
    """`--rows N`: the benchmark's batch is the same size whatever the history it lands on.
    The event sources share N in proportion to their newest files, and each lands its newest
    events; entity updates are unchanged."""
    import shutil

    from platform_lib.ops.seed.changes import MOVES

    from tests.helpers import mesh_in_process

    root = tmp_path / "mesh"
    shutil.copytree(landing_root / "landing", root / "landing")
    sources = declared()
    out = mesh_in_process("seed", "--increment", "b1", "--rows", "500", root=root)
    assert out.returncode == 0, out.stderr
    record = json.loads((root / "landing" / "_increments" / "b1.json").read_text())
    # A deal's stage history lands the moves of the deals' new versions, apart from the N.
    events = {n: e["rows"] for n, e in record["sources"].items() if sources[n].evolves != "entity" and n not in MOVES}
    assert abs(sum(events.values()) - 500) <= len(events), events
    assert all(n >= 1 for n in events.values())
    # More than the newest files hold (a smaller history): the newest events of earlier files too.
    con = duckdb.connect()
    newest = sum(con.execute(f"SELECT count(*) FROM {reader(root / 'landing', {'format': sources[n].format}, [f])}").fetchall()[0][0]
                 for n in events for f in [sorted((root / "landing" / n).glob(f"part-0*.{sources[n].format}"))[-1]])
    out = mesh_in_process("seed", "--increment", "b2", "--rows", str(2 * newest), root=root)
    assert out.returncode == 0, out.stderr
    record = json.loads((root / "landing" / "_increments" / "b2.json").read_text())
    landed = {n: e["rows"] for n, e in record["sources"].items() if sources[n].evolves != "entity" and n not in MOVES}
    assert abs(sum(landed.values()) - 2 * newest) <= len(landed), (landed, newest)
    wrong = mesh_in_process("seed", "--rows", "500", root=tmp_path / "other")
    assert wrong.returncode != 0 and "--increment" in wrong.stderr
