"""The self-serve platform: declare a data product once, get the asset, its audit,
its output port and its catalog entry."""

import warnings

# Dagster warns on every copy of a sensor, owners given or not; it says nothing to a mesh user.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition", module="dagster")

from platform_lib.dagster.assets import BuildContext, data_product, staging_asset
from platform_lib.dagster.location import domain_definitions
from platform_lib.declare.spec import SLA, Column, DataProduct, Domain, Owner, Rule, Source
from platform_lib.lifecycle.read import read_product

__all__ = [
    "SLA",
    "BuildContext",
    "Column",
    "DataProduct",
    "Domain",
    "Owner",
    "Rule",
    "Source",
    "data_product",
    "domain_definitions",
    "read_product",
    "staging_asset",
]
