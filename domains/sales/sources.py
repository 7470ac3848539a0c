"""What the CRM exports: accounts, contacts, opportunities, stage history, activities."""

from platform_lib import Source
from platform_lib.declare.columns import CREATED_AT, EXTRACTED_AT, OCCURRED_AT, UPDATED_AT, date, double, integer, key, text
from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID, identifier

from domains.sales.domain import FORECAST_CATEGORIES, SALES, STAGES

DOMAIN = SALES.name
ACCOUNT_REF = identifier(ACCOUNT_ID, references="accounts.account_id")

accounts = Source(
    domain=DOMAIN,
    name="accounts",
    format="csv",
    evolves="entity",
    description="CRM accounts with their owning rep and firmographics.",
    primary_key=("account_id",),
    event_time="updated_at",
    columns=(
        identifier(ACCOUNT_ID, nullable=False),
        text("account_name", "Company name."),
        text("industry", "Industry."),
        text("segment", "Go-to-market segment.", accepted_values=("smb", "mid_market", "enterprise")),
        text("owner_rep", "Account executive who owns the account."),
        text("billing_country", "Billing country."),
        double("annual_revenue_usd", "Company annual revenue in US dollars."),
        integer("employee_count", "Company headcount."),
        UPDATED_AT,
        EXTRACTED_AT,
    ),
)

contacts = Source(
    domain=DOMAIN,
    name="contacts",
    format="csv",
    evolves="entity",
    description="CRM contacts.",
    primary_key=("contact_id",),
    event_time="updated_at",
    columns=(
        identifier(CONTACT_ID, nullable=False),
        ACCOUNT_REF,
        text("email", "Work email.", classification="pii", pii_category="email"),
        text("full_name", "Full name.", classification="pii", pii_category="name"),
        text("title", "Job title."),
        text("phone", "Phone number.", classification="pii", pii_category="phone"),
        UPDATED_AT,
        EXTRACTED_AT,
    ),
)

opportunities = Source(
    domain=DOMAIN,
    name="opportunities",
    format="csv",
    evolves="entity",
    description="Opportunities with stage, amount, close date and forecast category.",
    primary_key=("opportunity_id",),
    event_time="updated_at",
    columns=(
        key("opportunity_id", "Opportunity identifier (OPP-NNNNNNN)."),
        ACCOUNT_REF,
        text("name", "Opportunity name."),
        text("stage", "Current stage.", accepted_values=STAGES),
        double("amount_usd", "Deal amount in US dollars."),
        date("close_date", "Expected or actual close date."),
        text("forecast_category", "Forecast category.", accepted_values=FORECAST_CATEGORIES),
        CREATED_AT,
        UPDATED_AT,
        EXTRACTED_AT,
    ),
)

opportunity_stage_history = Source(
    domain=DOMAIN,
    name="opportunity_stage_history",
    format="jsonl",
    description="Every stage change of every opportunity.",
    primary_key=("opportunity_id", "to_stage", "occurred_at"),
    event_time="occurred_at",
    columns=(
        key("opportunity_id", "Opportunity that moved.", references="opportunities.opportunity_id"),
        ACCOUNT_REF,
        text("from_stage", "Stage before the change (empty when created).", accepted_values=STAGES),
        key("to_stage", "Stage after the change.", accepted_values=STAGES),
        OCCURRED_AT,
        EXTRACTED_AT,
    ),
)

activities = Source(
    domain=DOMAIN,
    name="activities",
    format="csv",
    description="Rep activities: calls, emails and meetings.",
    primary_key=("activity_id",),
    event_time="occurred_at",
    columns=(
        key("activity_id", "Activity identifier."),
        ACCOUNT_REF,
        CONTACT_ID,
        text("opportunity_id", "Opportunity the activity worked, if any."),
        text("activity_type", "Kind of activity.", accepted_values=("call", "email", "meeting")),
        text("direction", "Inbound or outbound.", accepted_values=("inbound", "outbound")),
        integer("duration_minutes", "Length in minutes."),
        OCCURRED_AT,
        EXTRACTED_AT,
    ),
)

SOURCES = (accounts, contacts, opportunities, opportunity_stage_history, activities)
