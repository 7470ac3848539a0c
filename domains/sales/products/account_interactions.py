from platform_lib import BuildContext, DataProduct, Rule, UpdatedBy, data_product
from platform_lib.declare.columns import count, date, ts
from platform_lib.declare.identifiers import ACCOUNT_ID, identifier

from domains.sales.domain import SALES

WEEK_OF_ACTIVITY = "account_id, CAST(date_trunc('week', occurred_at) AS DATE)"

ACCOUNT_INTERACTIONS = DataProduct(
    domain=SALES.name,
    name="account_interactions",
    version="1.0.0",
    retention_days=730,
    description=(
        "Rep activity per account and ISO week (weeks start on Monday, UTC): calls, emails and "
        "meetings, inbound versus outbound, minutes spent and distinct contacts touched."
    ),
    owner=SALES.owner,
    consumers=SALES.consumers,
    primary_key=("account_id", "week_start"),
    inputs=("sales.staging.activities",),
    event_time="last_activity_at",
    # Computed per account and week: a batch's activities name the weeks to recompute.
    updated_by=UpdatedBy(keys=("account_id", "week_start"),
                         changes={"activities": WEEK_OF_ACTIVITY}),
    columns=(
        identifier(ACCOUNT_ID, nullable=False),
        date("week_start", "Monday of the ISO week (UTC).", nullable=False),
        count("calls", "Calls logged."),
        count("emails", "Emails logged."),
        count("meetings", "Meetings held."),
        count("inbound", "Activities initiated by the customer."),
        count("outbound", "Activities initiated by the rep."),
        count("total_minutes", "Minutes spent in logged activities."),
        count("contacts_touched", "Distinct contacts involved."),
        ts("last_activity_at", "Latest activity of the week."),
    ),
    rules=(
        Rule(
            name="directions_add_up",
            valid_when="inbound + outbound = calls + emails + meetings",
            description="Every activity is inbound or outbound.",
        ),
    ),
)


@data_product(ACCOUNT_INTERACTIONS)
def account_interactions(ctx: BuildContext) -> str:
    """Activities grouped by account and the Monday of their week."""
    return f"""
    SELECT account_id, CAST(date_trunc('week', occurred_at) AS DATE) AS week_start,
           count(*) FILTER (WHERE activity_type = 'call') AS calls,
           count(*) FILTER (WHERE activity_type = 'email') AS emails,
           count(*) FILTER (WHERE activity_type = 'meeting') AS meetings,
           count(*) FILTER (WHERE direction = 'inbound') AS inbound,
           count(*) FILTER (WHERE direction = 'outbound') AS outbound,
           coalesce(sum(duration_minutes), 0) AS total_minutes,
           count(DISTINCT contact_id) AS contacts_touched,
           max(occurred_at) AS last_activity_at
    FROM staging.activities
    {ctx.where_changed(WEEK_OF_ACTIVITY)}
    GROUP BY ALL
    """
