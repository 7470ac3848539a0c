"""`mesh catalog`: rank products by where the search words appear (name beats description
beats columns), filtered by domain, owner, tag, column or classification."""

from __future__ import annotations

import re
from dataclasses import dataclass

from platform_lib.declare.spec import DataProduct

# Where a word matches -> how much it counts.
WEIGHTS = {"name": 10.0, "owner": 4.0, "description": 3.0, "column": 2.0, "column_description": 1.0}


@dataclass(frozen=True)
class Hit:
    product: DataProduct
    score: float
    matched: tuple[str, ...]

    def as_dict(self) -> dict:
        p = self.product
        return {
            "id": p.id, "domain": p.domain, "version": p.version, "owner": f"{p.owner.role} (team {p.owner.team})",
            "description": p.description, "score": round(self.score, 3), "matched": list(self.matched),
            "columns": [c.name for c in p.columns], "tier": p.tier, "classification": p.classification,
        }


def _words(text: str) -> set[str]:
    """Identifier-like tokens (`usage_surge`) and their parts (`usage`, `surge`)."""
    tokens = set(re.findall(r"[a-z0-9_]+", text.lower()))
    return tokens | {part for t in tokens for part in t.split("_") if part}


def _terms(text: str) -> set[str]:
    """Search words as typed: `usage_surge` stays one term."""
    return {t.strip("_") for t in re.findall(r"[a-z0-9_]+", text.lower()) if t.strip("_")}


def _fields(p: DataProduct) -> dict[str, set[str]]:
    return {
        "name": _words(p.name.replace("_", " ")) | {p.name},
        "owner": _words(f"{p.owner.team} {p.owner.role}"),
        "description": _words(p.description),
        "column": {w for c in p.columns for w in _words(c.name.replace("_", " ")) | {c.name}},
        "column_description": {w for c in p.columns for w in _words(c.description)},
    }


def search(
    products: list[DataProduct],
    text: str = "",
    *,
    domain: str | None = None,
    owner: str | None = None,
    tag: str | None = None,
    column: str | None = None,
    classification: str | None = None,
) -> list[Hit]:
    terms = _terms(text)
    hits = []
    for p in products:
        if domain and p.domain != domain:
            continue
        if owner and owner.lower() not in f"{p.owner.team} {p.owner.role}".lower():
            continue
        if tag and tag not in {p.tier, p.domain, p.classification, p.kind}:
            continue
        if column and column not in {c.name for c in p.columns}:
            continue
        if classification and classification not in {c.classification for c in p.columns}:
            continue
        fields = _fields(p)
        score, matched = 0.0, []
        for term in terms:
            for field, words in fields.items():
                exact = term in words
                prefix = not exact and any(w.startswith(term) for w in words)
                if exact or prefix:
                    score += WEIGHTS[field] * (1.0 if exact else 0.5)
                    matched.append(f"{field}:{term}")
        if terms and score == 0:
            continue
        hits.append(Hit(p, score, tuple(matched)))
    return sorted(hits, key=lambda h: (-h.score, h.product.id))
