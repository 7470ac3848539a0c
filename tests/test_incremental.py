"""Staging by file, with entity history: each landed file version is staged once, only the
keys it changes are audited again, and a chain of incremental builds publishes exactly
what one full refresh of the same landing zone publishes, row by row."""

from __future__ import annotations

import csv
import importlib
import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance
from deltalake import DeltaTable

from platform_lib.config import MeshPaths
from platform_lib.dagster.resources import domain_resources
from platform_lib.dagster.retention import retention_job
from platform_lib.dagster.workspace import code_locations, declared_products
from platform_lib.storage.ports import OutputPort

from tests.helpers import copy_landing, materialize_domain, mesh_in_process, query

DOMAIN = "sales"
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


def build(root: Path) -> dict[str, dict]:
    """One incremental Dagster run of the domain; each staged source's metadata."""
    result = materialize_domain(DOMAIN, root)
    assert result.success
    return {e.asset_key.path[-1]: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events() if e.asset_key.path[1] == "staging"}


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def current(folder: Path, key: str) -> list[dict]:
    """The newest landed version of each record of an entity source, in key order."""
    newest: dict[str, dict] = {}
    for path in sorted(folder.glob("*.csv")):
        for record in rows(path):
            seen = newest.get(record[key])
            if seen is None or (record["updated_at"], record["extracted_at"]) > (seen["updated_at"], seen["extracted_at"]):
                newest[record[key]] = record
    return [newest[k] for k in sorted(newest)]


def land(folder: Path, name: str, records: list[dict]) -> None:
    with (folder / name).open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def later(stamp: str, days: int) -> str:
    return (datetime.strptime(stamp, STAMP) + timedelta(days=days)).strftime(STAMP)


def published(root: Path) -> dict[str, list]:
    """Every staged table and every output port of the domain, as sorted rows."""
    tables = [t for (t,) in query(root, DOMAIN, "SELECT table_name FROM information_schema.tables "
                                                "WHERE table_schema = 'staging' ORDER BY 1")]
    found = {f"staging.{t}": query(root, DOMAIN, f'SELECT * FROM staging."{t}" ORDER BY ALL') for t in tables}
    for port in sorted((root / "products" / DOMAIN).glob("*/v*")):
        found[str(port.relative_to(root))] = sorted(map(repr, DeltaTable(str(port)).to_pyarrow_table().to_pylist()))
    return found


@pytest.fixture(scope="module")
def chain(landing_root, tmp_path_factory):
    """A domain built, then two batches and a build with nothing new, each incrementally."""
    root = copy_landing(landing_root, tmp_path_factory.mktemp("incremental") / "mesh")
    landing = root / "landing" / DOMAIN
    first = build(root)

    # Batch 1: deals advance (entity updates), a deal for an account nobody knows yet, two
    # versions of one deal that cannot be ordered, an activity id sent again with other
    # values (a conflict), and late activities.
    deals = current(landing / "opportunities", "opportunity_id")
    advanced = [{**d, "stage": "negotiation", "forecast_category": "commit", "amount_usd": "99999.5",
                 "updated_at": later(d["updated_at"], 1), "extracted_at": later(d["extracted_at"], 1)}
                for d in [d for d in deals if d["stage"] not in ("closed_won", "closed_lost", "negotiation")][:3]]
    tied = {**deals[10], "updated_at": later(deals[10]["updated_at"], 2), "extracted_at": later(deals[10]["extracted_at"], 1)}
    orphan = {**deals[20], "opportunity_id": "OPP-9999999", "account_id": "ACC-999999"}
    versions_of_tied = query(root, DOMAIN, "SELECT count(*) FROM staging.opportunities_history WHERE opportunity_id = ?",
                             [tied["opportunity_id"]])
    land(landing / "opportunities", "part-b1.csv",
         [*advanced, tied, {**tied, "amount_usd": "1.0"}, orphan])
    activities = rows(landing / "activities" / "part-00001.csv")
    conflict = {**activities[0], "duration_minutes": "999"}
    late = [{**a, "activity_id": f"{a['activity_id']}-late"} for a in activities[1:6]]
    keyless = {**activities[7], "activity_id": ""}  # rejected: no key; sent again in batch 2
    land(landing / "activities", "part-b1.csv", [conflict, *late, keyless])
    batch1 = build(root)
    after1 = published(root)

    # Batch 2: the unknown account lands, a file is rewritten without one line (as an
    # erasure rewrites it) and another is removed (as retention removes it).
    account = {**rows(landing / "accounts" / "part-00000.csv")[0], "account_id": "ACC-999999", "account_name": "new co"}
    land(landing / "accounts", "part-b2.csv", [account])
    rewritten = landing / "activities" / "part-00002.csv"
    lines = rewritten.read_text().splitlines(keepends=True)
    rewritten.write_text("".join(lines[:1] + lines[2:]))
    removed = sorted((landing / "opportunity_stage_history").glob("*.jsonl"))[1]
    removed.unlink()
    # A value changed in place, the file's size and modification time put back as they were.
    edited = landing / "activities" / "part-00003.csv"
    before = edited.stat()
    header, line, *rest = edited.read_text().splitlines(keepends=True)
    record = dict(zip(header.strip().split(","), line.strip().split(",")))
    minutes = record["duration_minutes"]
    changed = str((int(minutes) + 1) % 10 ** len(minutes)).zfill(len(minutes))
    edited.write_text(header + line.replace(f",{minutes},", f",{changed},", 1) + "".join(rest))
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert edited.stat().st_size == before.st_size
    batch2 = build(root)
    again = build(root)
    land(landing / "activities", "part-b3.csv", [keyless])  # a record without its key, sent again
    resent = build(root)
    return root, {"first": first, "batch1": batch1, "batch2": batch2, "again": again, "resent": resent, "after1": after1,
                  "advanced": advanced, "tied": tied, "versions_of_tied": versions_of_tied, "conflict": conflict, "keyless": keyless, "removed": removed.name,
                  "edited": (record["activity_id"], int(changed))}


def test_an_entity_update_becomes_the_current_version_and_the_earlier_one_history(chain):
    root, seen = chain
    for deal in seen["advanced"]:
        current = query(root, DOMAIN, "SELECT stage, amount_usd FROM staging.opportunities WHERE opportunity_id = ?",
                        [deal["opportunity_id"]])
        assert current == [("negotiation", 99999.5)]
        history = query(root, DOMAIN, "SELECT stage, valid_from, valid_to FROM staging.opportunities_history "
                                      "WHERE opportunity_id = ? ORDER BY valid_from", [deal["opportunity_id"]])
        assert len(history) >= 2 and history[-1][0] == "negotiation" and history[-2][0] != "negotiation", history
        assert all(old[2] == new[1] for old, new in zip(history, history[1:])), "each version ends when the next starts"
        assert history[-1][2] is None, "the current version is open-ended"
    # Two versions with the same times cannot be ordered: both are quarantined, the earlier ones stay.
    tied = seen["tied"]["opportunity_id"]
    assert query(root, DOMAIN, "SELECT count(*) FROM staging.opportunities_history WHERE opportunity_id = ?",
                 [tied]) == seen["versions_of_tied"]
    assert query(root, DOMAIN, "SELECT count(*) FROM quarantine.records WHERE object = 'sales.opportunities' "
                               "AND starts_with(rule, 'unique_key') AND json_extract_string(record, '$.opportunity_id') = ?",
                 [tied]) == [(2,)]
    assert seen["batch1"]["opportunities"]["versions"] == seen["first"]["opportunities"]["versions"] + len(seen["advanced"])
    assert seen["first"]["opportunities"]["versions"] > seen["first"]["opportunities"]["rows_staged"], \
        "the seed lands deals that changed: more versions than deals"


def test_a_key_sent_again_with_other_values_is_a_conflict_for_an_event_source(chain):
    root, seen = chain
    activity = seen["conflict"]["activity_id"]
    assert query(root, DOMAIN, "SELECT count(*) FROM staging.activities WHERE activity_id = ?", [activity]) == [(0,)]
    assert query(root, DOMAIN, "SELECT count(*) FROM quarantine.records WHERE object = 'sales.activities' AND "
                               "json_extract_string(record, '$.activity_id') = ?", [activity]) == [(2,)]


def test_a_record_without_its_key_sent_again_is_a_copy_not_a_second_rejection(chain):
    """As a full run finds it: the second copy is dropped as an exact duplicate, and
    quarantine holds the record once."""
    root, seen = chain
    keyless, resent = seen["keyless"], seen["resent"]["activities"]
    assert (resent["rows_in"], resent["exact_duplicates_dropped"], resent["rows_quarantined"]) == (1, 1, 0), resent
    held = query(root, DOMAIN, "SELECT count(*) FROM quarantine.records WHERE object = 'sales.activities' AND "
                               "json_extract_string(record, '$.occurred_at') = ? AND "
                               "json_extract_string(record, '$.account_id') = ? AND "
                               "coalesce(json_extract_string(record, '$.activity_id'), '') = ''",
                 [keyless["occurred_at"], keyless["account_id"]])
    assert held == [(1,)]


def test_staging_reads_only_new_files_and_audits_only_the_keys_they_change(chain):
    root, seen = chain
    batch1, batch2, again = seen["batch1"], seen["batch2"], seen["again"]
    assert batch1["activities"]["files_staged"] == 1 and batch1["activities"]["rows_in"] == 7
    assert batch1["activities"]["files_unchanged"] == seen["first"]["activities"]["landed_files"]
    assert batch1["activities"]["rows_reaudited"] == 1, "only the conflicting key's earlier record is audited again"
    assert batch1["accounts"]["files_staged"] == 0 and batch1["accounts"]["keys_recomputed"] == 0
    # The account that landed brings back the one deal that pointed at it, nothing else.
    assert batch2["accounts"]["files_staged"] == 1 and batch2["accounts"]["keys_recomputed"] == 1
    assert batch2["opportunities"]["keys_recomputed"] == 1 and batch2["opportunities"]["rows_in"] == 0
    assert batch2["opportunity_stage_history"]["files_removed"] == [f"landing/{DOMAIN}/opportunity_stage_history/{seen['removed']}"]
    assert batch2["activities"]["files_staged"] == 2  # the rewritten file, and the one edited in place
    activity, minutes = seen["edited"]
    assert query(root, DOMAIN, "SELECT duration_minutes FROM staging.activities WHERE activity_id = ?", [activity]) == [(minutes,)]
    for meta in again.values():  # nothing new: nothing read, nothing audited
        assert (meta["files_staged"], meta["rows_in"], meta["keys_recomputed"]) == (0, 0, 0), meta
        assert meta["rows_in"] == meta["rows_published"] + meta["rows_quarantined"] + meta["exact_duplicates_dropped"] + meta["rows_withheld"]


def test_when_the_key_hashes_would_differ_a_source_is_staged_whole_once(landing_root, tmp_path):
    """Staging finds what was staged of a key by the hash kept with each landed record; a
    warehouse whose hashes were computed otherwise (DuckDB upgraded, the key declared
    anew) is staged whole by its next build, and the key stays unique."""
    import duckdb

    root = copy_landing(landing_root, tmp_path / "mesh")
    build(root)
    with duckdb.connect(str(MeshPaths(root).warehouse(DOMAIN))) as con:
        con.execute("UPDATE ledger.key_epochs SET epoch = 'an older engine' WHERE source = 'sales.activities'")
        con.execute("UPDATE landed.activities SET _key = hash(_key)")  # as another hash function left them
    activities = rows(root / "landing" / DOMAIN / "activities" / "part-00001.csv")
    resent = {**activities[0], "duration_minutes": "7"}  # the same key again, with another value
    land(root / "landing" / DOMAIN / "activities", "part-b1.csv", [resent])
    again = build(root)
    assert again["activities"]["full_refresh"] is True and again["accounts"]["full_refresh"] is False
    assert query(root, DOMAIN, "SELECT count(*) FROM staging.activities WHERE activity_id = ?",
                 [resent["activity_id"]]) == [(0,)], "a conflict, as a full run finds it: neither version is staged"
    assert query(root, DOMAIN, "SELECT count(*) - count(DISTINCT activity_id) FROM staging.activities") == [(0,)]


LAB_STAMP = {"occurred_at": "2026-11-02T10:00:00Z", "extracted_at": "2026-11-02T11:00:00Z"}


def lab_source(name: str, *columns, key: tuple[str, ...] = (), **declared):
    """A source of a small `lab` domain, staged through the same platform path as every domain's."""
    from platform_lib import Source
    from platform_lib.declare.columns import EXTRACTED_AT, OCCURRED_AT

    return Source(domain="lab", name=name, format="jsonl", description=f"Lab {name}.", primary_key=key,
                  event_time=declared.pop("event_time", "occurred_at"),
                  columns=(*columns, *([OCCURRED_AT] if "occurred_at" not in [c.name for c in columns] else []), EXTRACTED_AT),
                  **declared)


def lab_land(root: Path, source, name: str, records: list[dict]) -> None:
    folder = root / "landing" / "lab" / source.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(LAB_STAMP | r) + "\n" for r in records))


def lab_stage(root: Path, *sources, only=None, full: bool = False, raise_on_error: bool = True):
    """One Dagster run staging `sources` (or `only` of them): each one's metadata, by name."""
    from dagster import materialize

    from platform_lib import staging_asset
    from platform_lib.dagster.assets import FULL_REFRESH_TAG

    assets = [staging_asset(s) for s in sources]
    result = materialize(assets, resources=domain_resources("lab", MeshPaths(root)), instance=DagsterInstance.ephemeral(),
                         selection=[AssetKey(s.key_path) for s in only] if only else None,
                         tags={FULL_REFRESH_TAG: "true"} if full else None, raise_on_error=raise_on_error)
    if not raise_on_error:
        return result
    return {e.asset_key.path[-1]: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def lab_staged(root: Path, *sources) -> dict[str, list]:
    tables = [t for s in sources for t in (s.table, *([s.history_table] if s.evolves == "entity" else []))]
    return {t: query(root, "lab", f"SELECT * FROM {t} ORDER BY ALL") for t in tables}


def agrees_with_a_full_refresh(root: Path, *sources) -> None:
    copy = root.with_name(f"{root.name}-full")
    shutil.copytree(root, copy)
    lab_stage(copy, *sources, full=True)
    assert lab_staged(root, *sources) == lab_staged(copy, *sources)


def test_a_source_without_a_primary_key_stages_a_record_sent_again_once_empty_values_and_all(tmp_path):
    """Without a primary key the whole record identifies it, an empty value included: the
    same record in a later file is an exact duplicate, as a full refresh finds it."""
    from platform_lib.declare.columns import text

    clicks = lab_source("clicks", text("page", "Page."), text("referrer", "Referrer, when known."))
    root = tmp_path / "mesh"
    direct, pricing, docs = {"page": "/", "referrer": None}, {"page": "/pricing", "referrer": "ads"}, {"page": "/docs", "referrer": None}
    lab_land(root, clicks, "a.jsonl", [direct, pricing])
    lab_stage(root, clicks)
    lab_land(root, clicks, "b.jsonl", [direct, docs])
    again = lab_stage(root, clicks)["clicks"]
    assert (again["rows_in"], again["exact_duplicates_dropped"], again["rows_quarantined"]) == (2, 1, 0), again
    assert query(root, "lab", "SELECT page, referrer FROM staging.clicks ORDER BY ALL") == [("/", None), ("/docs", None), ("/pricing", "ads")]
    agrees_with_a_full_refresh(root, clicks)


def test_records_staged_again_as_they_were_change_no_key(tmp_path):
    """A file rewritten with the same records, or an export sent again, is staged (its
    content is new) but changes no key, so nothing reading the source is recomputed for it;
    nor does a record quarantined before and after, or new and quarantined. A record it
    really changes or drops is logged as usual."""
    from platform_lib.declare.columns import UPDATED_AT, double, key, text

    accounts = lab_source("accounts", key("account_id", "Id."), text("name", "Name."), UPDATED_AT, key=("account_id",),
                          evolves="entity", event_time="updated_at")
    visits = lab_source("visits", key("visit_id", "Id."), text("page", "Page."), double("score", "Score."), key=("visit_id",))
    root = tmp_path / "mesh"
    one, two = ({"account_id": f"ACC-{n}", "name": f"n{n}", "updated_at": "2026-11-01T00:00:00Z"} for n in (1, 2))
    pages = [{"visit_id": f"V{n}", "page": f"/p{n}", "score": "0"} for n in range(3)]
    bad = {"visit_id": "V9", "page": "/p9", "score": "not a number"}
    lab_land(root, accounts, "a.jsonl", [one, two])
    lab_land(root, visits, "a.jsonl", [*pages, bad])
    lab_stage(root, accounts, visits)

    def logged() -> int:
        return sum(query(root, "lab", f"SELECT count(*) FROM ledger.{t}_changes")[0][0] for t in ("accounts", "visits"))

    before = logged()
    lab_land(root, accounts, "a.jsonl", [two, one])  # rewritten: other bytes, the same records
    lab_land(root, accounts, "b.jsonl", [one])  # the export sent again
    lab_land(root, visits, "a.jsonl", [bad, *pages[::-1]])
    lab_land(root, visits, "b.jsonl", [{**bad, "visit_id": "V8"}])
    again = lab_stage(root, accounts, visits)
    assert [(again[s]["files_staged"], again[s]["keys_recomputed"]) for s in ("accounts", "visits")] == [(2, 0), (2, 0)], again
    assert logged() == before

    lab_land(root, accounts, "c.jsonl", [{**two, "name": "renamed", "updated_at": "2026-11-02T00:00:00Z"}])
    # The source dropped a record, and changed another's score to minus zero (a value of its own).
    lab_land(root, visits, "a.jsonl", [{**pages[1], "score": "-0"}, pages[2]])
    changed = lab_stage(root, accounts, visits)
    assert [changed[s]["keys_recomputed"] for s in ("accounts", "visits")] == [1, 2], changed
    assert query(root, "lab", "SELECT DISTINCT account_id FROM ledger.accounts_changes WHERE seq = 3") == [("ACC-2",)]
    assert query(root, "lab", "SELECT DISTINCT visit_id FROM ledger.visits_changes WHERE seq = 3 ORDER BY 1") == [("V0",), ("V1",)]
    agrees_with_a_full_refresh(root, accounts, visits)


def test_a_record_waiting_for_an_account_that_arrived_and_changed_before_it_was_staged_again_is_staged(tmp_path):
    """A deal pointing at an unknown account is quarantined. The account then lands and
    changes in two runs that stage accounts alone (a run that failed before the deals, the
    accounts materialized by hand): the account arrived in the first, so the deal's next
    staging brings the deal back, as a full refresh does."""
    from platform_lib.declare.columns import UPDATED_AT, key, text

    accounts = lab_source("accounts", key("account_id", "Id."), text("name", "Name."), UPDATED_AT, key=("account_id",),
                          evolves="entity", event_time="updated_at")
    deals = lab_source("deals", key("deal_id", "Id."), text("account_id", "Account.", references="accounts.account_id"),
                       key=("deal_id",))
    root = tmp_path / "mesh"
    lab_land(root, accounts, "a.jsonl", [{"account_id": "ACC-1", "name": "one", "updated_at": "2026-11-01T00:00:00Z"}])
    lab_land(root, deals, "a.jsonl", [{"deal_id": "D1", "account_id": "ACC-2"}])
    assert lab_stage(root, accounts, deals)["deals"]["rows_quarantined"] == 1
    for name, day in (("b.jsonl", "03"), ("c.jsonl", "04")):
        lab_land(root, accounts, name, [{"account_id": "ACC-2", "name": f"two {day}", "updated_at": f"2026-11-{day}T00:00:00Z"}])
        lab_stage(root, accounts, deals, only=[accounts])
    lab_stage(root, accounts, deals, only=[deals])
    assert query(root, "lab", "SELECT deal_id FROM staging.deals") == [("D1",)]
    agrees_with_a_full_refresh(root, accounts, deals)


def test_references_staging_refuses_or_cannot_check_say_so_and_odd_column_names_stage(tmp_path):
    """A reference on an integer column is compared as an integer (a value not one is the
    type rule's); a source staged before the source it references has ever been staged
    fails naming both; a column may be named as the audit's own scratch columns were; a
    reference to the source itself is refused at declaration."""
    from pydantic import ValidationError

    from platform_lib.declare.columns import integer, key, text

    parents = lab_source("parents", integer("pid", "Id."), key=("pid",))
    kids = lab_source("kids", key("kid", "Id."), integer("pid", "Parent.", references="parents.pid"),
                      integer("n", "Sequence number."), text("rec", "Recorded by."), key=("kid",))
    root = tmp_path / "mesh"
    lab_land(root, parents, "a.jsonl", [{"pid": "1"}])
    lab_land(root, kids, "a.jsonl", [{"kid": "k1", "pid": "1", "n": "1", "rec": "x"}, {"kid": "k2", "pid": "abc", "n": "2", "rec": "x"},
                                     {"kid": "k3", "pid": "2", "n": "3", "rec": "x"}])
    failed = lab_stage(root, parents, kids, only=[kids], raise_on_error=False)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    assert "kids: pid references parents, which has not been staged yet" in str(failure.step_failure_data.error)
    staged = lab_stage(root, parents, kids)["kids"]
    assert query(root, "lab", "SELECT kid FROM staging.kids") == [("k1",)]
    assert staged["rows_quarantined"] == 2, staged
    with pytest.raises(ValidationError, match="references orgs itself"):
        lab_source("orgs", key("org_id", "Id."), text("parent_id", "Parent.", references="orgs.org_id"), key=("org_id",))


def test_a_key_or_an_instant_spelled_two_ways_is_one_value(tmp_path):
    """Records are compared as the values they hold: an integer key sent as '1' and '01' is
    one key (with other values: a conflict, not two staged rows), and two versions of an
    entity at one instant, spelled two ways, are a tie the source must break, as in one file."""
    from platform_lib.declare.columns import UPDATED_AT, double, integer, key, text

    numbers = lab_source("numbers", integer("n", "Key."), text("v", "Value."), key=("n",))
    levels = lab_source("levels", double("x", "Key."), text("v", "Value."), key=("x",))
    deals = lab_source("deals", key("deal_id", "Id."), text("stage", "Stage."), UPDATED_AT, key=("deal_id",),
                       evolves="entity", event_time="updated_at")
    root = tmp_path / "mesh"
    lab_land(root, numbers, "a.jsonl", [{"n": "1", "v": "a"}, {"n": "2", "v": "x"}])
    lab_land(root, deals, "a.jsonl", [{"deal_id": "D1", "stage": "won", "updated_at": "2026-11-02 00:00:00+00"}])
    lab_land(root, levels, "a.jsonl", [{"x": "0", "v": "a"}, {"x": "1.5", "v": "a"}])
    lab_stage(root, numbers, deals, levels)
    lab_land(root, numbers, "b.jsonl", [{"n": "01", "v": "b"}, {"n": "02", "v": "x"}])
    lab_land(root, deals, "b.jsonl", [{"deal_id": "D1", "stage": "lost", "updated_at": "2026-11-02T00:00:00Z"}])
    lab_land(root, levels, "b.jsonl", [{"x": "-0", "v": "a"}, {"x": "-0.0", "v": "b"}, {"x": "1.50", "v": "a"}])
    staged = lab_stage(root, numbers, deals, levels)
    assert query(root, "lab", "SELECT n, v FROM staging.numbers") == [(2, "x")]
    assert staged["numbers"]["exact_duplicates_dropped"] == 1 and staged["numbers"]["rows_quarantined"] == 1
    assert query(root, "lab", "SELECT count(*) FROM staging.deals") == [(0,)]
    # Minus zero is zero: one key, its record sent again once and changed once (a conflict).
    assert (staged["levels"]["exact_duplicates_dropped"], staged["levels"]["rows_quarantined"]) == (2, 1), staged["levels"]
    assert query(root, "lab", "SELECT x, v FROM staging.levels") == [(1.5, "a")]
    agrees_with_a_full_refresh(root, numbers, deals, levels)


def test_an_event_is_judged_plausible_at_its_extraction_so_a_later_full_refresh_judges_it_the_same(tmp_path):
    """An event more than a day after its own extraction is implausible whenever it is
    staged; judged against the clock, one a day ahead would be rejected today and staged by
    a full refresh tomorrow."""
    from platform_lib.declare.columns import key

    events = lab_source("events", key("event_id", "Id."), key=("event_id",))
    root = tmp_path / "mesh"
    lab_land(root, events, "a.jsonl", [
        {"event_id": "in-time", "occurred_at": "2026-11-02T10:00:00Z", "extracted_at": "2026-11-02T11:00:00Z"},
        {"event_id": "ahead", "occurred_at": "2026-11-03T12:00:00Z", "extracted_at": "2026-11-02T11:00:00Z"}])
    assert lab_stage(root, events)["events"]["rows_quarantined"] == 1
    assert query(root, "lab", "SELECT rule FROM quarantine.records") == [("plausible_time:occurred_at",)]
    agrees_with_a_full_refresh(root, events)


def test_a_consumer_copying_a_port_while_its_producer_commits_holds_each_row_once(landing_root, tmp_path, monkeypatch):
    """An import reads one version of the port throughout: a producer commit that lands
    between the consumer's look at the version and its copy is applied by the next import,
    once. The interleaving is forced: the producer's build runs as the copy begins."""
    from platform_lib.lifecycle import read
    from platform_lib.storage.warehouse import connect

    root = copy_landing(landing_root, tmp_path / "mesh")
    build(root)
    paths, ref = MeshPaths(root), "sales.account_interactions"
    activities = root / "landing" / DOMAIN / "activities"
    copy_whole = read._copy_whole

    def producer_commits_first(*args):
        first = rows(sorted(activities.glob("*.csv"))[0])
        land(activities, "part-race.csv", [{**r, "activity_id": f"{r['activity_id']}-race"} for r in first[:5]])
        build(root)
        return copy_whole(*args)

    monkeypatch.setattr(read, "_copy_whole", producer_commits_first)
    with connect(paths, "revenue_operations") as con:
        assert read.import_port(con, paths, ref, "revenue_operations").startswith("v1@0:")
    monkeypatch.setattr(read, "_copy_whole", copy_whole)
    port = DeltaTable(str(root / "products" / DOMAIN / "account_interactions" / "v1"))
    assert port.version() > 0
    with connect(paths, "revenue_operations") as con:
        assert read.import_port(con, paths, ref, "revenue_operations").startswith(f"v1@{port.version()}:")
        con.register("served", port.to_pyarrow_dataset())
        for a, b in (("ports.sales__account_interactions", "served"), ("served", "ports.sales__account_interactions")):
            assert con.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchone()[0] == 0, (a, b)


def test_a_record_rejected_for_an_unknown_account_is_staged_once_the_account_lands(chain):
    root, seen = chain
    assert "OPP-9999999" not in {r[0] for r in seen["after1"]["staging.opportunities"]}
    assert query(root, DOMAIN, "SELECT account_id FROM staging.opportunities WHERE opportunity_id = 'OPP-9999999'") == [("ACC-999999",)]


def test_a_full_refresh_publishes_exactly_what_the_incremental_chain_published(chain, tmp_path):
    root, _ = chain
    copy = tmp_path / "mesh"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("dagster"))
    ports = sorted((copy / "products" / DOMAIN).glob("*/v*"))
    versions = {str(p.relative_to(copy)): OutputPort(p).version() for p in ports}
    out = mesh_in_process("build", "--select", DOMAIN, "--full-refresh", root=copy)
    assert out.returncode == 0, out.stdout + out.stderr
    # What a port already holds is not published again, whether it was written whole or by key.
    assert {str(p.relative_to(copy)): OutputPort(p).version() for p in ports} == versions
    incremental, full = published(root), published(copy)
    assert set(incremental) == set(full) and any(k.startswith("products/") for k in full)
    for name in full:
        assert incremental[name] == full[name], name
    assert query(copy, DOMAIN, "SELECT bool_and(full_refresh) FROM ledger.stagings WHERE seq = "
                               "(SELECT max(seq) FROM ledger.stagings s WHERE s.source = stagings.source)") == [(True,)]


def test_an_account_that_lands_brings_back_the_events_that_pointed_at_it_and_only_those(landing_root, tmp_path):
    """Product events point at a workspace's `account_id`, not at its key: the change log
    carries the identifiers each changed record held, so only the events of that account
    are audited again, never the whole history."""
    from dagster import AssetKey

    root = copy_landing(landing_root, tmp_path / "mesh")
    selection = [AssetKey(["product", "staging", s]) for s in ("workspaces", "events")]

    def stage() -> dict[str, dict]:
        result = materialize_domain("product", root, selection=selection)
        assert result.success
        return {e.asset_key.path[-1]: {k: v.value for k, v in e.materialization.metadata.items()}
                for e in result.get_asset_materialization_events()}

    stage()
    [(account, orphans)] = query(root, "product", """SELECT json_extract_string(record, '$.account_id') AS a, count(*)
        FROM quarantine.records WHERE object = 'product.events' AND rule = 'known_reference:account_id'
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1""")
    folder = root / "landing" / "product" / "workspaces"
    land(folder, "part-new.csv", [{**rows(sorted(folder.glob("*.csv"))[0])[0], "workspace_id": "WS-NEW-1", "account_id": account}])
    meta = stage()
    assert query(root, "product", "SELECT count(*) FROM staging.events WHERE account_id = ?", [account]) == [(orphans,)]
    assert meta["events"]["keys_recomputed"] == orphans and meta["events"]["rows_in"] == 0, meta["events"]

    # A new version of a workspace that keeps its account (its plan changed) changes no
    # reference: no event is audited again.
    workspace = rows(sorted(folder.glob("*.csv"))[0])[0]
    land(folder, "part-plan.csv", [{**workspace, "updated_at": later(workspace["updated_at"], 1),
                                    "extracted_at": later(workspace["extracted_at"], 1)}])
    meta = stage()
    assert meta["workspaces"]["keys_recomputed"] == 1, meta["workspaces"]
    assert meta["events"]["keys_recomputed"] == 0, meta["events"]


def test_the_full_rebuild_job_in_the_ui_is_a_full_refresh():
    from platform_lib.dagster.assets import FULL_REFRESH_TAG

    from tests.helpers import domain_defs

    job = domain_defs(DOMAIN).get_schedule_def("full_rebuild_daily").job
    assert job.name == "full_rebuild" and job.tags.get(FULL_REFRESH_TAG) == "true"


def products_built(result) -> dict[str, dict]:
    """Each product's materialization metadata in a run, by product name."""
    return {e.asset_key.path[-1]: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events() if len(e.asset_key.path) == 2}


def port_reads(root: Path, consumer: str, rows: bool = False) -> list:
    """The products a domain's builds read from their ports, per the access log (with the
    rows each read took)."""
    log = root / "audit" / "access.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [(e["product"], e["rows"]) if rows else e["product"] for e in entries if e.get("purpose") == f"build of {consumer}"]


def test_a_product_is_recomputed_only_when_what_it_reads_changed(private_mesh):
    """A build after nothing new recomputes no product and copies no port; a batch that lands
    in one source recomputes the products that read it, downstream across domains, and the
    consumer copies only the port that changed."""
    root = private_mesh("only-changed")
    versions = {p: DeltaTable(str(p)).version() for p in sorted((root / "products").glob("*/*/v*"))}
    reads_before = port_reads(root, "revenue_operations")

    for domain in ("sales", "marketing", "revenue_operations"):
        result = materialize_domain(domain, root)
        products = products_built(result)
        assert products and all(m["recomputed"] is False for m in products.values()), (domain, products)
        checks = [c for c in result.get_asset_check_evaluations() if c.asset_key.path[1] != "staging"]
        # What the content was found to be stands; the SLAs that move with time are measured again.
        replayed = {c.check_name for c in checks if "inputs_unchanged" in c.metadata}
        assert {"quality_score", "schema_contract"} <= replayed and not {"freshness", "availability"} & replayed
        assert {"freshness", "availability"} <= {c.check_name for c in checks}
    assert {p: DeltaTable(str(p)).version() for p in versions} == versions, "nothing new: no port commits"
    assert port_reads(root, "revenue_operations") == reads_before, "unchanged ports are not copied again"

    activities = root / "landing" / DOMAIN / "activities"
    late = [{**a, "activity_id": f"{a['activity_id']}-next"} for a in rows(sorted(activities.glob("*.csv"))[0])[:5]]
    land(activities, "part-next.csv", late)
    port = root / "products" / "sales" / "account_interactions" / "v1"
    before = DeltaTable(str(port)).to_pyarrow_table().num_rows
    sales = products_built(materialize_domain(DOMAIN, root))
    interactions = sales["account_interactions"]
    assert interactions["recomputed"] is True
    # Computed per account and week: only the weeks of the five late activities, audited and
    # replaced in the port in one commit whose change feed carries only their rows.
    assert interactions["update"] == "keys", interactions
    assert 1 <= interactions["keys_recomputed"] <= 5
    assert interactions["rows_in"] <= 5 * interactions["keys_recomputed"] and interactions["rows_inserted"] >= 1
    assert interactions["dagster/row_count"] == DeltaTable(str(port)).to_pyarrow_table().num_rows \
        == before + interactions["rows_inserted"] - interactions["rows_deleted"]
    table = DeltaTable(str(port))
    assert table.history(1)[0]["operationParameters"]["predicate"]
    feed = pa.table(table.load_cdf(starting_version=table.version(), ending_version=table.version()).read_all())
    assert 0 < feed.num_rows <= 2 * interactions["rows_inserted"] + interactions["rows_deleted"]
    assert {n for n, m in sales.items() if m["recomputed"]} == {"account_interactions"}, \
        "products that do not read activities are not recomputed"
    revops = products_built(materialize_domain("revenue_operations", root))
    assert revops["account_360"]["recomputed"] is True
    # The consumer reads the port's change feed since the version it last read, not the port.
    [(read, taken)] = port_reads(root, "revenue_operations", rows=True)[len(reads_before):]
    assert read == "sales.account_interactions" and 0 < taken <= feed.num_rows
    copied = query(root, "revenue_operations", "SELECT * FROM ports.sales__account_interactions")
    assert sorted(map(tuple, copied)) == sorted(tuple(r.values()) for r in table.to_pyarrow_table().to_pylist())

    # A feed whose files are gone (retention and erasure remove them with old versions):
    # the consumer reads the port whole instead.
    land(activities, "part-after.csv", [{**a, "activity_id": f"{a['activity_id']}-after"} for a in late])
    assert products_built(materialize_domain(DOMAIN, root))["account_interactions"]["update"] == "keys"
    for feed in port.glob("_change_data/*"):
        feed.unlink()
    materialize_domain("revenue_operations", root)
    [(read, taken)] = port_reads(root, "revenue_operations", rows=True)[len(reads_before) + 1:]
    table = DeltaTable(str(port))
    assert read == "sales.account_interactions" and taken == table.to_pyarrow_table().num_rows
    copied = query(root, "revenue_operations", "SELECT * FROM ports.sales__account_interactions")
    assert sorted(map(tuple, copied)) == sorted(tuple(r.values()) for r in table.to_pyarrow_table().to_pylist())


def test_the_landing_sensor_starts_a_run_for_a_removed_file_and_a_file_edited_in_place(landing_root, tmp_path):
    """The sensor sees what staging sees: a file removed (its records must leave) and a file
    rewritten with its size and modification time put back (its change time moved)."""
    from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

    from platform_lib.config import MeshPaths
    from platform_lib.dagster.resources import domain_resources

    from tests.helpers import domain_defs

    root = copy_landing(landing_root, tmp_path / "mesh")
    defs = domain_defs(DOMAIN)

    def tick(cursor: str | None):
        context = build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=cursor,
                                       resources={"mesh": domain_resources(DOMAIN, MeshPaths(root))["mesh"]},
                                       repository_def=defs.get_repository_def())
        return defs.get_sensor_def(f"{DOMAIN}_landing")(context), context.cursor

    first, cursor = tick(None)
    assert isinstance(first, RunRequest)
    quiet, cursor = tick(cursor)
    assert isinstance(quiet, SkipReason)

    removed = sorted((root / "landing" / DOMAIN / "opportunity_stage_history").glob("*.jsonl"))[0]
    removed.unlink()
    request, cursor = tick(cursor)
    assert isinstance(request, RunRequest)
    assert [DOMAIN, "staging", "opportunity_stage_history"] in [k.path for k in request.asset_selection]

    edited = sorted((root / "landing" / DOMAIN / "activities").glob("*.csv"))[0]
    before = edited.stat()
    text = edited.read_text()
    edited.write_text(text[:-2] + ("0" if text[-2] != "0" else "1") + text[-1])
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    request, cursor = tick(cursor)
    assert isinstance(request, RunRequest)
    assert [DOMAIN, "staging", "activities"] in [k.path for k in request.asset_selection]


def ports_agree_with_a_full_refresh(root: Path, copy: Path, domain: str) -> None:
    """A full refresh of `domain` on a copy of the mesh publishes every port row by row as the chain did."""
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("dagster"))
    out = mesh_in_process("build", "--select", domain, "--full-refresh", root=copy)
    assert out.returncode == 0, out.stdout + out.stderr
    for port in sorted((root / "products" / domain).glob("*/v*")):
        incremental = sorted(map(repr, DeltaTable(str(port)).to_pyarrow_table().to_pylist()))
        full = sorted(map(repr, DeltaTable(str(copy / port.relative_to(root))).to_pyarrow_table().to_pylist()))
        assert incremental == full, port.parent.name


def test_a_product_computed_per_key_recomputes_only_the_keys_a_batch_changed_and_agrees_with_a_full_refresh(
        landing_root, tmp_path):
    """feature_usage (per account and day) and session_analytics (per account and day, over
    30-day trailing windows) recompute only the account-days a batch reached: new and late
    events, and the events of a removed file. A full refresh then publishes the same rows."""
    root = copy_landing(landing_root, tmp_path / "mesh")
    first = products_built(materialize_domain("product", root))
    assert first["feature_usage"]["update"] == "whole" and first["feature_usage"]["update_reason"] == "first build"

    out = mesh_in_process("seed", "--increment", "b1", root=root)
    assert out.returncode == 0, out.stdout + out.stderr
    sorted((root / "landing" / "product" / "events").glob("part-*"))[0].unlink()
    # Late sessions: users seen again ten days before their sessions of a month ago, which
    # reaches the trailing windows of the days after.
    sessions = root / "landing" / "product" / "sessions"
    old = pq.read_table(sorted(sessions.glob("part-*"))[2]).slice(0, 30).to_pylist()
    pq.write_table(pa.Table.from_pylist([
        {**s, "session_id": f"{s['session_id']}-late", "occurred_at": later(s["occurred_at"], -10),
         "ended_at": later(s["ended_at"], -10)} for s in old]), sessions / "part-late.parquet")
    batch = products_built(materialize_domain("product", root))
    for name in ("feature_usage", "session_analytics"):
        meta = batch[name]
        assert meta["recomputed"] is True and meta["update"] == "keys", meta
        assert 0 < meta["keys_recomputed"] < first[name]["dagster/row_count"], meta
        # The row ledger balances with the rows of the keys not recomputed, which the port keeps.
        assert meta["rows_in"] + meta["rows_kept"] == meta["rows_published"] + meta["rows_quarantined"] + \
            meta["exact_duplicates_dropped"] + meta["rows_withheld"], meta
    assert batch["product_health_scores"]["update"] == "whole"  # scored over the whole horizon: no keys

    ports_agree_with_a_full_refresh(root, tmp_path / "full", "product")


def test_web_behavior_recomputes_the_account_days_a_batch_reached_and_agrees_with_a_full_refresh(landing_root, tmp_path):
    """Marketing's web_behavior is computed per account and day: a batch of sessions and page
    views, late ones included, recomputes only the account-days they reached."""
    root = copy_landing(landing_root, tmp_path / "mesh")
    first = products_built(materialize_domain("marketing", root))
    assert first["web_behavior"]["update"] == "whole"
    out = mesh_in_process("seed", "--increment", "b1", root=root)
    assert out.returncode == 0, out.stdout + out.stderr
    views = root / "landing" / "marketing" / "page_views"
    old = pq.read_table(sorted(views.glob("part-*"))[1]).slice(0, 25).to_pylist()  # late views, weeks back
    pq.write_table(pa.Table.from_pylist([{**v, "page_view_id": f"{v['page_view_id']}-late"} for v in old]),
                   views / "part-late.parquet")
    batch = products_built(materialize_domain("marketing", root))["web_behavior"]
    assert batch["update"] == "keys" and 0 < batch["keys_recomputed"] < first["web_behavior"]["dagster/row_count"], batch

    ports_agree_with_a_full_refresh(root, tmp_path / "full", "marketing")


def test_a_per_key_batch_is_judged_on_the_product_it_would_serve_as_a_full_refresh_judges_it(landing_root, tmp_path):
    """The quality score of a product recomputed per key is the product's as it would be
    served, the rows kept included: one activity without its direction makes its
    account-week fail a rule, and that row is quarantined while the rest publishes, as a
    full refresh of the same landing zone does, instead of one bad row of a one-row batch
    holding every later batch of its key back."""
    root = copy_landing(landing_root, tmp_path / "mesh")
    build(root)
    activities = root / "landing" / DOMAIN / "activities"
    staged = {a for (a,) in query(root, DOMAIN, "SELECT activity_id FROM staging.activities")}
    done = next(a for a in rows(sorted(activities.glob("*.csv"))[0]) if a["activity_id"] in staged and a["direction"])
    land(activities, "part-nodir.csv", [{**done, "activity_id": f"{done['activity_id']}-nodir", "direction": ""}])
    built = products_built(materialize_domain(DOMAIN, root))["account_interactions"]
    assert built["update"] == "keys" and (built["rows_in"], built["rows_quarantined"]) == (1, 1), built
    assert built["rows_kept"] > 0 and built["quality_score"] >= 0.95, built

    copy = tmp_path / "full"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("dagster"))
    out = mesh_in_process("build", "--select", DOMAIN, "--full-refresh", root=copy)
    assert out.returncode == 0, out.stdout + out.stderr
    port = root / "products" / DOMAIN / "account_interactions" / "v1"
    assert sorted(map(repr, DeltaTable(str(port)).to_pyarrow_table().to_pylist())) == \
        sorted(map(repr, DeltaTable(str(copy / port.relative_to(root))).to_pyarrow_table().to_pylist()))


def test_a_build_that_recomputes_nothing_starts_nothing_downstream(private_mesh):
    """Declarative automation follows new versions, not materializations: a Sales build with
    nothing new (its products at the same data version) asks for no Revenue Operations run;
    a batch that changes a Sales port does."""
    from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions

    from tests.helpers import domain_defs

    root = private_mesh("automation")
    instance = DagsterInstance.from_config(str(root / "dagster"))
    revops = domain_defs("revenue_operations")
    tick = evaluate_automation_conditions(revops, instance)
    materialize_domain(DOMAIN, root, instance=instance)
    tick = evaluate_automation_conditions(revops, instance, cursor=tick.cursor)
    assert tick.total_requested == 0

    activities = root / "landing" / DOMAIN / "activities"
    land(activities, "part-next.csv",
         [{**a, "activity_id": f"{a['activity_id']}-next"} for a in rows(sorted(activities.glob("*.csv"))[0])[:5]])
    materialize_domain(DOMAIN, root, instance=instance)
    tick = evaluate_automation_conditions(revops, instance, cursor=tick.cursor)
    assert tick.get_num_requested(AssetKey(["revenue_operations", "account_360"])) == 1


def test_after_an_erasure_and_a_retention_run_the_chain_still_agrees_with_a_full_refresh(landing_root, tmp_path):
    """The two runs that delete outside staging, inside the chain: an erasure of a contact
    (landed files rewritten, staged rows and port rows deleted, products recomputed) and a
    retention run (activities kept only for their newest days). The incremental builds
    after them, one of them per key, publish what a full refresh of the same landing zone
    publishes, row by row."""
    root = copy_landing(landing_root, tmp_path / "mesh")
    build(root)
    activities = root / "landing" / DOMAIN / "activities"
    first = rows(sorted(activities.glob("*.csv"))[0])
    staged = {a for (a,) in query(root, DOMAIN, "SELECT activity_id FROM staging.activities")}
    contact = next(a["contact_id"] for a in first if a["contact_id"] and a["activity_id"] in staged)
    mine = next(a for a in first if a["contact_id"] == contact and a["activity_id"] in staged)
    old = next(a for a in first if a["contact_id"] not in ("", contact) and a["activity_id"] in staged)
    newest = max(a["occurred_at"] for p in activities.glob("*.csv") for a in rows(p) if a["activity_id"] in staged)
    # Two records sent again with other values, each quarantined with its first copy as a
    # conflict until the erasure (the contact's copy) or retention (the old copy) deletes
    # one: the other is then the only record of its key, and staged, as a full refresh finds.
    land(activities, "part-b1.csv", [{**a, "activity_id": f"{a['activity_id']}-b1"} for a in first[:20]])
    later = {"occurred_at": newest, "extracted_at": newest}  # sent again in a later export
    land(activities, "part-partners.csv", [{**mine, "contact_id": old["contact_id"], **later}, {**old, **later}])
    build(root)
    partners = f"SELECT activity_id FROM staging.activities WHERE activity_id IN ('{mine['activity_id']}', '{old['activity_id']}')"
    assert query(root, DOMAIN, partners) == []

    assert list((root / "products" / DOMAIN / "account_interactions" / "v1").glob("_change_data/*"))
    erased = mesh_in_process("erase", "--subject", f"contact:{contact}", "--reason", "test", root=root)
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert contact not in "".join(p.read_text() for p in activities.glob("*.csv"))
    # The erasure recomputed the account-weeks the contact's activities reached, not the product.
    instance = DagsterInstance.from_config(str(root / "dagster"))
    event = instance.get_latest_materialization_event(AssetKey([DOMAIN, "account_interactions"]))
    recomputed = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert recomputed["update"] == "keys" and recomputed["keys_recomputed"] > 0, recomputed
    assert query(root, DOMAIN, "SELECT count(*) FROM ledger.activities_changes WHERE contact_id = ?", [contact]) == [(0,)]
    # The change feed of the ports it purged goes with their old versions: it held the rows
    # each replace took out and put in (Delta's vacuum leaves it).
    assert not list((root / "products" / DOMAIN / "account_interactions" / "v1").glob("_change_data/*"))
    build(root)
    assert query(root, DOMAIN, partners) == [(mine["activity_id"],)], "the erased copy's partner is staged"

    # Retention: activities kept only for their newest days, so some landed files keep
    # part of their rows and some go whole.
    times = sorted(a["occurred_at"] for p in activities.glob("*.csv") for a in rows(p))
    middle = datetime.strptime(times[len(times) // 2], STAMP)
    sources = [s.model_copy(update={"retention_days": (datetime.now() - middle).days}) if s.name == "activities" else s
               for s in importlib.import_module("domains.sales.sources").SOURCES]
    products = [p for p in declared_products(code_locations()) if p.domain == DOMAIN]
    expired = retention_job(DOMAIN, sources, products).execute_in_process(
        resources=domain_resources(DOMAIN, MeshPaths(root)), instance=DagsterInstance.ephemeral())
    assert expired.success
    [output] = [e for e in expired.all_events if e.event_type_value == "STEP_OUTPUT"]
    assert output.event_specific_data.metadata["landing_rows_removed"].value["sales.activities"] > 0
    assert min(a["occurred_at"] for p in activities.glob("*.csv") for a in rows(p)) > times[0]
    # Retention logged what it deleted: the weeks it reached are recomputed, not the product.
    after_retention = products_built(materialize_domain(DOMAIN, root))["account_interactions"]
    assert after_retention["update"] == "keys" and after_retention["keys_recomputed"] > 0, after_retention
    assert sorted(query(root, DOMAIN, partners)) == sorted([(mine["activity_id"],), (old["activity_id"],)])

    # A last batch, computed per key after the rewrites.
    land(activities, "part-b2.csv", [{**a, "activity_id": f"{a['activity_id']}-b2", **later}
                                     for a in first[20:25]])
    result = materialize_domain(DOMAIN, root)
    built = products_built(result)["account_interactions"]
    assert built["update"] == "keys" and built["keys_recomputed"] > 0, built

    copy = tmp_path / "full"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("dagster"))
    ports = sorted((copy / "products" / DOMAIN).glob("*/v*"))
    versions = {str(p.relative_to(copy)): OutputPort(p).version() for p in ports}
    out = mesh_in_process("build", "--select", DOMAIN, "--full-refresh", root=copy)
    assert out.returncode == 0, out.stdout + out.stderr
    # What a port already holds is not published again, whether it was written whole or by key.
    assert {str(p.relative_to(copy)): OutputPort(p).version() for p in ports} == versions
    incremental, full = published(root), published(copy)
    assert set(incremental) == set(full)
    for name in full:
        assert incremental[name] == full[name], name


def test_a_replace_names_no_personal_key_and_keys_must_be_the_primary_key_s():
    """The condition a per-key publish commits stays in the port's Delta log, out of
    erasure's reach: it bounds the account and the day, never the contact. And a product
    whose `updated_by` keys are not part of its primary key is refused at declaration."""
    import duckdb
    from pydantic import ValidationError

    from platform_lib import UpdatedBy
    from platform_lib.declare.columns import count, date
    from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID, identifier
    from platform_lib.lifecycle.increments import where_recomputed

    from domains.sales.products.account_interactions import ACCOUNT_INTERACTIONS

    per_contact = ACCOUNT_INTERACTIONS.model_copy(update={
        "primary_key": ("account_id", "contact_id", "week_start"),
        "columns": (identifier(ACCOUNT_ID), identifier(CONTACT_ID), date("week_start", "Monday."), count("calls", "Calls.")),
        "updated_by": UpdatedBy(keys=("account_id", "contact_id", "week_start"), changes={"activities": "1, 2, 3"}),
        "rules": ()})
    con = duckdb.connect()
    con.execute("CREATE TABLE keys AS SELECT 'ACC-000001' AS account_id, 'CON-0000042' AS contact_id, "
                "DATE '2026-10-05' AS week_start")
    where = where_recomputed(con, per_contact, "keys")
    assert where == "\"account_id\" IN ('ACC-000001') AND \"week_start\" IN (DATE '2026-10-05')"
    assert "CON-" not in where

    declared = {**ACCOUNT_INTERACTIONS.model_dump(), "primary_key": ("account_id",)}
    with pytest.raises(ValidationError, match="must be part of the primary key"):
        type(ACCOUNT_INTERACTIONS).model_validate(declared)
