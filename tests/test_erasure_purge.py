"""An erasure confirms a domain only when no store holds the subject: a port whose current
version never held the subject, but an older version did, has that history purged."""

from __future__ import annotations

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from platform_lib.privacy import erasure
from platform_lib.privacy.keys import Subject
from platform_lib.settings import MeshPaths

ERASED, KEPT = "CON-0000001", "CON-0000002"


def test_an_older_port_version_holding_the_subject_is_purged(tmp_path):
    paths = MeshPaths(tmp_path / "mesh")
    port = paths.port("marketing", "web_behavior", 1)
    write_deltalake(str(port), pa.table({"contact_id": [ERASED, KEPT]}))
    write_deltalake(str(port), pa.table({"contact_id": [KEPT]}), mode="overwrite")  # the source dropped the person

    request, found = erasure.new_request(Subject.parse(f"contact:{ERASED}"), "test", paths, ["marketing"],
                                         declared=[], products=[], request_id="ER-old-version")
    assert found["holds"]["marketing"] == {} and found["recompute"] == {}  # nothing current to erase or recompute
    request.domains["marketing"].phase = "rebuilt"
    erasure.save(paths, request)

    left = erasure.purge_part(paths, "ER-old-version", "marketing", "run-1")

    assert not any(left.values())
    assert erasure.load(paths, "ER-old-version").status == "complete"
    table = DeltaTable(str(port))
    assert table.history()[0]["version"] == table.version() and table.to_pyarrow_table().column("contact_id").to_pylist() == [KEPT]
    assert all(ERASED.encode() not in f.read_bytes() for f in port.rglob("*") if f.is_file())
