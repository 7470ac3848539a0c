"""Access decisions and masking: one identity, one set of grants, for every domain and
every read path (CLI, Python API, notebooks, consumer assets)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

from platform_lib.config import MeshPaths
from platform_lib.declare import versions as contracts
from platform_lib.declare.spec import HASHED_CATEGORIES
from platform_lib.governance import audit_log, registry
from platform_lib.governance.registry import Grant, Principal
from platform_lib.governance.secrets import fingerprint, masking_key
from platform_lib.storage.ports import OutputPort, port_versions
from platform_lib.storage.sql import q


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


def pii_columns(product_id: str, major: int, paths: MeshPaths) -> dict[str, str]:
    """PII column -> masking ('hash' or 'redact'): what this major's port recorded from the
    declaration at its last publish, and what its published contract says; and a column
    any other served major or contract of the product calls PII is PII here too (a column
    made PII in v2 is not served raw in v1). A product nothing speaks for at this major
    cannot be masked, so it is not read masked (fails closed)."""
    domain, name = product_id.split(".")
    snapshot = contracts.load_snapshot(product_id, major)
    recorded = OutputPort(paths.port(domain, name, major)).pii()
    if snapshot is None and recorded is None:
        raise AccessDenied(f"{product_id} v{major} has no published contract and its port does not record its PII "
                           "columns, so it cannot be read masked: its domain must publish it again, or snapshot its "
                           "contract (`mesh contracts snapshot`)")
    found: dict[str, str] = {}
    for other in contracts.snapshot_majors(product_id):
        for c in (contracts.load_snapshot(product_id, other) or {}).get("columns", []):
            if c.get("classification") == "pii":
                found.setdefault(c["name"], c.get("masking") or ("hash" if c.get("pii_category") in HASHED_CATEGORIES else "redact"))
    for folder in port_versions(paths, domain, name):
        for column, how in (OutputPort(folder).pii() or {}).items():
            found.setdefault(column, how)
    mine = {c["name"]: c.get("masking") or ("hash" if c.get("pii_category") in HASHED_CATEGORIES else "redact")
            for c in (snapshot or {}).get("columns", []) if c.get("classification") == "pii"}
    return {**found, **mine, **(recorded or {})}


PSEUDONYM = "pseudonym:"


def pseudonym_sql(expression: str, key: bytes) -> str:
    """HMAC-SHA256 of `expression`'s text under `key`, in DuckDB SQL (RFC 2104 over its
    sha256): the same value gives the same pseudonym in every product, so masked products
    still join, and without the key a guessed value cannot be checked against one."""
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in block).hex()
    outer = bytes(b ^ 0x5C for b in block).hex()
    digest = f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode(CAST({expression} AS VARCHAR)))))"
    return f"'{PSEUDONYM}' || left({digest}, 32)"


def pseudonym(value, key: bytes) -> str:
    """The pseudonym `pseudonym_sql` makes, computed in Python (tests, erasure lookups)."""
    return PSEUDONYM + hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Masking:
    """How one reader sees a product: its PII columns (-> 'hash' or 'redact') and the key
    pseudonyms are made with; no columns for a reader who sees PII."""

    columns: dict[str, str]
    key: bytes = b""

    def select(self, names: list[str]) -> str:
        return masked_select(names, self.columns, self.key)

    @property
    def name(self) -> str:
        """Tells two ways of reading apart (a copy made one way is not kept for another)."""
        if not self.columns:
            return "whole"
        return f"masked {hashlib.sha256(repr((sorted(self.columns.items()), fingerprint(self.key))).encode()).hexdigest()[:12]}"


def masking(decision: Decision, product_id: str, major: int, paths: MeshPaths) -> Masking:
    if not decision.masked:
        return Masking({})
    return Masking(pii_columns(product_id, major, paths), masking_key(paths))


def masked_select(columns: list[str], masks: dict[str, str], key: bytes) -> str:
    """SELECT list that pseudonymizes or redacts masked columns, inside DuckDB."""
    out = []
    for name in columns:
        how = masks.get(name)
        if how == "hash":
            out.append(f"CASE WHEN {q(name)} IS NULL THEN NULL ELSE {pseudonym_sql(q(name), key)} END AS {q(name)}")
        elif how == "redact":
            out.append(f"CASE WHEN {q(name)} IS NULL THEN NULL ELSE '[redacted]' END AS {q(name)}")
        else:
            out.append(q(name))
    return ", ".join(out)


def record(principal: Principal, product_id: str, major: int, columns, rows: int, purpose: str | None,
           decision: Decision, paths: MeshPaths) -> None:
    """A read, or a refusal, in the access audit log: every read path records it so."""
    audit_log.append({
        "principal": principal.id, "product": product_id, "version": f"v{major}", "columns": list(columns),
        "rows": int(rows), "purpose": purpose or (decision.grant.purpose if decision.grant else ""),
        "decision": decision.name, "reason": decision.reason,
    }, paths)
