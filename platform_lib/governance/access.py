"""Access decisions and masking: one identity, one set of grants, for every domain and
every read path (CLI, Python API, notebooks, consumer assets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from platform_lib.declare import versions as contracts
from platform_lib.governance import registry
from platform_lib.governance.registry import Grant, Principal
from platform_lib.storage.sql import q

HASHED = {"email", "phone", "ip", "identifier"}


class AccessDenied(PermissionError):
    pass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    masked: bool
    reason: str
    grant: Grant | None = None

    @property
    def name(self) -> str:
        return "deny" if not self.allowed else ("mask" if self.masked else "allow")


def owner_of(product_id: str, major: int) -> tuple[str, str]:
    domain = product_id.split(".")[0]
    snapshot = contracts.load_snapshot(product_id, major) or {}
    owner = snapshot.get("owner") or {"team": domain, "role": "owner"}
    return owner["team"], owner["role"]


def decide(principal: Principal, product_id: str, major: int, today: date) -> Decision:
    team, role = owner_of(product_id, major)
    if principal.team == team:
        return Decision(True, False, f"{principal.id} belongs to the owning team {team}")
    for grant in registry.grants():
        if grant.consumer == principal.id and grant.product == product_id and grant.major == major and grant.active(today):
            masked = not grant.pii_allowed
            return Decision(True, masked, f"grant {grant.id} ({grant.purpose})" + (", PII masked" if masked else ""), grant)
    return Decision(
        False, True,
        f"{principal.id} has no active grant for {product_id} v{major}. Request access with "
        f"`mesh access request {product_id} --purpose \"...\"`; the owner ({role}, team {team}) approves it.",
    )


def pii_columns(product_id: str, major: int) -> dict[str, str]:
    """PII column -> masking ('hash' or 'redact'), from the published contract."""
    snapshot = contracts.load_snapshot(product_id, major) or {}
    out = {}
    for col in snapshot.get("columns", []):
        if col.get("classification") == "pii":
            out[col["name"]] = col.get("masking") or ("hash" if col.get("pii_category") in HASHED else "redact")
    return out


def masked_select(columns: list[str], masks: dict[str, str]) -> str:
    """SELECT list that hashes or redacts masked columns, inside DuckDB."""
    out = []
    for name in columns:
        how = masks.get(name)
        if how == "hash":
            out.append(f"CASE WHEN {q(name)} IS NULL THEN NULL ELSE 'sha256:' || sha256(CAST({q(name)} AS VARCHAR)) END AS {q(name)}")
        elif how == "redact":
            out.append(f"CASE WHEN {q(name)} IS NULL THEN NULL ELSE '[redacted]' END AS {q(name)}")
        else:
            out.append(q(name))
    return ", ".join(out)
