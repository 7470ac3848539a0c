from platform_lib import Domain, Owner

MARKETING = Domain(
    name="marketing",
    description="Marketing Operations: campaigns, email, web and content engagement, and lead scoring.",
    owner=Owner(team="marketing", role="Marketing Operations Lead"),
    consumers=("sales_development", "revenue_operations"),
)
