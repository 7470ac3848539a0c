from platform_lib import Domain, Owner

SALES = Domain(
    name="sales",
    description="Sales Operations: the CRM's accounts, pipeline, deal progress and rep activity.",
    owner=Owner(team="sales", role="Sales Operations Manager"),
    consumers=("revenue_leadership", "finance"),
)

STAGES = ("prospecting", "discovery", "demo", "proposal", "negotiation", "closed_won", "closed_lost")
OPEN_STAGES = STAGES[:5]
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "closed", "omitted")
