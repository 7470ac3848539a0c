"""The `mesh` command line."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from platform_lib import config
from platform_lib.config import MeshPaths
from platform_lib.declare.names import brief

console = Console(stderr=True)


def _paths(root: str | None) -> MeshPaths:
    if root:
        config.configure(home=root)
    return MeshPaths.from_env()


@click.group()
def main() -> None:
    """GTM Data Mesh: publish, discover and read go-to-market data products."""
    try:
        config.settings()
    except config.SettingsError as err:
        raise click.ClickException(str(err)) from None


@main.command()
@click.option("--scale", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed; same seed, same files.")
@click.option("--as-of", "as_of", default=None, help="Extraction time of the newest batch (ISO 8601, UTC). Default: today 00:00 UTC.")
@click.option("--root", default=None, help="Mesh root (default: $MESH_HOME or ./.mesh).")
def seed(scale: str, seed: int, as_of: str | None, root: str | None) -> None:
    """Write a synthetic landing zone for all four domains' source systems."""
    from platform_lib.ops.seed import generate

    paths = _paths(root)
    when = datetime.fromisoformat(as_of.replace("Z", "+00:00")).astimezone(timezone.utc) if as_of else None
    started = time.monotonic()
    manifest = generate(paths.home, scale=scale, seed=seed, as_of=when)
    rows = sum(s["rows"] for s in manifest["sources"].values())
    console.print(
        f"landing zone written to {paths.landing}: {len(manifest['sources'])} sources, {rows:,} records "
        f"in {time.monotonic() - started:.1f}s; defects manifest {paths.landing / '_manifest.json'}"
    )


@main.command()
@click.option("--select", "selectors", multiple=True, help="Domain (`marketing`) or product (`marketing.web_behavior`); repeatable.")
@click.option("--root", default=None, help="Mesh root (default: $MESH_HOME or ./.mesh).")
def build(selectors: tuple[str, ...], root: str | None) -> None:
    """Materialize the mesh (or a selection) as Dagster runs, producers first."""
    from platform_lib.dagster.workspace import code_locations
    from platform_lib.ops.build import UnknownSelector, build_mesh
    from platform_lib.ops.instance import mesh_instance

    paths = _paths(root)
    instance = mesh_instance(paths)
    started = time.monotonic()
    try:
        outcomes = build_mesh(instance, code_locations(), selectors, on_progress=lambda m: console.print(f"[bold]>[/] {m}"))
    except UnknownSelector as err:
        raise click.BadParameter(str(err), param_hint="--select") from None
    table = Table(title=f"mesh build ({time.monotonic() - started:.1f}s)")
    for col in ("asset", "published", "rows", "quarantined", "checks passed", "checks failed", "step time"):
        table.add_column(col, justify="left" if col in ("asset", "checks failed") else "right")
    for loc in outcomes:
        for a in loc.assets:
            table.add_row(
                a.name,
                "yes" if a.materialized else "[red]no[/]",
                _n(a.rows_published),
                _n(a.rows_quarantined),
                str(a.checks_passed),
                ", ".join(a.checks_failed) or "-",
                "-" if a.seconds is None else f"{a.seconds:.1f}s",
            )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    failed = [o for o in outcomes if not o.success]
    if failed:
        for o in failed:
            console.print(f"[red]FAILED[/] code location {o.location} (run {o.run_id}):\n{o.error}")
        sys.exit(1)


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


@main.command()
@click.argument("product")
@click.option("--version", "major", default=None, help="Major version, e.g. v1 (default: the newest served).")
@click.option("--columns", default=None, help="Comma-separated columns.")
@click.option("--where", multiple=True, help="Filter 'column op value' (op: = != < <= > >=); repeatable, ANDed.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--purpose", default=None, help="Why you read it (recorded in the audit log).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table", show_default=True)
@click.option("--root", default=None)
def read(product: str, major: str | None, columns: str | None, where: tuple[str, ...], limit: int, purpose: str | None,
         fmt: str, root: str | None) -> None:
    """Read a published product from its output port: DOMAIN.PRODUCT (grants and masking apply)."""
    import pyarrow.parquet as pq

    from platform_lib.governance.access import AccessDenied
    from platform_lib.governance.registry import UnknownPrincipal
    from platform_lib.lifecycle.read import read_product
    from platform_lib.storage.ports import ProductNotPublished

    paths = _paths(root)
    ref = f"{product}@{major}" if major else product
    try:
        data = read_product(ref, columns=columns.split(",") if columns else None, where=list(where), limit=limit,
                            purpose=purpose, paths=paths)
    except (ValueError, LookupError, ProductNotPublished, AccessDenied, UnknownPrincipal) as err:
        raise click.ClickException(str(err)) from err
    if fmt == "parquet":
        sink = click.get_binary_stream("stdout")
        pq.write_table(data, sink)
        return
    frame = data.to_pandas()
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(json.loads(frame.to_json(orient="records", date_format="iso")), indent=2))
    else:
        table = Table(title=f"{product} ({len(frame)} rows)")
        for c in frame.columns:
            table.add_column(c)
        for row in frame.itertuples(index=False):
            table.add_row(*("" if v is None else str(v) for v in row))
        Console().print(table)


@main.command()
@click.argument("text", required=False, default="")
@click.option("--domain", default=None)
@click.option("--owner", default=None, help="Owner team or role (substring).")
@click.option("--tag", default=None, help="tier, domain, classification or kind (python/dbt).")
@click.option("--column", default=None, help="Only products carrying this column.")
@click.option("--classification", type=click.Choice(["public", "internal", "pii"]), default=None)
@click.option("--json", "as_json", is_flag=True)
def catalog(text: str, domain, owner, tag, column, classification, as_json: bool) -> None:
    """Search every domain's data products; the best match comes first."""
    from platform_lib.catalog.search import search
    from platform_lib.dagster.workspace import code_locations, declared_products

    hits = search(declared_products(code_locations()), text, domain=domain, owner=owner, tag=tag, column=column,
                  classification=classification)
    if as_json:
        click.echo(json.dumps([h.as_dict() for h in hits], indent=2))
        return
    out = Console(width=None if sys.stdout.isatty() else 160)
    table = Table(title=f"{len(hits)} data product(s)")
    for col in ("product", "version", "owner", "description"):
        table.add_column(col)
    for h in hits:
        p = h.product
        table.add_row(p.id, p.version, p.owner.role, p.description[:110] + ("..." if len(p.description) > 110 else ""))
    out.print(table)


@main.group()
def product() -> None:
    """One data product in detail."""


@product.command("show")
@click.argument("product_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--root", default=None)
def product_show(product_id: str, as_json: bool, root: str | None) -> None:
    """Description, owner, versions served, schema, SLAs, consumers and grants, lineage, port, sample rows."""
    from platform_lib.catalog.show import describe
    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.ops.instance import mesh_instance

    paths = _paths(root)
    everything = declared_products(code_locations())
    found = next((p for p in everything if p.id == product_id), None)
    if found is None:
        raise click.ClickException(f"no data product {product_id}; try `mesh catalog {product_id.split('.')[-1]}`")
    facts = describe(found, everything, paths, mesh_instance(paths))
    if as_json:
        click.echo(json.dumps(facts, indent=2, default=str))
        return
    out = Console(width=None if sys.stdout.isatty() else 160)
    out.print(f"[bold]{facts['id']}[/] {facts['version']}  owner: {facts['owner']['role']} (team {facts['owner']['team']})")
    out.print(facts["description"])
    out.print(f"output port: {facts['output_port']}")
    out.print("served: " + (", ".join(f"{v['major']} (delta v{v['delta_version']}, {v['rows']:,} rows)" for v in facts["served"]) or "not yet published"))
    out.print(f"upstream: {', '.join(facts['upstream']) or '-'}\ndownstream: {', '.join(facts['downstream']) or '-'}")
    out.print(f"consumers: {', '.join(facts['consumers']) or '-'}; grants: "
              + (", ".join(f"{g['consumer']} ({'PII' if g['pii_allowed'] else 'masked'})" for g in facts["grants"]) or "-"))
    schema = Table(title="schema")
    for col in ("column", "type", "required", "classification", "description"):
        schema.add_column(col)
    for c in facts["schema"]:
        schema.add_row(c["name"], c["type"], str(c["required"]), c["classification"], c["description"])
    out.print(schema)
    slas = Table(title="SLAs")
    for col in ("SLA", "target", "current", "status"):
        slas.add_column(col)
    for s_ in facts.get("sla_status", []):
        slas.add_row(s_["sla"], s_["target"], s_["current"], {True: "met", False: "missed", None: "-"}[s_["passing"]])
    out.print(slas)
    if isinstance(facts["sample"], str):
        out.print(f"sample rows {facts['sample']}")
    else:
        sample = Table(title="sample rows (governed read)")
        for col in (facts["sample"][0] if facts["sample"] else {}):
            sample.add_column(col)
        for row in facts["sample"]:
            sample.add_row(*row.values())
        out.print(sample)


@main.group()
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
    click.echo(f"next: mesh scaffold product {name} NAME --python --from DOMAIN.PRODUCT")


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
        click.echo(f"{request_id}: access to {source} requested for svc_{domain}; its owner ({found.owner.role}) "
                   f"approves with `mesh access approve {request_id}`")


@main.group()
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
        out = Console(width=None if sys.stdout.isatty() else 160)
        table = Table(title=f"{len(policies.POLICIES)} policies x {len(products)} products")
        for col in ("policy", "rationale", "result"):
            table.add_column(col)
        for p in policies.POLICIES:
            mine = [v for v in found if v.policy == p.name]
            bad = [v for v in mine if v.exempted_by is None]
            result = "[green]pass[/]" if not mine else ("[red]" + str(len(bad)) + " violation(s)[/]" if bad else "exempted")
            table.add_row(p.name, p.rationale, result)
        out.print(table)
        for v in found:
            out.print(("EXEMPT " + f"({v.exempted_by.reason}, until {v.exempted_by.expires}) " if v.exempted_by else "") + v.message())
    if failing:
        sys.exit(1)


@main.group()
def access() -> None:
    """Request, approve and list access to data products."""


@access.command("request")
@click.argument("product")
@click.option("--purpose", required=True, help="What the data will be used for.")
@click.option("--pii", is_flag=True, help="Ask to see PII columns unmasked.")
@click.option("--version", "major", default="v1", show_default=True)
def access_request(product: str, purpose: str, pii: bool, major: str) -> None:
    """Ask for a data-usage agreement on PRODUCT."""
    from platform_lib.governance import registry, requests
    from platform_lib.lifecycle.read import parse_ref

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

    out = Console(width=None if sys.stdout.isatty() else 160)
    reqs = Table(title="Access requests")
    for col in ("id", "principal", "product", "purpose", "pii", "status", "decided by"):
        reqs.add_column(col)
    for r in registry.requests():
        reqs.add_row(r.id, r.principal, f"{r.product} v{r.major}", r.purpose, str(r.pii_requested), r.status, r.decided_by or "-")
    out.print(reqs)
    grants = Table(title="Grants (data-usage agreements)")
    for col in ("id", "consumer", "product", "purpose", "pii", "approver", "expires"):
        grants.add_column(col)
    for g in registry.grants():
        grants.add_row(g.id, g.consumer, f"{g.product} v{g.major}", g.purpose, str(g.pii_allowed), g.approver, str(g.expires))
    out.print(grants)


@main.group()
def audit() -> None:
    """The tamper-evident access audit log."""


@audit.command("verify")
@click.option("--root", default=None)
def audit_verify(root: str | None) -> None:
    """Check the hash chain of every audit-log entry."""
    from platform_lib.governance import audit_log

    paths = _paths(root)
    ok, n, problem = audit_log.verify(paths)
    if not ok:
        raise click.ClickException(f"audit log {audit_log.log_path(paths)} is corrupt: {problem}")
    click.echo(f"audit log intact: {n} entries verified")


@main.group()
def contracts() -> None:
    """Published contracts: check them against their snapshots, record new snapshots."""


@contracts.command("check")
def contracts_check() -> None:
    """Fail on a breaking change without a major bump and a 30-day deprecation notice."""
    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.declare import versions as registry

    today = datetime.now(timezone.utc).date()
    failed = 0
    for product in declared_products(code_locations()):
        verdict = registry.check(product, today)
        mark = "[green]ok[/]" if verdict.ok else "[red]FAIL[/]"
        console.print(f"{mark} {product.id} {product.version}" + "".join(f"\n    {p}" for p in verdict.problems + verdict.notes))
        failed += not verdict.ok
    if failed:
        raise click.ClickException(f"{failed} product contract(s) need attention; see above")


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


@main.command()
@click.option("--subject", default=None, help="contact:ID | email:ADDRESS | user:ID | account:ID (account = customer offboarding).")
@click.option("--reason", default=None, help="Why: the legal basis or ticket, kept in the audit log.")
@click.option("--request-id", default=None, help="Name the request, or resume an interrupted one.")
@click.option("--plan", "plan_only", is_flag=True, help="Print where the subject is and what would be recomputed; change nothing.")
@click.option("--status", "status", is_flag=True, help="Show requests (or --request-id's) with progress and deadline.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--root", default=None)
def erase(subject, reason, request_id, plan_only, status, as_json, root) -> None:
    """Right to erasure: remove a person or company from every store of the mesh, prove it."""
    from platform_lib.ops import erasure as coordinator
    from platform_lib.privacy import erasure
    from platform_lib.privacy.keys import BadSubject, Subject

    paths = _paths(root)
    if status:
        _erasure_status(paths, request_id, as_json)
        return
    if subject is None and request_id is None:
        raise click.UsageError("give --subject (with --reason) for a new request, or --request-id to resume one")
    try:  # refused before any code location loads
        parsed = Subject.parse(subject) if subject is not None else None
    except BadSubject as err:
        raise click.BadParameter(str(err), param_hint="--subject") from None
    from platform_lib.dagster.workspace import code_locations, declared_products, declared_sources
    from platform_lib.ops.instance import mesh_instance

    locations = code_locations()
    domains = [loc.name for loc in locations]
    products = declared_products(locations)
    declared = [*declared_sources(locations), *products]
    if parsed is not None:
        if plan_only:
            request, found = erasure.new_request(parsed, reason or "", paths, domains, declared, products)
            _print_plan(request, found, as_json)
            return
        if not reason:
            raise click.UsageError("--reason is required: it is the request's record of why")
        request = erasure.open_request(parsed, reason, paths, domains, declared, products, request_id)
    else:
        try:
            request = erasure.load(paths, request_id)
        except (LookupError, ValueError) as err:
            raise click.ClickException(str(err)) from None
    console.print(f"erasure {request.request_id}: subject {request.subject_kind} #{request.subject_hash[:12]}, "
                  f"deadline {request.deadline:%Y-%m-%d}")
    try:
        done = coordinator.execute(request.request_id, locations, mesh_instance(paths), paths,
                                   on_progress=lambda m: console.print(f"[bold]>[/] {m}"))
    except coordinator.ErasureFailed as err:
        raise click.ClickException(str(err)) from None
    removed = sum(n for p in done.domains.values() for n in p.rows_removed.values())
    console.print(f"[green]complete[/] {done.request_id}: {removed} rows removed, {len(done.stores_checked)} stores "
                  f"verified empty of the subject at {done.verified_at:%Y-%m-%d %H:%M:%S} UTC")


def _print_plan(request, found: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"subject_kind": request.subject_kind, "identifiers": len(request.hashes),
                               "carrier_columns": sorted(request.carriers), **found}, indent=2))
        return
    console.print(f"Erasure plan for {request.subject_kind} #{request.subject_hash[:12]} "
                  f"({len(request.hashes)} identifiers across the mesh; columns {', '.join(sorted(request.carriers))})")
    for domain, held in found["holds"].items():
        console.print(f"[bold]{domain}[/]: {sum(held.values())} rows in {len(held)} stores")
        for store, n in held.items():
            console.print(f"    {n:>6}  {store}")
        if found["recompute"].get(domain):
            console.print(f"    recompute: {', '.join(found['recompute'][domain])}")


def _erasure_status(paths, request_id, as_json) -> None:
    from platform_lib.privacy import erasure

    try:
        requests = [erasure.load(paths, request_id)] if request_id else erasure.all_requests(paths)
    except (LookupError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    now = datetime.now(timezone.utc)
    rows = [{"request_id": r.request_id, "status": r.status, "subject": f"{r.subject_kind} #{r.subject_hash[:12]}",
             "received_at": r.received_at.isoformat(), "deadline": r.deadline.isoformat(),
             "days_left": (r.deadline - now).days, "domains": {d: p.phase for d, p in r.domains.items()},
             "rows_removed": sum(n for p in r.domains.values() for n in p.rows_removed.values()),
             "verified_at": r.verified_at.isoformat() if r.verified_at else None} for r in requests]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="erasure requests")
    for col in ("request", "status", "subject", "domains confirmed", "rows removed", "deadline", "verified"):
        table.add_column(col)
    for r in rows:
        confirmed = sum(p == "confirmed" for p in r["domains"].values())
        table.add_row(r["request_id"], r["status"], r["subject"], f"{confirmed}/{len(r['domains'])}", str(r["rows_removed"]),
                      f"{r['deadline'][:10]} ({r['days_left']} days left)", r["verified_at"] or "-")
    console.print(table)


@main.group()
def sla() -> None:
    """Service levels of every data product."""


@sla.command("report")
@click.option("--domain", default=None, help="Only this domain.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--root", default=None)
def sla_report(domain: str | None, as_json: bool, root: str | None) -> None:
    """Each product's SLA targets, current values and 30-day attainment, with a domain roll-up."""
    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.ops.instance import mesh_instance
    from platform_lib.sla import report

    paths = _paths(root)
    instance = mesh_instance(paths)
    locations = [loc for loc in code_locations() if domain in (None, loc.name)]
    if not locations:
        raise click.ClickException(f"no domain named '{domain}' in workspace.yaml")
    lines = [line for p in declared_products(locations) for line in report.product_lines(instance, p)]
    if as_json:
        click.echo(json.dumps(report.as_json(lines), indent=2))
        return
    out = Console(width=None if sys.stdout.isatty() else 160)
    table = Table(title="Data product SLAs (attainment over the trailing 30 days)")
    for col in ("product", "SLA", "target", "current", "status", "attainment", "checks"):
        table.add_column(col)
    for line in lines:
        status = {True: "[green]met[/]", False: "[red]missed[/]", None: "-"}[line.passing]
        attained = "-" if line.attainment is None else f"{line.attainment:.0%}"
        table.add_row(f"{line.domain}.{line.product}", line.sla, line.target, line.current, status, attained, str(line.evaluations))
    out.print(table)
    roll = Table(title="Domain roll-up")
    for col in ("domain", "products", "meeting all SLAs", *report.MEASURES):
        roll.add_column(col)
    for row in report.rollup(lines):
        roll.add_row(row["domain"], str(row["products"]), str(row["meeting_all_slas"]),
                     *("-" if v is None else f"{v:.0%}" for v in row["attainment"].values()))
    out.print(roll)


@main.command()
@click.option("--root", default=None)
def home(root: str | None) -> None:
    """Print the mesh root and the Dagster home (for `export`)."""
    from platform_lib.ops.instance import dagster_home

    paths = _paths(root)
    click.echo(f"MESH_HOME={paths.home}\nDAGSTER_HOME={dagster_home(paths)}")


if __name__ == "__main__":
    main()
