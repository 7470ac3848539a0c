from platform_lib import BuildContext, Column, DataProduct, data_product
from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID, identifier

from domains.marketing.domain import MARKETING


def flag(name: str, description: str) -> Column:
    return Column(name=name, type="boolean", description=description, nullable=False)


CONTACT_CONSENT = DataProduct(
    domain=MARKETING.name,
    name="contact_consent",
    version="1.0.0",
    retention_days=2555,
    description=(
        "The consent record: one row per contact known to marketing, with whether the contact "
        "consented to each purpose personal data is used for (email marketing, behavioural "
        "analytics, sales outreach), as of the contact's latest update. A missing answer counts "
        "as no consent. Every product whose purpose needs consent reads it, so a withdrawn "
        "consent reaches all of them on their next build."
    ),
    owner=MARKETING.owner,
    consumers=("revenue_operations", "sales", "customer_success"),
    purpose="consent_management",
    primary_key=("contact_id",),
    inputs=("marketing.staging.contacts",),
    event_time="updated_at",
    columns=(
        identifier(CONTACT_ID, nullable=False),
        identifier(ACCOUNT_ID, nullable=False),
        flag("consent_email_marketing", "Consented to marketing email."),
        flag("consent_analytics", "Consented to behavioural analytics."),
        flag("consent_sales_outreach", "Consented to sales outreach."),
        Column(name="updated_at", type="timestamp", description="When the consent answers were last updated."),
    ),
)


@data_product(CONTACT_CONSENT)
def contact_consent(ctx: BuildContext) -> str:
    """Read the consent flags from the staged CRM contacts; unknown means no."""
    return """
        SELECT contact_id, account_id,
               coalesce(consent_email_marketing, false) AS consent_email_marketing,
               coalesce(consent_analytics, false) AS consent_analytics,
               coalesce(consent_sales_outreach, false) AS consent_sales_outreach,
               updated_at
        FROM staging.contacts
        WHERE account_id IS NOT NULL
    """
