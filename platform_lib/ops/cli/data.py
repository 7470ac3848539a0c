"""Data through the mesh: `seed` a landing zone, `build` the products, `read` one, and `home`
to point a shell at the mesh root."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone

import click
from rich.markup import escape

from platform_lib.ops.cli._common import console, mesh_paths, root_option, stdout, table


@click.command()
@click.option("--scale", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed; same seed, same files.")
@click.option("--as-of", "as_of", default=None,
              help="Extraction time of the newest batch (ISO 8601, UTC). Default: today 00:00 UTC (with --increment: now).")
@click.option("--increment", "name", default=None, metavar="NAME",
              help="Land one new batch NAME into the existing landing zone instead: new events, and new versions "
                   "of a share of every entity's records (recorded in landing/_increments/NAME.json).")
@click.option("--rows", type=click.IntRange(min=1), default=None,
              help="With --increment: about this many new events in all, the newest of each event source's newest "
                   "file in proportion (default: its whole newest file).")
@root_option
def seed(scale: str, seed: int, as_of: str | None, name: str | None, rows: int | None, root: str | None) -> None:
    """Write a synthetic landing zone for all four domains' source systems, or add one batch to it."""
    paths = mesh_paths(root)
    when = datetime.fromisoformat(as_of.replace("Z", "+00:00")).astimezone(timezone.utc) if as_of else None
    started = time.monotonic()
    if rows is not None and name is None:
        raise click.UsageError("--rows sizes a batch: give it with --increment NAME")
    if name is not None:
        _increment(paths, name, when, started, rows)
        return
    from platform_lib.ops.seed import generate

    manifest = generate(paths.home, scale=scale, seed=seed, as_of=when)
    rows = sum(s["rows"] for s in manifest["sources"].values())
    versions = sum(s["updates"]["versions"] for s in manifest["sources"].values() if "updates" in s)
    console.print(
        f"landing zone written to {paths.landing}: {len(manifest['sources'])} sources, {rows:,} records "
        f"({versions:,} of them entity updates) in {time.monotonic() - started:.1f}s; manifest {paths.landing / '_manifest.json'}"
    )


def _increment(paths, name: str, when: datetime | None, started: float, rows: int | None) -> None:
    from platform_lib.dagster.workspace import code_locations, declared_sources
    from platform_lib.ops.seed.increment import IncrementRefused, increment

    try:
        record = increment(paths, declared_sources(code_locations()), name, when, rows)
    except IncrementRefused as err:
        raise click.ClickException(str(err)) from None
    updates = [s["updates"] for s in record["sources"].values() if "updates" in s]
    console.print(
        f"batch {name} landed in {paths.landing}: {record['files']} files, {record['rows']:,} records, "
        f"{sum(u['records_updated'] for u in updates):,} entity records updated in {len(updates)} sources "
        f"in {time.monotonic() - started:.1f}s; record {paths.landing / '_increments' / f'{name}.json'}"
    )


@click.command()
@click.option("--select", "selectors", multiple=True, help="Domain (`marketing`) or product (`marketing.web_behavior`); repeatable.")
@click.option("--full-refresh", is_flag=True, help="Stage every landed file again, not only the new ones, and rebuild from all of it.")
@root_option
def build(selectors: tuple[str, ...], full_refresh: bool, root: str | None) -> None:
    """Materialize the mesh (or a selection) as Dagster runs, producers first. Staging
    reads only the files that landed or changed since the last build."""
    from platform_lib.dagster.workspace import code_locations
    from platform_lib.ops.build import UnknownSelector, build_mesh
    from platform_lib.ops.instance import mesh_instance

    paths = mesh_paths(root)
    instance = mesh_instance(paths)
    started = time.monotonic()
    try:
        outcomes = build_mesh(instance, code_locations(), selectors, on_progress=lambda m: console.print(f"[bold]>[/] {m}"),
                              full_refresh=full_refresh)
    except UnknownSelector as err:
        raise click.BadParameter(str(err), param_hint="--select") from None
    stdout(width=200).print(table(
        f"mesh build ({time.monotonic() - started:.1f}s)",
        ("asset", "published", "rows", "quarantined", "checks passed", "checks failed", "step time"),
        ((a.name, ("yes" if a.changed else "unchanged") if a.materialized else "[red]no[/]", _n(a.rows_published), _n(a.rows_quarantined),
          str(a.checks_passed), ", ".join(a.checks_failed) or "-", "-" if a.seconds is None else f"{a.seconds:.1f}s")
         for loc in outcomes for a in loc.assets),
        right=("published", "rows", "quarantined", "checks passed", "step time"),
    ))
    failed = [o for o in outcomes if not o.success]
    if failed:
        for o in failed:
            console.print(f"[red]FAILED[/] code location {o.location} (run {o.run_id}):\n{o.error}")
        sys.exit(1)


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


@click.command()
@click.argument("product")
@click.option("--version", "major", default=None, help="Major version, e.g. v1 (default: the newest served).")
@click.option("--columns", default=None, help="Comma-separated columns.")
@click.option("--where", multiple=True, help="Filter 'column op value' (op: = != < <= > >=); repeatable, ANDed.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--purpose", default=None, help="Why you read it (recorded in the audit log).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table", show_default=True)
@click.option("--remote", is_flag=True, help="Read through `mesh serve` at the endpoint of the profile file MESH_PROFILE names.")
@root_option
def read(product: str, major: str | None, columns: str | None, where: tuple[str, ...], limit: int, purpose: str | None,
         fmt: str, remote: bool, root: str | None) -> None:
    """Read a published product from its output port: DOMAIN.PRODUCT (grants and masking apply)."""
    import pyarrow.parquet as pq
    import requests

    from platform_lib.governance.access import AccessDenied
    from platform_lib.governance.identity import Unauthenticated
    from platform_lib.lifecycle.read import read_product
    from platform_lib.storage.ports import ProductNotPublished

    paths = mesh_paths(root)
    ref = f"{product}@{major}" if major else product
    chosen = columns.split(",") if columns else None
    try:
        if remote:
            from platform_lib import config
            from platform_lib.serving.client import Remote

            if config.settings().profile is None:
                raise Unauthenticated("--remote reads through the server named in a profile file: set MESH_PROFILE to it")
            data = Remote(config.settings().profile).read(ref, columns=chosen, where=list(where), limit=limit)
        else:
            data = read_product(ref, columns=chosen, where=list(where), limit=limit, purpose=purpose, paths=paths)
    except requests.HTTPError as err:
        raise click.ClickException(f"the server refused: {server_message(err)}") from None
    except requests.ConnectionError:
        raise click.ClickException("the server the profile names does not answer: is `mesh serve` running there?") from None
    except (ValueError, LookupError, ProductNotPublished, AccessDenied, Unauthenticated) as err:
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
        # Values are data, never markup: `[redacted]` shows as written.
        rows = (("" if v is None else escape(str(v)) for v in row) for row in frame.itertuples(index=False))
        stdout().print(table(f"{product} ({len(frame)} rows)", frame.columns, rows))


@click.command()
@root_option
def home(root: str | None) -> None:
    """Print the mesh root and the Dagster home (for `export`)."""
    from platform_lib.ops.instance import dagster_home

    paths = mesh_paths(root)
    click.echo(f"MESH_HOME={paths.home}\nDAGSTER_HOME={dagster_home(paths)}")


def server_message(err) -> str:
    """What `mesh serve` said when it refused a request, or the HTTP status."""
    try:
        return err.response.json()["message"]
    except (AttributeError, ValueError, KeyError, TypeError):
        return str(err).splitlines()[0]
