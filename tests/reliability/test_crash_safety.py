"""A run killed with SIGKILL once its batch is built in the domain's DuckDB file and audited,
or while Delta writes the port's data files: consumers keep reading the previous version
byte for byte, a re-run completes with no duplicates and no missing file referenced, and
processing the same batch again publishes nothing new."""

from __future__ import annotations

import importlib
import signal
from datetime import datetime, timezone
from pathlib import Path

import pytest
from deltalake import DeltaTable

from platform_lib.config import MeshPaths
from platform_lib.ops.seed.increment import land_increment

from tests.helpers import mesh, mesh_in_process
from tests.reliability.ledger import record

PRODUCT = "marketing.web_behavior"
KEY = ("account_id", "activity_date")


def port_state(root):
    table = DeltaTable(str(MeshPaths(root).port("marketing", "web_behavior", 1)))
    return table.version(), table.to_pyarrow_table(), table.file_uris()


@pytest.mark.parametrize("failpoint", ["audit.write", "port.publish"])
def test_a_run_killed_mid_write_changes_nothing_consumers_read(failpoint, private_mesh, request):
    root = private_mesh()
    sources = importlib.import_module("domains.marketing.sources").SOURCES
    land_increment(MeshPaths(root), sources, "crash", now=datetime.now(timezone.utc))
    version, before, files = port_state(root)

    killed = mesh("build", "--select", PRODUCT, root=root, env={"MESH_FAILPOINTS": failpoint})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    after_kill = port_state(root)
    assert after_kill[0] == version and after_kill[2] == files
    assert after_kill[1].equals(before), "consumers must read the previous version unchanged"

    rerun = mesh_in_process("build", "--select", PRODUCT, root=root)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    new_version, published, referenced = port_state(root)
    assert new_version == version + 1 and not published.equals(before)
    assert all(MeshPaths(root).port("marketing", "web_behavior", 1).joinpath(u.rsplit("/", 1)[-1]).exists() for u in referenced)
    keys = published.select(list(KEY)).to_pylist()
    assert len({tuple(k.values()) for k in keys}) == published.num_rows, "duplicate keys after the re-run"

    if failpoint == "port.publish":  # once is enough: idempotency does not depend on where the kill was
        again = mesh_in_process("build", "--select", PRODUCT, root=root)
        assert again.returncode == 0 and port_state(root)[0] == new_version, "the same batch published twice"
    record(request, rows_in=published.num_rows, rows_accounted=port_state(root)[1].num_rows, note=failpoint)


def test_a_side_by_side_build_whose_workers_are_killed_changes_nothing(private_mesh):
    """The worker building a location dies at its first audit: the build names the dead
    location and exits non-zero, its consumers are not run, every port serves what it
    served, and the next build marks the dead run failed and completes."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    root = private_mesh()
    ports = sorted(p for p in (root / "products").glob("*/*/v*"))
    served = {p: DeltaTable(str(p)).version() for p in ports}

    # A full refresh: a build with nothing new would recompute nothing, and reach no audit.
    killed = mesh("build", "--select", "sales", "--select", "revenue_operations", "--full-refresh", root=root,
                  env={"MESH_FAILPOINTS": "audit.write", "MESH_WORKERS": "2"})

    assert killed.returncode == 1, killed.stdout + killed.stderr
    assert "the process building sales ended without a result (exit code -9)" in killed.stderr
    assert "revenue_operations: not run, its producer sales did not publish" in killed.stderr
    assert {p: DeltaTable(str(p)).version() for p in ports} == served
    rerun = mesh_in_process("build", "--select", "sales", root=root)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    instance = DagsterInstance.from_config(str(root / "dagster"))
    dead = instance.get_runs(RunsFilter(tags={"mesh/code_location": "sales"}, statuses=[DagsterRunStatus.STARTED]))
    assert dead == []


def test_killing_a_side_by_side_build_kills_the_locations_it_started(private_mesh):
    """`kill -9` of `mesh build` stops the processes building its locations, as it stops a
    build that runs in one process: none goes on writing to a domain's files."""
    import os
    import subprocess
    import sys
    import time

    import psutil

    from platform_lib.config import PROJECT_ROOT

    root = private_mesh()
    env = {**os.environ, "MESH_HOME": str(root), "DAGSTER_HOME": str(root / "dagster"), "MESH_WORKERS": "2"}
    build = subprocess.Popen([str(Path(sys.executable).parent / "mesh"), "build", "--select", "marketing", "--select", "sales"],
                             cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = 0
    while started < 2:
        line = build.stderr.readline()
        assert line, "the build ended before both locations started"
        started += "materializing" in line
    deadline = time.monotonic() + 30  # each is forked just after its line is printed
    while len(children := psutil.Process(build.pid).children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(children) == 2

    build.send_signal(signal.SIGKILL)
    build.wait()

    gone, alive = psutil.wait_procs(children, timeout=3)  # building Marketing alone takes longer
    assert alive == [], "a location's process outlived the build that started it"


def test_killing_a_build_kills_the_dbt_run_it_started(private_mesh):
    """`kill -9` of the command running a dbt step (a build here; an erasure's recompute
    runs dbt the same way) leaves no dbt process writing to the domain's DuckDB file."""
    import os
    import subprocess
    import sys
    import time

    import psutil

    from platform_lib.config import PROJECT_ROOT

    root = private_mesh()
    env = {**os.environ, "MESH_HOME": str(root), "DAGSTER_HOME": str(root / "dagster"), "MESH_WORKERS": "1"}
    # A full refresh: with nothing new, no dbt model would need to run.
    build = subprocess.Popen([str(Path(sys.executable).parent / "mesh"), "build", "--select", "marketing", "--full-refresh"],
                             cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def dbt_runs() -> list[psutil.Process]:
        found = []
        for child in psutil.Process(build.pid).children(recursive=True):
            try:
                if any(part.endswith(("dbt", "mesh-dbt")) for part in child.cmdline()[:2]) and "build" in child.cmdline():
                    found.append(child)
            except psutil.NoSuchProcess:
                pass
        return found

    # Whichever process runs dbt (dbt itself, or a warm fork of `platform_lib.ops.warm_dbt`,
    # outside the build's process tree): killed once it has the domain's DuckDB file open.
    warehouse = str(MeshPaths(root).warehouse("marketing"))

    def holders() -> list[int]:
        found = []
        for process in psutil.process_iter():
            try:
                if "dbt" in " ".join(process.cmdline()) and any(f.path == warehouse for f in process.open_files()):
                    found.append(process.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return found

    deadline = time.monotonic() + 240
    while not ((runs := dbt_runs()) and holders()) and build.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runs and build.poll() is None, "the build ended before its dbt step opened the domain's DuckDB file"

    build.send_signal(signal.SIGKILL)
    build.wait()

    gone, alive = psutil.wait_procs(runs, timeout=5)
    assert alive == [], "a dbt run outlived the command that started it"
    deadline = time.monotonic() + 5
    while held := holders():
        assert time.monotonic() < deadline, f"dbt processes {held} still hold {warehouse}"
        time.sleep(0.1)


def test_a_dbt_run_whose_step_died_while_it_started_never_starts_dbt(tmp_path):
    """The step can die while `mesh-dbt` is still starting, before it asks the kernel to die
    with it: the orphan must then exit, not run dbt against the domain's files."""
    import subprocess
    import sys
    import time

    import psutil

    out = tmp_path / "dbt.out"
    # A step that starts dbt and dies at once, long before the child's Python is up.
    step = ("import os, subprocess, sys; "
            "child = subprocess.Popen([sys.argv[1], '--version'], stdout=open(sys.argv[2], 'w'), stderr=subprocess.STDOUT); "
            "print(child.pid, flush=True); os._exit(0)")
    started = subprocess.run([sys.executable, "-c", step, str(Path(sys.executable).parent / "mesh-dbt"), str(out)],
                             capture_output=True, text=True, check=True)
    orphan = int(started.stdout)
    deadline = time.monotonic() + 60
    while psutil.pid_exists(orphan) and psutil.Process(orphan).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the orphaned dbt run is still running"
        time.sleep(0.05)
    assert out.read_text() == "", "dbt ran for a step that had died"



def test_a_staging_run_killed_before_its_commit_stages_nothing_and_the_next_run_stages_each_file_once(private_mesh, request):
    from tests.helpers import query

    root = private_mesh()
    sources = importlib.import_module("domains.marketing.sources").SOURCES
    landed = [p for p in land_increment(MeshPaths(root), sources, "crash", now=datetime.now(timezone.utc))
              if p.parent.name == "email_events"]
    asset = "marketing.staging.email_events"
    state = ("SELECT (SELECT count(*) FROM staging.email_events), (SELECT count(*) FROM landed.email_events), "
             "(SELECT count(*) FROM ledger.files WHERE source = 'marketing.email_events'), (SELECT max(seq) FROM ledger.stagings)")
    before = query(root, "marketing", state)[0]

    killed = mesh("build", "--select", asset, root=root, env={"MESH_FAILPOINTS": "stage.commit"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert query(root, "marketing", state)[0] == before, "a killed staging run must leave nothing staged"

    rerun = mesh_in_process("build", "--select", asset, root=root)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    rows, landed_rows, files, _ = query(root, "marketing", state)[0]
    new_lines = sum(1 for line in landed[0].read_text().splitlines() if line.strip())
    assert (landed_rows, files) == (before[1] + new_lines, before[2] + 1), "the new file is staged exactly once"
    assert rows > before[0]
    again = mesh_in_process("build", "--select", asset, root=root)
    assert again.returncode == 0 and query(root, "marketing", state)[0][:3] == (rows, landed_rows, files)
    record(request, rows_in=new_lines, rows_accounted=landed_rows - before[1], note="stage.commit")


# The batch the per-key cases land: the same in each, so one full refresh serves them all.
BATCH_AT = datetime.now(timezone.utc)


def land_the_batch(root: Path) -> None:
    sources = [s for s in importlib.import_module("domains.sales.sources").SOURCES if s.name == "activities"]
    land_increment(MeshPaths(root), sources, "crash", now=BATCH_AT)


@pytest.fixture(scope="module")
def full_refresh_after_the_batch(private_mesh) -> list[str]:
    """Sales' account_interactions as a full refresh publishes it from the built mesh's
    landing zone and the batch, row by row."""
    root = private_mesh("full-refresh")
    land_the_batch(root)
    out = mesh_in_process("build", "--select", "sales", "--full-refresh", root=root)
    assert out.returncode == 0, out.stdout + out.stderr
    return sorted(map(repr, DeltaTable(str(MeshPaths(root).port("sales", "account_interactions", 1))).to_pyarrow_table().to_pylist()))


@pytest.mark.parametrize("failpoint", ["audit.write", "port.publish", "port.committed"])
def test_a_product_computed_per_key_killed_mid_build_is_completed_by_the_next_build(failpoint, private_mesh, request,
                                                                                    full_refresh_after_the_batch):
    """Sales' account_interactions is computed per account and week: a build killed once the
    changed weeks were deleted and recomputed in the domain's DuckDB, before their commit or
    while Delta writes it, leaves the port as it was; the next build recomputes the same
    weeks again and publishes what a full refresh publishes. Killed once the commit is made
    but before the build is recorded, the next build recomputes the same weeks and, finding
    that very batch committed, commits nothing."""
    root = private_mesh()
    port = MeshPaths(root).port("sales", "account_interactions", 1)
    land_the_batch(root)
    staged = mesh_in_process("build", "--select", "sales.staging.activities", root=root)
    assert staged.returncode == 0, staged.stdout + staged.stderr
    version = DeltaTable(str(port)).version()

    killed = mesh("build", "--select", "sales.account_interactions", root=root, env={"MESH_FAILPOINTS": failpoint})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    committed = failpoint == "port.committed"
    assert DeltaTable(str(port)).version() == version + committed

    rerun = mesh_in_process("build", "--select", "sales.account_interactions", root=root)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    published = DeltaTable(str(port))
    assert published.version() == version + 1, "the batch committed once"
    assert published.history(1)[0]["operationParameters"].get("predicate"), "the changed weeks replaced, not the port"

    rows = sorted(map(repr, published.to_pyarrow_table().to_pylist()))
    assert rows == full_refresh_after_the_batch
    record(request, rows_in=len(rows), rows_accounted=len(rows), note=f"per-key product killed at {failpoint}")


def test_a_vacuum_between_a_killed_build_and_its_rerun_commits_nothing_again(private_mesh, request):
    """Retention vacuums every port and its masked twin daily, and each vacuum commits
    versions that change no row. Killed once its commit was made, a build re-run after a
    vacuum still finds its batch committed and commits nothing; a build with nothing new
    after a vacuum publishes nothing, in any port; a full refresh agrees."""
    import csv
    import shutil

    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.privacy.retention import expire_port
    from platform_lib.storage.ports import all_ports

    root = private_mesh()
    port = MeshPaths(root).port("sales", "account_interactions", 1)
    # Late activities, in weeks the port holds: their replace supersedes the files of those weeks.
    activities = root / "landing" / "sales" / "activities"
    with sorted(activities.glob("*.csv"))[0].open(newline="") as fh:
        late = [{**r, "activity_id": f"{r['activity_id']}-late"} for r in list(csv.DictReader(fh))[:5]]
    with (activities / "part-late.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(late[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(late)
    staged = mesh_in_process("build", "--select", "sales.staging.activities", root=root)
    assert staged.returncode == 0, staged.stdout + staged.stderr
    killed = mesh("build", "--select", "sales.account_interactions", root=root, env={"MESH_FAILPOINTS": "port.committed"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    products = {p.id: p for p in declared_products(code_locations())}
    for folder in (p for p in all_ports(MeshPaths(root), "sales") if not p.name.endswith(".masked")):
        expire_port(folder, products[f"sales.{folder.parent.name}"], 0, datetime.now(timezone.utc))
    assert DeltaTable(str(port)).history(1)[0]["operation"] == "VACUUM END"
    vacuumed = {p: DeltaTable(str(p)).version() for p in all_ports(MeshPaths(root), "sales")}

    for _ in range(2):  # the killed build's re-run, then a build with nothing new
        rerun = mesh_in_process("build", "--select", "sales", root=root)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert {p: DeltaTable(str(p)).version() for p in vacuumed} == vacuumed, "a version committed again"
    rows = sorted(map(repr, DeltaTable(str(port)).to_pyarrow_table().to_pylist()))
    full = root.with_name("full")
    shutil.copytree(root, full, ignore=shutil.ignore_patterns("dagster"))
    refreshed = mesh_in_process("build", "--select", "sales", "--full-refresh", root=full)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert rows == sorted(map(repr, DeltaTable(str(MeshPaths(full).port("sales", "account_interactions", 1))).to_pyarrow_table().to_pylist()))
    record(request, rows_in=len(rows), rows_accounted=len(rows), note="per-key product killed after its commit, then vacuumed")
