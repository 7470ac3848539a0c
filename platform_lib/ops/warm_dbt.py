"""dbt kept warm: each dbt step starts `mesh-dbt`, which has a resident server fork a
process that already imported dbt, instead of starting a Python that imports it again.

Importing dbt costs 2-4 s of CPU, more than most incremental steps' own work, and dbt's first
invocation in a process another 0.7 s (it compiles its classes' serializers): the server
rehearses one build in memory before it forks any, so no fork pays either. The server is
one per user, installed environment and control group (socket under the temp folder, in a
folder only its owner can enter; each side checks the other's uid); it starts with the first
dbt step and exits after `IDLE_SECONDS` without one. Each invocation runs in its own forked
process, which reads the request itself (a slow caller holds up no other) and takes on the
caller's arguments, folder, umask, environment and standard streams, so dagster-dbt reads
its events as from a dbt it started itself. The fork dies with the `mesh-dbt` that asked
for it (it watches the connection), and signals sent to `mesh-dbt` are passed on. Anything
that keeps the server from answering in time falls back to starting dbt cold, said on stderr.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from importlib.metadata import version
from pathlib import Path

IDLE_SECONDS = 300
_START_SECONDS = 30
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_WORD = struct.Struct("!i")


def socket_path() -> Path:
    """The server's socket for this user and this environment's dbt: a changed install
    (another dbt or adapter, or another version of this module) gets a server of its own."""
    installed = f"{sys.prefix}|{version('dbt-core')}|{version('dbt-duckdb')}|{version('duckdb')}"
    # Any install or removal in the environment changes its folder; a fork runs in its server's
    # control group and with its groups, so callers that differ there get a server of their own.
    packages = os.stat(sysconfig.get_paths()["purelib"]).st_mtime_ns
    try:
        group = Path("/proc/self/cgroup").read_text()
    except OSError:
        group = ""
    scope = f"{packages}|{sorted(os.getgroups())}|{group}"
    key = hashlib.blake2b(f"{installed}|{scope}|{Path(__file__).stat().st_mtime_ns}".encode(), digest_size=8).hexdigest()
    path = _private_folder() / f"dbt-{key}.sock"
    if len(os.fsencode(path)) >= 108:  # sun_path: a server could never bind it
        raise OSError(f"{path} is too long for a Unix socket (set TMPDIR to a shorter folder)")
    return path


def _private_folder() -> Path:
    folder = Path(tempfile.gettempdir()) / f"mesh-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    found = os.lstat(folder)
    if found.st_uid != os.getuid() or found.st_mode & 0o077 or not os.path.isdir(folder) or os.path.islink(folder):
        raise PermissionError(f"{folder} is not a folder only this user can enter")
    return folder


# The client: `mesh-dbt` --------------------------------------------------------------------

def run(argv: list[str]) -> int | None:
    """Runs dbt with `argv` in a warm fork and returns its exit code; None when no server
    answered and nothing ran (the caller starts dbt itself)."""
    from platform_lib.config import process_environment

    _open_standard_streams()  # else the connection itself could become one of them
    mask = os.umask(0)
    os.umask(mask)
    request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": process_environment(), "umask": mask}).encode()
    message = _WORD.pack(len(request)) + request
    # A server leaving after its idle time may have taken the connection and closed it
    # unanswered: nothing ran, so it is asked once more (a new one starts if it is gone).
    for _ in range(2):
        try:
            connection = _connect()
            connection.settimeout(_START_SECONDS)  # a stuck server must not hang the step
            sent = socket.send_fds(connection, [message], [0, 1, 2])
            connection.sendall(message[sent:])
            pid = _read_word(connection)
            connection.settimeout(None)
        except OSError as err:
            why = f"{type(err).__name__}: {err}"
            pid = None
        else:
            why = "the server closed the connection before it forked"
        if pid is not None:
            break
    if pid is None:
        return _cold(why)  # nothing ran
    received = []

    def forward(number, _frame):
        received.append(number)
        try:
            os.kill(pid, number)
        except ProcessLookupError:
            pass  # it has just ended; its code is on the way

    for number in _FORWARDED:
        signal.signal(number, forward)
    code = _read_word(connection)
    if code is None and received:  # killed by what it was sent: end as dbt started cold would have
        signal.signal(received[-1], signal.SIG_DFL)
        os.kill(os.getpid(), received[-1])
    return 1 if code is None else code  # the fork died without saying (killed)


def _open_standard_streams() -> None:
    """A closed stdin, stdout or stderr is /dev/null, as for the dbt this process would start."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one


def _cold(why: str) -> None:
    """Said on the step's stderr (its compute log), so a cold start is never silent."""
    print(f"mesh-dbt: no warm dbt server ({why}); starting dbt cold", file=sys.stderr, flush=True)
    return None


def _connect() -> socket.socket:
    from platform_lib.config import process_environment

    path = socket_path()
    try:
        return _open(path)
    except OSError:
        pass
    from filelock import FileLock

    with FileLock(f"{path}.lock", timeout=_START_SECONDS):
        try:
            return _open(path)  # another step started it meanwhile
        except OSError:
            path.unlink(missing_ok=True)  # a server that died left its socket
        # It outlives this step: it keeps only what starting Python and importing dbt read, no
        # setting or secret of the step (a token, a masking key, cloud credentials). Each fork
        # takes on its own caller's whole environment.
        quiet = {k: v for k, v in process_environment().items() if _kept_by_server(k)}
        server = subprocess.Popen([sys.executable, "-P", "-m", __name__, str(path)], stdin=subprocess.DEVNULL, env=quiet,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd="/")
        deadline = time.monotonic() + _START_SECONDS
        while True:
            try:
                return _open(path)
            except OSError:
                if server.poll() is not None:  # it could not start (or lost the path to another): no waiting
                    return _open(path)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _kept_by_server(variable: str) -> bool:
    if variable.startswith("DBT_ENV_SECRET"):
        return False
    return variable in ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "VIRTUAL_ENV") or variable.startswith(("LC_", "PYTHON", "DBT_"))


def _open(path: Path) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(_START_SECONDS)  # a full backlog (a server that stopped accepting) fails at once
    try:
        connection.connect(str(path))
        peer = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", peer)[1] != os.getuid():  # whoever swapped the folder: told nothing
            raise PermissionError(f"{path} is served by another user")
    except OSError:
        connection.close()
        raise
    return connection


def _read_word(connection: socket.socket) -> int | None:
    data = b""
    while len(data) < _WORD.size:
        try:
            chunk = connection.recv(_WORD.size - len(data))
        except InterruptedError:
            continue
        if not chunk:
            return None
        data += chunk
    return _WORD.unpack(data)[0]


# The server ----------------------------------------------------------------------------------

def serve(path: Path) -> None:
    import dbt.adapters.duckdb  # noqa: F401  the warm part: what every invocation would import
    import dbt.cli.main  # noqa: F401

    # A fork imports nothing from the platform: the project it came from may be gone by then.
    from platform_lib.config import take_environment

    if not _rehearse():
        return  # a thread outlived the rehearsal: forking now is unsafe, so callers start dbt cold
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_mask)
    listener.listen(16)
    listener.settimeout(IDLE_SECONDS)
    identity = os.stat(path).st_ino
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forks are reaped by the kernel
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            break
        with connection:
            try:
                peer = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                if struct.unpack("3i", peer)[1] != os.getuid():
                    continue
            except OSError:
                continue
            sys.stdout.flush(), sys.stderr.flush()
            if os.fork() == 0:  # the fork reads the request: a slow caller holds up no other
                listener.close()
                _answer(connection, take_environment)  # never returns
    with_same_inode = path.exists() and os.stat(path).st_ino == identity
    if with_same_inode:
        path.unlink()  # a newer server may own the path now


_REHEARSAL = {
    "dbt_project.yml": "name: rehearsal\nversion: '1.0'\nprofile: rehearsal\n",
    "profiles.yml": "rehearsal:\n  target: memory\n  outputs:\n    memory: {type: duckdb, path: ':memory:', threads: 1}\n",
    "models/rows.sql": "select 1 as id",
    "models/rows.yml": "models:\n  - name: rows\n    columns:\n      - name: id\n        data_tests: [not_null]\n",
}


def _rehearse() -> bool:
    """One `dbt build` of a one-model project in memory, before any fork: dbt compiles its
    classes' (de)serializers and schemas on first use, which every fork would otherwise pay
    again (about 0.7 s of its 1.25 s). Then dbt's connections and DuckDB's threads are closed:
    the server must be single-threaded when it forks. Whether it is, is returned."""
    import gc

    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import cleanup_connections, reset_adapters

    with tempfile.TemporaryDirectory(prefix="mesh-dbt-rehearsal-") as folder:
        for name, text in _REHEARSAL.items():
            (Path(folder) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(folder) / name).write_text(text)
        try:
            # No static parser: it would start a pool of threads (Rust's) that no fork has.
            _dbt(["--quiet", "--no-send-anonymous-usage-stats", "--log-level-file", "none", "--no-static-parser", "build",
                  "--project-dir", folder, "--profiles-dir", folder, "--target-path", f"{folder}/target",
                  "--log-path", folder])
        except BaseException:
            pass  # the rehearsal only saves time: a dbt that fails here fails as it would cold
        finally:
            cleanup_connections()
            DuckDBConnectionManager.close_all_connections()
            reset_adapters()
            gc.collect()
    tasks = Path("/proc/self/task")  # native threads too (DuckDB's), where the system lists them
    return threading.active_count() == 1 and (not tasks.is_dir() or len(os.listdir(tasks)) == 1)


def _answer(connection: socket.socket, take_environment) -> None:
    """In the fork: read the request (10 s in all), then run it."""
    try:
        request, fds = _receive(connection, time.monotonic() + 10)
    except BaseException:
        os._exit(1)
    _invoke(connection, request, fds, take_environment)


def _receive(connection: socket.socket, deadline: float) -> tuple[dict, list[int]]:
    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long")
        return left

    connection.settimeout(remaining())
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    try:
        if len(fds) != 3 or len(data) < _WORD.size:
            raise ValueError("a request holds its length, its body and three streams")
        size = _WORD.unpack(data[:_WORD.size])[0]
        body = data[_WORD.size:]
        while len(body) < size:
            connection.settimeout(remaining())
            chunk = connection.recv(size - len(body))
            if not chunk:
                raise ValueError("the request ended early")
            body += chunk
        return json.loads(body), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _invoke(connection: socket.socket, request: dict, fds: list[int], take_environment) -> None:
    """In the fork: become the dbt process the caller would have started, run, report."""
    code = 1
    started = False  # only a started run reports a code: before, the word would read as its pid
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for stream, fd in zip((0, 1, 2), fds):
            os.dup2(fd, stream)
            os.close(fd)
        sys.stdout.reconfigure(line_buffering=True)  # dagster-dbt reads events as they come
        os.umask(request["umask"])
        os.chdir(request["cwd"])
        take_environment(request["env"])
        connection.settimeout(None)
        try:
            connection.sendall(_WORD.pack(os.getpid()))
        except OSError:
            return  # the caller is gone: nothing to run, no one to tell
        started = True
        # Named, so that dbt's own threads are numbered as in a dbt started cold.
        threading.Thread(target=_die_with_caller, args=(connection,), daemon=True, name="mesh-dbt-caller").start()
        code = _dbt(request["argv"])
    except BaseException:
        traceback.print_exc()  # on the caller's stderr, as a dbt started cold would say it
    finally:
        try:
            atexit._run_exitfuncs()  # as dbt's own exit would: multiprocessing releases its semaphores
        except BaseException:
            pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
        try:
            if started:
                connection.sendall(_WORD.pack(code))
        finally:
            os._exit(code)


def _dbt(argv: list[str]) -> int:
    from dbt.cli.main import cli

    sys.argv = ["dbt", *argv]
    try:
        cli.main(args=argv, prog_name="dbt")
    except SystemExit as ended:
        return ended.code if isinstance(ended.code, int) else (0 if ended.code is None else 1)
    return 0


def _die_with_caller(connection: socket.socket) -> None:
    """The caller (`mesh-dbt`) never writes after its request: a read ends when it is gone."""
    while True:
        try:
            if not connection.recv(1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
