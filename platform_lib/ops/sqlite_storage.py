"""The local instance's SQLite storage with its connections kept open.

Dagster's SQLite storage makes a new engine, and so opens the database file again, for every
statement: every event a run logs costs a connect, and a build logs thousands. This storage
reads and writes the same files the same way (the webserver and the daemon, on Dagster's own
storage, share them), but each process keeps a pool of connections per database file, for a
bounded few files, never carried across a fork."""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import sqlalchemy as db
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sql import _alembic_lock as _ALEMBIC_LOCK
from dagster._core.storage.sql import get_alembic_config
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)

# A few mesh roots' runs, schedules and event index, and the shards of their latest runs.
OPEN_FILES = 16


class _Engines:
    """This process's engines, one per database file, the most recently used kept open, shared
    by every instance of the process (so one that is never disposed leaks nothing). An engine
    whose file was deleted or replaced is dropped: nothing is written into a deleted file."""

    def __init__(self, size: int = OPEN_FILES):
        self._size = size
        self._lock = threading.Lock()
        self._engines: OrderedDict[str, tuple[db.Engine, int | None]] = OrderedDict()

    def get(self, url: str, **connect_args) -> db.Engine:
        path = url.removeprefix("sqlite:///")
        try:
            inode = os.stat(path).st_ino
        except FileNotFoundError:
            inode = None
        with self._lock:
            engine, known = self._engines.pop(url, (None, None))
            if engine is not None and known is not None and known != inode:
                engine.dispose()  # deleted or replaced since: a connection would write into the old file
                engine = None
            if engine is None:
                engine = db.create_engine(url, connect_args=connect_args)
                db.event.listen(engine, "connect", _durable_at_checkpoints)
            self._engines[url] = (engine, inode)  # a file the first connect creates: known from next time
            while len(self._engines) > self._size:
                _, (oldest, _) = self._engines.popitem(last=False)
                oldest.dispose()  # a connection in use closes when it is given back
            return engine

    def forget(self, path: str = "/") -> None:
        """Close the engines of database file `path`, or of the files in folder `path/`
        (all by default)."""
        with self._lock:
            for url in [u for u in self._engines if _within(u.removeprefix("sqlite:///"), path)]:
                self._engines.pop(url)[0].dispose()

    def drop_inherited(self) -> None:
        """In a forked child: the parent's engines are never used here, nor closed (closing
        a SQLite connection can checkpoint and delete the write-ahead log its parent uses)."""
        _INHERITED.extend(engine for engine, _ in self._engines.values())
        self._engines = OrderedDict()
        self._lock = threading.Lock()


def _durable_at_checkpoints(dbapi_connection, _record) -> None:
    """Commits do not wait for the disk, checkpoints do. Dagster keeps these files in WAL mode,
    where this is SQLite's advice for most applications: a power cut can lose the last few
    events of run history, never corrupt it (a killed process loses nothing). The data
    products' own commits are Delta's and unaffected. A build logs thousands of events."""
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _within(file: str, path: str) -> bool:
    """`file` is `path`, or lies in `path` when that names a folder (ends with /)."""
    return file.startswith(path) if path.endswith("/") else file == path


class _Gate:
    """Transactions pass while no fork is being made; a fork first waits for those in flight.
    SQLite's own bookkeeping of a file's locks is per process and a child inherits a copy: a
    connection open at the fork, even one the child never touches, would make the child's own
    connections skip the locks they need, and the parent could then delete a write-ahead log
    the child still writes to."""

    def __init__(self):
        self._changed = threading.Condition()
        self._open = 0
        self._forker: int | None = None

    @contextmanager
    def passing(self) -> Iterator[None]:
        with self._changed:
            # The forking thread itself is never held up (it would wait for itself).
            self._changed.wait_for(lambda: self._forker in (None, threading.get_ident()))
            self._open += 1
        try:
            yield
        finally:
            with self._changed:
                self._open -= 1
                self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._forker = threading.get_ident()
            self._changed.wait_for(lambda: self._open == 0, timeout=FORK_WAIT_SECONDS)

    def reopen(self) -> None:
        with self._changed:
            self._forker = None
            self._changed.notify_all()


# A transaction is a few statements; one still open after this is held by the forking thread.
FORK_WAIT_SECONDS = 10

_ENGINES = _Engines()
_GATE = _Gate()
_INHERITED: list[db.Engine] = []
_EVENT_STORAGES: weakref.WeakSet[PooledSqliteEventLogStorage] = weakref.WeakSet()


def _before_fork() -> None:
    _GATE.close()
    _ENGINES.forget()


def _in_child() -> None:
    global _GATE
    _GATE = _Gate()
    _ENGINES.drop_inherited()  # none open, unless the fork stopped waiting
    for storage in list(_EVENT_STORAGES):  # another thread of the parent may have held it
        storage._db_lock = threading.Lock()


os.register_at_fork(before=_before_fork, after_in_parent=lambda: _GATE.reopen(), after_in_child=_in_child)


@contextmanager
def _transaction(engine: db.Engine) -> Iterator[db.Connection]:
    with _GATE.passing(), engine.connect() as conn:
        with conn.begin():
            yield conn


class _OneFile:
    """A storage in one database file (`_conn_string`): runs, or schedules and sensors."""

    _conn_string: str

    @contextmanager
    def connect(self) -> Iterator[db.Connection]:
        with _transaction(_ENGINES.get(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        _ENGINES.forget(self._conn_string.removeprefix("sqlite:///"))
        super().dispose()


class PooledSqliteRunStorage(_OneFile, SqliteRunStorage):
    pass


class PooledSqliteScheduleStorage(_OneFile, SqliteScheduleStorage):
    pass


@cache
def _migrations() -> ScriptDirectory:
    """The event log's alembic migrations, read once per process."""
    from dagster._core.storage.event_log.sqlite import sqlite_event_log

    with _ALEMBIC_LOCK:
        scripts = ScriptDirectory.from_config(get_alembic_config(sqlite_event_log.__file__))
        scripts.get_current_head()  # loads every script now, under the lock
        return scripts


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data)
        self._tables: set[tuple[int, str]] = set()  # (index file's inode, table) found there
        _EVENT_STORAGES.add(self)

    def has_table(self, table_name: str) -> bool:
        # Asked for each check event and asset event; Dagster's own opens the file each time.
        # A table, once made, stays in its file (a wiped or replaced index is another inode).
        # Called inside `index_connection()`, so it takes no `_db_lock`.
        try:
            inode = os.stat(self.path_for_shard(INDEX_SHARD_NAME)).st_ino
        except FileNotFoundError:
            inode = None
        if (inode, table_name) in self._tables:
            return True
        engine = _ENGINES.get(self.conn_string_for_shard(INDEX_SHARD_NAME), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        with _GATE.passing(), engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found and inode is not None:
            self._tables.add((inode, table_name))
        return found

    def _initdb(self, engine: db.Engine, for_index_shard: bool = False) -> None:
        # Every run has its own file. Dagster reads alembic's migration scripts twice to make
        # one (about 0.1 s a run); they are read once per process here. A file neither new nor
        # at the head revision, or a race with another process, goes Dagster's own way.
        try:
            with engine.connect() as conn:
                context = MigrationContext.configure(conn)
                current = context.get_current_revision()
                if current is None and not db.inspect(conn).get_table_names():
                    SqlEventLogStorageMetadata.create_all(conn)
                    conn.execute(db.text("PRAGMA journal_mode=WAL;"))
                    scripts = _migrations()
                    with _ALEMBIC_LOCK:
                        context.stamp(scripts, "head")
                    conn.commit()
                    return
                if current is not None and current == _migrations().get_current_head():
                    return
        except (db.exc.DatabaseError, sqlite3.DatabaseError):
            pass
        super()._initdb(engine, for_index_shard)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        with self._db_lock:
            if not os.path.exists(self.path_for_shard(shard)):
                self._initialized_dbs.discard(shard)  # deleted since: made again, schema included
            engine = _ENGINES.get(self.conn_string_for_shard(shard), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            if shard not in self._initialized_dbs:
                with _GATE.passing():  # it connects on its own
                    self._initdb(engine)
                self._initialized_dbs.add(shard)
            with _transaction(engine) as conn:
                yield conn

    def wipe(self) -> None:
        _ENGINES.forget(f"{self._base_dir}/")  # its files are deleted
        super().wipe()

    def dispose(self) -> None:
        _ENGINES.forget(f"{self._base_dir}/")
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

