"""Running dbt inside a step, through dagster-dbt.

Only a step that runs dbt (or a stale project's parse) imports this module: importing
dagster-dbt costs about 0.3 s (and dbt-core, which it is spared, 0.8 s more), which no code
location pays at load.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import yaml
from dagster import AssetCheckEvaluation, AssetKey, AssetMaterialization, AssetObservation
from packaging.version import Version

from platform_lib.config import settings


@contextlib.contextmanager
def _without_dbt_core():
    """dbt runs in its own process (`mesh-dbt`); this one only reads its JSON events, for
    which dagster-dbt carries its own copies of dbt's enums (as it does beside dbt Fusion).
    Imported without dbt-core, dagster-dbt spares every process that runs a dbt step 0.8 s."""
    if "dbt.version" in sys.modules:  # dbt-core is loaded already: nothing to spare
        yield
        return
    sys.modules["dbt.version"] = None  # `import dbt.version` raises ImportError
    try:
        yield
    finally:
        del sys.modules["dbt.version"]


with _without_dbt_core():
    from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource


class MeshDbtCliResource(DbtCliResource):
    """`DbtCliResource` without the per-invocation start-up it only needs for
    features the mesh does not use: it runs `dbt --version` in a subprocess and
    loads a dbt adapter with every macro (about 8 s per run on two cores), to fetch
    column metadata and row counts. The platform audits the candidate itself."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def write_profile(project_dir: Path, warehouse: Path, folder: Path) -> Path:
    """The project's dbt profile, written into `folder`: the domain's own DuckDB file, set up
    as the platform sets up every warehouse connection. The platform writes it for each
    invocation, so dbt never depends on the caller's environment."""
    name = yaml.safe_load((project_dir / "dbt_project.yml").read_text())["profile"]
    output = {"type": "duckdb", "path": str(warehouse), "schema": "main", "threads": 1,
              "settings": {"TimeZone": "UTC", "memory_limit": settings().duckdb_memory_limit}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(yaml.safe_dump({name: {"target": "local", "outputs": {"local": output}}}))
    return folder


def dbt_cli(project_dir: Path, profiles_dir: Path) -> DbtCliResource:
    """dbt from this interpreter's environment, so an unactivated venv works too, started
    through `mesh-dbt` so that it dies with the step that runs it."""
    executable = Path(sys.executable).parent / "mesh-dbt"
    return MeshDbtCliResource(
        project_dir=str(project_dir),
        profiles_dir=str(profiles_dir),
        dbt_executable=str(executable) if executable.exists() else "dbt",
    )


class _KeyedTranslator(DagsterDbtTranslator):
    """Names dbt's events with the keys the code location declared (see `platform_lib.dagster.dbt`)."""

    def __init__(self, key_of: Mapping[str, AssetKey]):
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self.key_of = key_of

    def get_asset_key(self, props: Mapping[str, Any]) -> AssetKey:
        return self.key_of.get(props["unique_id"]) or super().get_asset_key(props)


DbtEvent = AssetMaterialization | AssetCheckEvaluation | AssetObservation


class DbtBuild:
    """One `dbt build` of a selection; its results as Dagster events keyed like the declaration."""

    def __init__(self, project_dir: Path, warehouse: Path, manifest: Mapping[str, Any],
                 key_of: Mapping[str, AssetKey], select: Sequence[str], target: Path):
        self.target = target
        self.invocation = dbt_cli(project_dir, write_profile(project_dir, warehouse, target)).cli(
            ["build", "--log-path", str(target), "--select", " ".join(select)], manifest=manifest,
            dagster_dbt_translator=_KeyedTranslator(key_of), raise_on_error=False, target_path=target,
        )

    def events(self) -> list[DbtEvent]:
        """Runs dbt to the end. dagster-dbt echoes every dbt log line to stdout; they go to
        the run's dbt folder (`console.log`, beside dbt's `dbt.log`), kept when the build fails."""
        with (self.target / "console.log").open("a") as console, contextlib.redirect_stdout(console):
            return list(self.invocation.stream())

    @property
    def succeeded(self) -> bool:
        return self.invocation.is_successful()

    @property
    def error(self) -> str:
        return str(self.invocation.get_error())


def parse(project_dir: Path, target: Path) -> None:
    """Parsing opens no connection: the profile names the configured root's warehouse."""
    warehouse = settings().paths.warehouse(project_dir.name)
    dbt_cli(project_dir, write_profile(project_dir, warehouse, target)).cli(["parse", "--quiet", "--log-path", str(target)], target_path=target, raise_on_error=True).wait()
