"""Governance from the command line: global `policy` checks, `token`s that prove who a caller
is, `access` requests and grants, and the `audit` log's integrity."""

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
    from platform_lib.dagster.lineage import MeshLineage
    from platform_lib.dagster.workspace import code_locations, declared_products_unchecked, declared_sources
    from platform_lib.governance import policies

    locations = code_locations()
    products = declared_products_unchecked(locations)
    lineage = MeshLineage(products, declared_sources(locations))
    found = policies.evaluate(products, derivations=lineage.derivations(), personal=lineage.personal)
    failing = [v for v in found if v.exempted_by is None]
    checked = (*policies.POLICIES, policies.PII_LINEAGE)
    if as_json:
        click.echo(json.dumps({
            "checked": {"products": [p.id for p in products], "policies": [p.name for p in checked]},
            "violations": [vars(v) | {"exempted_by": None} for v in failing],
            "exemptions": [{"policy": v.policy, "product": v.product, "reason": v.exempted_by.reason,
                            "expires": v.exempted_by.expires.isoformat(), "approved_by": v.exempted_by.approved_by}
                           for v in found if v.exempted_by],
        }, indent=2, default=str))
    else:
        out = stdout()
        out.print(table(f"{len(checked)} policies x {len(products)} products", ("policy", "rationale", "result"),
                        ((p.name, p.rationale, _result([v for v in found if v.policy == p.name])) for p in checked)))
        for v in found:
            out.print(("EXEMPT " + f"({v.exempted_by.reason}, until {v.exempted_by.expires}) " if v.exempted_by else "") + v.message())
    if failing:
        sys.exit(1)


@policy.command("exempt")
@click.argument("policy_name", metavar="POLICY")
@click.argument("product")
@click.option("--reason", required=True, help="Why the product may not follow the policy yet.")
@click.option("--until", "until", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="Expiry date (YYYY-MM-DD).")
@root_option
def policy_exempt(policy_name: str, product: str, reason: str, until, root: str | None) -> None:
    """Exempt PRODUCT from POLICY until a date (a platform admin, proven by credential)."""
    from platform_lib.declare.names import parse_ref
    from platform_lib.governance import identity, policies

    try:
        parse_ref(product)
        paths = mesh_paths(root)
        item = policies.exempt(identity.caller(paths), policy_name, product, reason, until.date(),
                               datetime.now(timezone.utc).date(), paths)
    except (ValueError, LookupError, PermissionError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{item.product} exempt from {item.policy} until {item.expires}, granted by {item.approved_by}")


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
@root_option
def access_request(product: str, purpose: str, pii: bool, major: str, root: str | None) -> None:
    """Ask, as the principal your credential proves, for a data-usage agreement on PRODUCT."""
    from platform_lib.declare.names import parse_ref
    from platform_lib.governance import identity, requests

    try:
        parse_ref(product)
        item = requests.request(identity.caller(mesh_paths(root)), product, int(major.lstrip("v")), purpose, pii,
                                datetime.now(timezone.utc).date())
    except (ValueError, LookupError, PermissionError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{item.id} pending: {item.principal} -> {item.product} v{item.major} ({item.purpose})")


@access.command("approve")
@click.argument("request_id")
@root_option
def access_approve(request_id: str, root: str | None) -> None:
    """Approve a request (the product's owner or a platform admin, proven by credential)."""
    from platform_lib.governance import identity, requests

    try:
        paths = mesh_paths(root)
        grant = requests.approve(identity.caller(paths), request_id, datetime.now(timezone.utc).date(), paths)
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
def token() -> None:
    """Issue, list and revoke the bearer tokens principals prove who they are with."""


@token.command("issue")
@click.argument("principal")
@click.option("--days", type=int, default=90, show_default=True, help="How long the token is valid.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write a Delta Sharing profile file (endpoint and token) here instead of printing the token.")
@root_option
def token_issue(principal: str, days: int, out: str | None, root: str | None) -> None:
    """A new token for PRINCIPAL (a platform admin, or the mesh's operator account). The token
    is shown once; the mesh keeps only its hash."""
    from pathlib import Path

    from platform_lib.governance import identity

    paths = mesh_paths(root)
    try:
        secret, record = identity.issue(paths, principal, identity.token_manager(paths), days)
    except (ValueError, LookupError, PermissionError) as err:
        raise click.ClickException(str(err)) from err
    if out:
        identity.write_profile(Path(out), identity.profile(secret, record))
        click.echo(f"{record.id} for {record.principal}, valid until {record.expires}: profile written to {out}", err=True)
    else:
        click.echo(f"{record.id} for {record.principal}, valid until {record.expires}; keep it secret:", err=True)
        click.echo(secret)


@token.command("list")
@root_option
def token_list(root: str | None) -> None:
    """Every token issued: whose, by whom, until when, and whether it still holds."""
    from platform_lib.governance import identity

    paths = mesh_paths(root)
    try:
        identity.token_manager(paths)
        known = identity.tokens(paths)
    except PermissionError as err:
        raise click.ClickException(str(err)) from err
    now = datetime.now(timezone.utc)
    stdout().print(table("Tokens", ("id", "principal", "state", "issued", "expires", "issued by", "revoked by"),
                         ((t.id, t.principal, t.state(now), t.issued, t.expires, t.issued_by, t.revoked_by or "-")
                          for t in known)))


@token.command("revoke")
@click.argument("token_id")
@root_option
def token_revoke(token_id: str, root: str | None) -> None:
    """Revoke a token now: every request presenting it is refused from then on."""
    from platform_lib.governance import identity

    paths = mesh_paths(root)
    try:
        record = identity.revoke(paths, token_id, identity.token_manager(paths))
    except (LookupError, PermissionError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{record.id} of {record.principal} revoked by {record.revoked_by}")


@click.group()
def audit() -> None:
    """The tamper-evident access audit log."""


@audit.command("verify")
@click.option("--head", "expected", default=None, metavar="SEQ:HASH",
              help="A head `mesh audit head` printed earlier and kept outside the mesh: the log must still hold it.")
@root_option
def audit_verify(expected: str | None, root: str | None) -> None:
    """Check the chain, hash and seal of every audit-log entry, and its sealed head."""
    from platform_lib.governance import audit_log

    paths = mesh_paths(root)
    verdict = audit_log.verify(paths, expected)
    if not verdict.ok:
        raise click.ClickException(f"audit log {audit_log.log_path(paths)} cannot be trusted: {verdict.problem}")
    click.echo(f"audit log intact: {verdict.entries} entries verified" + (f" ({verdict.note})" if verdict.note else ""))


@audit.command("head")
@root_option
def audit_head(root: str | None) -> None:
    """Print the log's newest entry as SEQ:HASH, to keep outside the mesh (a ticket, your
    SIEM) and check later with `mesh audit verify --head`."""
    from platform_lib.governance import audit_log

    found = audit_log.head(mesh_paths(root))
    if found is None:
        raise click.ClickException("no audit log head yet: nothing has been read")
    click.echo(found)
