"""The mesh's configuration, read once from the environment, and the layout under its root.

`settings()` is the only reader of the environment in the platform: every `MESH_*`
variable (and `DAGSTER_HOME`, and the terminal's `COLUMNS`) is a field of `MeshSettings`,
validated when first read; `child_environment()` is what a process the platform starts gets.
`MeshPaths` is the only place that knows where things live under the mesh root
(`MESH_HOME`, by default `<project>/.mesh`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class MeshSettings(BaseSettings):
    """Every setting of the mesh, from `MESH_<NAME>` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MESH_", frozen=True, extra="forbid", populate_by_name=True)

    home: Path = PROJECT_ROOT / ".mesh"
    # The Dagster instance the mesh records its runs in; default `<home>/dagster`.
    dagster_home: Path | None = Field(None, validation_alias=AliasChoices("DAGSTER_HOME"))
    # How much memory one domain's DuckDB may hold before it spills to disk (DuckDB's own
    # default is 80% of RAM per database, so a few busy domains could claim the machine).
    duckdb_memory_limit: str = "2GB"
    # How long to wait for a domain's DuckDB file another process holds (a build) before
    # giving up with `WarehouseBusy`; an erasure's part then waits for its next pass.
    warehouse_wait_seconds: float = Field(100.0, ge=0)
    # How many code locations `mesh build` runs at once, each in its own process; by
    # default one per CPU. 1 runs them one after another in the command's own process.
    workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1)
    # Where people reach the Dagster UI; contracts and alerts link to it, and `mesh ui`
    # serves it on this URL's host and port.
    ui_url: str = "http://127.0.0.1:3000"
    # Whether sensors and schedules start on ('on' in production), and how often sensors look.
    automation: Literal["on", "off"] = "off"
    # Schedules (the daily full rebuild, retention) follow `automation` unless set: a test
    # bench runs production automation without a schedule firing in the middle of it.
    schedules: Literal["on", "off"] | None = None
    # dbt steps fork a resident process that has dbt imported (`platform_lib.ops.warm_dbt`)
    # instead of starting dbt cold each time; off starts every dbt run as its own program.
    dbt_warm: bool = True
    landing_sensor_seconds: int = Field(15, ge=1)
    automation_sensor_seconds: int = Field(15, ge=1)
    erasure_sensor_seconds: int = Field(30, ge=1)
    # The governance registry (principals, grants, exemptions) and the contract snapshots
    # ship with the deployed code; no environment variable moves them (see `PINNED`).
    governance: Path = PROJECT_ROOT / "governance"
    contracts: Path = PROJECT_ROOT / "contracts"
    # The caller's credential: a bearer token (`mesh token issue`), or the Delta Sharing
    # profile file that holds one (`mesh token issue ... --out FILE`).
    token: SecretStr | None = None
    profile: Path | None = None
    # The key pseudonyms are made with (HMAC-SHA256), from a secret store; by default one the
    # mesh makes under its root. Changing it rotates every pseudonym.
    masking_key: SecretStr | None = Field(None, min_length=16)
    # OpenLineage run events for every product build: to a file (one event per line) or an
    # HTTP endpoint (Marquez's, for one), in this namespace; none sent when neither is set.
    openlineage_file: Path | None = None
    openlineage_url: str | None = None
    openlineage_namespace: str = "gtm-data-mesh"
    # Where `mesh serve` listens and what the profile files it writes name as the endpoint.
    serve_url: str = "http://127.0.0.1:8470/delta-sharing"
    # Named points where a process kills itself on purpose (crash-safety tests), comma-separated.
    failpoints: str = ""
    slack_webhook_url: str = ""
    # The width of the terminal the output is for (`COLUMNS`, as shells set it); piped
    # output without it is written 160 columns wide.
    columns: int | None = Field(None, validation_alias=AliasChoices("COLUMNS"))

    @field_validator("columns", mode="before")
    @classmethod
    def _width(cls, v):
        # A shell's COLUMNS is a hint, never a reason to refuse a command.
        if isinstance(v, str):
            return int(v) if v.strip().isdigit() and int(v) > 0 else None
        return v

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        # Constructor values (the CLI's `--root`, tests) and the environment, minus what it must not move.
        return init_settings, _Unpinned(settings_cls)

    @field_validator("home", "dagster_home", "governance", "contracts", "profile", "openlineage_file", mode="after")
    @classmethod
    def _absolute(cls, v: Path | None) -> Path | None:
        # Every process the platform starts agrees on a path whatever its working directory.
        return v.expanduser().resolve() if v is not None else None

    @field_validator("automation", "schedules", mode="before")
    @classmethod
    def _switch(cls, v):
        return v.lower() if isinstance(v, str) else v

    @field_validator("ui_url", "serve_url", mode="after")
    @classmethod
    def _no_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def failpoint_names(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.failpoints.split(",") if p.strip())

    @property
    def automation_running(self) -> bool:
        return self.automation == "on"

    @property
    def schedules_running(self) -> bool:
        return (self.schedules or self.automation) == "on"

    @property
    def paths(self) -> "MeshPaths":
        return MeshPaths(self.home, self.dagster_home)


# Settings no environment variable sets: where the grants and contracts a running mesh
# enforces come from is part of its deployment, never of a caller's environment.
PINNED = ("governance", "contracts")
# Variables earlier versions read, with what took their place.
RETIRED = {
    "MESH_PRINCIPAL": "a caller proves who it is with a token: set MESH_PROFILE to the profile file "
                      "`mesh token issue PRINCIPAL --out FILE` wrote, or MESH_TOKEN to its token",
    "MESH_GOVERNANCE": "the governance registry is the deployed project's `governance/`",
    "MESH_CONTRACTS": "the contract registry is the deployed project's `contracts/`",
}


class _Unpinned(EnvSettingsSource):
    def __call__(self) -> dict:
        return {k: v for k, v in super().__call__().items() if k not in PINNED}


class SettingsError(ValueError):
    """A setting has a value the mesh cannot use; the message names the variable."""


def _read(**changes) -> MeshSettings:
    try:
        return MeshSettings(**changes)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            field = str(e["loc"][0]) if e["loc"] else ""
            name = {"dagster_home": "DAGSTER_HOME", "columns": "COLUMNS"}.get(field.lower(), f"MESH_{field.upper()}")
            problems.append(f"{name}: {e['msg']}")
        raise SettingsError(f"invalid configuration: {'; '.join(problems)}. Fix the environment variable and run again.") from None


_current: MeshSettings | None = None


def settings() -> MeshSettings:
    """The settings of this process, read from the environment the first time."""
    global _current
    if _current is None:
        _current = _read()
    return _current


def retired_variables() -> list[str]:
    """Messages for environment variables that are set but no longer read."""
    return [f"{name} is no longer read: {why}." for name, why in RETIRED.items() if name in os.environ]


def private_files() -> None:
    """Files and folders this process (and what it starts) creates are readable by their
    owner only: the stores hold every domain's data, and only the platform's own accounts
    read them directly; everyone else reads through `mesh serve` with a token."""
    os.umask(0o077)


def configure(**changes) -> MeshSettings:
    """Change settings for the rest of this process (the CLI's `--root`); forked workers
    inherit them. Values are validated as if they came from the environment."""
    global _current
    _current = _read(**{**settings().model_dump(), **changes})
    return _current


def child_environment() -> dict[str, str]:
    """The environment for a process the platform starts (the Dagster UI and the processes
    it starts): this process's, with the mesh root and Dagster instance as configured here,
    `--root` included, so the child works on the same mesh."""
    current = settings()
    return {**os.environ, "MESH_HOME": str(current.home), "DAGSTER_HOME": str(current.paths.dagster_home)}


def process_environment() -> dict[str, str]:
    """This process's environment as it is, for a process started on its behalf by another
    (a warm dbt run, `platform_lib.ops.warm_dbt`)."""
    return dict(os.environ)


def take_environment(environment: dict[str, str]) -> None:
    """Become the process another process would have started: its environment replaces this
    one's (the fork of a warm dbt run, before it runs dbt)."""
    os.environ.clear()
    os.environ.update(environment)


@contextmanager
def overridden(**changes) -> Iterator[MeshSettings]:
    """Settings changed for the length of a block, then restored (in-process tools and tests)."""
    global _current
    before = settings()
    try:
        yield configure(**changes)
    finally:
        _current = before


@dataclass(frozen=True)
class MeshPaths:
    """The layout under one mesh root; the only place that knows it."""

    home: Path
    dagster_override: Path | None = None

    @classmethod
    def from_env(cls) -> "MeshPaths":
        """The configured layout: `MESH_HOME` (or `--root`) and `DAGSTER_HOME`."""
        return settings().paths

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def products(self) -> Path:
        return self.home / "products"

    @property
    def dagster_home(self) -> Path:
        return self.dagster_override or self.home / "dagster"

    def landing_dir(self, domain: str, source: str) -> Path:
        return self.landing / domain / source

    def warehouse(self, domain: str) -> Path:
        return self.home / "warehouse" / f"{domain}.duckdb"

    def port(self, domain: str, product: str, major: int) -> Path:
        return self.products / domain / product / f"v{major}"

    @property
    def identity(self) -> Path:
        """Issued tokens (as hashes only) and the platform's secrets."""
        return self.home / "identity"
