from platform_lib import BuildContext, DataProduct, Rule, data_product
from platform_lib.declare.columns import boolean, double, integer, key, text, ts
from platform_lib.declare.identifiers import ACCOUNT_ID, identifier

from domains.sales.domain import OPEN_STAGES, SALES

STALL_FLOOR_DAYS = 30  # never call a deal stalled before a month in one stage

DEAL_INTELLIGENCE = DataProduct(
    domain=SALES.name,
    name="deal_intelligence",
    version="1.0.0",
    retention_days=730,
    description=(
        "One row per open deal with how it is moving. velocity = stage changes per 30 days of "
        "age; a deal is stalled when its days in the current stage exceed twice the median "
        f"days closed deals spent in that stage (and at least {STALL_FLOOR_DAYS} days). "
        "win_likelihood is stage conversion: among closed deals that reached the deal's current "
        "stage, the share that closed won; expected_value = amount x win_likelihood."
    ),
    owner=SALES.owner,
    consumers=SALES.consumers,
    primary_key=("opportunity_id",),
    inputs=("sales.staging.opportunities", "sales.staging.opportunity_stage_history"),
    event_time="last_activity_at",
    columns=(
        key("opportunity_id", "Opportunity identifier (OPP-NNNNNNN)."),
        identifier(ACCOUNT_ID, nullable=False),
        key("stage", "Current open stage.", accepted_values=OPEN_STAGES),
        double("amount_usd", "Deal amount in US dollars."),
        integer("age_days", "Days since creation.", nullable=False),
        integer("days_in_stage", "Days in the current stage.", nullable=False),
        integer("stage_changes", "Stage changes so far.", nullable=False),
        double("velocity", "Stage changes per 30 days of age.", nullable=False),
        double("typical_days_in_stage", "Median days closed deals spent in this stage."),
        boolean("is_stalled", "Stuck in stage far longer than is typical.", nullable=False),
        double("win_likelihood", "Historical win rate of deals that reached this stage (0..1)."),
        double("expected_value_usd", "amount_usd x win_likelihood."),
        text("forecast_category", "Forecast category in the CRM."),
        ts("last_activity_at", "Latest change of the deal: its last stage change or CRM update."),
    ),
    rules=(
        Rule(
            name="likelihood_is_a_probability",
            valid_when="win_likelihood IS NULL OR win_likelihood BETWEEN 0 AND 1",
            description="Win likelihood is a probability.",
        ),
    ),
)


@data_product(DEAL_INTELLIGENCE)
def deal_intelligence(ctx: BuildContext) -> str:
    """Stage durations and conversion rates learned from closed deals, applied to open ones."""
    open_stages = ", ".join(f"'{s}'" for s in OPEN_STAGES)
    return f"""
    WITH as_of AS (SELECT max(extracted_at) AS as_of FROM staging.opportunities),
    history AS (
        SELECT h.opportunity_id, h.to_stage AS stage, h.occurred_at,
               lead(h.occurred_at) OVER (PARTITION BY h.opportunity_id ORDER BY h.occurred_at) AS left_at
        FROM staging.opportunity_stage_history h
    ),
    closed AS (SELECT opportunity_id, stage = 'closed_won' AS won FROM staging.opportunities
               WHERE stage IN ('closed_won', 'closed_lost')),
    stage_stats AS (
        SELECT h.stage,
               median(date_diff('day', h.occurred_at, h.left_at)) AS typical_days_in_stage,
               avg(c.won::INT) AS win_likelihood
        FROM history h JOIN closed c USING (opportunity_id)
        WHERE h.stage IN ({open_stages})
        GROUP BY h.stage
    ),
    progress AS (
        SELECT opportunity_id, count(*) AS stage_changes, max(occurred_at) AS last_change_at
        FROM staging.opportunity_stage_history GROUP BY opportunity_id
    ),
    open_deals AS (
        SELECT o.*, coalesce(p.stage_changes, 0) AS stage_changes, p.last_change_at,
               greatest(0, date_diff('day', o.created_at, as_of.as_of)) AS age_days,
               greatest(0, date_diff('day', coalesce(p.last_change_at, o.created_at), as_of.as_of)) AS days_in_stage
        FROM staging.opportunities o CROSS JOIN as_of LEFT JOIN progress p USING (opportunity_id)
        WHERE o.stage IN ({open_stages})
    )
    SELECT d.opportunity_id, d.account_id, d.stage, d.amount_usd,
           d.age_days::BIGINT AS age_days, least(d.days_in_stage, d.age_days)::BIGINT AS days_in_stage,
           d.stage_changes::BIGINT AS stage_changes,
           d.stage_changes * 30.0 / greatest(d.age_days, 1) AS velocity,
           s.typical_days_in_stage::DOUBLE AS typical_days_in_stage,
           d.days_in_stage > greatest({STALL_FLOOR_DAYS}, 2 * coalesce(s.typical_days_in_stage, 0)) AS is_stalled,
           s.win_likelihood, d.amount_usd * s.win_likelihood AS expected_value_usd,
           d.forecast_category, greatest(d.updated_at, d.last_change_at) AS last_activity_at
    FROM open_deals d LEFT JOIN stage_stats s USING (stage)
    """
