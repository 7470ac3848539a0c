"""The self-serve platform: declare a data product once, get the asset, its audit,
its output port and its catalog entry.

What a domain needs is importable from here; each name loads its layer on first use, so
`mesh --help` or a declaration alone does not import Dagster.
"""

import importlib
import warnings

# Dagster warns on every copy of a sensor, owners given or not; it says nothing to a mesh user.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition", module="dagster")

_EXPORTS = {
    **dict.fromkeys(("SLA", "Column", "DataProduct", "Domain", "Owner", "Rule", "Source", "UpdatedBy"),
                    "platform_lib.declare.spec"),
    **dict.fromkeys(("BuildContext", "data_product", "staging_asset"), "platform_lib.dagster.assets"),
    "domain_definitions": "platform_lib.dagster.location",
    "read_product": "platform_lib.lifecycle.read",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'platform_lib' has no attribute '{name}'")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
