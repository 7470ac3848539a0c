from platform_lib import BuildContext, Column, DataProduct, Rule, UpdatedBy, data_product
from platform_lib.declare.identifiers import ACCOUNT_ID, identifier

from domains.marketing.domain import MARKETING


DAY_OF_ACTIVITY = "account_id, CAST(occurred_at AS DATE)"


def count(name: str, description: str) -> Column:
    return Column(name=name, type="integer", description=description, nullable=False)


WEB_BEHAVIOR = DataProduct(
    domain=MARKETING.name,
    name="web_behavior",
    version="1.0.0",
    retention_days=730,
    description=(
        "Website behaviour per account and day: sessions, page views, visits to buying-intent "
        "pages (pricing, demo, docs), and how many visitors were known contacts versus anonymous "
        "visitors matched to the account by reverse IP. Traffic that cannot be tied to an account "
        "is not included."
    ),
    owner=MARKETING.owner,
    consumers=MARKETING.consumers,
    primary_key=("account_id", "activity_date"),
    inputs=("marketing.staging.web_sessions", "marketing.staging.page_views"),
    event_time="last_event_at",
    # Computed per account and day: a batch's sessions and page views name the days to recompute.
    updated_by=UpdatedBy(keys=("account_id", "activity_date"),
                         changes={"web_sessions": DAY_OF_ACTIVITY, "page_views": DAY_OF_ACTIVITY}),
    columns=(
        identifier(ACCOUNT_ID, nullable=False),
        Column(name="activity_date", type="date", description="UTC day of the activity.", nullable=False),
        count("sessions", "Sessions started that day."),
        count("page_views", "Pages viewed."),
        count("pricing_page_views", "Views of pricing pages."),
        count("demo_page_views", "Views of demo pages."),
        count("docs_page_views", "Views of documentation pages."),
        count("known_visitors", "Distinct visitors identified as a known contact."),
        count("anonymous_visitors", "Distinct visitors not identified as a contact."),
        Column(name="avg_session_seconds", type="double", description="Mean session length in seconds."),
        Column(name="last_event_at", type="timestamp", description="Latest event counted in the row."),
    ),
    rules=(
        Rule(
            name="intent_views_within_page_views",
            valid_when="pricing_page_views + demo_page_views + docs_page_views <= page_views",
            description="Intent-page views are a subset of page views.",
        ),
    ),
)


@data_product(WEB_BEHAVIOR)
def web_behavior(ctx: BuildContext) -> str:
    """Sessions and page views grouped by account and UTC day (the days a batch changed, in
    an incremental run)."""
    changed = ctx.where_changed(DAY_OF_ACTIVITY)
    return f"""
    WITH views AS (
        SELECT account_id, CAST(occurred_at AS DATE) AS activity_date,
               count(*) AS page_views,
               count(*) FILTER (WHERE page_category = 'pricing') AS pricing_page_views,
               count(*) FILTER (WHERE page_category = 'demo') AS demo_page_views,
               count(*) FILTER (WHERE page_category = 'docs') AS docs_page_views,
               count(DISTINCT visitor_id) FILTER (WHERE contact_id IS NOT NULL) AS known_visitors,
               count(DISTINCT visitor_id) FILTER (WHERE contact_id IS NULL) AS anonymous_visitors,
               max(occurred_at) AS last_view_at
        FROM (SELECT * FROM staging.page_views {changed}) WHERE account_id IS NOT NULL
        GROUP BY ALL
    ), sessions AS (
        SELECT account_id, CAST(occurred_at AS DATE) AS activity_date,
               count(*) AS sessions, avg(duration_seconds) AS avg_session_seconds,
               max(occurred_at) AS last_session_at
        FROM (SELECT * FROM staging.web_sessions {changed}) WHERE account_id IS NOT NULL
        GROUP BY ALL
    )
    SELECT account_id, activity_date,
           coalesce(s.sessions, 0) AS sessions,
           coalesce(v.page_views, 0) AS page_views,
           coalesce(v.pricing_page_views, 0) AS pricing_page_views,
           coalesce(v.demo_page_views, 0) AS demo_page_views,
           coalesce(v.docs_page_views, 0) AS docs_page_views,
           coalesce(v.known_visitors, 0) AS known_visitors,
           coalesce(v.anonymous_visitors, 0) AS anonymous_visitors,
           s.avg_session_seconds,
           greatest(v.last_view_at, s.last_session_at) AS last_event_at
    FROM views v FULL OUTER JOIN sessions s USING (account_id, activity_date)
    """
