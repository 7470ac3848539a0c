from platform_lib import BuildContext, Column, DataProduct, Rule, data_product
from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID, identifier

from domains.marketing.domain import MARKETING

# The scoring rule: points per signal in the 30 days before the scoring time, each
# signal capped so no single behaviour dominates; unsubscribing costs 20 points; the
# total is clamped to 0..100. Grades: A >= 60, B >= 35, C >= 15, else D.
POINTS = {
    "high_intent_forms_30d": (10, 30),  # demo request / contact sales
    "demo_page_views_30d": (8, 16),
    "pricing_page_views_30d": (5, 20),
    "downloads_30d": (4, 12),
    "email_clicks_30d": (3, 12),
    "email_opens_30d": (1, 5),
}
MQL_BONUS = 5
UNSUBSCRIBE_PENALTY = 20
GRADES = ((60, "A"), (35, "B"), (15, "C"))


def signal(name: str, description: str) -> Column:
    return Column(name=name, type="integer", description=description, nullable=False)


LEAD_SCORING_SIGNALS = DataProduct(
    domain=MARKETING.name,
    name="lead_scoring_signals",
    version="1.2.0",
    retention_days=730,
    description=(
        "One row per contact: the engagement signals of the last 30 days and the lead score "
        "derived from them. Score = sum over signals of points x count, each signal capped "
        "(high-intent forms 10/30, demo page views 8/16, pricing page views 5/20, content "
        f"downloads 4/12, email clicks 3/12, email opens 1/5), +{MQL_BONUS} for MQL/SQL contacts, "
        f"-{UNSUBSCRIBE_PENALTY} if the contact unsubscribed, clamped to 0..100. "
        "Grade A >= 60, B >= 35, C >= 15, otherwise D. The 30-day window ends at `scored_at`, "
        "the latest marketing event seen."
    ),
    owner=MARKETING.owner,
    consumers=MARKETING.consumers,
    purpose="analytics",
    primary_key=("contact_id",),
    inputs=(
        "marketing.staging.contacts",
        "marketing.staging.email_events",
        "marketing.staging.page_views",
        "marketing.staging.form_fills",
        "marketing.staging.content_downloads",
    ),
    event_time="last_activity_at",
    columns=(
        identifier(CONTACT_ID, nullable=False),
        identifier(ACCOUNT_ID, nullable=False),
        Column(
            name="email",
            type="string",
            description="The contact's work email, for follow-up; hashed for readers without PII access.",
            classification="pii",
            pii_category="email",
            masking="hash",
        ),
        Column(
            name="lifecycle_stage",
            type="string",
            description="Funnel stage from the marketing automation platform.",
            accepted_values=("subscriber", "lead", "mql", "sql", "opportunity", "customer"),
        ),
        signal("email_opens_30d", "Email opens."),
        signal("email_clicks_30d", "Email clicks."),
        signal("downloads_30d", "Content downloads."),
        signal("pricing_page_views_30d", "Pricing page views."),
        signal("demo_page_views_30d", "Demo page views."),
        signal("high_intent_forms_30d", "Demo-request and contact-sales form fills."),
        Column(name="unsubscribed", type="boolean", description="Unsubscribed from email in the window.", nullable=False),
        Column(name="score", type="integer", description="Lead score 0..100 (rule in the description).", nullable=False),
        Column(name="grade", type="string", description="Score grade.", nullable=False, accepted_values=("A", "B", "C", "D")),
        Column(name="scored_at", type="timestamp", description="End of the 30-day window.", nullable=False),
        Column(name="last_activity_at", type="timestamp", description="Latest engagement event of the contact."),
    ),
    rules=(Rule(name="score_in_range", valid_when="score BETWEEN 0 AND 100", description="Scores are clamped to 0..100."),),
)


def score_sql() -> str:
    points = " + ".join(f"least({col} * {per}, {cap})" for col, (per, cap) in POINTS.items())
    raw = f"{points} + CASE WHEN lifecycle_stage IN ('mql', 'sql') THEN {MQL_BONUS} ELSE 0 END - CASE WHEN unsubscribed THEN {UNSUBSCRIBE_PENALTY} ELSE 0 END"
    return f"greatest(0, least(100, {raw}))"


def grade_sql() -> str:
    whens = " ".join(f"WHEN score >= {floor} THEN '{g}'" for floor, g in GRADES)
    return f"CASE {whens} ELSE 'D' END"


@data_product(LEAD_SCORING_SIGNALS)
def lead_scoring_signals(ctx: BuildContext) -> str:
    """Counts each contact's signals in the window and applies the scoring rule."""
    return f"""
    WITH horizon AS (
        SELECT max(t) AS scored_at FROM (
            SELECT max(occurred_at) AS t FROM staging.email_events
            UNION ALL SELECT max(occurred_at) FROM staging.page_views
            UNION ALL SELECT max(occurred_at) FROM staging.form_fills
            UNION ALL SELECT max(occurred_at) FROM staging.content_downloads)
    ), events AS (
        SELECT contact_id, occurred_at,
               (event_type = 'open')::INT AS opens, (event_type = 'click')::INT AS clicks,
               0 AS downloads, 0 AS pricing, 0 AS demo, 0 AS forms, (event_type = 'unsubscribe')::INT AS unsubs
        FROM staging.email_events
        UNION ALL
        SELECT contact_id, occurred_at, 0, 0, 1, 0, 0, 0, 0 FROM staging.content_downloads
        UNION ALL
        SELECT contact_id, occurred_at, 0, 0, 0, (page_category = 'pricing')::INT, (page_category = 'demo')::INT, 0, 0
        FROM staging.page_views WHERE contact_id IS NOT NULL
        UNION ALL
        SELECT contact_id, occurred_at, 0, 0, 0, 0, 0, (form_type IN ('demo_request', 'contact_sales'))::INT, 0
        FROM staging.form_fills
    ), windowed AS (
        SELECT contact_id, sum(opens) AS email_opens_30d, sum(clicks) AS email_clicks_30d,
               sum(downloads) AS downloads_30d, sum(pricing) AS pricing_page_views_30d,
               sum(demo) AS demo_page_views_30d, sum(forms) AS high_intent_forms_30d,
               sum(unsubs) > 0 AS unsubscribed, max(occurred_at) AS last_activity_at
        FROM events, horizon
        WHERE occurred_at > horizon.scored_at - INTERVAL 30 DAY
        GROUP BY contact_id
    ), signals AS (
        SELECT c.contact_id, c.account_id, c.email, c.lifecycle_stage,
               coalesce(w.email_opens_30d, 0) AS email_opens_30d,
               coalesce(w.email_clicks_30d, 0) AS email_clicks_30d,
               coalesce(w.downloads_30d, 0) AS downloads_30d,
               coalesce(w.pricing_page_views_30d, 0) AS pricing_page_views_30d,
               coalesce(w.demo_page_views_30d, 0) AS demo_page_views_30d,
               coalesce(w.high_intent_forms_30d, 0) AS high_intent_forms_30d,
               coalesce(w.unsubscribed, false) AS unsubscribed,
               w.last_activity_at
        FROM staging.contacts c LEFT JOIN windowed w USING (contact_id)
    ), scored AS (
        SELECT *, {score_sql()} AS score FROM signals
    )
    SELECT contact_id, account_id, email, lifecycle_stage, email_opens_30d, email_clicks_30d, downloads_30d,
           pricing_page_views_30d, demo_page_views_30d, high_intent_forms_30d, unsubscribed,
           score, {grade_sql()} AS grade, horizon.scored_at, last_activity_at
    FROM scored, horizon
    """
