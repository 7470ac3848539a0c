"""Governance from the command line: global `policy` checks, `access` requests and grants, and
the `audit` log's integrity."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import click

from platform_lib.ops.cli._common import mesh_paths, root_option, stdout, table


@click.group()
def policy() -> None:
    """Global governance policies."""


@policy.command("check")
@click.option("--json", "as_json", is_flag=True)
def policy_check(as_json: bool) -> None:
    """Run every global policy on every domain's products; list violations and exemptions."""
    from platform_lib.dagster.workspace import code_locations, declared_products_unchecked
    from platform_lib.governance import policies

    products = declared_products_unchecked(code_locations())
    found = policies.evaluate(products)
    failing = [v for v in found if v.exempted_by is None]
    if as_json:
        click.echo(json.dumps({
            "checked": {"products": [p.id for p in products], "policies": [p.name for p in policies.POLICIES]},
            "violations": [vars(v) | {"exempted_by": None} for v in failing],
            "exemptions": [{"policy": v.policy, "product": v.product, "reason": v.exempted_by.reason,
                            "expires": v.exempted_by.expires.isoformat()} for v in found if v.exempted_by],
        }, indent=2, default=str))
    else:
        out = stdout()
        out.print(table(f"{len(policies.POLICIES)} policies x {len(products)} products", ("policy", "rationale", "result"),
                        ((p.name, p.rationale, _result([v for v in found if v.policy == p.name])) for p in policies.POLICIES)))
        for v in found:
            out.print(("EXEMPT " + f"({v.exempted_by.reason}, until {v.exempted_by.expires}) " if v.exempted_by else "") + v.message())
    if failing:
        sys.exit(1)


def _result(violations: list) -> str:
    bad = [v for v in violations if v.exempted_by is None]
    return "[green]pass[/]" if not violations else ("[red]" + str(len(bad)) + " violation(s)[/]" if bad else "exempted")


@click.group()
def access() -> None:
    """Request, approve and list access to data products."""


@access.command("request")
@click.argument("product")
@click.option("--purpose", required=True, help="What the data will be used for.")
@click.option("--pii", is_flag=True, help="Ask to see PII columns unmasked.")
@click.option("--version", "major", default="v1", show_default=True)
def access_request(product: str, purpose: str, pii: bool, major: str) -> None:
    """Ask for a data-usage agreement on PRODUCT."""
    from platform_lib.declare.names import parse_ref
    from platform_lib.governance import registry, requests

    try:
        parse_ref(product)
        item = requests.request(registry.current_principal(), product, int(major.lstrip("v")), purpose, pii,
                                datetime.now(timezone.utc).date())
    except (ValueError, LookupError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{item.id} pending: {item.principal} -> {item.product} v{item.major} ({item.purpose})")


@access.command("approve")
@click.argument("request_id")
def access_approve(request_id: str) -> None:
    """Approve a request (the product's owner or a platform admin only)."""
    from platform_lib.governance import registry, requests

    try:
        grant = requests.approve(registry.current_principal(), request_id, datetime.now(timezone.utc).date())
    except (ValueError, LookupError, PermissionError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{request_id} approved: grant {grant.id} for {grant.consumer} on {grant.product} v{grant.major} until {grant.expires}")


@access.command("list")
def access_list() -> None:
    """Show access requests and grants."""
    from platform_lib.governance import registry

    out = stdout()
    out.print(table("Access requests", ("id", "principal", "product", "purpose", "pii", "status", "decided by"),
                    ((r.id, r.principal, f"{r.product} v{r.major}", r.purpose, str(r.pii_requested), r.status, r.decided_by or "-")
                     for r in registry.requests())))
    out.print(table("Grants (data-usage agreements)", ("id", "consumer", "product", "purpose", "pii", "approver", "expires"),
                    ((g.id, g.consumer, f"{g.product} v{g.major}", g.purpose, str(g.pii_allowed), g.approver, str(g.expires))
                     for g in registry.grants())))


@click.group()
def audit() -> None:
    """The tamper-evident access audit log."""


@audit.command("verify")
@root_option
def audit_verify(root: str | None) -> None:
    """Check the hash chain of every audit-log entry."""
    from platform_lib.governance import audit_log

    paths = mesh_paths(root)
    ok, n, problem = audit_log.verify(paths)
    if not ok:
        raise click.ClickException(f"audit log {audit_log.log_path(paths)} is corrupt: {problem}")
    click.echo(f"audit log intact: {n} entries verified")
