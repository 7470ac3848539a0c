"""Staging by file, with entity history: each landed file version is staged once, only the
keys it changes are audited again, and a chain of incremental builds publishes exactly
what one full refresh of the same landing zone publishes, row by row."""

from __future__ import annotations

import csv
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable

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
    deals = rows(landing / "opportunities" / "part-00000.csv")
    advanced = [{**d, "stage": "negotiation", "forecast_category": "commit", "amount_usd": "99999.5",
                 "updated_at": later(d["updated_at"], 1), "extracted_at": later(d["extracted_at"], 1)}
                for d in deals[:3] if d["stage"] not in ("closed_won", "closed_lost", "negotiation")]
    tied = {**deals[10], "updated_at": later(deals[10]["updated_at"], 2), "extracted_at": later(deals[10]["extracted_at"], 1)}
    orphan = {**deals[20], "opportunity_id": "OPP-9999999", "account_id": "ACC-999999"}
    land(landing / "opportunities", "part-b1.csv",
         [*advanced, tied, {**tied, "amount_usd": "1.0"}, orphan])
    activities = rows(landing / "activities" / "part-00001.csv")
    conflict = {**activities[0], "duration_minutes": "999"}
    late = [{**a, "activity_id": f"{a['activity_id']}-late"} for a in activities[1:6]]
    land(landing / "activities", "part-b1.csv", [conflict, *late])
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
    batch2 = build(root)
    again = build(root)
    return root, {"first": first, "batch1": batch1, "batch2": batch2, "again": again, "after1": after1,
                  "advanced": advanced, "tied": tied, "conflict": conflict, "removed": removed.name}


def test_an_entity_update_becomes_the_current_version_and_the_earlier_one_history(chain):
    root, seen = chain
    for deal in seen["advanced"]:
        current = query(root, DOMAIN, "SELECT stage, amount_usd FROM staging.opportunities WHERE opportunity_id = ?",
                        [deal["opportunity_id"]])
        assert current == [("negotiation", 99999.5)]
        history = query(root, DOMAIN, "SELECT stage, valid_from, valid_to FROM staging.opportunities_history "
                                      "WHERE opportunity_id = ? ORDER BY valid_from", [deal["opportunity_id"]])
        assert len(history) == 2 and history[0][0] != "negotiation", history
        assert history[0][2] == history[1][1] and history[1][2] is None, "the old version ends when the new one starts"
    # Two versions with the same times cannot be ordered: both are quarantined, the earlier one stays current.
    tied = seen["tied"]["opportunity_id"]
    assert query(root, DOMAIN, "SELECT count(*) FROM staging.opportunities_history WHERE opportunity_id = ?", [tied]) == [(1,)]
    assert query(root, DOMAIN, "SELECT count(*) FROM quarantine.records WHERE object = 'sales.opportunities' "
                               "AND starts_with(rule, 'unique_key') AND json_extract_string(record, '$.opportunity_id') = ?",
                 [tied]) == [(2,)]
    assert seen["batch1"]["opportunities"]["versions"] == seen["first"]["opportunities"]["versions"] + len(seen["advanced"])


def test_a_key_sent_again_with_other_values_is_a_conflict_for_an_event_source(chain):
    root, seen = chain
    activity = seen["conflict"]["activity_id"]
    assert query(root, DOMAIN, "SELECT count(*) FROM staging.activities WHERE activity_id = ?", [activity]) == [(0,)]
    assert query(root, DOMAIN, "SELECT count(*) FROM quarantine.records WHERE object = 'sales.activities' AND "
                               "json_extract_string(record, '$.activity_id') = ?", [activity]) == [(2,)]


def test_staging_reads_only_new_files_and_audits_only_the_keys_they_change(chain):
    _, seen = chain
    batch1, batch2, again = seen["batch1"], seen["batch2"], seen["again"]
    assert batch1["activities"]["files_staged"] == 1 and batch1["activities"]["rows_in"] == 6
    assert batch1["activities"]["files_unchanged"] == seen["first"]["activities"]["landed_files"]
    assert batch1["activities"]["rows_reaudited"] == 1, "only the conflicting key's earlier record is audited again"
    assert batch1["accounts"]["files_staged"] == 0 and batch1["accounts"]["keys_recomputed"] == 0
    # The account that landed brings back the one deal that pointed at it, nothing else.
    assert batch2["accounts"]["files_staged"] == 1 and batch2["accounts"]["keys_recomputed"] == 1
    assert batch2["opportunities"]["keys_recomputed"] == 1 and batch2["opportunities"]["rows_in"] == 0
    assert batch2["opportunity_stage_history"]["files_removed"] == [f"landing/{DOMAIN}/opportunity_stage_history/{seen['removed']}"]
    assert batch2["activities"]["files_staged"] == 1  # the rewritten file
    for meta in again.values():  # nothing new: nothing read, nothing audited
        assert (meta["files_staged"], meta["rows_in"], meta["keys_recomputed"]) == (0, 0, 0), meta
        assert meta["rows_in"] == meta["rows_published"] + meta["rows_quarantined"] + meta["exact_duplicates_dropped"] + meta["rows_withheld"]


def test_a_record_rejected_for_an_unknown_account_is_staged_once_the_account_lands(chain):
    root, seen = chain
    assert "OPP-9999999" not in {r[0] for r in seen["after1"]["staging.opportunities"]}
    assert query(root, DOMAIN, "SELECT account_id FROM staging.opportunities WHERE opportunity_id = 'OPP-9999999'") == [("ACC-999999",)]


def test_a_full_refresh_publishes_exactly_what_the_incremental_chain_published(chain, tmp_path):
    root, _ = chain
    copy = tmp_path / "mesh"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("dagster"))
    out = mesh_in_process("build", "--select", DOMAIN, "--full-refresh", root=copy)
    assert out.returncode == 0, out.stdout + out.stderr
    incremental, full = published(root), published(copy)
    assert set(incremental) == set(full) and any(k.startswith("products/") for k in full)
    for name in full:
        assert incremental[name] == full[name], name
    assert query(copy, DOMAIN, "SELECT bool_and(full_refresh) FROM ledger.stagings WHERE seq = "
                               "(SELECT max(seq) FROM ledger.stagings s WHERE s.source = stagings.source)") == [(True,)]
