"""The right to erasure: `erase` plans, runs, resumes and reports erasure requests."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone

import click

from platform_lib.config import MeshPaths
from platform_lib.ops.cli._common import console, mesh_paths, root_option, stdout, table


@click.command()
@click.option("--subject", default=None, help="contact:ID | email:ADDRESS | user:ID | account:ID (account = customer offboarding).")
@click.option("--reason", default=None, help="Why: the legal basis or ticket, kept in the audit log.")
@click.option("--request-id", default=None, help="Name the request, or resume an interrupted one.")
@click.option("--plan", "plan_only", is_flag=True, help="Print where the subject is and what would be recomputed; change nothing.")
@click.option("--status", "status", is_flag=True, help="Show requests (or --request-id's) with progress and deadline.")
@click.option("--json", "as_json", is_flag=True)
@root_option
def erase(subject, reason, request_id, plan_only, status, as_json, root) -> None:
    """Right to erasure: remove a person or company from every store of the mesh, prove it."""
    from platform_lib.ops import erasure as coordinator
    from platform_lib.privacy import erasure
    from platform_lib.privacy.keys import BadSubject, Subject
    from platform_lib.storage.warehouse import WarehouseBusy

    paths = mesh_paths(root)
    if status:
        _erasure_status(paths, request_id, as_json)
        return
    if subject is None and request_id is None:
        raise click.UsageError("give --subject (with --reason) for a new request, or --request-id to resume one")
    try:  # refused before any code location loads
        parsed = Subject.parse(subject) if subject is not None else None
    except BadSubject as err:
        raise click.BadParameter(str(err), param_hint="--subject") from None
    from platform_lib.dagster.lineage import lineage_of
    from platform_lib.dagster.workspace import code_locations, declared_products, declared_sources
    from platform_lib.ops.instance import mesh_instance

    locations = code_locations()
    domains = [loc.name for loc in locations]
    products, sources = declared_products(locations), declared_sources(locations)
    declared = [*sources, *products]
    if parsed is not None:
        lineage = lineage_of(products, sources).derivations()
        if plan_only:
            try:
                request, found = erasure.new_request(parsed, reason or "", paths, domains, declared, products,
                                                     lineage=lineage)
            except WarehouseBusy as err:
                raise click.ClickException(f"cannot plan now: {err}; try again once it is done") from None
            _print_plan(request, found, as_json)
            if not any(found["holds"].values()):
                sys.exit(1)  # nothing to erase: most often a mistyped identifier
            return
        if not reason:
            raise click.UsageError("--reason is required: it is the request's record of why")
        try:
            request = erasure.open_request(parsed, reason, paths, domains, declared, products, request_id, lineage=lineage)
        except erasure.ErasureWaiting as err:
            raise click.ClickException(str(err)) from None
    else:
        try:
            request = erasure.load(paths, request_id)
        except (LookupError, ValueError) as err:
            raise click.ClickException(str(err)) from None
    console.print(f"erasure {request.request_id}: subject {request.subject_kind} #{request.subject_hash[:12]}, "
                  f"deadline {request.deadline:%Y-%m-%d}")
    if request.columns:
        console.print(f"{len(request.columns)} product columns carry or derive from the subject's identifiers; "
                      f"`mesh erase --status --request-id {request.request_id}` names them")
    try:
        done = coordinator.execute(request.request_id, locations, mesh_instance(paths), paths,
                                   on_progress=lambda m: console.print(f"[bold]>[/] {m}"))
    except coordinator.ErasureFailed as err:
        raise click.ClickException(str(err)) from None
    removed = sum(n for p in done.domains.values() for n in p.rows_removed.values())
    console.print(f"[green]complete[/] {done.request_id}: {removed} rows removed, {len(done.stores_checked)} stores "
                  f"verified empty of the subject at {done.verified_at:%Y-%m-%d %H:%M:%S} UTC")
    if not removed and not any(p.holds for p in done.domains.values()):
        console.print("the subject was found in no store of the mesh: nothing was removed; its identifiers are "
                      "suppressed, so no later ingest stages them")


def _print_plan(request, found: dict, as_json: bool) -> None:
    from platform_lib.privacy.carriers import describe

    held_anywhere = any(found["holds"].values())
    if as_json:
        click.echo(json.dumps({"subject_kind": request.subject_kind, "found": held_anywhere, "identifiers": len(request.hashes),
                               "carrier_columns": sorted(request.carriers), **found}, indent=2))
        return
    if not held_anywhere:
        console.print(f"[yellow]not found[/]: the {request.subject_kind} #{request.subject_hash[:12]} is in no store of the mesh "
                      f"(landing files, warehouses, output "
                      f"ports), so there is nothing to erase. Check the identifier; `mesh erase` with it would still "
                      f"record the request and suppress the identifier, so no later ingest stages it.")
        return
    console.print(f"Erasure plan for {request.subject_kind} #{request.subject_hash[:12]} "
                  f"({len(request.hashes)} identifiers across the mesh; columns {', '.join(sorted(request.carriers))})")
    for domain, held in found["holds"].items():
        console.print(f"[bold]{domain}[/]: {sum(held.values())} rows in {len(held)} stores")
        for store, n in held.items():
            console.print(f"    {n:>6}  {store}")
        if found["recompute"].get(domain):
            console.print(f"    recompute: {', '.join(found['recompute'][domain])}")
        for line in describe([c for c in request.columns if c.product.split(".")[0] == domain]):
            console.print(f"    {line}", markup=False)


def _erasure_status(paths: MeshPaths, request_id: str | None, as_json: bool) -> None:
    from platform_lib.privacy import erasure
    from platform_lib.privacy.carriers import describe

    try:
        requests = [erasure.load(paths, request_id)] if request_id else erasure.all_requests(paths)
    except (LookupError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    now = datetime.now(timezone.utc)
    rows = [{"request_id": r.request_id, "status": r.status, "subject": f"{r.subject_kind} #{r.subject_hash[:12]}",
             "received_at": r.received_at.isoformat(), "deadline": r.deadline.isoformat(),
             "days_left": math.ceil((r.deadline - now).total_seconds() / 86400), "domains": {d: p.phase for d, p in r.domains.items()},
             "rows_removed": sum(n for p in r.domains.values() for n in p.rows_removed.values()),
             "verified_at": r.verified_at.isoformat() if r.verified_at else None,
             "planned": r.planned_at is not None,
             "waiting": {d: p.waiting for d, p in r.domains.items() if p.waiting},
             "columns": [c.model_dump() for c in r.columns]} for r in requests]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    stdout().print(table(
        "erasure requests", ("request", "status", "subject", "domains confirmed", "rows removed", "deadline", "verified", "waiting"),
        ((r["request_id"], r["status"], r["subject"], f"{sum(p == 'confirmed' for p in r['domains'].values())}/{len(r['domains'])}",
          str(r["rows_removed"]), f"{r['deadline'][:10]} ({r['days_left']} days left)", r["verified_at"] or "-",
          "; ".join(f"{d}: {why}" for d, why in r["waiting"].items()) or ("not planned yet" if not r["planned"] else "-"))
         for r in rows),
    ))
    if request_id:  # one request: the columns its plan found carrying or derived from the subject's identifiers
        for line in describe(requests[0].columns):
            stdout().print(line, markup=False, highlight=False)
