"""`ui`: open the Dagster UI on the mesh's own instance."""

from __future__ import annotations

import click

from platform_lib.ops.cli._common import console, mesh_paths, root_option


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default: MESH_UI_URL's, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: MESH_UI_URL's, 3000).")
@root_option
def ui(host: str | None, port: int | None, root: str | None) -> None:
    """Open the Dagster UI on the mesh's instance, with every run the mesh recorded; nothing
    is rebuilt. Restart it to pick up a new code location. Stops on Ctrl-C or SIGTERM."""
    from platform_lib.ops import ui as dagster_ui

    paths = mesh_paths(root)
    host, port = dagster_ui.address(host, port)
    console.print(f"Opening the Dagster UI on http://{host}:{port} for the mesh at {paths.home} "
                  f"(instance {paths.dagster_home}); Ctrl-C to stop")
    dagster_ui.serve(paths, host, port)
