"""Concurrency: runs in all five code locations at once while a producer publishes what its
consumer reads; and readers racing a publisher. No lock errors, no torn reads, the result
equals the sequential run's, and a domain rebuilt with no new input publishes nothing."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from platform_lib.ports import OutputPort, fingerprint
from platform_lib.seed.increment import land_increment
from platform_lib.settings import PROJECT_ROOT, MeshPaths
from platform_lib.workspace import code_locations, declared_products
from tests.helpers import copy_of_built_mesh, mesh
from tests.reliability.ledger import record

NOW = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
DOMAINS = ["marketing", "product", "sales", "customer_success", "revenue_operations"]


def with_new_marketing_batch(template: Path, destination: Path) -> Path:
    root, built = copy_of_built_mesh(template, destination)
    assert built.returncode == 0
    land_increment(MeshPaths(root), importlib.import_module("domains.marketing.sources").SOURCES, "concurrent", now=NOW)
    return root


def published(root: Path) -> dict[str, tuple[str, int]]:
    """Every product's served content (fingerprint of its port's last commit) and Delta version."""
    ports = {p.id: OutputPort.of(MeshPaths(root), p) for p in declared_products(code_locations())}
    return {pid: (port.last_fingerprint(), port.version()) for pid, port in ports.items()}


def test_all_five_code_locations_at_once_equal_the_sequential_run(built_mesh_template, tmp_path, request):
    sequential = with_new_marketing_batch(built_mesh_template, tmp_path / "sequential")
    for domain in ("marketing", "revenue_operations"):  # the only domains with new input
        assert mesh("build", "--select", domain, root=sequential).returncode == 0

    concurrent = with_new_marketing_batch(built_mesh_template, tmp_path / "concurrent")
    before = published(concurrent)
    env = {**os.environ, "MESH_HOME": str(concurrent), "DAGSTER_HOME": str(concurrent / "dagster")}
    cli = str(Path(sys.executable).parent / "mesh")
    runs = [subprocess.Popen([cli, "build", "--select", d], cwd=PROJECT_ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for d in DOMAINS]
    outputs = {d: r.communicate(timeout=600)[0] for d, r in zip(DOMAINS, runs)}
    for domain, run in zip(DOMAINS, runs):
        assert run.returncode == 0, outputs[domain][-3000:]
        assert "lock" not in outputs[domain].lower(), outputs[domain][-3000:]
    # The consumer may have read marketing's previous version mid-publish; once more, it reads the new one.
    assert mesh("build", "--select", "revenue_operations", root=concurrent).returncode == 0

    expected = {k: fp for k, (fp, _) in published(sequential).items()}
    found = {k: fp for k, (fp, _) in published(concurrent).items()}
    assert found == expected, {k: (expected[k], found[k]) for k in expected if expected[k] != found.get(k)}
    # Rebuilding a domain with no new input publishes nothing: same content, same Delta version.
    unchanged = {k: v for k, v in before.items() if k.split(".")[0] in ("product", "sales", "customer_success")}
    assert {k: published(concurrent)[k] for k in unchanged} == unchanged
    record(request, rows_in=len(expected), rows_accounted=sum(found[k] == v for k, v in expected.items()),
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
    from platform_lib.spec import Column

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
