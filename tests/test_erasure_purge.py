"""An erasure confirms a domain only when no store holds the subject: a port whose current
version never held the subject, but an older version did, has that history purged; a file
landed after the plan is erased too, and one landed after its domain confirmed reopens it."""

from __future__ import annotations

import mmap

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from platform_lib.config import MeshPaths
from platform_lib.privacy import erasure
from platform_lib.privacy.keys import Subject
from platform_lib.privacy.stores import Store

ERASED, KEPT = "CON-0000001", "CON-0000002"


def test_a_store_keeps_the_string_form_requests_on_disk_record(tmp_path):
    paths = MeshPaths(tmp_path / "mesh")
    made = {
        "landing:landing/marketing/contacts/part-1.csv": Store.landing(paths, paths.landing / "marketing/contacts/part-1.csv"),
        "warehouse:sales.duckdb:staging.contacts": Store.table("sales", "staging.contacts"),
        "port:marketing/web_behavior/v1": Store.port(paths, paths.port("marketing", "web_behavior", 1)),
        "history:marketing/web_behavior/v1": Store.port(paths, paths.port("marketing", "web_behavior", 1), current=False),
    }
    for key, store in made.items():
        assert str(store) == key and Store.parse(key) == store
    assert Store.parse("port:marketing/web_behavior/v1").product == "web_behavior"
    assert Store.parse("landing:landing/marketing/contacts/part-1.csv").path(paths) == paths.landing / "marketing/contacts/part-1.csv"


def test_an_older_port_version_holding_the_subject_is_purged(tmp_path):
    paths = MeshPaths(tmp_path / "mesh")
    port = paths.port("marketing", "web_behavior", 1)
    write_deltalake(str(port), pa.table({"contact_id": [ERASED, KEPT]}))
    write_deltalake(str(port), pa.table({"contact_id": [KEPT]}), mode="overwrite")  # the source dropped the person

    request, found = erasure.new_request(Subject.parse(f"contact:{ERASED}"), "test", paths, ["marketing"],
                                         declared=[], products=[], lineage={}, request_id="ER-old-version")
    # Only the history holds the subject: nothing current to erase or recompute, a history to purge.
    assert list(found["holds"]["marketing"]) == ["history:marketing/web_behavior/v1"] and found["recompute"] == {}
    request.domains["marketing"].phase = "rebuilt"
    erasure.save(paths, request)

    left = erasure.purge_part(paths, "ER-old-version", "marketing", "run-1")

    assert not any(left.values())
    assert erasure.load(paths, "ER-old-version").status == "complete"
    table = DeltaTable(str(port))
    assert table.history()[0]["version"] == table.version() and table.to_pyarrow_table().column("contact_id").to_pylist() == [KEPT]
    assert all(ERASED.encode() not in f.read_bytes() for f in port.rglob("*") if f.is_file())


def land(paths: MeshPaths, domain: str, name: str, *contacts: str) -> None:
    f = paths.landing / domain / "contacts" / name
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("contact_id,email\n" + "".join(f"{c},{c.lower()}@example.com\n" for c in contacts))


def run_part(paths: MeshPaths, request_id: str, domain: str) -> dict[str, int]:
    erasure.erase_part(paths, request_id, domain, "run-erase")
    request = erasure.load(paths, request_id)
    request.domains[domain].phase = "rebuilt"  # nothing to recompute here
    erasure.save(paths, request)
    return erasure.purge_part(paths, request_id, domain, "run-purge")


def test_a_file_landed_after_the_plan_is_erased_and_one_landed_later_reopens_its_domain(tmp_path):
    paths = MeshPaths(tmp_path / "mesh")
    land(paths, "marketing", "part-1.csv", ERASED, KEPT)
    land(paths, "sales", "part-1.csv", KEPT)
    request = erasure.open_request(Subject.parse(f"contact:{ERASED}"), "test", paths, ["marketing", "sales"],
                                   declared=[], products=[], lineage={}, request_id="ER-late")
    assert set(request.domains["marketing"].holds) == {"landing:landing/marketing/contacts/part-1.csv"}
    assert request.domains["sales"].holds == {}

    land(paths, "marketing", "part-2.csv", ERASED)  # after the plan: the erase step still finds it
    run_part(paths, "ER-late", "marketing")
    assert not (paths.landing / "marketing" / "contacts" / "part-2.csv").exists()  # only the subject: removed
    assert ERASED not in (paths.landing / "marketing" / "contacts" / "part-1.csv").read_text()

    land(paths, "marketing", "part-3.csv", KEPT, ERASED)  # after marketing confirmed
    left = run_part(paths, "ER-late", "sales")  # the last confirmation scans the whole mesh

    request = erasure.load(paths, "ER-late")
    assert request.status == "open" and left == {"landing:landing/marketing/contacts/part-3.csv": 1}
    assert request.domains["marketing"].phase == "pending" and request.domains["sales"].phase == "confirmed"
    assert set(request.domains["marketing"].holds) == {"landing:landing/marketing/contacts/part-3.csv"}

    run_part(paths, "ER-late", "marketing")
    assert erasure.load(paths, "ER-late").status == "complete"
    assert (paths.landing / "marketing" / "contacts" / "part-3.csv").read_text().splitlines()[1:] == [
        f"{KEPT},{KEPT.lower()}@example.com"]


def test_domains_carrying_their_parts_at_once_keep_each_others_record(tmp_path, monkeypatch):
    """Each domain's sensor runs its part in its own code location, so two parts overlap:
    Marketing's erase step is still working when Sales' records its own. Neither part's
    record is lost, and the last domain to confirm completes the request."""
    import threading

    from platform_lib.privacy import stores

    paths = MeshPaths(tmp_path / "mesh")
    land(paths, "marketing", "part-1.csv", ERASED, KEPT)
    land(paths, "sales", "part-1.csv", ERASED)
    erasure.open_request(Subject.parse(f"contact:{ERASED}"), "test", paths, ["marketing", "sales"],
                         declared=[], products=[], lineage={}, request_id="ER-overlap")
    sales_recorded = threading.Event()
    rewrite = stores.rewrite_landing_file

    def marketing_waits_for_sales(con, matcher, f, **kw):
        if "marketing" in f.parts:
            assert sales_recorded.wait(60)
        return rewrite(con, matcher, f, **kw)

    monkeypatch.setattr(stores, "rewrite_landing_file", marketing_waits_for_sales)
    marketing = threading.Thread(target=erasure.erase_part, args=(paths, "ER-overlap", "marketing", "run-m"))
    marketing.start()
    erasure.erase_part(paths, "ER-overlap", "sales", "run-s")
    sales_recorded.set()
    marketing.join(60)

    parts = erasure.load(paths, "ER-overlap").domains
    assert {d: (p.phase, sum(p.rows_removed.values())) for d, p in parts.items()} == {
        "marketing": ("erased", 1), "sales": ("erased", 1)}
    for domain in ("marketing", "sales"):
        erasure.record_part(paths, "ER-overlap", domain, phase="rebuilt")  # nothing to recompute here
        erasure.purge_part(paths, "ER-overlap", domain, "run-purge")
    assert erasure.load(paths, "ER-overlap").status == "complete"


def test_the_final_scan_reads_again_only_the_files_changed_since_they_were_found_clean(tmp_path, monkeypatch):
    """A landed file found clean, with the same bytes since (size and content hash), is not
    searched again by the scan that completes the request; one whose bytes changed is, even
    when its size and file times are as before (a write through a memory map keeps them),
    and the subject found there reopens its domain."""
    from platform_lib.privacy import stores

    paths = MeshPaths(tmp_path / "mesh")
    land(paths, "marketing", "part-1.csv", ERASED, KEPT)
    for i in range(3):
        land(paths, "sales", f"part-{i}.csv", KEPT)
    erasure.open_request(Subject.parse(f"contact:{ERASED}"), "test", paths, ["marketing", "sales"],
                         declared=[], products=[], lineage={}, request_id="ER-clean")
    searched: list[str] = []
    search = stores.landing_matches_all  # the files a scan reads, whichever it is given at once
    monkeypatch.setattr(stores, "landing_matches_all",
                        lambda con, matcher, files: searched.extend(f.name for f in files) or search(con, matcher, files))

    run_part(paths, "ER-clean", "marketing")
    assert searched == ["part-1.csv"]  # the file rewritten without the subject, proved clean
    searched.clear()
    run_part(paths, "ER-clean", "sales")  # the last confirmation: the whole mesh, but nothing read again
    request = erasure.load(paths, "ER-clean")
    assert request.status == "complete" and searched == []
    assert {k for k, n in request.stores_checked.items() if k.startswith("landing:")} == {
        "landing:landing/marketing/contacts/part-1.csv", *(f"landing:landing/sales/contacts/part-{i}.csv" for i in range(3))}

    # Another subject, in no file when planned. Then a file gains it through a memory map its
    # writer already had open and written through: on Linux such writes leave the file's size
    # and times as they were. Its bytes give it away, and the scan finds it.
    other = "CON-0000003"
    changed = paths.landing / "sales" / "contacts" / "part-0.csv"
    with changed.open("r+b") as fh, mmap.mmap(fh.fileno(), 0) as mapped:
        at = mapped.find(KEPT.encode())
        mapped[at:at + len(KEPT)] = KEPT.encode()  # the page is written (and stays dirty) before the plan
        erasure.open_request(Subject.parse(f"contact:{other}"), "test", paths, ["marketing", "sales"],
                             declared=[], products=[], lineage={}, request_id="ER-changed")
        assert str(Store.landing(paths, changed)) in erasure.load(paths, "ER-changed").domains["sales"].clean
        mapped[at:at + len(other)] = other.encode()
    run_part(paths, "ER-changed", "marketing")
    searched.clear()
    left = run_part(paths, "ER-changed", "sales")
    assert searched == ["part-0.csv"] and left == {"landing:landing/sales/contacts/part-0.csv": 1}
    assert erasure.load(paths, "ER-changed").domains["sales"].phase == "pending"
