"""`sla report`: every data product's service levels, measured against their targets."""

from __future__ import annotations

import json

import click

from platform_lib.ops.cli._common import mesh_paths, root_option, stdout, table


@click.group()
def sla() -> None:
    """Service levels of every data product."""


@sla.command("report")
@click.option("--domain", default=None, help="Only this domain.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@root_option
def sla_report(domain: str | None, as_json: bool, root: str | None) -> None:
    """Each product's SLA targets, current values and 30-day attainment, with a domain roll-up."""
    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.ops.instance import mesh_instance
    from platform_lib.sla import report

    paths = mesh_paths(root)
    instance = mesh_instance(paths)
    locations = [loc for loc in code_locations() if domain in (None, loc.name)]
    if not locations:
        raise click.ClickException(f"no domain named '{domain}' in workspace.yaml")
    lines = [line for p in declared_products(locations) for line in report.product_lines(instance, p)]
    if as_json:
        click.echo(json.dumps(report.as_json(lines), indent=2))
        return
    out = stdout()
    out.print(table(
        "Data product SLAs (attainment over the trailing 30 days)",
        ("product", "SLA", "target", "current", "status", "attainment", "checks"),
        ((f"{line.domain}.{line.product}", line.sla, line.target, line.current,
          {True: "[green]met[/]", False: "[red]missed[/]", None: "-"}[line.passing],
          "-" if line.attainment is None else f"{line.attainment:.0%}", str(line.evaluations)) for line in lines),
    ))
    out.print(table(
        "Domain roll-up", ("domain", "products", "meeting all SLAs", *report.MEASURES),
        ((row["domain"], str(row["products"]), str(row["meeting_all_slas"]),
          *("-" if v is None else f"{v:.0%}" for v in row["attainment"].values())) for row in report.rollup(lines)),
    ))
