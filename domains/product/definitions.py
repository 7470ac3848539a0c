"""Product Analytics' code location: its products are modelled in dbt."""

from platform_lib import domain_definitions
from platform_lib.config import PROJECT_ROOT

from domains.product.domain import PRODUCT
from domains.product.sources import SOURCES

defs = domain_definitions(PRODUCT, sources=SOURCES, dbt_project=PROJECT_ROOT / "dbt_projects" / "product")
