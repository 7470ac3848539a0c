"""What Marketing's source systems export to the landing zone (marketing automation,
email service, web analytics, forms and content platform)."""

from platform_lib import Source
from platform_lib.declare.columns import EXTRACTED_AT, OCCURRED_AT, UPDATED_AT, boolean, date, double, integer, key, text, ts
from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID, identifier

from domains.marketing.domain import MARKETING

DOMAIN = MARKETING.name


ACCOUNT_REF = identifier(ACCOUNT_ID, references="accounts.account_id")
CONTACT_REF = identifier(CONTACT_ID, references="contacts.contact_id")

accounts = Source(
    domain=DOMAIN,
    name="accounts",
    format="csv",
    evolves="entity",
    description="Company records synced into the marketing automation platform.",
    primary_key=("account_id",),
    event_time="updated_at",
    columns=(
        identifier(ACCOUNT_ID, nullable=False),
        text("account_name", "Company name."),
        text("domain", "Company web domain."),
        text("industry", "Industry."),
        text("employee_band", "Company size band."),
        text("country", "Headquarters country."),
        text("segment", "Go-to-market segment.", accepted_values=("smb", "mid_market", "enterprise")),
        UPDATED_AT,
        EXTRACTED_AT,
    ),
)

contacts = Source(
    domain=DOMAIN,
    name="contacts",
    format="csv",
    evolves="entity",
    description="People known to marketing, with their per-purpose consent.",
    primary_key=("contact_id",),
    event_time="updated_at",
    columns=(
        identifier(CONTACT_ID, nullable=False),
        ACCOUNT_REF,
        text("email", "Work email.", classification="pii", pii_category="email"),
        text("first_name", "Given name.", classification="pii", pii_category="name"),
        text("last_name", "Family name.", classification="pii", pii_category="name"),
        text("job_title", "Job title."),
        text("country", "Country."),
        text(
            "lifecycle_stage",
            "Funnel stage.",
            accepted_values=("subscriber", "lead", "mql", "sql", "opportunity", "customer"),
        ),
        boolean("consent_email_marketing", "Consented to marketing email."),
        boolean("consent_analytics", "Consented to behavioural analytics."),
        boolean("consent_sales_outreach", "Consented to sales outreach."),
        ts("created_at", "When the contact was created."),
        UPDATED_AT,
        EXTRACTED_AT,
    ),
)

campaigns = Source(
    domain=DOMAIN,
    name="campaigns",
    format="csv",
    evolves="entity",
    description="Marketing campaigns and their channels.",
    primary_key=("campaign_id",),
    event_time="updated_at",
    columns=(
        key("campaign_id", "Campaign identifier (CMP-NNNNN)."),
        text("campaign_name", "Campaign name."),
        text(
            "channel",
            "Channel.",
            accepted_values=("email", "webinar", "paid_social", "paid_search", "event", "content"),
        ),
        date("start_date", "First day of the campaign."),
        date("end_date", "Last day of the campaign."),
        double("budget_usd", "Budget in US dollars."),
        UPDATED_AT,
        EXTRACTED_AT,
    ),
)

email_events = Source(
    domain=DOMAIN,
    name="email_events",
    format="jsonl",
    description="Email service events: send, deliver, open, click, unsubscribe, bounce.",
    primary_key=("event_id",),
    event_time="occurred_at",
    columns=(
        key("event_id", "Event identifier."),
        text("campaign_id", "Campaign that sent the email.", references="campaigns.campaign_id"),
        identifier(CONTACT_REF, nullable=False),
        text(
            "event_type",
            "What happened.",
            accepted_values=("send", "deliver", "open", "click", "unsubscribe", "bounce"),
        ),
        OCCURRED_AT,
        EXTRACTED_AT,
    ),
)

web_sessions = Source(
    domain=DOMAIN,
    name="web_sessions",
    format="parquet",
    description="Website sessions, identified and anonymous (account from login or reverse IP).",
    primary_key=("session_id",),
    event_time="occurred_at",
    columns=(
        key("session_id", "Session identifier."),
        text("visitor_id", "Browser-level visitor identifier."),
        CONTACT_REF,
        ACCOUNT_REF,
        text("ip_address", "Visitor IP address.", classification="pii", pii_category="ip"),
        ts("occurred_at", "When the session started (UTC)."),
        integer("duration_seconds", "Session length in seconds."),
        text("landing_path", "First page of the session."),
        text("utm_source", "Traffic source."),
        text("utm_campaign", "Campaign in the landing URL, if any."),
        EXTRACTED_AT,
    ),
)

page_views = Source(
    domain=DOMAIN,
    name="page_views",
    format="parquet",
    description="Website page views, categorised (pricing, demo, docs, ...).",
    primary_key=("page_view_id",),
    event_time="occurred_at",
    columns=(
        key("page_view_id", "Page view identifier."),
        text("session_id", "Session the view belongs to."),
        text("visitor_id", "Browser-level visitor identifier."),
        CONTACT_REF,
        ACCOUNT_REF,
        text("url_path", "Path of the page."),
        text(
            "page_category",
            "Kind of page.",
            accepted_values=("home", "pricing", "demo", "docs", "blog", "product", "careers", "other"),
        ),
        OCCURRED_AT,
        EXTRACTED_AT,
    ),
)

form_fills = Source(
    domain=DOMAIN,
    name="form_fills",
    format="jsonl",
    description="Form submissions: demo requests, contact sales, newsletter, webinars, trials.",
    primary_key=("form_fill_id",),
    event_time="occurred_at",
    columns=(
        key("form_fill_id", "Form submission identifier."),
        CONTACT_REF,
        ACCOUNT_REF,
        text("email", "Email typed into the form.", classification="pii", pii_category="email"),
        text(
            "form_type",
            "Which form.",
            accepted_values=("demo_request", "contact_sales", "newsletter", "webinar_registration", "trial_signup"),
        ),
        text("page_path", "Page the form was on."),
        text("campaign_id", "Campaign that drove the visit, if any."),
        OCCURRED_AT,
        EXTRACTED_AT,
    ),
)

content_downloads = Source(
    domain=DOMAIN,
    name="content_downloads",
    format="csv",
    description="Gated content downloads (ebooks, whitepapers, case studies, ...).",
    primary_key=("download_id",),
    event_time="occurred_at",
    columns=(
        key("download_id", "Download identifier."),
        CONTACT_REF,
        ACCOUNT_REF,
        text("asset_name", "Content asset downloaded."),
        text("asset_type", "Kind of asset.", accepted_values=("ebook", "whitepaper", "case_study", "report", "template")),
        text("campaign_id", "Campaign that promoted the asset, if any."),
        OCCURRED_AT,
        EXTRACTED_AT,
    ),
)

SOURCES = (accounts, contacts, campaigns, email_events, web_sessions, page_views, form_fills, content_downloads)
