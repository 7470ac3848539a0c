"""Sales Operations' code location: its products are Python assets over the CRM export."""

from platform_lib import domain_definitions

from domains.sales.domain import SALES
from domains.sales.products.account_interactions import account_interactions
from domains.sales.products.accounts import accounts
from domains.sales.products.deal_intelligence import deal_intelligence
from domains.sales.products.opportunity_pipeline import opportunity_pipeline
from domains.sales.sources import SOURCES

defs = domain_definitions(SALES, sources=SOURCES, products=[accounts, opportunity_pipeline, account_interactions, deal_intelligence])
