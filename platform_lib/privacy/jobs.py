"""Each domain's part of an erasure, as a Dagster job in the domain's own code location."""

from typing import Literal

from dagster import Config, JobDefinition, OpExecutionContext, Output, job, op

from platform_lib.privacy import erasure
from platform_lib.resources import MeshResource

ERASURE_JOB = "erasure"


class ErasureStep(Config):
    request_id: str
    phase: Literal["erase", "purge"]


def erasure_job(domain: str) -> JobDefinition:
    @op(name="erase_subject", pool=f"duckdb_{domain}",
        description=f"Remove an erased subject from {domain}'s landing files, warehouse and output ports "
                    "(phase erase), or purge old port versions, compact the warehouse and verify (phase purge).")
    def erase_subject(context: OpExecutionContext, config: ErasureStep, mesh: MeshResource):
        step = erasure.erase_part if config.phase == "erase" else erasure.purge_part
        found = step(mesh.paths, config.request_id, domain, context.run_id)
        label = "rows_removed" if config.phase == "erase" else "rows_left"
        context.log.info(f"erasure {config.request_id} {config.phase} in {domain}: {sum(found.values())} {label}")
        yield Output(None, metadata={"request_id": config.request_id, "phase": config.phase,
                                     label: sum(found.values()), "stores": {k: v for k, v in found.items() if v}})

    @job(name=ERASURE_JOB, tags={"mesh/privacy": "erasure"},
         description=f"{domain}'s part of a right-to-erasure request; started by `mesh erase` or the erasure inbox sensor.")
    def _erasure():
        erase_subject()

    return _erasure
