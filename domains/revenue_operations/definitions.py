"""Revenue Operations' code location: the consumer domain that combines every other domain's products."""

from platform_lib import domain_definitions

from domains.revenue_operations.domain import REVENUE_OPERATIONS
from domains.revenue_operations.products.account_360 import account_360
from domains.revenue_operations.products.account_signals import account_signals
from domains.revenue_operations.products.prioritized_outreach import prioritized_outreach

defs = domain_definitions(REVENUE_OPERATIONS, products=[account_360, account_signals, prioritized_outreach])
