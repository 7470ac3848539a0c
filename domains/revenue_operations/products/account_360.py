from platform_lib import BuildContext, DataProduct, data_product
from platform_lib.declare.columns import count, double, integer, text, ts
from platform_lib.declare.identifiers import ACCOUNT_ID, identifier

from domains.revenue_operations.domain import REVENUE_OPERATIONS

ACCOUNT_360 = DataProduct(
    domain=REVENUE_OPERATIONS.name,
    name="account_360",
    version="1.0.0",
    retention_days=730,
    description=(
        "One row per account in the CRM account master, joined on account_id with every "
        "domain's view of it: marketing engagement (last 30 days of web behaviour and campaign "
        "engagement, best lead score), product health, sales pipeline and activity, and customer "
        "health. Windows end at each source product's own latest data; an account a domain does "
        "not know has empty columns for that domain."
    ),
    owner=REVENUE_OPERATIONS.owner,
    consumers=REVENUE_OPERATIONS.consumers,
    primary_key=("account_id",),
    inputs=(
        "sales.accounts",
        "sales.opportunity_pipeline",
        "sales.account_interactions",
        "marketing.web_behavior",
        "marketing.campaign_engagement",
        "marketing.lead_scoring_signals",
        "product.product_health_scores",
        "customer_success.account_health",
    ),
    event_time="data_as_of",
    columns=(
        identifier(ACCOUNT_ID, nullable=False),
        text("account_name", "Company name (CRM)."),
        text("segment", "Go-to-market segment (CRM)."),
        text("industry", "Industry (CRM)."),
        text("owner_rep", "Owning account executive (CRM)."),
        count("web_sessions_30d", "Website sessions in the last 30 days (marketing)."),
        count("pricing_page_views_30d", "Pricing page views in the last 30 days (marketing)."),
        double("email_engagement_rate_30d", "Engaged / reached contacts across campaigns, last 30 days (marketing)."),
        integer("best_lead_score", "Highest lead score among the account's contacts (marketing)."),
        count("a_grade_contacts", "Contacts graded A (marketing)."),
        integer("product_health_score", "Product health score 0..100 (product)."),
        text("product_health_tier", "healthy, neutral or at_risk (product)."),
        integer("seats", "Product users provisioned (product)."),
        count("open_opportunities", "Open opportunities (sales)."),
        double("open_pipeline_usd", "Amount of open opportunities (sales)."),
        double("won_amount_usd", "Amount closed won (sales)."),
        count("sales_activities_30d", "Calls, emails and meetings in the last 30 days (sales)."),
        double("arr_usd", "Annual recurring revenue (customer success)."),
        integer("customer_health_score", "Account health score 0..100 (customer success)."),
        text("risk_tier", "churned, critical, high, medium or low (customer success)."),
        text(
            "lifecycle",
            "customer (active subscription), churned, opportunity (open deal) or prospect.",
            accepted_values=("customer", "churned", "opportunity", "prospect"),
            nullable=False,
        ),
        ts("data_as_of", "Newest source data reflected: the latest scoring time among the input products."),
    ),
)


@data_product(ACCOUNT_360)
def account_360(ctx: BuildContext) -> str:
    """Each domain's product aggregated to one row per account, left-joined to the CRM."""
    return """
    WITH web AS (
        SELECT account_id, sum(sessions) AS web_sessions_30d, sum(pricing_page_views) AS pricing_page_views_30d
        FROM ports.marketing__web_behavior
        WHERE activity_date > (SELECT max(activity_date) FROM ports.marketing__web_behavior) - 30
        GROUP BY account_id
    ), email AS (
        SELECT account_id, sum(engaged_contacts) / nullif(sum(reached_contacts), 0) AS email_engagement_rate_30d
        FROM ports.marketing__campaign_engagement
        WHERE activity_date > (SELECT max(activity_date) FROM ports.marketing__campaign_engagement) - 30
        GROUP BY account_id
    ), leads AS (
        SELECT account_id, max(score) AS best_lead_score, count(*) FILTER (WHERE grade = 'A') AS a_grade_contacts
        FROM ports.marketing__lead_scoring_signals GROUP BY account_id
    ), pipeline AS (
        SELECT account_id, count(*) FILTER (WHERE is_open) AS open_opportunities,
               coalesce(sum(amount_usd) FILTER (WHERE is_open), 0) AS open_pipeline_usd,
               coalesce(sum(amount_usd) FILTER (WHERE is_won), 0) AS won_amount_usd
        FROM ports.sales__opportunity_pipeline GROUP BY account_id
    ), activity AS (
        SELECT account_id, sum(calls + emails + meetings) AS sales_activities_30d
        FROM ports.sales__account_interactions
        WHERE week_start > (SELECT max(week_start) FROM ports.sales__account_interactions) - 28
        GROUP BY account_id
    )
    SELECT a.account_id, a.account_name, a.segment, a.industry, a.owner_rep,
           coalesce(web.web_sessions_30d, 0) AS web_sessions_30d,
           coalesce(web.pricing_page_views_30d, 0) AS pricing_page_views_30d,
           email.email_engagement_rate_30d,
           leads.best_lead_score, coalesce(leads.a_grade_contacts, 0) AS a_grade_contacts,
           p.health_score AS product_health_score, p.health_tier AS product_health_tier, p.seats,
           coalesce(pipeline.open_opportunities, 0) AS open_opportunities,
           coalesce(pipeline.open_pipeline_usd, 0) AS open_pipeline_usd,
           coalesce(pipeline.won_amount_usd, 0) AS won_amount_usd,
           coalesce(activity.sales_activities_30d, 0) AS sales_activities_30d,
           h.arr_usd, h.health_score AS customer_health_score, h.risk_tier,
           CASE WHEN h.is_active THEN 'customer'
                WHEN h.account_id IS NOT NULL THEN 'churned'
                WHEN coalesce(pipeline.open_opportunities, 0) > 0 THEN 'opportunity'
                ELSE 'prospect' END AS lifecycle,
           greatest((SELECT max(scored_at) FROM ports.marketing__lead_scoring_signals),
                    (SELECT max(scored_at) FROM ports.product__product_health_scores),
                    (SELECT max(as_of) FROM ports.customer_success__account_health)) AS data_as_of
    FROM ports.sales__accounts a
    LEFT JOIN web USING (account_id)
    LEFT JOIN email USING (account_id)
    LEFT JOIN leads USING (account_id)
    LEFT JOIN ports.product__product_health_scores p USING (account_id)
    LEFT JOIN pipeline USING (account_id)
    LEFT JOIN activity USING (account_id)
    LEFT JOIN ports.customer_success__account_health h USING (account_id)
    """
