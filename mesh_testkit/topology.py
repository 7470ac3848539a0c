"""Start the production topology against a mesh root: Postgres-backed instance from
`deploy/dagster.yaml`, `dagster code-server start` per domain, `dagster-daemon run` and
`dagster-webserver`, with the production automation settings (`deploy/production.env`)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from dagster import DagsterInstance
from dotenv import dotenv_values

from mesh_testkit.postgres import LocalPostgres, free_port
from platform_lib.config import PROJECT_ROOT
from platform_lib.dagster.workspace import code_locations

DEPLOY = PROJECT_ROOT / "deploy"
# Names in production.env that only make sense inside the production network.
_PLACE_BOUND = {"MESH_HOME", "DAGSTER_HOME", "MESH_POSTGRES_URL", "MESH_UI_URL"}


def production_settings() -> dict[str, str]:
    """deploy/production.env, less the names bound to the production network."""
    found = dotenv_values(DEPLOY / "production.env")
    return {k: v for k, v in found.items() if k not in _PLACE_BOUND and v is not None}


class Topology:
    def __init__(self, home: Path, overrides: dict[str, str] | None = None, webserver: bool = True, server: bool = False):
        self.home = home
        self.dagster_home = home / "dagster-production"
        self.logs = home / "topology-logs"
        self.postgres = LocalPostgres()
        self.ui_port = free_port()
        self.overrides = overrides or {}
        self.webserver = webserver
        self.server = server
        self.serve_port = free_port()
        self._processes: list[subprocess.Popen] = []

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}/delta-sharing"

    def env(self) -> dict[str, str]:
        return {**os.environ, **production_settings(), **self.overrides, "MESH_HOME": str(self.home),
                "DAGSTER_HOME": str(self.dagster_home), "MESH_POSTGRES_URL": self.postgres.url, "MESH_UI_URL": self.ui_url,
                "MESH_SERVE_URL": self.serve_url}

    def instance(self) -> DagsterInstance:
        os.environ["MESH_POSTGRES_URL"] = self.postgres.url
        return DagsterInstance.from_config(str(self.dagster_home))

    def start(self) -> "Topology":
        self.postgres.start()
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEPLOY / "dagster.yaml", self.dagster_home / "dagster.yaml")
        self.instance().dispose()  # creates the schema once, before any process races to
        bin_dir = Path(sys.executable).parent
        servers = []
        for location in code_locations():
            port = free_port()
            self._spawn(location.name, [str(bin_dir / "dagster"), "code-server", "start", "-m", location.module,
                                        "-h", "127.0.0.1", "-p", str(port), "--location-name", location.name])
            servers.append({"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": location.name}})
        workspace = self.dagster_home / "workspace.yaml"
        workspace.write_text(yaml.safe_dump({"load_from": servers}))
        for server in servers:
            self._wait_healthy(server["grpc_server"]["port"], server["grpc_server"]["location_name"])
        self._spawn("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)])
        if self.server:  # the consumers' way in: Delta Sharing
            self._spawn("serve", [str(bin_dir / "mesh"), "serve"])
        if self.webserver:
            self._spawn("webserver", [str(bin_dir / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1",
                                      "-p", str(self.ui_port)])
        return self

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self._processes.append(subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env(), stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True))

    def _wait_healthy(self, port: int, name: str, timeout: float = 180) -> None:
        from dagster._grpc.client import DagsterGrpcClient  # the health check `dagster api grpc-health-check` runs

        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.redirect_stdout(io.StringIO()):  # it prints every refused connection
                status = client.health_check_query()
            if status == "SERVING":
                return
            time.sleep(0.5)
        raise TimeoutError(f"code server {name} did not serve within {timeout:.0f}s; see {self.logs / (name + '.log')}")

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.postgres.stop()

    def __enter__(self) -> "Topology":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
