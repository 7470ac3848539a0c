"""What the product's own systems export: workspaces, users, product events, sessions."""

from platform_lib import Source
from platform_lib.declare.columns import CREATED_AT, EXTRACTED_AT, OCCURRED_AT, UPDATED_AT, integer, key, text, ts
from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID, USER_ID, identifier

from domains.product.domain import PRODUCT

DOMAIN = PRODUCT.name
# The product knows an account once it has a workspace.
ACCOUNT_REF = identifier(ACCOUNT_ID, references="workspaces.account_id")
FEATURES = ("dashboards", "reports", "automations", "api", "alerts", "sso", "data_import", "collaboration")

workspaces = Source(
    domain=DOMAIN,
    name="workspaces",
    format="csv",
    evolves="entity",
    description="Workspaces: the product's tenant, one or more per account.",
    primary_key=("workspace_id",),
    event_time="updated_at",
    columns=(
        key("workspace_id", "Workspace identifier (WS-NNNNNN)."),
        identifier(ACCOUNT_ID, nullable=False),
        text("plan", "Subscription plan of the workspace.", accepted_values=("free", "starter", "growth", "enterprise")),
        CREATED_AT,
        UPDATED_AT,
        EXTRACTED_AT,
    ),
)

users = Source(
    domain=DOMAIN,
    name="users",
    format="csv",
    evolves="entity",
    description="Product users and their workspace role.",
    primary_key=("user_id",),
    event_time="updated_at",
    columns=(
        identifier(USER_ID, nullable=False),
        text("workspace_id", "Workspace the user belongs to.", references="workspaces.workspace_id"),
        ACCOUNT_REF,
        CONTACT_ID,
        text("email", "Login email.", classification="pii", pii_category="email"),
        text("role", "Role in the workspace.", accepted_values=("owner", "admin", "member", "viewer")),
        CREATED_AT,
        UPDATED_AT,
        EXTRACTED_AT,
    ),
)

events = Source(
    domain=DOMAIN,
    name="events",
    format="parquet",
    description="Product events: logins, feature use, exports, invites, integrations connected.",
    primary_key=("event_id",),
    event_time="occurred_at",
    columns=(
        key("event_id", "Event identifier."),
        USER_ID,
        text("workspace_id", "Workspace of the event."),
        ACCOUNT_REF,
        text(
            "event_name",
            "What the user did.",
            accepted_values=("login", "feature_used", "export", "invite_sent", "integration_connected"),
        ),
        text("feature", "Feature used (feature_used events)."),
        text("integration", "Integration connected (integration_connected events)."),
        text("session_id", "Session of the event."),
        OCCURRED_AT,
        EXTRACTED_AT,
    ),
)

sessions = Source(
    domain=DOMAIN,
    name="sessions",
    format="parquet",
    description="Product sessions with their length and platform.",
    primary_key=("session_id",),
    event_time="occurred_at",
    columns=(
        key("session_id", "Session identifier."),
        USER_ID,
        text("workspace_id", "Workspace of the session."),
        ACCOUNT_REF,
        ts("occurred_at", "When the session started (UTC)."),
        ts("ended_at", "When the session ended (UTC).", nullable=True),
        integer("duration_seconds", "Session length in seconds."),
        text("platform", "Client platform.", accepted_values=("web", "desktop", "mobile")),
        EXTRACTED_AT,
    ),
)

SOURCES = (workspaces, users, events, sessions)
