"""Finding and describing data products: `catalog` search, `product show`, and the published
`contracts` consumers rely on."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.markup import escape

from platform_lib.config import MeshPaths
from platform_lib.declare.names import brief
from platform_lib.ops.cli._common import console, mesh_paths, root_option, stdout, table


@click.command()
@click.argument("text", required=False, default="")
@click.option("--domain", default=None)
@click.option("--owner", default=None, help="Owner team or role (substring).")
@click.option("--tag", default=None, help="tier, domain, classification or kind (python/dbt).")
@click.option("--column", default=None, help="Only products carrying this column.")
@click.option("--classification", type=click.Choice(["public", "internal", "pii"]), default=None)
@click.option("--json", "as_json", is_flag=True)
@root_option
def catalog(text: str, domain, owner, tag, column, classification, as_json: bool, root: str | None) -> None:
    """Search every domain's data products; the best match comes first. Each shows how
    often it was read in the last 90 days (none: a retirement candidate)."""
    from platform_lib.catalog.search import search
    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.governance import usage

    declared = declared_products(code_locations())
    hits = search(declared, text, domain=domain, owner=owner, tag=tag, column=column, classification=classification)
    reads = usage.usage(mesh_paths(root), {p.id: [c.name for c in p.columns] for p in declared})
    if as_json:
        click.echo(json.dumps([{**h.as_dict(), "reads_90d": reads[h.product.id].reads,
                                "retirement_candidate": not reads[h.product.id].reads} for h in hits], indent=2))
        return
    stdout().print(table(
        f"{len(hits)} data product(s)", ("product", "version", "owner", "reads (90 d)", "description"),
        ((p.id, p.version, p.owner.role, str(reads[p.id].reads) if reads[p.id].reads else "none: retire?",
          p.description[:100] + ("..." if len(p.description) > 100 else ""))
         for p in (h.product for h in hits)),
        right=("reads (90 d)",),
    ))


@click.group()
def product() -> None:
    """One data product in detail."""


@product.command("show")
@click.argument("product_id")
@click.option("--json", "as_json", is_flag=True)
@root_option
def product_show(product_id: str, as_json: bool, root: str | None) -> None:
    """Description, owner, versions served, schema, SLAs, consumers and grants, lineage, port, sample rows."""
    from platform_lib.catalog.show import describe
    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.ops.instance import mesh_instance

    paths = mesh_paths(root)
    everything = declared_products(code_locations())
    found = next((p for p in everything if p.id == product_id), None)
    if found is None:
        raise click.ClickException(f"no data product {product_id}; try `mesh catalog {product_id.split('.')[-1]}`")
    facts = describe(found, everything, paths, mesh_instance(paths))
    if as_json:
        click.echo(json.dumps(facts, indent=2, default=str, allow_nan=False))
        return
    out = stdout()
    out.print(f"[bold]{facts['id']}[/] {facts['version']}  owner: {facts['owner']['role']} (team {facts['owner']['team']})")
    out.print(facts["description"])
    out.print(f"output port: {facts['output_port']}")
    out.print("served: " + (", ".join(f"{v['major']} (delta v{v['delta_version']}, {v['rows']:,} rows)" for v in facts["served"]) or "not yet published"))
    out.print(f"upstream: {', '.join(facts['upstream']) or '-'}\ndownstream: {', '.join(facts['downstream']) or '-'}")
    out.print(f"consumers: {', '.join(facts['consumers']) or '-'}; grants: "
              + (", ".join(f"{g['consumer']} ({'PII' if g['pii_allowed'] else 'masked'})" for g in facts["grants"]) or "-"))
    used = facts["usage"]
    out.print(f"reads in {used['days']} days: {used['reads']}"
              + (f" by {', '.join(sorted(used['readers']))}; last {used['last_read'][:16]}" if used["reads"]
                 else " (nobody read it: a retirement candidate)"))
    out.print(table("schema", ("column", "type", "required", "classification", "description"),
                    ((c["name"], c["type"], str(c["required"]), c["classification"], c["description"]) for c in facts["schema"])))
    out.print(table("SLAs", ("SLA", "target", "current", "status"),
                    ((s["sla"], s["target"], s["current"], {True: "met", False: "missed", None: "-"}[s["passing"]])
                     for s in facts.get("sla_status", []))))
    if isinstance(facts["sample"], str):
        out.print(f"sample rows {facts['sample']}")
    elif not facts["sample"]:
        out.print("sample rows: the port serves no rows")
    else:
        # One line per column, one column per row: every column shows at any width.
        rows = facts["sample"]
        out.print(table(f"sample rows (governed read, {len(rows)} rows)", ("column", *(f"row {i}" for i in range(1, len(rows) + 1))),
                        ((name, *("" if row[name] is None else escape(str(row[name])) for row in rows)) for name in rows[0])))


@click.command()
@click.argument("product_id", metavar="DOMAIN.PRODUCT")
@click.option("--column", default=None, help="Only what derives from this column.")
@click.option("--json", "as_json", is_flag=True)
def impact(product_id: str, column: str | None, as_json: bool) -> None:
    """Every downstream product and column, in any domain, that derives from DOMAIN.PRODUCT
    (or its --column), with its owner: who a change would reach. From the products' own
    SQL (column lineage)."""
    from platform_lib.dagster.lineage import mesh_lineage

    found = mesh_lineage()
    product = found.products.get(product_id)
    if product is None:
        raise click.ClickException(f"no data product {brief(product_id)}; find one with `mesh catalog`")
    if column is not None and column not in {c.name for c in product.columns}:
        raise click.ClickException(f"{product_id} has no column {brief(column)}; it has {[c.name for c in product.columns]}")
    reached = found.downstream(product_id, column)
    if as_json:
        click.echo(json.dumps([{"product": d.product.id, "column": d.column, "direct": d.direct,
                                "owner": {"team": d.product.owner.team, "role": d.product.owner.role}} for d in reached],
                              indent=2))
        return
    subject = f"{product_id}.{column}" if column else product_id
    stdout().print(table(f"What derives from {subject}: {len(reached)} columns in "
                         f"{len({d.product.id for d in reached})} products",
                         ("product", "column", "how", "owner"),
                         ((d.product.id, d.column, "copied" if d.direct else "derived",
                           f"{d.product.owner.role} ({d.product.owner.team})") for d in reached)))


@click.command()
@click.option("--days", type=click.IntRange(min=1), default=90, show_default=True, help="The window read back over.")
@click.option("--product", "product_id", default=None, help="Only this product, column by column.")
@click.option("--json", "as_json", is_flag=True)
@root_option
def usage(days: int, product_id: str | None, as_json: bool, root: str | None) -> None:
    """Who read each product, how often and for what, from the access audit log; products
    and columns nobody read in the window are retirement candidates."""
    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.governance import usage as reads

    products = {p.id: [c.name for c in p.columns] for p in declared_products(code_locations())}
    if product_id is not None and product_id not in products:
        raise click.ClickException(f"no data product {brief(product_id)}; find one with `mesh catalog`")
    found = reads.usage(mesh_paths(root), products, days)
    idle, idle_columns = reads.unused(found, products)
    shown = [found[product_id]] if product_id else sorted(found.values(), key=lambda u: (-u.reads, u.product))
    if as_json:
        click.echo(json.dumps({
            "days": days,
            "products": [{"product": u.product, "reads": u.reads, "readers": dict(u.readers), "purposes": dict(u.purposes),
                          "columns": {c: u.columns[c] for c in products[u.product]},
                          "last_read": u.last_read.isoformat() if u.last_read else None} for u in shown],
            "retirement_candidates": {"products": idle, "columns": idle_columns},
        }, indent=2))
        return
    out = stdout()
    out.print(table(f"Reads in the last {days} days", ("product", "reads", "readers", "purposes", "last read"),
                    ((u.product, str(u.reads), ", ".join(f"{p} ({n})" for p, n in u.readers.most_common(3)) or "-",
                      ", ".join(p for p, _ in u.purposes.most_common(2)) or "-",
                      u.last_read.strftime("%Y-%m-%d %H:%M") if u.last_read else "never") for u in shown),
                    right=("reads",)))
    if product_id:
        out.print(table(f"Columns of {product_id}", ("column", "reads"),
                        ((c, str(found[product_id].columns[c])) for c in products[product_id]), right=("reads",)))
    out.print(f"Retirement candidates (nobody read them in {days} days): "
              + (", ".join(idle) if idle else "none"))
    for pid, columns in sorted(idle_columns.items()):
        out.print(f"  unread columns of {pid}: {', '.join(columns)}")


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write the site into.")
@root_option
def docs(out: Path, root: str | None) -> None:
    """Write the mesh as one self-contained web page (OUT/index.html, and what it shows as
    OUT/mesh.json): products by domain with owners, SLA status and history, the product
    graph, and every column's lineage upstream and downstream. Open it from disk or share it:
    it holds no data, and loads nothing from anywhere."""
    from platform_lib.catalog import docs as site
    from platform_lib.dagster.lineage import mesh_lineage
    from platform_lib.dagster.workspace import code_locations, declared_products, declared_sources
    from platform_lib.ops.instance import mesh_instance

    paths = mesh_paths(root)
    locations = code_locations()
    built = paths.home.exists()
    model = site.model(declared_products(locations), declared_sources(locations), mesh_lineage().of, paths,
                       mesh_instance(paths) if built else None)
    written = site.write(model, out)
    if not any(node.get("served") for node in model["nodes"].values()):
        console.print(f"[yellow]warning:[/] nothing is published in {paths.home}: the page shows the declarations and "
                      "their lineage, with no SLA results or served versions (build with `mesh build`, or pass --root)")
    console.print(f"wrote {written[0]}; open it in a browser")


@click.group()
def contracts() -> None:
    """Published contracts: check them against their snapshots, record new snapshots."""


@contracts.command("check")
def contracts_check() -> None:
    """Fail on a breaking change without a major bump and a 30-day deprecation notice; for
    a breaking change, name the consumers' columns it breaks (and the consumers it leaves
    alone), from the column lineage of their SQL."""
    from platform_lib.dagster.workspace import code_locations, declared_products, declared_sources
    from platform_lib.declare import versions as registry

    today = datetime.now(timezone.utc).date()
    locations = code_locations()
    products = declared_products(locations)
    failed, broken = 0, {}
    for product in products:
        verdict = registry.check(product, today)
        mark = "[green]ok[/]" if verdict.ok else "[red]FAIL[/]"
        console.print(f"{mark} {product.id} {product.version}" + "".join(f"\n    {p}" for p in verdict.problems + verdict.notes))
        failed += not verdict.ok
        published = registry.load_snapshot(product.id, product.major)
        if not verdict.ok and published and (columns := registry.breaking_columns(published, registry.contract_of(product))):
            broken[product.id] = (published, columns)
    if broken:
        _who_breaks(products, declared_sources(locations), broken)
    if failed:
        raise click.ClickException(f"{failed} product contract(s) need attention; see above")


def _who_breaks(products, sources, broken: dict) -> None:
    """For each product with breaking column changes: the consumers' columns that derive
    from those columns, read as the consumers' SQL reads the product today (its published
    contract), and the consumers it does not reach."""
    from platform_lib.dagster.lineage import MeshLineage

    as_published = {pid: [(c["name"], c["type"]) for c in contract["columns"]] for pid, (contract, _) in broken.items()}
    found = MeshLineage(products, sources, as_published)
    for product_id, (_, columns) in broken.items():
        reached = {(d.product.id, d.column): d for column in columns for d in found.downstream(product_id, column)}.values()
        console.print(f"[red]{product_id}[/]: the change to {', '.join(sorted(columns))} breaks "
                      + (f"{len(reached)} consumer column(s):" if reached else "no consumer's column"))
        for d in sorted(reached, key=lambda d: (d.product.id, d.column)):
            console.print(f"    {d.product.id}.{d.column} ({'copied' if d.direct else 'derived'}; "
                          f"owner {d.product.owner.role}, team {d.product.owner.team})")
        untouched = sorted({p.id for p in found.consumers(product_id)} - {d.product.id for d in reached})
        if untouched:
            console.print(f"    unaffected consumers: {', '.join(untouched)}")


@contracts.command("snapshot")
@click.argument("products", nargs=-1)
def contracts_snapshot(products: tuple[str, ...]) -> None:
    """Record the current contract of PRODUCTS (default: all) in contracts/."""
    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.declare import versions as registry

    today = datetime.now(timezone.utc).date()
    declared = declared_products(code_locations())
    unknown = sorted(set(products) - {p.id for p in declared})
    if unknown:
        raise click.BadParameter(f"no such products: {[brief(u) for u in unknown]}", param_hint="PRODUCTS")
    for product in declared:
        if products and product.id not in products:
            continue
        for path in registry.write_snapshot(product, today):
            console.print(f"wrote {path}")


@contracts.command("export")
@click.option("--format", "fmt", type=click.Choice(["odcs", "odps"]), required=True,
              help="odcs: Open Data Contract Standard v3, one per served major; odps: Open Data Product Standard v1, one per product.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write into.")
@click.option("--domain", default=None, help="Only this domain's products.")
def contracts_export(fmt: str, out: Path, domain: str | None) -> None:
    """Write every product's contract (ODCS) or descriptor (ODPS) as YAML into OUT."""
    from platform_lib.catalog.export import export
    from platform_lib.dagster.workspace import code_locations, declared_products

    products = declared_products(code_locations())
    chosen = [p for p in products if domain in (None, p.domain)]
    if not chosen:
        raise click.ClickException(f"no products declared in domain '{domain}'")
    written = export(fmt, chosen, out, MeshPaths.from_env(), everything=products)
    console.print(f"wrote {len(written)} {fmt.upper()} file(s) to {out}")
