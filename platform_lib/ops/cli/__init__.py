"""The `mesh` command line. Each command group lives in the module named for what it does;
this one assembles them under `main`, the `mesh` entry point. Commands import the platform
lazily, so `mesh --help` starts without loading Dagster or dbt."""

from __future__ import annotations

import click

from platform_lib import config
from platform_lib.ops.cli import catalog, data, governance, privacy, quarantine, scaffold, serve, sla, ui


class _Mesh(click.Group):
    """Every command: a failure caused by a full disk is told as such, with the folder and the fix."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as err:
            from platform_lib.storage.disk import full_disk

            paths = config.settings().paths
            message = full_disk(err, [paths.home, paths.dagster_home])
            if message is None:
                raise
            raise click.ClickException(message) from None


@click.group(cls=_Mesh)
def main() -> None:
    """GTM Data Mesh: publish, discover and read go-to-market data products."""
    try:
        config.settings()
    except config.SettingsError as err:
        raise click.ClickException(str(err)) from None
    config.private_files()
    for message in config.retired_variables():
        click.echo(f"warning: {message}", err=True)


for _command in (data.seed, data.build, data.read, data.home,
                 catalog.catalog, catalog.product, catalog.impact, catalog.usage, catalog.docs, catalog.contracts,
                 governance.policy, governance.token, governance.access, governance.audit,
                 privacy.erase, quarantine.quarantine, scaffold.scaffold, serve.serve, sla.sla, ui.ui):
    main.add_command(_command)
del _command
