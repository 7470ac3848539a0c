"""`serve`: the data products over the Delta Sharing open protocol."""

from __future__ import annotations

from urllib.parse import urlsplit

import click

from platform_lib import config
from platform_lib.ops.cli._common import console, mesh_paths, root_option


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default: MESH_SERVE_URL's, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: MESH_SERVE_URL's, 8470).")
@root_option
def serve(host: str | None, port: int | None, root: str | None) -> None:
    """Serve every published product over the Delta Sharing protocol, at the endpoint the
    profile files of `mesh token issue` name. Each caller sees the products its grants
    allow; PII comes masked without PII access; every read is audited. Stops on Ctrl-C."""
    from platform_lib.serving.server import serve as run

    paths = mesh_paths(root)
    configured = urlsplit(config.settings().serve_url)
    host, port = host or configured.hostname or "127.0.0.1", port or configured.port or 8470
    console.print(f"Serving the data products of {paths.home} over Delta Sharing on "
                  f"http://{host}:{port}{configured.path or ''}; Ctrl-C to stop")
    run(host, port, paths)
