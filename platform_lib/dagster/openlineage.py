"""OpenLineage run events for every product build, so other catalogs (Marquez, DataHub,
OpenMetadata) take the mesh's lineage in: START when a product's build begins, then
COMPLETE with its output's schema and column-lineage facets (or FAIL with why), sent
through the OpenLineage Python client to the configured transport: a file of one event per
line (`MESH_OPENLINEAGE_FILE`) or an HTTP endpoint (`MESH_OPENLINEAGE_URL`, e.g. Marquez).
Nothing is sent when neither is set; a transport that fails never fails a build."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING

from platform_lib.config import settings
from platform_lib.declare.spec import DataProduct

if TYPE_CHECKING:  # the client is imported only where events are sent (every code location loads this)
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, OutputDataset, RunEvent

    from platform_lib.lifecycle.lineage import Lineage

PRODUCER = "urn:gtm-data-mesh:platform_lib"
log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _client(file: str | None, url: str | None) -> OpenLineageClient | None:
    if not file and not url:  # nothing to send: the client is not even imported
        return None
    from openlineage.client import OpenLineageClient

    if file:
        from openlineage.client.transport.file import FileConfig, FileTransport

        return OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=file, append=True)))
    if url:
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        return OpenLineageClient(transport=HttpTransport(HttpConfig(url=url)))
    return None


def client() -> OpenLineageClient | None:
    current = settings()
    return _client(str(current.openlineage_file) if current.openlineage_file else None, current.openlineage_url)


def run_id(dagster_run_id: str, product: DataProduct) -> str:
    """One OpenLineage run per product per Dagster run: START and its end share it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{dagster_run_id}/{product.id}"))


def _job(product: DataProduct) -> Job:
    from openlineage.client.event_v2 import Job
    from openlineage.client.facet_v2 import job_type_job

    kind = job_type_job.JobTypeJobFacet(processingType="BATCH", integration="GTM_DATA_MESH", jobType="DATA_PRODUCT")
    return Job(namespace=settings().openlineage_namespace, name=product.id, facets={"jobType": kind})


def _output(product: DataProduct, found: Lineage | None) -> OutputDataset:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import column_lineage_dataset as lineage_facet
    from openlineage.client.facet_v2 import ownership_dataset, schema_dataset

    namespace = settings().openlineage_namespace
    facets: dict = {
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type, description=c.description or None)
            for c in product.columns]),
        "ownership": ownership_dataset.OwnershipDatasetFacet(owners=[
            ownership_dataset.Owner(name=f"team:{product.owner.team}", type=product.owner.role)]),
    }
    if found is not None and found.columns:
        facets["columnLineage"] = lineage_facet.ColumnLineageDatasetFacet(fields={
            name: lineage_facet.Fields(inputFields=[
                lineage_facet.InputField(namespace=namespace, name=asset, field=column, transformations=[
                    lineage_facet.Transformation(type="DIRECT", subtype="IDENTITY" if how["direct"] else (
                        "AGGREGATION" if "aggregate" in how["kinds"] else "TRANSFORMATION"))])
                for (asset, column), how in sorted(col.inputs.items())])
            for name, col in found.columns.items() if col.inputs})
    return OutputDataset(namespace=namespace, name=product.id, facets=facets)


def _emit(event: RunEvent) -> None:
    sender = client()
    if sender is None:
        return
    try:
        sender.emit(event)
    except Exception as err:  # lineage for other catalogs is never worth a failed build
        log.warning("OpenLineage event for %s not sent: %s", event.job.name, type(err).__name__)


def started(dagster_run_id: str, product: DataProduct) -> None:
    if client() is None:
        return
    from openlineage.client.event_v2 import InputDataset, Run, RunEvent, RunState

    _emit(RunEvent(eventType=RunState.START, eventTime=datetime.now(timezone.utc).isoformat(), producer=PRODUCER,
                   run=Run(runId=run_id(dagster_run_id, product)), job=_job(product),
                   inputs=[InputDataset(namespace=settings().openlineage_namespace, name=i.split("@")[0]) for i in product.inputs]))


def finished(dagster_run_id: str, product: DataProduct, found: Lineage | None, error: str | None = None) -> None:
    """COMPLETE with the output's facets, or FAIL with `error`."""
    if client() is None:
        return
    from openlineage.client.event_v2 import InputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run

    facets = {"errorMessage": error_message_run.ErrorMessageRunFacet(message=error[:2000], programmingLanguage="python")} \
        if error else {}
    namespace = settings().openlineage_namespace
    reads = sorted(found.reads) if found is not None and found.reads else [i.split("@")[0] for i in product.inputs]
    _emit(RunEvent(eventType=RunState.FAIL if error else RunState.COMPLETE, eventTime=datetime.now(timezone.utc).isoformat(),
                   producer=PRODUCER, run=Run(runId=run_id(dagster_run_id, product), facets=facets), job=_job(product),
                   inputs=[InputDataset(namespace=namespace, name=asset) for asset in reads],
                   outputs=[] if error else [_output(product, found)]))
