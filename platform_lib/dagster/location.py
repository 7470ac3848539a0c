"""One call assembles a domain's code location from its declarations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dagster import AssetKey, AssetsDefinition, Definitions, MetadataValue, in_process_executor, map_asset_specs

from platform_lib import config
from platform_lib.dagster.assets import staging_asset
from platform_lib.dagster.automation import full_rebuild_schedule, landing_sensor, on_upstream_published, upstream_automation_sensor
from platform_lib.dagster.erasure_inbox import erasure_inbox_sensor
from platform_lib.dagster.erasure_jobs import erasure_job, recompute_job
from platform_lib.dagster.metadata import DECLARATION
from platform_lib.dagster.resources import domain_resources
from platform_lib.dagster.retention import retention_job, retention_schedule
from platform_lib.dagster.sla_alerts import sla_alert_sensor
from platform_lib.declare.spec import DataProduct, Domain, Source
from platform_lib.governance import policies


def _with_policy_results(declared):
    results = {p.id: policies.evaluate([p]) for p in declared}

    def attach(spec):
        if DECLARATION not in spec.metadata:
            return spec
        product_id = spec.metadata["mesh/product_id"]
        found = results[product_id]
        exempted = [f"{v.policy} (exempt: {v.exempted_by.reason}, until {v.exempted_by.expires})" for v in found if v.exempted_by]
        return spec.replace_attributes(automation_condition=on_upstream_published()).merge_attributes(metadata={
            "mesh/policies": MetadataValue.json({
                "passed": [p.name for p in policies.POLICIES if p.name not in {v.policy for v in found}],
                "exempted": exempted,
                "violations": [v.message() for v in found if not v.exempted_by],
            })
        })

    return attach


def products_in(package: str) -> list[AssetsDefinition]:
    """Every data product asset defined in the modules of `package` (e.g. `domains.x.products`)."""
    import importlib
    import pkgutil

    found = []
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        found += [v for v in vars(module).values() if isinstance(v, AssetsDefinition)]
    return found


def domain_definitions(
    domain: Domain,
    *,
    sources: Sequence[Source] = (),
    products: Sequence[AssetsDefinition] = (),
    dbt_project: Path | None = None,
) -> Definitions:
    config.private_files()  # however the location is started (`dagster dev`, a code server), its stores stay private
    assets = [*(staging_asset(s) for s in sources), *products]
    resources = domain_resources(domain.name)
    if dbt_project is not None:
        from platform_lib.dagster.dbt import DbtResource, dbt_products

        assets.append(dbt_products(dbt_project, domain))
        resources["dbt"] = DbtResource(project_dir=str(dbt_project))
    declared = [DataProduct.model_validate(spec.metadata[DECLARATION].value) for a in assets for spec in a.specs
                if DECLARATION in spec.metadata]
    # Global policies run on every domain at load: a violation stops the code location.
    if policies.LOAD_GATE.get():  # off while `mesh policy check` reports instead
        policies.enforce(declared)
    assets = map_asset_specs(_with_policy_results(declared), assets)
    retention = retention_job(domain.name, list(sources), declared)
    erasure, recompute = erasure_job(domain.name), recompute_job(domain.name)
    return Definitions(
        assets=assets,
        resources=resources,
        jobs=[erasure, recompute, retention],
        sensors=[
            *([landing_sensor(domain.name, sources)] if sources else []),
            upstream_automation_sensor(domain.name),
            sla_alert_sensor(domain.name, [AssetKey(p.key_path) for p in declared]),
            erasure_inbox_sensor(domain.name, erasure, recompute),
        ],
        schedules=[full_rebuild_schedule(domain.name), retention_schedule(retention)],
        # Steps of a run share the domain's one DuckDB writer: run them in one process.
        executor=in_process_executor,
    )
