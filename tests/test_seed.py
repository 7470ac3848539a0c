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
    assert ids == con.execute(f"SELECT account_id FROM read_csv('{landing / other}/*.csv', all_varchar = true)").fetchall()


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


def test_an_increment_is_new_fresh_and_keeps_every_reference(tmp_path, landing_root):
    """`land_increment` (the freshness benchmark's batches): per event source, the newest
    file again with unseen keys, its newest event at `now`, references and rules intact."""
    import importlib
    import shutil

    from platform_lib.config import MeshPaths
    from platform_lib.ops.seed.increment import land_increment
    from platform_lib.privacy.stores import reader as landed

    shutil.copytree(landing_root / "landing", tmp_path / "landing")
    paths, now = MeshPaths(tmp_path), datetime(2026, 11, 2, 12, 30, tzinfo=timezone.utc)
    con = duckdb.connect()

    def rows(source, files, columns):
        names = [c.name for c in source.columns]
        union = " UNION ALL ".join(f"SELECT {', '.join(columns)} FROM {landed(f, names)}" for f in files)
        return set(con.execute(union).fetchall())

    for domain in ("marketing", "product", "sales", "customer_success"):
        sources = importlib.import_module(f"domains.{domain}.sources").SOURCES
        written = {p.parent.name: p for p in land_increment(paths, sources, "b1", now)}
        referenced = {c.references.split(".")[0] for s in sources for c in s.columns if c.references}
        assert set(written) == {s.name for s in sources if s.name not in referenced and s.event_time}, domain
        for source in (s for s in sources if s.name in written):
            new = written[source.name]
            earlier = sorted(p for p in new.parent.iterdir() if p != new and not p.name.startswith("."))
            key = list(source.primary_key)
            # Null keys are the seed's injected defects, copied with the batch.
            repeated = {k for k in rows(source, [new], key) & rows(source, earlier, key) if None not in k}
            assert not repeated, f"{source.name}: keys repeat {sorted(repeated)[:3]}"
            newest = rows(source, [new], [f"max(TRY_CAST({source.event_time} AS TIMESTAMP))"])
            assert newest == {(now.replace(tzinfo=None),)}, source.name
            for column in source.columns:
                if column.references or column.accepted_values:
                    assert rows(source, [new], [column.name]) == rows(source, earlier[-1:], [column.name]), \
                        f"{source.name}.{column.name} changed values"
