"""One call assembles a domain's code location from its declarations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dagster import AssetsDefinition, Definitions, in_process_executor

from platform_lib.assets import staging_asset
from platform_lib.dbt import dbt_products, dbt_resource
from platform_lib.resources import domain_resources
from platform_lib.metadata import DECLARATION
from platform_lib.sla.alerts import sla_alert_sensor
from platform_lib.spec import Domain, Source


def domain_definitions(
    domain: Domain,
    *,
    sources: Sequence[Source] = (),
    products: Sequence[AssetsDefinition] = (),
    dbt_project: Path | None = None,
) -> Definitions:
    assets = [*(staging_asset(s) for s in sources), *products]
    resources = domain_resources(domain.name)
    if dbt_project is not None:
        assets.append(dbt_products(dbt_project, domain))
        resources["dbt"] = dbt_resource(dbt_project)
    products = [key for a in assets for key, spec in a.specs_by_key.items() if DECLARATION in spec.metadata]
    sensors = [sla_alert_sensor(domain.name, products)]
    # Steps of a run share the domain's one DuckDB writer: run them in one process.
    return Definitions(assets=assets, resources=resources, sensors=sensors, executor=in_process_executor)
