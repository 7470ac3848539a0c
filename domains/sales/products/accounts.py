from platform_lib import BuildContext, DataProduct, data_product

from domains.sales.domain import SALES
from domains.sales.sources import accounts as CRM_ACCOUNTS

ACCOUNTS = DataProduct(
    domain=SALES.name,
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
    # The staged CRM export as it is, minus the export's own bookkeeping.
    columns=tuple(c for c in CRM_ACCOUNTS.columns if c.name != "extracted_at"),
)


@data_product(ACCOUNTS)
def accounts(ctx: BuildContext) -> str:
    """The staged CRM accounts, as published columns."""
    return f"SELECT {', '.join(c.name for c in ACCOUNTS.columns)} FROM staging.accounts"
