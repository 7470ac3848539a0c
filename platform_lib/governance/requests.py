"""Access requests: a principal asks, the product's owner (or a platform admin) approves,
and the approval becomes a grant in the registry."""

from __future__ import annotations

from datetime import date, timedelta

from platform_lib.config import MeshPaths
from platform_lib.governance import access, audit_log, registry
from platform_lib.governance.registry import AccessRequest, Grant, Principal

GRANT_DAYS = 365


class NotAllowed(PermissionError):
    pass


def request(principal: Principal, product_id: str, major: int, purpose: str, pii: bool, today: date) -> AccessRequest:
    if not purpose.strip():
        raise ValueError("a purpose is required: say what the data will be used for")
    with registry.editing():
        items = registry.requests()
        item = AccessRequest(
            id=f"AR-{len(items) + 1:04d}", principal=principal.id, product=product_id, major=major,
            purpose=purpose.strip(), pii_requested=pii, requested=today,
        )
        registry.save_requests([*items, item])
    return item


def approve(approver: Principal, request_id: str, today: date, paths: MeshPaths | None = None) -> Grant:
    """Approve a pending request as `approver` (its product's owner or a platform admin);
    the grant it makes is in the registry and the approval in the audit log."""
    with registry.editing():
        grant = _approve(approver, request_id, today)
    audit_log.append({"principal": approver.id, "event": "access_approved", "request": request_id, "grant": grant.id,
                      "for": grant.consumer, "on": f"{grant.product} v{grant.major}", "pii": grant.pii_allowed}, paths)
    return grant


def _approve(approver: Principal, request_id: str, today: date) -> Grant:
    items = registry.requests()
    item = next((r for r in items if r.id == request_id), None)
    if item is None:
        raise LookupError(f"no access request {request_id}; see `mesh access list`")
    if item.status != "pending":
        raise ValueError(f"{request_id} is already {item.status}")
    team, role = access.owner_of(item.product, item.major)
    if not approver.platform_admin and not (approver.team == team and approver.role == role):
        raise NotAllowed(
            f"{approver.id} cannot approve access to {item.product}: only its owner ({role}, team {team}) "
            "or a platform admin can"
        )
    grants = registry.grants()
    grant = Grant(
        id=f"G-{len(grants) + 1:04d}", consumer=item.principal, product=item.product, major=item.major,
        purpose=item.purpose, pii_allowed=item.pii_requested, approver=approver.id,
        granted=today, expires=today + timedelta(days=GRANT_DAYS),
    )
    registry.save_grants([*grants, grant])
    item.status, item.decided_by, item.grant = "approved", approver.id, grant.id
    registry.save_requests(items)
    return grant
