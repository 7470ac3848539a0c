from platform_lib import BuildContext, DataProduct, data_product
from platform_lib.columns import double, integer, text, ts
from platform_lib.identifiers import ACCOUNT_ID, identifier

from domains.sales.domain import SALES

ACCOUNTS = DataProduct(
    domain="sales",
    name="accounts",
    version="1.0.0",
    retention_days=730,
    description=(
        "The account master: one row per company account in the CRM, the system of record for "
        "accounts, with its owning rep, segment and firmographics. Every other product's "
        "account_id refers to a row here."
    ),
    owner=SALES.owner,
    consumers=("revenue_operations", "finance"),
    primary_key=("account_id",),
    inputs=("sales.staging.accounts",),
    event_time="updated_at",
    columns=(
        identifier(ACCOUNT_ID, nullable=False),
        text("account_name", "Company name."),
        text("industry", "Industry."),
        text("segment", "Go-to-market segment.", accepted_values=("smb", "mid_market", "enterprise")),
        text("owner_rep", "Account executive who owns the account."),
        text("billing_country", "Billing country."),
        double("annual_revenue_usd", "Company annual revenue in US dollars."),
        integer("employee_count", "Company headcount."),
        ts("updated_at", "Last change in the CRM."),
    ),
)


@data_product(ACCOUNTS)
def accounts(ctx: BuildContext) -> str:
    """The staged CRM accounts, as published columns."""
    return """
    SELECT account_id, account_name, industry, segment, owner_rep, billing_country,
           annual_revenue_usd, employee_count, updated_at
    FROM staging.accounts
    """
