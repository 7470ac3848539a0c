"""How big each scale is: the only place that knows it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    accounts: int
    campaigns: int
    email_sends: int
    web_sessions: int
    product_events: int
    opportunities_per_account: float
    activities: int
    tickets: int
    surveys: int


SCALES = {
    # ~100k records in all
    "small": Scale(accounts=200, campaigns=24, email_sends=6_000, web_sessions=5_000, product_events=40_000,
                   opportunities_per_account=1.2, activities=5_000, tickets=1_500, surveys=800),
    # ~1M records
    "medium": Scale(accounts=2_000, campaigns=60, email_sends=60_000, web_sessions=50_000, product_events=450_000,
                    opportunities_per_account=1.2, activities=50_000, tickets=15_000, surveys=8_000),
    # 10M product events, ~2M marketing events
    "large": Scale(accounts=20_000, campaigns=150, email_sends=450_000, web_sessions=250_000,
                   product_events=10_000_000, opportunities_per_account=1.2, activities=500_000,
                   tickets=150_000, surveys=80_000),
}

WINDOW_DAYS = 90   # history covered by the event sources
BATCH_DAYS = 7     # event sources are exported in weekly batches
CHANGE_EXPORTS = 4  # entity sources: exported whole four batches before the newest, then their changes weekly
