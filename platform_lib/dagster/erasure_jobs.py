"""Each domain's part of an erasure, as Dagster jobs in the domain's own code location."""

from typing import Literal

from dagster import AssetSelection, Config, Failure, JobDefinition, OpExecutionContext, Output, define_asset_job, job, op

from platform_lib.dagster.resources import MeshResource
from platform_lib.privacy import erasure
from platform_lib.storage.warehouse import WarehouseBusy

ERASURE_JOB = "erasure"
RECOMPUTE_JOB = "erasure_recompute"


class ErasureStep(Config):
    phase: Literal["intake", "plan", "erase", "purge"]
    request_id: str = ""
    inbox_file: str = ""  # intake: the claimed inbox file's name


def erasure_job(domain: str) -> JobDefinition:
    @op(name="erase_subject", pool=f"duckdb_{domain}",
        description=f"Open a request from the erasure inbox (phase intake), remove an erased subject from {domain}'s "
                    "landing files, warehouse and output ports (phase erase), or purge old port versions, compact "
                    "the warehouse and verify (phase purge).")
    def erase_subject(context: OpExecutionContext, config: ErasureStep, mesh: MeshResource):
        if config.phase == "intake":
            from platform_lib.dagster.erasure_inbox import intake

            request = intake(mesh.paths, domain, config.inbox_file)
            context.log.info(f"erasure {request.request_id} opened from the inbox; deadline {request.deadline:%Y-%m-%d}")
            yield Output(None, metadata={"request_id": request.request_id, "phase": "intake"})
            return
        if config.phase == "plan":
            from platform_lib.dagster.lineage import lineage_of
            from platform_lib.dagster.workspace import code_locations, declared_products, declared_sources

            locations = code_locations()
            products, sources = declared_products(locations), declared_sources(locations)
            erasure.prepare(mesh.paths, config.request_id, [loc.name for loc in locations], [*sources, *products], products,
                            lineage=lineage_of(products, sources).derivations())
            yield Output(None, metadata={"request_id": config.request_id, "phase": "plan"})
            return
        step = erasure.erase_part if config.phase == "erase" else erasure.purge_part
        try:
            found = step(mesh.paths, config.request_id, domain, context.run_id)
        except WarehouseBusy as err:  # recorded on the request; the next pass runs the step again
            raise Failure(str(erasure.note_waiting(mesh.paths, config.request_id, domain, str(err)))) from None
        label = "rows_removed" if config.phase == "erase" else "rows_left"
        context.log.info(f"erasure {config.request_id} {config.phase} in {domain}: {sum(found.values())} {label}")
        yield Output(None, metadata={"request_id": config.request_id, "phase": config.phase,
                                     label: sum(found.values()), "stores": {k: v for k, v in found.items() if v}})

    @job(name=ERASURE_JOB, tags={"mesh/privacy": "erasure"},
         description=f"{domain}'s part of a right-to-erasure request; started by `mesh erase` or the erasure inbox sensor.")
    def _erasure():
        erase_subject()

    return _erasure


def recompute_job(domain: str) -> JobDefinition:
    return define_asset_job(RECOMPUTE_JOB, selection=AssetSelection.all(), tags={"mesh/privacy": "erasure"},
                            description=f"Recompute the {domain} products an erasure changed (the erasure inbox "
                                        "sensor selects which).")
