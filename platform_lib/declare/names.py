"""Error-message helpers: a value a caller passed is echoed back short, so an oversized or
hostile value never floods a terminal or a log."""

from __future__ import annotations

LIMIT = 60


def brief(value: object, limit: int = LIMIT) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
