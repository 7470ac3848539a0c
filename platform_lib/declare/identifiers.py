"""The mesh's common identifiers: one name, type and format in every domain."""

from __future__ import annotations

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


def identifier(column: Column, **changes) -> Column:
    """A common identifier column, optionally with a domain-specific description,
    nullability or reference; its name, type and format cannot change."""
    return column.model_copy(update=changes)
