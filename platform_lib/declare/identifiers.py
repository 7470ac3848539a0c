"""The mesh's common identifiers: one name, type and format in every domain."""

from __future__ import annotations

import re

from platform_lib.declare.spec import Column

ACCOUNT_ID = Column(
    name="account_id",
    type="string",
    description="The company account, the mesh-wide join key (format ACC-NNNNNN).",
    pattern=r"^ACC-\d{6}$",
)
CONTACT_ID = Column(
    name="contact_id",
    type="string",
    description="A person at an account, shared by marketing, sales and support (format CON-NNNNNNN).",
    pattern=r"^CON-\d{7}$",
)
USER_ID = Column(
    name="user_id",
    type="string",
    description="A product user (format USR-NNNNNNN).",
    pattern=r"^USR-\d{7}$",
)


COMMON_IDENTIFIERS: dict[str, Column] = {c.name: c for c in (ACCOUNT_ID, CONTACT_ID, USER_ID)}

# The kinds of identifier a person or company is recognised by (for erasure): the common
# identifiers, plus every column classified as a pii email.
KINDS = (*COMMON_IDENTIFIERS, "email")
PERSON_KINDS = (CONTACT_ID.name, USER_ID.name, "email")
EMAIL_PATTERN = r"^[^@\s'\"\\;]{1,128}@[A-Za-z0-9.-]{1,253}$"
FORMATS: dict[str, re.Pattern] = {
    **{name: re.compile(c.pattern) for name, c in COMMON_IDENTIFIERS.items()},
    "email": re.compile(EMAIL_PATTERN),
}


def kind_of(column: Column) -> str | None:
    """The identifier kind a column carries, if any."""
    if column.name in COMMON_IDENTIFIERS:
        return column.name
    return "email" if column.pii_category == "email" else None


def identifier(column: Column, **changes) -> Column:
    """A common identifier column, optionally with a domain-specific description,
    nullability or reference; its name, type and format cannot change."""
    return column.model_copy(update=changes)
