"""`mesh erase`: fan one request out to every domain, producers before consumers, and
complete it only when a scan of every store proves the subject gone."""

from __future__ import annotations

from collections.abc import Callable

from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from platform_lib.config import MeshPaths
from platform_lib.dagster import runs
from platform_lib.dagster.erasure_jobs import ERASURE_JOB
from platform_lib.dagster.workspace import CodeLocation, in_dependency_order
from platform_lib.ops.instance import process_tags, recover_orphaned_runs
from platform_lib.privacy import erasure

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


ErasureFailed = erasure.ErasureFailed
ErasureWaiting = erasure.ErasureWaiting


def _run_step(location: CodeLocation, instance: DagsterInstance, request_id: str, phase: str, paths: MeshPaths) -> None:
    run = runs.execute(
        location, instance, ERASURE_JOB,
        run_config={"ops": {"erase_subject": {"config": {"request_id": request_id, "phase": phase}}}, **QUIET},
        tags={"mesh/erasure": request_id, "mesh/code_location": location.name, **process_tags()},
    )
    if run.status != DagsterRunStatus.SUCCESS:
        part = erasure.load(paths, request_id).domains.get(location.name)
        if part is not None and part.waiting:
            raise ErasureWaiting(f"erasure {request_id} is recorded; {location.name}'s part waits: {part.waiting}. It "
                                 f"resumes with `mesh erase --request-id {request_id}` (or the erasure inbox sensor's "
                                 f"next pass); `mesh erase --status` follows it")
        raise ErasureFailed(f"erasure {request_id}: the {phase} step failed in {location.name} (run {run.run_id}); "
                            f"see the run in the Dagster UI, fix, and re-run `mesh erase --request-id {request_id}`")


def _recompute(location: CodeLocation, instance: DagsterInstance, request_id: str, names: list[str]) -> None:
    keys = {AssetKey([location.name, n]) for n in names}
    run = runs.execute(
        location, instance, asset_selection=keys, run_config=QUIET,
        tags={"mesh/erasure": request_id, "mesh/code_location": location.name, **process_tags()},
    )
    if run.status != DagsterRunStatus.SUCCESS:
        raise ErasureFailed(f"erasure {request_id}: recomputing {', '.join(names)} in {location.name} failed "
                            f"(run {run.run_id}); fix the product and re-run `mesh erase --request-id {request_id}`")


def execute(request_id: str, locations: list[CodeLocation], instance: DagsterInstance, paths: MeshPaths,
            on_progress: Callable[[str], None] = lambda _: None) -> erasure.ErasureRequest:
    """Carry every domain's part to `confirmed`; the last confirmation verifies the whole
    mesh. If that scan finds the subject again, the domains holding it get one more pass."""
    recover_orphaned_runs(instance)
    if erasure.load(paths, request_id).planned_at is None:  # recorded while a warehouse was busy
        from platform_lib.dagster.lineage import lineage_of
        from platform_lib.dagster.workspace import declared_products, declared_sources

        products, sources = declared_products(locations), declared_sources(locations)
        erasure.prepare(paths, request_id, [loc.name for loc in locations], [*sources, *products], products,
                        lineage=lineage_of(products, sources).derivations())
        on_progress("planned")
    for _ in range(2):
        for location in in_dependency_order(locations):
            _carry(location, instance, request_id, paths, on_progress)
        request = erasure.load(paths, request_id)
        if request.status == "complete" or all(p.phase == "confirmed" for p in request.domains.values()):
            return verify(request_id, [loc.name for loc in locations], paths)
        on_progress(f"the subject was found again in {', '.join(d for d, p in request.domains.items() if p.phase != 'confirmed')}")
    raise ErasureFailed(f"erasure {request_id}: the subject keeps coming back (see `mesh erase --status --request-id "
                        f"{request_id}`); stop its source, then re-run `mesh erase --request-id {request_id}`")


def _carry(location: CodeLocation, instance: DagsterInstance, request_id: str, paths: MeshPaths,
           on_progress: Callable[[str], None]) -> None:
    part = erasure.load(paths, request_id).domains.get(location.name)
    if part is None or part.phase == "confirmed":
        return
    if part.phase == "pending":
        _run_step(location, instance, request_id, "erase", paths)
        removed = erasure.load(paths, request_id).domains[location.name].rows_removed
        on_progress(f"{location.name}: {sum(removed.values())} of the subject's rows removed from {len(removed)} store(s)"
                    if removed else f"{location.name}: held none of the subject's rows")
    part = erasure.load(paths, request_id).domains[location.name]
    if part.phase == "erased":
        if part.rebuild:
            _recompute(location, instance, request_id, part.rebuild)
            on_progress(f"{location.name}: recomputed {', '.join(part.rebuild)}")
        erasure.record_part(paths, request_id, location.name, phase="rebuilt")
    _run_step(location, instance, request_id, "purge", paths)
    on_progress(f"{location.name}: old versions purged, stores verified, part confirmed")


def verify(request_id: str, domains: list[str], paths: MeshPaths) -> erasure.ErasureRequest:
    return erasure.complete(paths, request_id)
