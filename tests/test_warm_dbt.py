"""dbt kept warm (`mesh-dbt`, `platform_lib/ops/warm_dbt.py`): what it writes has the
caller's permissions, as dbt started cold gives them, and a socket served by another user
hears nothing from it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psutil
import pytest

MESH_DBT = str(Path(sys.executable).parent / "mesh-dbt")


@pytest.fixture
def short_tmp():
    """A TMPDIR of its own (the server's socket lives under it; a Unix socket path is short)."""
    folder = Path(tempfile.mkdtemp(prefix="wd-", dir="/tmp"))
    yield folder
    for server in servers(folder):  # the one started for this folder only
        server.kill()
    shutil.rmtree(folder, ignore_errors=True)


def servers(tmp: Path) -> list[psutil.Process]:
    """The warm dbt servers whose socket is under `tmp`."""
    return [p for p in psutil.process_iter(["cmdline", "uids"])
            if "warm_dbt" in " ".join(p.info["cmdline"] or []) and str(tmp) in " ".join(p.info["cmdline"] or [])]


def dbt(*args: str, warm: bool, tmp: Path, umask: int | None = None, cwd: Path | None = None, env: dict | None = None):
    env = {**os.environ, **(env or {}), "MESH_DBT_WARM": str(warm).lower(), "TMPDIR": str(tmp)}
    return subprocess.run([MESH_DBT, *args], cwd=cwd or tmp, env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=None if umask is None else (lambda: os.umask(umask)))


def a_project(folder: Path) -> Path:
    folder.mkdir()
    (folder / "dbt_project.yml").write_text("name: probe\nversion: '1.0'\nprofile: probe\nconfig-version: 2\n")
    (folder / "profiles.yml").write_text(textwrap.dedent(f"""\
        probe:
          target: local
          outputs:
            local: {{type: duckdb, path: '{folder / "probe.duckdb"}', threads: 1}}
        """))
    (folder / "models").mkdir()
    (folder / "models" / "one.sql").write_text("select 1 as one\n")
    return folder


def test_what_warm_dbt_writes_has_the_caller_s_permissions(short_tmp):
    # The server is started by a caller with the common umask; the next caller keeps its own.
    assert dbt("--version", warm=True, tmp=short_tmp, umask=0o022).returncode == 0
    modes = {}
    for warm in (False, True):
        project = a_project(short_tmp / f"project-{warm}")
        done = dbt("parse", "--project-dir", str(project), "--profiles-dir", str(project), warm=warm, tmp=short_tmp,
                   umask=0o077, cwd=project)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "no warm dbt server" not in done.stderr, done.stderr
        written = [p for p in project.rglob("*") if p.is_file() and p.parent.name in ("target", "logs")]
        assert written
        modes[warm] = {str(p.relative_to(project)): stat.S_IMODE(p.stat().st_mode) for p in written}
    assert servers(short_tmp), "no warm dbt server answered"
    assert modes[True] == modes[False]
    assert set(modes[True].values()) == {0o600}


def test_the_server_forks_from_a_single_thread_after_its_rehearsal(short_tmp):
    """The server rehearses one dbt build before it serves; no thread of it may be left (a
    fork copies only the forking thread: one waited on in the fork would never answer)."""
    project = a_project(short_tmp / "project")
    for _ in range(2):
        done = dbt("build", "--project-dir", str(project), "--profiles-dir", str(project), warm=True, tmp=short_tmp,
                   cwd=project)
        assert done.returncode == 0 and "no warm dbt server" not in done.stderr, done.stdout + done.stderr
    [server] = servers(short_tmp)
    assert server.num_threads() == 1


IMPOSTOR = """
import os, socket, sys
path = sys.argv[1]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
os.chmod(path, 0o777)
os.setgid(65534)
os.setuid(65534)  # listening as another user: that is who a caller's peer check sees
server.listen(8)
print("listening", flush=True)
server.settimeout(60)
while True:
    connection, _ = server.accept()
    connection.settimeout(5)
    heard = 0
    try:
        while chunk := connection.recv(65536):
            heard += len(chunk)
    except OSError:
        pass
    print(f"heard {heard}", flush=True)
"""


@pytest.mark.skipif(os.getuid() != 0, reason="starting a process as another user needs root")
def test_a_socket_served_by_another_user_hears_nothing(short_tmp):
    env = {**os.environ, "TMPDIR": str(short_tmp)}
    path = subprocess.run([sys.executable, "-c", "from platform_lib.ops.warm_dbt import socket_path; print(socket_path())"],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()
    impostor = subprocess.Popen([sys.executable, "-c", IMPOSTOR, path], stdout=subprocess.PIPE, text=True)
    try:
        assert impostor.stdout.readline().strip() == "listening"
        warm = dbt("--version", warm=True, tmp=short_tmp, env={"DBT_ENV_SECRET_TOKEN": "s3cr3t-never-sent"})
        cold = dbt("--version", warm=False, tmp=short_tmp)
        assert warm.returncode == cold.returncode == 0
        assert warm.stdout == cold.stdout  # dbt answered all the same, from a server of this user
        # The impostor's socket was replaced by this user's own server.
        owner = servers(short_tmp)
        assert owner and all(p.info["uids"].real == os.getuid() for p in owner)
    finally:
        impostor.kill()
    heard = impostor.stdout.read().split("\n")
    assert "heard 0" in heard and not [line for line in heard if line and line != "heard 0"], heard
