"""Shared fixtures: a generated landing zone and a Marketing domain built from it,
once per session, in a temporary mesh root."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

# Before any domain module is imported: its definitions resolve the mesh root at load.
if "MESH_HOME" not in os.environ:  # test workers inherit the one their controller made
    _scratch = tempfile.mkdtemp(prefix="mesh-tests-")
    atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
    os.environ["MESH_HOME"] = str(Path(_scratch) / "mesh")
os.environ.pop("DAGSTER_HOME", None)
# Piped output is as wide as COLUMNS says, and test workers inherit one (xdist's is 80):
# a test that cares about the width sets it.
os.environ.pop("COLUMNS", None)
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"

from dagster import DagsterInstance  # noqa: E402

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)

# The order workers take whole files in (`--dist loadfile --no-loadscope-reorder`; without
# the latter xdist orders files by their number of tests instead). Four workers share the
# two cores: many tests wait on other processes (code servers, the daemon, dbt, a browser).
# The second file builds the mesh in its set-up; the files that need no built mesh (or, as
# scaffolding, need it only at their end) come right after it, so the other workers have
# work while it is built; then the longest first.
LONGEST_FIRST = [
    "test_topology.py", "test_erasure.py", "test_bad_input.py", "test_scaffold.py",
    "test_seed.py", "test_definitions.py", "test_standards.py", "test_readme.py", "test_config.py", "test_sla.py",
    "test_product_audit.py", "test_retention.py", "test_erasure_purge.py", "test_definitions_snapshot.py",
    "test_instance.py", "test_warm_dbt.py", "test_erasure_cli.py", "test_ui.py", "test_crash_safety.py", "test_incremental.py", "test_erasure_completeness.py", "test_mesh.py",
    "test_write_audit_publish.py", "test_concurrency.py", "test_benchmarks.py", "test_dbt_products.py",
    "test_disk_full.py", "test_notebooks.py", "test_cli.py", "test_marketing.py", "test_governance.py",
    "test_hostile_input.py", "test_catalog.py",
]


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def configure(monkeypatch):
    """Change the platform's settings for one test: they are read from the environment once
    per process, so a test changes them here, and they are restored after it. The change is
    also put in the environment, so the processes the test starts (`mesh`, a kernel) see the
    same settings, except the registries no environment variable moves (`config.PINNED`)."""
    from pydantic import SecretStr

    from platform_lib import config

    monkeypatch.setattr(config, "_current", config.settings())

    def change(**changes):
        changed = config.configure(**changes)
        for name in changes:
            if name in config.PINNED:
                continue
            variable = "DAGSTER_HOME" if name == "dagster_home" else f"MESH_{name.upper()}"
            value = getattr(changed, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is None:
                monkeypatch.delenv(variable, raising=False)
            else:
                monkeypatch.setenv(variable, str(value))
        return changed

    return change


def shared_folder(tmp_path_factory, name: str) -> Path:
    """A folder all test workers of the session share: under xdist each worker's base
    folder sits in the session's; alone, the session's own."""
    session = tmp_path_factory.getbasetemp()
    return (session.parent if os.environ.get("PYTEST_XDIST_WORKER") else session) / name


@pytest.fixture(scope="session")
def landing_root(tmp_path_factory) -> Path:
    """A small landing zone, generated once for all test workers (under a lock); tests
    that change it take their own copy."""
    import shutil

    from filelock import FileLock

    from platform_lib.ops.seed import generate

    shared = shared_folder(tmp_path_factory, "landing-template")
    with FileLock(f"{shared}.lock"):
        if not (shared / "landing" / "_manifest.json").exists():  # the generator writes it last
            shutil.rmtree(shared, ignore_errors=True)
            generate(shared, scale="small", seed=7, as_of=AS_OF)
    return shared


@pytest.fixture(scope="session")
def built_mesh_template(tmp_path_factory, landing_root):
    """The whole mesh built once with `mesh build` for all test workers (they share the
    folder under a lock). Never changed: tests work on a copy (`private_mesh`)."""
    import json
    import shutil

    from filelock import FileLock

    from tests.helpers import copy_landing, mesh_in_process

    shared = shared_folder(tmp_path_factory, "built-mesh")
    with FileLock(f"{shared}.lock"):
        if not (shared / "build.json").exists():
            shutil.rmtree(shared, ignore_errors=True)
            root = copy_landing(landing_root, shared)
            # One location after another (so in this process, as `mesh` runs it): the
            # concurrency cases compare against this run.
            result = mesh_in_process("build", root=root, env={"MESH_WORKERS": "1"})
            (shared / "build.json").write_text(json.dumps(
                {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}))
    return shared


@pytest.fixture(scope="session")
def mesh_build(built_mesh_template) -> subprocess.CompletedProcess:
    """The `mesh build` that made the template: its exit code and output."""
    import json

    built = json.loads((built_mesh_template / "build.json").read_text())
    return subprocess.CompletedProcess(["mesh", "build"], built["returncode"], built["stdout"], built["stderr"])


@pytest.fixture(scope="session")
def private_mesh(built_mesh_template, mesh_build, tmp_path_factory):
    """A factory: `private_mesh()` is a new private copy of the built mesh (landing zone,
    warehouses, ports, Dagster instance) that its caller may change at will."""
    import shutil

    def copy(name: str = "mesh") -> Path:
        assert mesh_build.returncode == 0, mesh_build.stdout + mesh_build.stderr
        root = tmp_path_factory.mktemp(name) / "mesh"
        shutil.copytree(built_mesh_template, root, ignore=shutil.ignore_patterns("build.json"))
        return root

    return copy


@pytest.fixture(scope="module")
def module_mesh(private_mesh, request) -> Path:
    """One private copy of the built mesh for the tests of a module."""
    return private_mesh(request.module.__name__.rpartition(".")[2])


@pytest.fixture(scope="session")
def built_marketing(private_mesh):
    """Marketing as `mesh build` published it, in this worker's own copy of the built mesh:
    the mesh root, its Dagster instance and Marketing's run."""
    from dagster import RunsFilter

    root = private_mesh("built-marketing")
    instance = DagsterInstance.from_config(str(root / "dagster"))
    [run] = instance.get_runs(RunsFilter(tags={"mesh/code_location": "marketing"}))
    return root, instance, run


def pytest_terminal_summary(terminalreporter):
    """The reliability table: every case tried, whether it passed, and rows lost (must be 0)."""
    import json

    from tests.reliability.ledger import KEY

    rows = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when != "call" or "tests/reliability/" not in report.nodeid:
                continue
            ledger = next((json.loads(v) for k, v in report.user_properties if k == KEY), None)
            path, _, test = report.nodeid.partition("::")
            case = f"{Path(path).stem.removeprefix('test_')}: {test.partition('[')[2].rstrip(']') or test}"
            lost = "-" if ledger is None else ledger["rows_in"] - ledger["rows_accounted"]
            rows.append((case, outcome, "-" if ledger is None else ledger["rows_in"], lost))
    if not rows:
        return
    terminalreporter.section("reliability")
    width = max(len(r[0]) for r in rows)
    terminalreporter.write_line(f"{'case':<{width}}  result  rows in  rows lost")
    for case, outcome, rows_in, lost in sorted(rows):
        terminalreporter.write_line(f"{case:<{width}}  {outcome:<6}  {rows_in!s:>7}  {lost!s:>9}")
    passed = sum(1 for r in rows if r[1] == "passed")
    lost = sum(r[3] for r in rows if isinstance(r[3], int))
    terminalreporter.write_line(f"{len(rows)} cases tried, {passed} passed, {lost} rows lost")
