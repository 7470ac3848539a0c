"""The erasure inbox: in production, requests arrive as files and every domain's sensor
carries its own part forward, producers first, with no coordinator process.

A request file `<MESH_HOME>/privacy/inbox/<name>.json` holds
`{"subject": "contact:C-000123", "reason": "GDPR art. 17, ticket 4711", "request_id": optional}`.
One domain's sensor claims it (an atomic rename), and its `erasure` job opens the request:
identifiers hashed, subject suppressed, the file deleted. From then on each domain's sensor
starts the domain's next step once the domains it reads from have confirmed; the last
domain to confirm completes the request with the whole-mesh scan.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dagster import (
    AssetKey,
    DagsterRunStatus,
    JobDefinition,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from platform_lib.config import MeshPaths, settings
from platform_lib.dagster.automation.switch import sensor_status
from platform_lib.dagster.resources import MeshResource
from platform_lib.privacy import erasure
from platform_lib.privacy.keys import BadSubject, Subject

STEP_TAG = "mesh/erasure_step"
REQUEST_TAG = "mesh/erasure"
MAX_ATTEMPTS = 3
NEXT_STEP = {"pending": "erase", "erased": "recompute", "rebuilt": "purge"}


def claimed_dir(paths: MeshPaths, domain: str) -> Path:
    return erasure.inbox_dir(paths) / "claimed" / domain


def rejected_dir(paths: MeshPaths) -> Path:
    return erasure.inbox_dir(paths) / "rejected"


def intake(paths: MeshPaths, domain: str, name: str) -> erasure.ErasureRequest:
    """Open the request in a claimed inbox file, then delete the file (the raw identifier
    is kept nowhere). A malformed file moves to `inbox/rejected/` with the reason beside it."""
    from platform_lib.dagster.lineage import lineage_of
    from platform_lib.dagster.workspace import code_locations, declared_products, declared_sources

    path = claimed_dir(paths, domain) / Path(name).name
    try:
        body = json.loads(path.read_text())
        subject, reason = Subject.parse(str(body["subject"])), str(body["reason"]).strip()
        if not reason:
            raise ValueError("'reason' is empty")
    except (ValueError, KeyError, TypeError, BadSubject) as err:
        rejected_dir(paths).mkdir(parents=True, exist_ok=True)
        os.replace(path, rejected_dir(paths) / path.name)
        why = f"{type(err).__name__}: {err}" if not isinstance(err, KeyError) else f"missing field {err}"
        (rejected_dir(paths) / f"{path.name}.error.txt").write_text(
            f"erasure inbox: {path.name} was not accepted: {why}. Fix: write "
            '{"subject": "contact:ID | email:ADDRESS | user:ID | account:ID", "reason": "..."} and drop it in again.\n')
        raise erasure.ErasureFailed(f"erasure inbox: {path.name} was not accepted ({why}); see inbox/rejected/") from None
    locations = code_locations()
    products, sources = declared_products(locations), declared_sources(locations)
    try:
        request = erasure.open_request(subject, reason, paths, [loc.name for loc in locations], [*sources, *products],
                                       products, body.get("request_id"), lineage=lineage_of(products, sources).derivations())
    except erasure.ErasureWaiting:  # recorded and suppressed; the sensor plans it on a later tick
        request = next(r for r in erasure.all_requests(paths) if r.subject_hash == erasure.subject_hash(paths, subject)
                       and r.status == "open")
    path.unlink()
    return request


def erasure_inbox_sensor(domain: str, erasure_job: JobDefinition, recompute_job: JobDefinition) -> SensorDefinition:
    @sensor(
        name=f"{domain}_erasure_inbox",
        description=f"Takes right-to-erasure requests from the erasure inbox and runs {domain}'s part of each open "
                    "request (erase, recompute, purge and verify) once the domains it reads from have confirmed.",
        jobs=[erasure_job, recompute_job],
        minimum_interval_seconds=settings().erasure_sensor_seconds,
        default_status=sensor_status(),
    )
    def _inbox(context: SensorEvaluationContext, mesh: MeshResource):
        paths = mesh.paths
        runs = [*_claim_and_open(paths, domain, erasure_job.name)]
        graph = context.repository_def.asset_graph
        producers = {k.path[0] for k in graph.get_all_asset_keys() if k not in graph.materializable_asset_keys} - {domain}
        for request in erasure.all_requests(paths):
            part = request.domains.get(domain)
            if request.status != "open" or part is None or part.phase == "confirmed":
                continue
            if request.planned_at is None:  # recorded while a warehouse was busy: one domain plans it
                if domain == min(request.domains):
                    history = _runs_of(context, request.request_id, domain, "plan")
                    if all(r.dagster_run.status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE,
                                                    DagsterRunStatus.CANCELED) for r in history):
                        runs.append(_step_run(request, domain, "plan", len(history), erasure_job.name, recompute_job.name))
                continue
            if any(request.domains[d].phase != "confirmed" for d in producers if d in request.domains):
                continue
            step = NEXT_STEP[part.phase]
            if step == "recompute" and _advance_after_recompute(context, paths, request, domain):
                step = "purge"
            history = _runs_of(context, request.request_id, domain, step)
            if any(r.dagster_run.status not in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
                   for r in history):
                continue  # in flight
            attempt = sum(r.dagster_run.status != DagsterRunStatus.SUCCESS for r in history)
            if attempt >= MAX_ATTEMPTS and not part.waiting:  # a busy warehouse is retried until it is free
                context.log.error(f"erasure {request.request_id}: {domain}'s {step} step failed {attempt} times; "
                                  f"see its runs, fix, then run `mesh erase --request-id {request.request_id}`")
                continue
            runs.append(_step_run(request, domain, step, attempt, erasure_job.name, recompute_job.name))
        return runs or SkipReason("no erasure work for this domain")

    return _inbox


def _claim_and_open(paths: MeshPaths, domain: str, job_name: str):
    inbox, mine = erasure.inbox_dir(paths), claimed_dir(paths, domain)
    mine.mkdir(parents=True, exist_ok=True)
    for f in sorted(inbox.glob("*.json")):
        try:
            os.rename(f, mine / f.name)  # atomic: exactly one domain claims each file
        except FileNotFoundError:
            continue
    for f in sorted(mine.glob("*.json")):
        yield RunRequest(run_key=f"intake:{f.name}:{f.stat().st_mtime_ns}", job_name=job_name,
                         run_config=_config("intake", inbox_file=f.name), tags={STEP_TAG: "intake"})


def _advance_after_recompute(context, paths: MeshPaths, request, domain: str) -> bool:
    """An erased part moves to `rebuilt` once its recompute run succeeded (or it has none)."""
    part = request.domains[domain]
    done = not part.rebuild or any(r.dagster_run.status == DagsterRunStatus.SUCCESS
                                   for r in _runs_of(context, request.request_id, domain, "recompute"))
    if done:
        with erasure.domain_lock(paths, domain):
            if erasure.load(paths, request.request_id).domains[domain].phase == "erased":
                erasure.record_part(paths, request.request_id, domain, phase="rebuilt")
    return done


def _runs_of(context: SensorEvaluationContext, request_id: str, domain: str, step: str):
    tags = {REQUEST_TAG: request_id, STEP_TAG: step, "mesh/code_location": domain}
    return context.instance.get_run_records(RunsFilter(tags=tags))


def _step_run(request, domain: str, step: str, attempt: int, erasure_job: str, recompute_job: str) -> RunRequest:
    tags = {REQUEST_TAG: request.request_id, STEP_TAG: step, "mesh/code_location": domain}
    key = f"erasure:{request.request_id}:{domain}:{step}:{attempt}"
    if step == "recompute":
        assets = [AssetKey([domain, name]) for name in request.domains[domain].rebuild]
        return RunRequest(run_key=key, job_name=recompute_job, asset_selection=assets, tags=tags)
    return RunRequest(run_key=key, job_name=erasure_job, run_config=_config(step, request_id=request.request_id), tags=tags)


def _config(phase: str, **fields) -> dict:
    return {"ops": {"erase_subject": {"config": {"phase": phase, **fields}}}}
