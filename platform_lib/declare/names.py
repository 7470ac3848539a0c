"""How products are named and referred to, and how a name a caller passed is echoed back:
short, so an oversized or hostile value never floods a terminal or a log."""

from __future__ import annotations

import re

LIMIT = 60


def brief(value: object, limit: int = LIMIT) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


# A product input or read: `domain.product`, or pinned to a major version `domain.product@vN`.
PRODUCT_REF = re.compile(r"^(?P<domain>[a-z][a-z0-9_]*)\.(?P<product>[a-z][a-z0-9_]*)(?:@v(?P<major>[1-9]\d*))?$")


def parse_ref(ref: str) -> tuple[str, str, int | None]:
    """`domain.product` or `domain.product@vN`."""
    m = PRODUCT_REF.match(ref)
    if not m:
        raise ValueError(f"'{brief(ref)}' is not a product id; expected 'domain.product' or 'domain.product@vN'")
    return m["domain"], m["product"], int(m["major"]) if m["major"] else None
