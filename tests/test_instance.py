"""The local Dagster instance: its SQLite storage keeps connections open (a build logs
thousands of events), shares its files with Dagster's own storage (the UI and the daemon read
them), and never carries a connection across a fork (side-by-side builds fork)."""

from __future__ import annotations

import os
import sqlite3
import traceback
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, job, op

from platform_lib.config import MeshPaths
from platform_lib.ops.instance import INSTANCE_CONFIG, mesh_instance


@op
def chatty(context):
    for i in range(50):
        context.log.info(f"event {i}")


@job
def logs_a_lot():
    chatty()


def open_databases(home: Path) -> set[str]:
    """The instance's database files this process has open."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
        if target.suffix == ".db" and target.is_relative_to(home):
            found.add(target.name)
    return found


def test_runs_in_parent_and_forked_child_are_whole_in_dagster_s_own_storage(tmp_path):
    home = tmp_path / "mesh"
    instance = mesh_instance(MeshPaths(home))
    assert logs_a_lot.execute_in_process(instance=instance).success
    # The connections stay open for the next statement, unlike Dagster's own SQLite storage.
    assert {"runs.db", "index.db"} <= open_databases(home)

    pid = os.fork()
    if pid == 0:  # the child logs through the instance it inherited, then exits at once
        code = 1
        try:  # no connection of the parent's came along: the child opens its own
            inherited = open_databases(home)
            code = 2 if inherited else 0 if logs_a_lot.execute_in_process(instance=instance).success else 3
        except BaseException:
            (tmp_path / "child.txt").write_text(traceback.format_exc())
        finally:
            os._exit(code)
    assert logs_a_lot.execute_in_process(instance=instance).success  # the parent goes on meanwhile
    _, status = os.waitpid(pid, 0)
    child = tmp_path / "child.txt"
    assert os.waitstatus_to_exitcode(status) == 0, (
        child.read_text() if child.exists() else "2: a connection crossed the fork; 3: the child's run failed")
    assert logs_a_lot.execute_in_process(instance=instance).success

    instance.dispose()
    stock = DagsterInstance.from_config(str(home / "dagster"))
    runs = stock.get_run_records()
    assert [r.dagster_run.status for r in runs] == [DagsterRunStatus.SUCCESS] * 4
    for record in runs:
        logged = [e for e in stock.all_logs(record.dagster_run.run_id) if e.user_message.startswith("event ")]
        assert len(logged) == 50
    for db in (home / "dagster").rglob("*.db"):
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",), db


def run_the_job(home: str) -> None:
    """A forked child's work: log a run through the instance it inherited."""
    ok = logs_a_lot.execute_in_process(instance=_SHARED[home]).success
    os._exit(0 if ok else 1)


_SHARED: dict[str, object] = {}
NO_COMPUTE_LOGS = """
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
"""


def test_children_forked_while_another_thread_logs_complete_their_runs(tmp_path):
    """A side-by-side build forks while the process may still be writing: each child's
    run is whole, none waits forever on a lock the fork copied, the files stay sound."""
    import multiprocessing
    import threading

    home = tmp_path / "mesh"
    # No compute-log capture: Dagster mirrors a run's output through `tail` processes, and in
    # the loaded suite those the logging thread started while the test forked outlived their
    # 30 s stop, twice per run. The subject here is the storage; `mesh build` forks from one thread.
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text(INSTANCE_CONFIG + NO_COMPUTE_LOGS)
    instance = mesh_instance(MeshPaths(home))
    _SHARED[str(home)] = instance
    assert logs_a_lot.execute_in_process(instance=instance).success
    parent = []
    writer = threading.Thread(target=lambda: parent.extend(logs_a_lot.execute_in_process(instance=instance).success
                                                           for _ in range(3)))
    writer.start()
    fork = multiprocessing.get_context("fork")
    children = [fork.Process(target=run_the_job, args=(str(home),)) for _ in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    writer.join(120)
    assert [c.exitcode for c in children] == [0] * 4 and parent == [True] * 3
    stock = DagsterInstance.from_config(str(home / "dagster"))
    runs = stock.get_run_records()
    assert len(runs) == 8 and {r.dagster_run.status for r in runs} == {DagsterRunStatus.SUCCESS}
    for record in runs:
        assert len([e for e in stock.all_logs(record.dagster_run.run_id) if e.user_message.startswith("event ")]) == 50
    for db in (home / "dagster").rglob("*.db"):
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",), db


def test_a_deleted_history_fails_loudly_instead_of_writing_into_deleted_files(tmp_path):
    import shutil

    import pytest
    from dagster._core.storage.dagster_run import DagsterRun

    home = tmp_path / "mesh"
    instance = mesh_instance(MeshPaths(home))
    assert logs_a_lot.execute_in_process(instance=instance).success
    shutil.rmtree(home / "dagster" / "history")
    with pytest.raises(Exception, match="unable to open database file|no such table"):
        instance.add_run(DagsterRun(job_name="after_the_history_was_deleted"))


def test_a_run_s_history_file_is_made_as_dagster_makes_it(tmp_path):
    """The mesh makes each run's event file without reading alembic's scripts per run: the
    file must be the one Dagster's own storage makes (tables, indexes, revision, WAL), and
    one an older process left half made is finished the way Dagster finishes it."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from platform_lib.ops.sqlite_storage import PooledSqliteEventLogStorage

    def made(path: Path):
        con = sqlite3.connect(path)
        try:
            return (con.execute("PRAGMA journal_mode").fetchall(), con.execute("SELECT * FROM alembic_version").fetchall(),
                    sorted(con.execute("SELECT type, name, sql FROM sqlite_master").fetchall()))
        finally:
            con.close()

    ours, dagster = PooledSqliteEventLogStorage(str(tmp_path / "ours")), SqliteEventLogStorage(str(tmp_path / "dagster"))
    for storage in (ours, dagster):
        with storage.run_connection("a-run"):
            pass
    assert made(tmp_path / "ours" / "a-run.db") == made(tmp_path / "dagster" / "a-run.db")
    assert made(tmp_path / "ours" / "a-run.db")[1], "stamped with the head revision"

    # A file with the tables but no revision (a process stopped between the two): Dagster's way.
    sqlite3.connect(tmp_path / "ours" / "half.db").executescript("CREATE TABLE event_logs (id INTEGER PRIMARY KEY);")
    with ours.run_connection("half"):
        pass
    assert made(tmp_path / "ours" / "half.db")[1] == made(tmp_path / "dagster" / "a-run.db")[1]
    ours.dispose()
    dagster.dispose()
