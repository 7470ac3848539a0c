"""The local instance's SQLite storage with its connections kept open.

Dagster's SQLite storage makes a new engine, and so opens the database file again, for every
statement: every event a run logs costs a connect, and a build logs thousands. This storage
reads and writes the same files the same way (the webserver and the daemon, on Dagster's own
storage, share them), but each process keeps a pool of connections per database file, for a
bounded few files."""

from __future__ import annotations

import gc
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)

# The run storage, the schedule storage, the event index and the shards of the latest runs.
OPEN_FILES = 8


class _Engines:
    """One engine per database file, the most recently used kept open."""

    def __init__(self, size: int = OPEN_FILES):
        self._size = size
        self._lock = threading.Lock()
        self._engines: OrderedDict[str, db.Engine] = OrderedDict()
        _ALL.add(self)

    def get(self, url: str, **connect_args) -> db.Engine:
        with self._lock:
            engine = self._engines.pop(url, None)
            if engine is None:
                engine = db.create_engine(url, connect_args=connect_args)
            self._engines[url] = engine
            while len(self._engines) > self._size:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()  # a connection in use closes when it is given back
            return engine

    def forget(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


# SQLite connections must not cross a fork (a child closing one could checkpoint and delete
# the write-ahead log its parent still uses): every process closes its own before it forks,
# those of storages no longer used included (collected first), and opens them again when
# next needed.
_ALL: weakref.WeakSet[_Engines] = weakref.WeakSet()


def _close_before_fork() -> None:
    if _ALL:
        gc.collect()
    for engines in list(_ALL):
        engines.forget()


os.register_at_fork(before=_close_before_fork)


@contextmanager
def _transaction(engine: db.Engine) -> Iterator[db.Connection]:
    with engine.connect() as conn:
        with conn.begin():
            yield conn


class _OneFile:
    """A storage in one database file (`_conn_string`): runs, or schedules and sensors."""

    _conn_string: str

    def __init__(self, conn_string: str, inst_data=None):
        self._engines = _Engines(size=1)  # before the base class's set-up connects
        super().__init__(conn_string, inst_data)

    @contextmanager
    def connect(self) -> Iterator[db.Connection]:
        with _transaction(self._engines.get(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        self._engines.forget()
        super().dispose()


class PooledSqliteRunStorage(_OneFile, SqliteRunStorage):
    pass


class PooledSqliteScheduleStorage(_OneFile, SqliteScheduleStorage):
    pass


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None):
        self._engines = _Engines()
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS

        with self._db_lock:
            engine = self._engines.get(self.conn_string_for_shard(shard), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with _transaction(engine) as conn:
                yield conn

    def wipe(self) -> None:
        self._engines.forget()  # its files are deleted
        super().wipe()

    def dispose(self) -> None:
        self._engines.forget()
        super().dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (`storage: sqlite`), connections kept open."""

    def __init__(self, base_dir: str, inst_data=None):
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = PooledSqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

