from platform_lib import Domain, Owner

REVENUE_OPERATIONS = Domain(
    name="revenue_operations",
    description="Revenue Operations: the cross-domain view of every account and where Sales Development should act next.",
    owner=Owner(team="revenue_operations", role="Revenue Operations Lead"),
    consumers=("sales_development", "revenue_leadership"),
)
