"""Short constructors for declaring columns, and the columns every source record carries."""

from __future__ import annotations

from platform_lib.declare.spec import EXTRACTED, Column


def text(name: str, description: str, **kw) -> Column:
    return Column(name=name, type="string", description=description, **kw)


def key(name: str, description: str, **kw) -> Column:
    """A required string identifier."""
    return Column(name=name, type="string", description=description, nullable=False, **kw)


def integer(name: str, description: str, **kw) -> Column:
    return Column(name=name, type="integer", description=description, **kw)


def count(name: str, description: str) -> Column:
    """A required non-null count."""
    return Column(name=name, type="integer", description=description, nullable=False)


def double(name: str, description: str, **kw) -> Column:
    return Column(name=name, type="double", description=description, **kw)


def boolean(name: str, description: str, **kw) -> Column:
    return Column(name=name, type="boolean", description=description, **kw)


def date(name: str, description: str, **kw) -> Column:
    return Column(name=name, type="date", description=description, **kw)


def ts(name: str, description: str, nullable: bool = False, **kw) -> Column:
    return Column(name=name, type="timestamp", description=description, nullable=nullable, **kw)


EXTRACTED_AT = ts(EXTRACTED, "When the source system exported this record.")
OCCURRED_AT = ts("occurred_at", "When the event happened in the source system (UTC).")
UPDATED_AT = ts("updated_at", "Last change in the source system.")
CREATED_AT = ts("created_at", "When the record was created in the source system.")
