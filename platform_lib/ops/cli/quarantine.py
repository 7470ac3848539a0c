"""`mesh quarantine`: the records a domain rejected, with the rule and the reason, read
through identity and audit like a product."""

from __future__ import annotations

import json

import click

from platform_lib.ops.cli._common import mesh_paths, root_option, stdout, table


@click.command()
@click.argument("domain")
@click.option("--object", "object_id", default=None, help="Only this source or product, e.g. marketing.email_events.")
@click.option("--rule", default=None, help="Only this rule, e.g. malformed_line or unique_key:event_id.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record.")
@root_option
def quarantine(domain: str, object_id: str | None, rule: str | None, limit: int, as_json: bool, root: str | None) -> None:
    """Rejected records of DOMAIN, newest first. Its own team reads the records; a platform
    admin sees the rules and reasons only; anyone else is refused."""
    from platform_lib.governance.access import AccessDenied
    from platform_lib.governance.identity import Unauthenticated
    from platform_lib.lifecycle.read import read_quarantine
    from platform_lib.storage.warehouse import WarehouseBusy

    try:
        data = read_quarantine(domain, object_id=object_id, rule=rule, limit=limit, paths=mesh_paths(root))
    except (LookupError, AccessDenied, Unauthenticated, WarehouseBusy) as err:
        raise click.ClickException(str(err)) from err
    rows = data.to_pylist()
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    columns = list(data.column_names)
    stdout(width=None).print(table(f"quarantine of {domain} ({len(rows)} records)", columns,
                                   (("" if row[c] is None else str(row[c]) for c in columns) for row in rows)))
