"""What personal data may be used for. A product that publishes contact-level personal
data declares its purpose; purposes that rest on consent keep only contacts who gave it
(the consent flags come from `marketing.contact_consent`), the others name their lawful
basis."""

# purpose -> the consent flag it needs, or None when another lawful basis applies
PURPOSES: dict[str, str | None] = {
    "email_marketing": "consent_email_marketing",
    "analytics": "consent_analytics",
    "sales_outreach": "consent_sales_outreach",
    "customer_support": None,  # performance of the contract
    "account_management": None,  # legitimate interest, documented by the owner
    "consent_management": None,  # legal obligation: keeping the consent record itself
}

CONSENT_PRODUCT = "marketing.contact_consent"
# Columns that make a product contact-level personal data, beside pii-classified ones.
PERSON_COLUMNS = ("contact_id", "user_id", "email")
