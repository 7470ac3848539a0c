"""What the support desk, survey tool and billing system export."""

from platform_lib import Source
from platform_lib.declare.columns import EXTRACTED_AT, OCCURRED_AT, UPDATED_AT, date, double, integer, key, text, ts
from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID, identifier

from domains.customer_success.domain import CUSTOMER_SUCCESS

DOMAIN = CUSTOMER_SUCCESS.name
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("open", "pending", "solved", "closed")

tickets = Source(
    domain=DOMAIN,
    name="tickets",
    format="jsonl",
    description="Support tickets with priority, status and response and resolution times.",
    primary_key=("ticket_id",),
    event_time="occurred_at",
    columns=(
        key("ticket_id", "Ticket identifier (TCK-NNNNNNN)."),
        identifier(ACCOUNT_ID, nullable=False, references="subscriptions.account_id"),
        CONTACT_ID,
        text("priority", "Priority.", accepted_values=PRIORITIES),
        text("category", "Topic of the ticket."),
        text("status", "Current status.", accepted_values=STATUSES),
        ts("occurred_at", "When the ticket was opened (UTC)."),
        ts("first_response_at", "First agent response.", nullable=True),
        ts("resolved_at", "When the ticket was solved.", nullable=True),
        EXTRACTED_AT,
    ),
)

ticket_status_changes = Source(
    domain=DOMAIN,
    name="ticket_status_changes",
    format="jsonl",
    description="Every status change of every ticket.",
    primary_key=("ticket_id", "to_status", "occurred_at"),
    event_time="occurred_at",
    columns=(
        key("ticket_id", "Ticket that changed."),
        ACCOUNT_ID,
        text("from_status", "Status before.", accepted_values=STATUSES),
        key("to_status", "Status after.", accepted_values=STATUSES),
        OCCURRED_AT,
        EXTRACTED_AT,
    ),
)

survey_responses = Source(
    domain=DOMAIN,
    name="survey_responses",
    format="csv",
    description="CSAT (1-5) and NPS (0-10) survey responses.",
    primary_key=("response_id",),
    event_time="occurred_at",
    columns=(
        key("response_id", "Response identifier."),
        ACCOUNT_ID,
        CONTACT_ID,
        text("survey_type", "csat or nps.", accepted_values=("csat", "nps")),
        integer("score", "CSAT 1-5 or NPS 0-10."),
        text("comment", "Free-text comment.", classification="pii", pii_category="free_text"),
        OCCURRED_AT,
        EXTRACTED_AT,
    ),
)

subscriptions = Source(
    domain=DOMAIN,
    name="subscriptions",
    format="parquet",
    evolves="entity",
    description="Subscriptions and renewals with annual recurring revenue.",
    primary_key=("subscription_id",),
    event_time="updated_at",
    columns=(
        key("subscription_id", "Subscription identifier."),
        identifier(ACCOUNT_ID, nullable=False),
        text("plan", "Plan."),
        text("status", "Subscription status.", accepted_values=("active", "cancelled", "expired")),
        double("arr_usd", "Annual recurring revenue in US dollars."),
        date("start_date", "Start of the subscription."),
        date("end_date", "End of the subscription, if ended."),
        date("renewal_date", "Next renewal date."),
        UPDATED_AT,
        EXTRACTED_AT,
    ),
)

SOURCES = (tickets, ticket_status_changes, survey_responses, subscriptions)
