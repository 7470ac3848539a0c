"""Runs the `mesh` command starts are the runs the UI launches: created with their code
location's origin (as workspace.yaml names it, so the UI files the run under the location,
shows it on the location's timeline and re-executes it from there) and the job's Python
origin, then executed in this process by Dagster's run executor. No code server is started:
the location's code is already imported here."""

from __future__ import annotations

from collections.abc import Mapping, Set

from dagster import AssetKey, DagsterInstance
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.dagster_run import DagsterRun

from platform_lib.config import PROJECT_ROOT
from platform_lib.dagster.workspace import CodeLocation

# The implicit job of every asset in a location; `mesh build` runs a selection of it.
ASSET_JOB = "__ASSET_JOB"


def remote_job_origin(location: CodeLocation, job_name: str) -> RemoteJobOrigin:
    """The job as the UI knows it: job `job_name` of the location's one repository (Dagster
    makes `__repository__` of a module's `Definitions`)."""
    if location.origin is None:
        raise ValueError(f"code location {location.name} was not read from a workspace file; use code_locations()")
    return RemoteJobOrigin(RemoteRepositoryOrigin(location.origin, SINGLETON_REPOSITORY_NAME), job_name)


def reconstructable_job(location: CodeLocation, job_name: str) -> ReconstructableJob:
    """How a run worker finds the job's code: the location's module and attribute."""
    target = getattr(location.origin, "loadable_target_origin", None)
    working_directory = (target.working_directory if target is not None else None) or str(PROJECT_ROOT)
    repository = ReconstructableRepository.for_module(location.module, location.attribute, working_directory)
    return repository.get_reconstructable_job(job_name)


def execute(
    location: CodeLocation,
    instance: DagsterInstance,
    job_name: str = ASSET_JOB,
    *,
    asset_selection: Set[AssetKey] | None = None,
    run_config: Mapping[str, object] | None = None,
    tags: Mapping[str, str] | None = None,
) -> DagsterRun:
    """Create the run in `instance` as the location's, execute it here, and return it as
    recorded once it ended (a failed step fails the run; nothing is raised)."""
    job_def = location.defs.get_job_def(job_name) if job_name != ASSET_JOB else location.defs.resolve_implicit_global_asset_job_def()
    recon = reconstructable_job(location, job_name)
    run = instance.create_run_for_job(
        job_def=job_def,
        run_config=dict(run_config or {}),
        tags={**job_def.run_tags, **(tags or {})},
        asset_selection=frozenset(asset_selection) if asset_selection else None,
        remote_job_origin=remote_job_origin(location, job_name),
        job_code_origin=recon.get_python_origin(),
    )
    execute_run(recon, run, instance, raise_on_error=False)
    return instance.get_run_by_id(run.run_id)
