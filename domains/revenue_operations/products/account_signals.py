from platform_lib import BuildContext, DataProduct, Rule, data_product
from platform_lib.declare.columns import double, key, text, ts
from platform_lib.declare.identifiers import ACCOUNT_ID, identifier

from domains.revenue_operations.domain import REVENUE_OPERATIONS

# The signal catalog: type -> (category, source product, what it means and how strong it is).
SIGNAL_TYPES: dict[str, tuple[str, str, str]] = {
    "pricing_page_visits": (
        "buyer_intent", "marketing.web_behavior",
        "3+ pricing page views by the account in a day; strength = views / 10, capped at 1.",
    ),
    "demo_page_visits": (
        "buyer_intent", "marketing.web_behavior",
        "Any demo page view in a day; strength = 0.5 + 0.25 per extra view, capped at 1.",
    ),
    "content_downloads": (
        "buyer_intent", "marketing.campaign_engagement",
        "Campaign content downloaded in a day; strength = downloads / 3, capped at 1.",
    ),
    "lead_score_jump": (
        "buyer_intent", "marketing.lead_scoring_signals",
        "A contact reached lead grade A (score >= 60) on recent activity; strength = score / 100.",
    ),
    "usage_surge": (
        "behavioral", "product.product_health_scores",
        "Product event volume up 50%+ over the prior 14 days; strength = usage_trend.",
    ),
    "usage_drop": (
        "behavioral", "product.product_health_scores",
        "Product event volume down 50%+ over the prior 14 days; strength = -usage_trend.",
    ),
    "new_integration": (
        "behavioral", "product.product_health_scores",
        "An integration was connected in the last 28 days; strength 0.7.",
    ),
    "support_escalation": (
        "behavioral", "customer_success.support_interactions",
        "An urgent or reopened support ticket; strength 1 for urgent, 0.6 for reopened.",
    ),
}

CATALOG = "\n".join(f"- `{name}` ({cat}, from {src}): {text_}" for name, (cat, src, text_) in SIGNAL_TYPES.items())

ACCOUNT_SIGNALS = DataProduct(
    domain=REVENUE_OPERATIONS.name,
    name="account_signals",
    version="1.0.0",
    retention_days=730,
    description=(
        "The signal catalog: one row per observed buyer-intent or behavioural signal, with the "
        "account, signal type, strength (0..1), when it was observed and the product it came "
        "from. Signal types:\n" + CATALOG
    ),
    owner=REVENUE_OPERATIONS.owner,
    consumers=REVENUE_OPERATIONS.consumers,
    primary_key=("signal_id",),
    inputs=(
        "marketing.web_behavior",
        "marketing.campaign_engagement",
        "marketing.lead_scoring_signals",
        "product.product_health_scores",
        "customer_success.support_interactions",
    ),
    event_time="observed_at",
    columns=(
        key("signal_id", "Stable identifier of the observation (hash of type, subject and time)."),
        identifier(ACCOUNT_ID, nullable=False),
        key("signal_type", "Type from the catalog above.", accepted_values=tuple(SIGNAL_TYPES)),
        key("signal_category", "buyer_intent or behavioral.", accepted_values=("buyer_intent", "behavioral")),
        double("strength", "Signal strength, 0..1.", nullable=False),
        ts("observed_at", "When the signal was observed."),
        key("source_product", "The data product the signal was derived from."),
        text("detail", "What was observed, in words."),
    ),
    rules=(Rule(name="strength_is_a_share", valid_when="strength BETWEEN 0 AND 1", description="Strength lies in 0..1."),),
)


@data_product(ACCOUNT_SIGNALS)
def account_signals(ctx: BuildContext) -> str:
    """Each signal type is one SELECT over the product it comes from; all are unioned."""
    category = "CASE signal_type " + " ".join(f"WHEN '{n}' THEN '{c}'" for n, (c, _, _) in SIGNAL_TYPES.items()) + " END"
    source = "CASE signal_type " + " ".join(f"WHEN '{n}' THEN '{s}'" for n, (_, s, _) in SIGNAL_TYPES.items()) + " END"
    return f"""
    WITH observed AS (
        SELECT account_id, 'pricing_page_visits' AS signal_type, least(1.0, pricing_page_views / 10.0) AS strength,
               last_event_at AS observed_at, pricing_page_views || ' pricing page views on ' || activity_date AS detail
        FROM ports.marketing__web_behavior WHERE pricing_page_views >= 3
        UNION ALL
        SELECT account_id, 'demo_page_visits', least(1.0, 0.25 + 0.25 * demo_page_views), last_event_at,
               demo_page_views || ' demo page views on ' || activity_date
        FROM ports.marketing__web_behavior WHERE demo_page_views >= 1
        UNION ALL
        SELECT account_id, 'content_downloads', least(1.0, downloads / 3.0), last_event_at,
               downloads || ' downloads from campaign ' || campaign_id || ' on ' || activity_date
        FROM ports.marketing__campaign_engagement WHERE downloads >= 1
        UNION ALL
        SELECT account_id, 'lead_score_jump', score / 100.0, last_activity_at,
               'contact ' || contact_id || ' reached score ' || score
        FROM ports.marketing__lead_scoring_signals WHERE grade = 'A' AND last_activity_at IS NOT NULL
        UNION ALL
        SELECT account_id, 'usage_surge', least(1.0, usage_trend), scored_at,
               'product events up ' || round(100 * usage_trend) || '% over the prior 14 days'
        FROM ports.product__product_health_scores WHERE usage_trend >= 0.5
        UNION ALL
        SELECT account_id, 'usage_drop', least(1.0, -usage_trend), scored_at,
               'product events down ' || round(-100 * usage_trend) || '% over the prior 14 days'
        FROM ports.product__product_health_scores WHERE usage_trend <= -0.5
        UNION ALL
        SELECT account_id, 'new_integration', 0.7, last_event_at, 'integration connected in the last 28 days'
        FROM ports.product__product_health_scores WHERE has_integration AND last_event_at IS NOT NULL
        UNION ALL
        SELECT account_id, 'support_escalation', CASE WHEN priority = 'urgent' THEN 1.0 ELSE 0.6 END, opened_at,
               priority || ' ticket ' || ticket_id || CASE WHEN reopened_count > 0 THEN ' (reopened)' ELSE '' END
        FROM ports.customer_success__support_interactions WHERE escalated
    )
    SELECT md5(signal_type || '|' || account_id || '|' || detail || '|' || observed_at) AS signal_id,
           account_id, signal_type, {category} AS signal_category, strength, observed_at,
           {source} AS source_product, detail
    FROM observed
    """
