"""The `mesh` command line. Each command group lives in the module named for what it does;
this one assembles them under `main`, the `mesh` entry point. Commands import the platform
lazily, so `mesh --help` starts without loading Dagster or dbt."""

from __future__ import annotations

import click

from platform_lib import config
from platform_lib.ops.cli import catalog, data, governance, privacy, quarantine, scaffold, sla, ui


@click.group()
def main() -> None:
    """GTM Data Mesh: publish, discover and read go-to-market data products."""
    try:
        config.settings()
    except config.SettingsError as err:
        raise click.ClickException(str(err)) from None


for _command in (data.seed, data.build, data.read, data.home,
                 catalog.catalog, catalog.product, catalog.contracts,
                 governance.policy, governance.access, governance.audit,
                 privacy.erase, quarantine.quarantine, scaffold.scaffold, sla.sla, ui.ui):
    main.add_command(_command)
del _command
