"""What every `mesh` command shares: the consoles, the `--root` option, the mesh paths and
rich tables, so each command says only what is its own."""

from __future__ import annotations

import sys
from collections.abc import Iterable

import click
from rich.console import Console
from rich.table import Table

from platform_lib import config
from platform_lib.config import MeshPaths

# Progress, verdicts and errors go to stderr, so stdout stays the data a caller pipes on.
console = Console(stderr=True)

root_option = click.option("--root", default=None, help="Mesh root (default: $MESH_HOME or ./.mesh).")


def mesh_paths(root: str | None) -> MeshPaths:
    """The mesh's layout, under `--root` when given (it overrides $MESH_HOME for the whole process)."""
    if root:
        config.configure(home=root)
    return MeshPaths.from_env()


def stdout(width: int | None = 160) -> Console:
    """Standard output at the terminal's width. Piped, as wide as `COLUMNS` says when the
    shell sets it, else `width` columns rather than rich's 80, so tables written to a file
    or a test stay whole."""
    columns = config.settings().columns
    return Console(width=columns if sys.stdout.isatty() else (columns or width))


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable] = (), right: Iterable[str] = ()) -> Table:
    """A titled table of `rows`; the `right` columns (numbers) are right-aligned. A value too
    long for its column at this width folds onto the next line rather than being cut."""
    right = set(right)
    made = Table(title=title)
    for col in columns:
        made.add_column(col, justify="right" if col in right else "left", overflow="fold")
    for row in rows:
        made.add_row(*row)
    return made
