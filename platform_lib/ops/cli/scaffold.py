"""`scaffold`: start a new domain or data product from the platform's pattern, so it passes
every global policy from its first commit."""

from __future__ import annotations

from datetime import datetime, timezone

import click


@click.group()
def scaffold() -> None:
    """Create a new domain or data product from the platform's pattern."""


@scaffold.command("domain")
@click.argument("name")
@click.option("--dbt", is_flag=True, help="Also create the domain's dbt project.")
def scaffold_domain(name: str, dbt: bool) -> None:
    """A new code location, registered in workspace.yaml, with its service principal."""
    from platform_lib.ops import scaffold as make

    try:
        written = make.scaffold_domain(name, dbt)
    except (ValueError, FileExistsError) as err:
        raise click.ClickException(str(err)) from err
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: mesh scaffold product {name} NAME --{'dbt' if dbt else 'python'} --from DOMAIN.PRODUCT")


@scaffold.command("product")
@click.argument("domain")
@click.argument("name")
@click.option("--dbt", "kind", flag_value="dbt", help="A dbt model with its YAML declaration.")
@click.option("--python", "kind", flag_value="python", default=True, help="A Python declaration and build (default).")
@click.option("--from", "source", required=True, help="The product it is built from: DOMAIN.PRODUCT.")
def scaffold_product(domain: str, name: str, kind: str, source: str) -> None:
    """A declaration, build code, docs and a test that pass every global policy."""
    from platform_lib.dagster.workspace import code_locations, declared_products_unchecked
    from platform_lib.ops import scaffold as make

    found = next((p for p in declared_products_unchecked(code_locations()) if p.id == source), None)
    if found is None:
        raise click.ClickException(f"no data product {source}; find one with `mesh catalog`")
    try:
        written, request_id = make.scaffold_product(domain, name, found, kind == "dbt", datetime.now(timezone.utc).date())
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    for path in written:
        click.echo(f"wrote {path}")
    if request_id:
        from platform_lib.governance import registry

        owners = [p.id for p in registry.principals().values()
                  if p.kind == "person" and p.team == found.owner.team and p.role == found.owner.role]
        who = f"{found.owner.role}, {owners[0]}" if owners else found.owner.role
        click.echo(f"{request_id}: access to {source} requested for svc_{domain}; its owner ({who}) "
                   f"approves with their own credential: `mesh access approve {request_id}`")
