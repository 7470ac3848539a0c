"""Marketing's code location."""

from platform_lib import domain_definitions
from platform_lib.config import PROJECT_ROOT

from domains.marketing.domain import MARKETING
from domains.marketing.products.contact_consent import contact_consent
from domains.marketing.products.lead_scoring_signals import lead_scoring_signals
from domains.marketing.products.web_behavior import web_behavior
from domains.marketing.sources import SOURCES

defs = domain_definitions(
    MARKETING,
    sources=SOURCES,
    products=[contact_consent, web_behavior, lead_scoring_signals],
    dbt_project=PROJECT_ROOT / "dbt_projects" / "marketing",
)
