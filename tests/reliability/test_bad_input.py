"""Bad input, one case each, through a real staging run: a clear quarantine reason or
file-level rejection, and an exact ledger per materialization,
rows_in = rows_published + rows_quarantined + exact_duplicates_dropped + rows_withheld,
where rows_in is exactly the rows the case landed (staging reads only the new file)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, AssetSelection

from tests.helpers import copy_landing, materialize_domain, query
from tests.reliability.ledger import record

DOMAIN = "marketing"
LEDGER = ("rows_in", "rows_published", "rows_quarantined", "exact_duplicates_dropped", "rows_withheld")


def stage(root: Path, selection) -> dict[str, dict]:
    """Materialize staging assets; their materialization metadata by source name."""
    result = materialize_domain(DOMAIN, root, selection=selection)
    assert result.success
    return {e.asset_key.path[-1]: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


@pytest.fixture(scope="module")
def baseline(landing_root, tmp_path_factory):
    root = copy_landing(landing_root, tmp_path_factory.mktemp("reliability") / "mesh")
    return root, stage(root, AssetSelection.groups(f"{DOMAIN}_staging"))


def clean_rows(root: Path, source: str, n: int, key: str) -> list[dict]:
    """`n` rows that passed staging, as text, with fresh primary keys."""
    rows = query(root, DOMAIN, f"SELECT * FROM staging.{source} ORDER BY {key} LIMIT {n}")
    names = [r[0] for r in query(root, DOMAIN, f"DESCRIBE staging.{source}")]
    return [{c: (f"{v}-case{i}" if c == key else None if v is None else str(v)) for c, v in zip(names, row)}
            for i, row in enumerate(rows)]


def as_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def as_jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def as_parquet(rows: list[dict]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


@dataclass
class Landed:
    file: str  # name within the source's landing folder
    content: bytes
    rows: int  # data rows the file carries (0 when it cannot be read at all)


@dataclass
class Case:
    source: str
    land: Callable[[Path], Landed]
    expect: Callable[[Path, str, dict], None]  # (root, the file's path in the mesh, metadata)


def quarantined(root: Path, rel: str) -> dict[str, int]:
    return dict(query(root, DOMAIN, "SELECT rule, count(*) FROM quarantine.records WHERE source_file = ? GROUP BY rule", [rel]))


def reasons(root: Path, rel: str) -> str:
    return " ".join(r for (r,) in query(root, DOMAIN, "SELECT DISTINCT reason FROM quarantine.records WHERE source_file = ?", [rel]))


def _empty(root):
    return Landed("part-empty.csv", b"", 0)


def _header_only(root):
    first = sorted((root / "landing" / DOMAIN / "content_downloads").glob("*.csv"))[0]
    return Landed("part-header-only.csv", first.read_bytes().splitlines(keepends=True)[0] + b"\n\n", 0)


def _no_rows_parquet(root):
    import io

    import pyarrow.parquet as pq

    template = pq.read_table(sorted((root / "landing" / DOMAIN / "web_sessions").glob("*.parquet"))[0])
    out = io.BytesIO()
    pq.write_table(template.slice(0, 0), out)
    return Landed("part-no-rows.parquet", out.getvalue(), 0)


def _truncated(root):
    template = sorted((root / "landing" / DOMAIN / "web_sessions").glob("*.parquet"))[0].read_bytes()
    return Landed("part-truncated.parquet", template[: len(template) // 2], 0)


def _semicolons(root):
    rows = clean_rows(root, "content_downloads", 12, "download_id")
    return Landed("part-semicolon.csv", as_csv(rows).replace(b",", b";"), 12)


def _latin1(root):
    rows = clean_rows(root, "content_downloads", 12, "download_id")
    lines = as_csv(rows).split(b"\n")
    for i in (1, 2, 3):  # three data lines carry a Latin-1 byte
        lines[i] = lines[i].replace(b"-case", "-café".encode("latin-1"), 1)
    return Landed("part-latin1.csv", b"\n".join(lines), 12)


def _mixed_types(root):
    rows = clean_rows(root, "web_sessions", 12, "session_id")
    for i, row in enumerate(rows):
        row["duration_seconds"] = "n/a" if i < 4 else str(i * 10)
    return Landed("part-mixed.parquet", as_parquet(rows), 12)


def _huge_field(root):
    rows = clean_rows(root, "form_fills", 5, "form_fill_id")
    rows[0]["page_path"] = "/" + "p" * 1_048_576
    return Landed("part-huge.jsonl", as_jsonl(rows), 5)


def _conflicting_keys(root):
    rows = clean_rows(root, "email_events", 10, "event_id")
    variants = [{**rows[i], "event_type": "click" if rows[i]["event_type"] != "click" else "open"} for i in (0, 1)]
    return Landed("part-dupkeys.jsonl", as_jsonl(rows + variants + [rows[2]]), 13)


def _times(root):
    rows = clean_rows(root, "email_events", 10, "event_id")
    rows[0]["occurred_at"], rows[1]["occurred_at"] = "2999-01-01T00:00:00Z", "1969-07-20T20:17:00Z"
    return Landed("part-times.jsonl", as_jsonl(rows), 10)


def _unknown_enum(root):
    rows = clean_rows(root, "email_events", 10, "event_id")
    for row in rows[:3]:
        row["event_type"] = "teleport"
    return Landed("part-enum.jsonl", as_jsonl(rows), 10)


def _renamed_column(root):
    rows = [{("event_ts" if k == "occurred_at" else k): v for k, v in r.items()}
            for r in clean_rows(root, "web_sessions", 12, "session_id")]
    return Landed("part-renamed.parquet", as_parquet(rows), 12)


def _parquet_as_jsonl(root):
    return Landed("part-disguised.jsonl", as_parquet(clean_rows(root, "email_events", 5, "event_id")), 0)


def _csv_as_parquet(root):
    return Landed("part-disguised.parquet", as_csv(clean_rows(root, "web_sessions", 5, "session_id")), 0)


def _broken_json(root):
    rows = as_jsonl(clean_rows(root, "email_events", 10, "event_id"))
    return Landed("part-broken.jsonl", rows + b'{"event_id": "E-broken",\nhello\n', 12)


def _short_lines(root):
    content = as_csv(clean_rows(root, "content_downloads", 10, "download_id")) + b"D-short,CON-0000001\nD-shorter\n"
    return Landed("part-short.csv", content, 12)


def _resent_batch(root):
    template = sorted((root / "landing" / DOMAIN / "email_events").glob("*.jsonl"))[-1]
    content = template.read_bytes()
    return Landed("part-resent.jsonl", content, content.count(b"\n"))


def _json_array(root):
    return Landed("part-array.jsonl", json.dumps(clean_rows(root, "email_events", 6, "event_id")).encode() + b"\n", 0)


def _top_level_values(root):
    return Landed("part-scalars.jsonl", b'"just a string"\n42\n', 0)


def _duplicated_header(root):
    content = as_csv(clean_rows(root, "content_downloads", 5, "download_id"))
    header, _, body = content.partition(b"\n")
    lines = [line + b",x" for line in body.splitlines()]
    return Landed("part-dupheader.csv", header + b"," + header.split(b",")[0] + b"\n" + b"\n".join(lines) + b"\n", 0)


def _nested_parquet(root):
    rows = clean_rows(root, "web_sessions", 8, "session_id")
    nested = [{**r, "landing_path": {"path": r.get("landing_path"), "query": ["a", "b"]}} for r in rows]
    return Landed("part-nested.parquet", as_parquet(nested), 8)


def _nested_json_value(root):
    rows = clean_rows(root, "email_events", 6, "event_id")
    rows[0]["event_type"] = {"kind": "open"}
    rows[1]["event_type"] = ["open", "click"]
    return Landed("part-nested.jsonl", as_jsonl(rows), 6)


def expect_reason(words: str):
    def check(root, rel, meta):
        assert words in reasons(root, rel), reasons(root, rel)
    return check


def expect_json_not_repr(root, rel, meta):
    kept = [r for (r,) in query(root, DOMAIN, "SELECT CAST(record AS VARCHAR) FROM quarantine.records WHERE source_file = ?", [rel])]
    assert kept and all("{'path'" not in r and '\\"path\\"' in r for r in kept), kept[:1]  # JSON text, not a repr


def expect_not_empty(root, rel, meta):
    assert rel not in meta["empty_files"], "a file holding records is not empty"


def expect_all_duplicates(root, rel, meta):
    assert quarantined(root, rel) == {}, "a re-sent record is a duplicate, not a conflicting key"
    assert meta["rows_published"] == meta["rows_in"] - meta["rows_quarantined"] - meta["exact_duplicates_dropped"]


def expect_rules(**counts: int):
    def check(root, rel, meta):
        found = quarantined(root, rel)
        for rule, n in counts.items():
            assert found.get(rule.replace("__", ":"), 0) == n, (rule, found)
        assert "fix" in reasons(root, rel).lower() or not found, reasons(root, rel)
    return check


def expect_file(kind: str, words: str):
    def check(root, rel, meta):
        assert rel in meta[kind], meta[kind]
        assert (root / rel).exists(), "the landed file must stay where it landed"
        if kind == "unreadable_files":
            assert words in meta[kind][rel], meta[kind][rel]
            assert quarantined(root, rel) == {"unreadable_file": 1}
            assert words in reasons(root, rel)
    return check


def expect_huge_value(root, rel, meta):
    assert quarantined(root, rel) == {}
    assert query(root, DOMAIN, "SELECT max(length(page_path)) FROM staging.form_fills")[0][0] == 1_048_577


def both(*checks):
    def check(root, rel, meta):
        for c in checks:
            c(root, rel, meta)
    return check


CASES = {
    "empty_file": Case("content_downloads", _empty, expect_file("empty_files", "")),
    "csv_header_without_rows": Case("content_downloads", _header_only, expect_file("empty_files", "")),
    "parquet_without_rows": Case("web_sessions", _no_rows_parquet, expect_file("empty_files", "")),
    "truncated_parquet": Case("web_sessions", _truncated, expect_file("unreadable_files", "truncated or corrupt Parquet")),
    "csv_wrong_delimiter": Case("content_downloads", _semicolons, both(
        expect_rules(schema_drift=12), lambda root, rel, meta: "semicolon-separated" in reasons(root, rel) or pytest.fail(reasons(root, rel)))),
    "wrong_text_encoding": Case("content_downloads", _latin1, both(
        expect_rules(malformed_line=3), lambda root, rel, meta: "utf-8" in reasons(root, rel).lower() or pytest.fail(reasons(root, rel)))),
    "mixed_types_in_a_column": Case("web_sessions", _mixed_types, expect_rules(valid_type__duration_seconds=4)),
    "one_megabyte_string": Case("form_fills", _huge_field, expect_huge_value),
    "duplicate_keys_different_values": Case("email_events", _conflicting_keys, expect_rules(**{"unique_key__event_id": 4})),
    "future_and_pre_1970_timestamps": Case("email_events", _times, expect_rules(plausible_time__occurred_at=2)),
    "unknown_enum_value": Case("email_events", _unknown_enum, expect_rules(accepted_values__event_type=3)),
    "renamed_column": Case("web_sessions", _renamed_column, expect_rules(schema_drift=12)),
    "parquet_named_jsonl": Case("email_events", _parquet_as_jsonl, expect_file("unreadable_files", "Parquet")),
    "csv_named_parquet": Case("web_sessions", _csv_as_parquet, expect_file("unreadable_files", "not a Parquet file")),
    "malformed_json_lines": Case("email_events", _broken_json, expect_rules(malformed_line=2)),
    "csv_lines_with_missing_fields": Case("content_downloads", _short_lines, expect_rules(malformed_line=2)),
    "same_batch_landed_twice": Case("email_events", _resent_batch, expect_all_duplicates),
    "jsonl_file_holding_a_json_array": Case("email_events", _json_array, both(
        expect_file("unreadable_files", "a JSON array"), expect_not_empty)),
    "jsonl_file_of_top_level_values": Case("email_events", _top_level_values, both(
        expect_file("unreadable_files", "top-level JSON"), expect_not_empty)),
    "csv_with_a_duplicated_header_name": Case("content_downloads", _duplicated_header, both(
        expect_file("unreadable_files", "more than once"), expect_reason("give every column its own name"))),
    "nested_parquet_values": Case("web_sessions", _nested_parquet, both(
        expect_rules(schema_drift=8), expect_reason("nested"), expect_json_not_repr)),
    "nested_json_value": Case("email_events", _nested_json_value, both(expect_rules(malformed_line=2), expect_reason("nested"))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_quarantined_with_its_reason_and_every_row_is_counted(name, baseline, tmp_path, request):
    base_root, before = baseline
    case = CASES[name]
    root = tmp_path / "mesh"
    shutil.copytree(base_root, root, ignore=shutil.ignore_patterns("dagster"))
    landed = case.land(root)
    folder = root / "landing" / DOMAIN / case.source
    (folder / landed.file).write_bytes(landed.content)

    meta = stage(root, [AssetKey([DOMAIN, "staging", case.source])])[case.source]
    case.expect(root, f"landing/{DOMAIN}/{case.source}/{landed.file}", meta)

    rows_in, published, quarantined_rows, duplicates, withheld = (meta[k] for k in LEDGER)
    assert rows_in == published + quarantined_rows + duplicates + withheld, meta
    assert rows_in == landed.rows, (rows_in, landed.rows)
    assert meta["files_unchanged"] == before[case.source]["landed_files"], "staging reads only the new file"
    accounted = sum(meta[k] for k in LEDGER[1:])
    if name == "same_batch_landed_twice":  # idempotent: nothing new is staged, every row is a duplicate
        assert (meta["rows_published"], meta["exact_duplicates_dropped"], meta["rows_staged"]) == \
            (0, landed.rows, before[case.source]["rows_staged"])
    record(request, rows_in=landed.rows, rows_accounted=accounted, note=name)


def test_a_symlink_in_the_landing_zone_is_refused_never_followed(baseline, tmp_path, request):
    base_root, before = baseline
    root = tmp_path / "mesh"
    shutil.copytree(base_root, root, ignore=shutil.ignore_patterns("dagster"))
    link = root / "landing" / DOMAIN / "content_downloads" / "part-link.csv"
    link.symlink_to("/etc/passwd")
    meta = stage(root, [AssetKey([DOMAIN, "staging", "content_downloads"])])["content_downloads"]
    rel = f"landing/{DOMAIN}/content_downloads/part-link.csv"
    assert "symbolic link" in meta["unreadable_files"].get(rel, ""), meta["unreadable_files"]
    assert quarantined(root, rel) == {"unreadable_file": 1}
    assert not query(root, DOMAIN, "SELECT count(*) FROM quarantine.records WHERE contains(CAST(record AS VARCHAR), 'root:')")[0][0]
    assert meta["rows_in"] == 0 and meta["rows_staged"] == before["content_downloads"]["rows_staged"]  # nothing was read
    record(request, rows_in=0, rows_accounted=0, note="symlink refused")


def test_landing_folders_no_source_reads_are_named_with_the_fix_by_the_build_and_the_sensor(landing_root, tmp_path, request):
    """Files under an unknown domain's folder, or an unknown source's, are never staged
    silently: `mesh build` and the domain's landing sensor name each folder and the fix."""
    import json

    from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

    from platform_lib.config import MeshPaths
    from platform_lib.dagster.resources import domain_resources

    from tests.helpers import domain_defs, mesh

    root = copy_landing(landing_root, tmp_path / "mesh")
    for folder in ("partners/deals", f"{DOMAIN}/webinars"):
        (root / "landing" / folder).mkdir(parents=True)
        (root / "landing" / folder / "part-00000.csv").write_text("id\n1\n")
    built = mesh("build", "--select", f"{DOMAIN}.staging.campaigns", root=root)
    assert built.returncode == 0, built.stdout + built.stderr
    said = " ".join((built.stdout + built.stderr).split())
    assert "landing/partners/ is not a domain of the mesh" in said and "`mesh scaffold domain`" in said, said
    assert f"landing/{DOMAIN}/webinars/ is not a declared source of {DOMAIN}" in said
    assert f"domains/{DOMAIN}/sources.py" in said

    defs = domain_defs(DOMAIN)
    seen = {str(f.relative_to(root)): f"{f.stat().st_size}:{f.stat().st_mtime_ns}:{f.stat().st_ctime_ns}"
            for f in (root / "landing" / DOMAIN).rglob("part-*") if f.parent.name != "webinars"}
    context = build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=json.dumps(seen, sort_keys=True),
                                   resources={"mesh": domain_resources(DOMAIN, MeshPaths(root))["mesh"]},
                                   repository_def=defs.get_repository_def())
    tick = defs.get_sensor_def(f"{DOMAIN}_landing")(context)
    reason = tick.skip_reason if isinstance(tick, SensorResult) else tick
    assert isinstance(reason, SkipReason) and f"landing/{DOMAIN}/webinars/ is not a declared source" in reason.skip_message
    assert "partners" not in reason.skip_message, "a domain's sensor speaks of its own folders only"
    record(request, rows_in=0, rows_accounted=0, note="unknown landing folders named")
