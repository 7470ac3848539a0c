from platform_lib import BuildContext, DataProduct, Rule, data_product
from platform_lib.declare.columns import boolean, date, double, integer, key, text, ts
from platform_lib.declare.identifiers import ACCOUNT_ID, identifier

from domains.sales.domain import FORECAST_CATEGORIES, OPEN_STAGES, SALES, STAGES

OPPORTUNITY_PIPELINE = DataProduct(
    domain=SALES.name,
    name="opportunity_pipeline",
    version="1.0.0",
    retention_days=730,
    description=(
        "Every opportunity in the CRM, open and closed, in its current state: stage, amount, "
        "forecast category, close date, age since creation and days in the current stage. "
        "Ages are measured at `as_of`, the CRM's latest extraction."
    ),
    owner=SALES.owner,
    consumers=SALES.consumers,
    primary_key=("opportunity_id",),
    inputs=("sales.staging.opportunities", "sales.staging.opportunity_stage_history", "sales.staging.accounts"),
    event_time="updated_at",
    columns=(
        key("opportunity_id", "Opportunity identifier (OPP-NNNNNNN)."),
        identifier(ACCOUNT_ID, nullable=False),
        text("opportunity_name", "Opportunity name."),
        text("owner_rep", "Account executive owning the account."),
        key("stage", "Current stage.", accepted_values=STAGES),
        boolean("is_open", "The deal is still being worked.", nullable=False),
        boolean("is_won", "The deal closed won.", nullable=False),
        double("amount_usd", "Deal amount in US dollars."),
        date("close_date", "Expected or actual close date."),
        text("forecast_category", "Forecast category.", accepted_values=FORECAST_CATEGORIES),
        ts("created_at", "When the opportunity was created."),
        ts("stage_entered_at", "When it entered its current stage."),
        integer("age_days", "Days from creation to as_of (to close for closed deals).", nullable=False),
        integer("days_in_stage", "Days in the current stage at as_of.", nullable=False),
        ts("updated_at", "Last change in the CRM."),
        ts("as_of", "Measurement time: the CRM's latest extraction."),
    ),
    rules=(
        Rule(name="non_negative_amount", valid_when="amount_usd IS NULL OR amount_usd >= 0", description="Deal amounts are not negative."),
        Rule(name="stage_within_age", valid_when="days_in_stage <= age_days", description="Time in stage cannot exceed the deal's age."),
    ),
)


@data_product(OPPORTUNITY_PIPELINE)
def opportunity_pipeline(ctx: BuildContext) -> str:
    """Current opportunity state joined with when it entered its stage."""
    open_stages = ", ".join(f"'{s}'" for s in OPEN_STAGES)
    return f"""
    WITH as_of AS (SELECT max(extracted_at) AS as_of FROM staging.opportunities),
    entered AS (
        SELECT opportunity_id, to_stage AS stage, max(occurred_at) AS stage_entered_at
        FROM staging.opportunity_stage_history GROUP BY ALL
    )
    SELECT o.opportunity_id, o.account_id, o.name AS opportunity_name, a.owner_rep, o.stage,
           o.stage IN ({open_stages}) AS is_open, o.stage = 'closed_won' AS is_won,
           o.amount_usd, o.close_date, o.forecast_category, o.created_at,
           coalesce(e.stage_entered_at, o.created_at) AS stage_entered_at,
           greatest(0, date_diff('day', o.created_at, as_of.as_of))::BIGINT AS age_days,
           least(greatest(0, date_diff('day', coalesce(e.stage_entered_at, o.created_at), as_of.as_of)),
                 greatest(0, date_diff('day', o.created_at, as_of.as_of)))::BIGINT AS days_in_stage,
           o.updated_at, as_of.as_of
    FROM staging.opportunities o
    CROSS JOIN as_of
    LEFT JOIN entered e USING (opportunity_id, stage)
    LEFT JOIN staging.accounts a USING (account_id)
    """
