"""Customer Success Operations' code location: dbt products, one fed by Product's port."""

from platform_lib import domain_definitions
from platform_lib.config import PROJECT_ROOT

from domains.customer_success.domain import CUSTOMER_SUCCESS
from domains.customer_success.sources import SOURCES

defs = domain_definitions(
    CUSTOMER_SUCCESS, sources=SOURCES, dbt_project=PROJECT_ROOT / "dbt_projects" / "customer_success"
)
