from platform_lib import Domain, Owner

CUSTOMER_SUCCESS = Domain(
    name="customer_success",
    description="Customer Success Operations: support, customer sentiment, subscriptions and account health.",
    owner=Owner(team="customer_success", role="CS Operations Manager"),
    consumers=("account_executives", "revenue_operations"),
)
