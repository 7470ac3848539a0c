"""Concurrency: runs in all five code locations at once, consumers reading producers' ports
meanwhile; and a reader racing a publisher's new versions. No lock errors, no torn reads,
the result equals the sequential run's, and a rebuild with no new input publishes nothing."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.dagster.workspace import code_locations, declared_products
from platform_lib.storage.ports import OutputPort, fingerprint

from tests.reliability.ledger import record

DOMAINS = ["marketing", "product", "sales", "customer_success", "revenue_operations"]


def published(root: Path) -> dict[str, tuple[str, int]]:
    """Every product's served content (fingerprint of its port's last commit) and Delta version."""
    ports = {p.id: OutputPort.of(MeshPaths(root), p) for p in declared_products(code_locations())}
    return {pid: (port.last_fingerprint(), port.version()) for pid, port in ports.items()}


def test_all_five_code_locations_at_once_equal_the_sequential_run(private_mesh, request):
    """The template was built sequentially; the same landing zone built again in all five
    locations at once (consumers reading producers' ports meanwhile) must give the same
    content, and, with no new input, publish no new version."""
    root = private_mesh()
    sequential = published(root)
    env = {**os.environ, "MESH_HOME": str(root), "DAGSTER_HOME": str(root / "dagster")}
    cli = str(Path(sys.executable).parent / "mesh")
    runs = [subprocess.Popen([cli, "build", "--select", d], cwd=PROJECT_ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for d in DOMAINS]
    outputs = {d: r.communicate(timeout=600)[0] for d, r in zip(DOMAINS, runs)}
    for domain, run in zip(DOMAINS, runs):
        assert run.returncode == 0, outputs[domain][-3000:]
        assert "lock" not in outputs[domain].lower(), outputs[domain][-3000:]
    concurrent = published(root)
    assert concurrent == sequential, {k: (sequential[k], concurrent[k]) for k in sequential if sequential[k] != concurrent.get(k)}
    record(request, rows_in=len(sequential), rows_accounted=sum(concurrent[k] == v for k, v in sequential.items()),
           note="products equal to the sequential run")


def _read_while_publishing(port_path: str, rounds: int, queue) -> None:
    from deltalake import DeltaTable

    con = duckdb.connect()
    seen = []
    for _ in range(rounds):
        con.register("t", DeltaTable(port_path).to_pyarrow_dataset())
        seen.append(fingerprint(con, "t"))
        con.unregister("t")
    queue.put(seen)


def test_a_reader_racing_a_publisher_sees_whole_versions_only(tmp_path, request):
    from platform_lib.declare.spec import Column

    declared = declared_products(code_locations())[0]
    product = declared.model_copy(update={"name": "race", "primary_key": ("id",), "columns": (
        Column(name="id", type="integer", description="Row."), Column(name="version", type="integer", description="Round."))})
    port = OutputPort(tmp_path / "race" / "v1")
    con = duckdb.connect()
    versions = {}
    con.execute("CREATE TABLE batch AS SELECT range::INTEGER AS id, 0 AS version FROM range(300000)")
    versions[0] = port.publish(con, "batch", product, "run-0").fingerprint
    queue = multiprocessing.get_context("spawn").Queue()
    reader = multiprocessing.get_context("spawn").Process(target=_read_while_publishing, args=(str(port.path), 40, queue))
    reader.start()
    for v in range(1, 12):
        con.execute(f"CREATE OR REPLACE TABLE batch AS SELECT range::INTEGER AS id, {v} AS version FROM range({300000 + v * 1000})")
        versions[v] = port.publish(con, "batch", product, f"run-{v}").fingerprint
    seen = queue.get(timeout=300)
    reader.join(timeout=60)
    torn = [fp for fp in seen if fp not in versions.values()]
    assert not torn, f"{len(torn)} of {len(seen)} reads saw no published version"
    record(request, rows_in=len(seen), rows_accounted=len(seen) - len(torn), note="reads that saw a whole version")
