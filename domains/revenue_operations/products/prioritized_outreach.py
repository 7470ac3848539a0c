from platform_lib import BuildContext, DataProduct, Rule, data_product
from platform_lib.declare.columns import count, double, integer, text, ts
from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID, identifier

from domains.revenue_operations.domain import REVENUE_OPERATIONS

LATE_STAGES = ("proposal", "negotiation")
WINDOW_DAYS = 14
HALF_LIFE_DAYS = 7

PRIORITIZED_OUTREACH = DataProduct(
    domain=REVENUE_OPERATIONS.name,
    name="prioritized_outreach",
    version="1.1.1",
    retention_days=730,
    description=(
        "The ranked list Sales Development works from: accounts with buyer-intent or behavioural "
        f"signals in the {WINDOW_DAYS} days before the newest signal, ranked by priority_score = "
        f"sum of signal strengths, each halved for every {HALF_LIFE_DAYS} days of age, with "
        "buyer-intent signals weighted 1.0 and behavioural 0.5. Excluded: churned accounts, and "
        f"accounts with an open deal in a late stage ({', '.join(LATE_STAGES)}): their account "
        "executive already owns the conversation. The suggested contact is the account's "
        "highest-scoring lead among contacts who consented to sales outreach (none: left empty)."
    ),
    owner=REVENUE_OPERATIONS.owner,
    consumers=("sales_development",),
    purpose="sales_outreach",
    primary_key=("account_id",),
    inputs=(
        "revenue_operations.account_signals",
        "revenue_operations.account_360",
        "sales.opportunity_pipeline",
        "marketing.lead_scoring_signals",
    ),
    event_time="latest_signal_at",
    columns=(
        integer("priority_rank", "1 = call first.", nullable=False),
        identifier(ACCOUNT_ID, nullable=False),
        text("account_name", "Company name."),
        text("owner_rep", "Owning account executive."),
        text("lifecycle", "customer, opportunity or prospect.", accepted_values=("customer", "opportunity", "prospect")),
        double("priority_score", "Recency-weighted signal strength (see description).", nullable=False),
        count("signal_count", "Signals in the window."),
        text("top_signal_type", "The strongest recent signal."),
        ts("latest_signal_at", "Most recent signal."),
        identifier(CONTACT_ID, description="Suggested contact: the account's highest-scoring lead who consented to sales outreach."),
        integer("contact_lead_score", "Lead score of the suggested contact."),
        double("open_pipeline_usd", "Open pipeline already on the account."),
    ),
    rules=(Rule(name="positive_score", valid_when="priority_score > 0", description="Only accounts with signals are ranked."),),
)


@data_product(PRIORITIZED_OUTREACH)
def prioritized_outreach(ctx: BuildContext) -> str:
    """Score recent signals, drop excluded accounts, pick a contact, rank."""
    late = ", ".join(f"'{s}'" for s in LATE_STAGES)
    return f"""
    WITH horizon AS (SELECT max(observed_at) AS t FROM ports.revenue_operations__account_signals),
    recent AS (
        SELECT s.*, power(0.5, date_diff('hour', s.observed_at, horizon.t) / 24.0 / {HALF_LIFE_DAYS})
                    * CASE WHEN s.signal_category = 'buyer_intent' THEN 1.0 ELSE 0.5 END * s.strength AS weight
        FROM ports.revenue_operations__account_signals s, horizon
        WHERE s.observed_at > horizon.t - INTERVAL {WINDOW_DAYS} DAY
    ),
    scored AS (
        -- Rounded and tie-broken, so the same signals always give the same ranking, however
        -- the engine splits the sum across threads.
        SELECT account_id, round(sum(weight), 9) AS priority_score, count(*) AS signal_count,
               arg_max(signal_type, struct_pack(w := weight, t := signal_type)) AS top_signal_type,
               max(observed_at) AS latest_signal_at
        FROM recent GROUP BY account_id
    ),
    late_stage AS (
        SELECT DISTINCT account_id FROM ports.sales__opportunity_pipeline WHERE is_open AND stage IN ({late})
    ),
    best_contact AS (
        SELECT account_id, arg_max(contact_id, struct_pack(s := score, c := contact_id)) AS contact_id, max(score) AS contact_lead_score
        FROM ports.marketing__lead_scoring_signals
        JOIN ports.marketing__contact_consent USING (contact_id, account_id)
        WHERE consent_sales_outreach
        GROUP BY account_id
    )
    SELECT row_number() OVER (ORDER BY s.priority_score DESC, s.account_id) AS priority_rank,
           s.account_id, a.account_name, a.owner_rep, a.lifecycle, s.priority_score, s.signal_count,
           s.top_signal_type, s.latest_signal_at, c.contact_id, c.contact_lead_score, a.open_pipeline_usd
    FROM scored s
    JOIN ports.revenue_operations__account_360 a USING (account_id)
    LEFT JOIN best_contact c USING (account_id)
    WHERE s.account_id NOT IN (SELECT account_id FROM late_stage) AND a.lifecycle <> 'churned'
    """
