"""Test helpers that drive the mesh through its public surfaces."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, materialize

from platform_lib import config
from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.dagster.resources import domain_resources


def domain_defs(domain: str):
    return importlib.import_module(f"domains.{domain}.definitions").defs


def materialize_domain(domain: str, root: Path, *, selection=None, instance=None, raise_on_error=True, extra_assets=()):
    """A real Dagster run of the domain's assets against mesh root `root`."""
    defs = domain_defs(domain)
    config.configure(home=root)
    resources = {**defs.resources, **domain_resources(domain, MeshPaths(root))}
    return materialize(
        [*defs.assets, *extra_assets],
        resources=resources,
        instance=instance or DagsterInstance.ephemeral(),
        selection=selection,
        raise_on_error=raise_on_error,
    )


def copy_landing(template: Path, root: Path) -> Path:
    shutil.copytree(template / "landing", root / "landing")
    return root


_tokens: dict[tuple[str, str], str] = {}


def token_for(root: Path, principal: str) -> str:
    """A token for `principal` on mesh root `root`, issued as the mesh's operator would
    (`mesh token issue`); one per root and principal."""
    from platform_lib.governance import identity

    key = (str(root), principal)
    if key not in _tokens:
        with config.overridden(home=root):
            _tokens[key], _ = identity.issue(MeshPaths(root), principal, "test harness")
    return _tokens[key]


def expire_token(root: Path, token_id: str) -> None:
    """Let a token's life end now, as the passing of time would."""
    import json
    from datetime import datetime, timedelta, timezone

    store = root / "identity" / "tokens.json"
    data = json.loads(store.read_text())
    for item in data["tokens"]:
        if item["id"] == token_id:
            item["expires"] = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    store.write_text(json.dumps(data))


def mesh(*args: str, root: Path, check: bool = False, principal: str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the `mesh` CLI as a user would, against mesh root `root`, with a token of `principal`."""
    env = {**os.environ, **(env or {}), "MESH_HOME": str(root), "DAGSTER_HOME": str(root / "dagster")}
    if principal:
        env["MESH_TOKEN"] = token_for(root, principal)
    cli = Path(sys.executable).parent / "mesh"
    return subprocess.run(
        [str(cli), *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=check, timeout=600
    )


def setting_changes(env: dict[str, str]) -> dict[str, str]:
    """Environment variables as the settings they set (`MESH_WORKERS` -> `workers`)."""
    names = {"DAGSTER_HOME": "dagster_home", "COLUMNS": "columns"}
    changes = {}
    for variable, value in env.items():
        if variable not in names and not variable.startswith("MESH_"):
            raise ValueError(f"{variable} is not a setting of the mesh")
        changes[names.get(variable) or variable.removeprefix("MESH_").lower()] = value
    return changes


def mesh_in_process(*args: str, root: Path, check: bool = False, principal: str | None = None,
                    binary: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The same `mesh` command as `mesh(...)`, with the same settings (mesh root, Dagster home,
    the principal's token, and `env`'s `MESH_*` variables), run in this process through click's runner:
    no interpreter start and no definitions load per call. Exit code, stdout and stderr are
    the command's (Dagster's run logs included); an unhandled exception comes back as the
    process would report it (exit code 1, traceback on stderr). Commands that run Dagster
    jobs run them here too, as `mesh` runs them in its own process. What stays in its own
    process (`mesh`): a command that is killed, one that must run beside others at once, and
    a build of several code locations side by side (it forks, which a test worker must not)."""
    import traceback

    from click.testing import CliRunner

    from platform_lib.ops.cli import main

    changes = {"home": root, "dagster_home": Path(root) / "dagster"} | ({"token": token_for(root, principal)} if principal else {})
    changes |= setting_changes(env or {})
    with config.overridden(**changes):
        result = CliRunner().invoke(main, list(args))
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    stdout = result.stdout_bytes if binary else result.stdout
    completed = subprocess.CompletedProcess(["mesh", *args], result.exit_code, stdout, stderr)
    if check:
        completed.check_returncode()
    return completed


def land_contacts_without_accounts(root: Path) -> int:
    """The CRM sync loses account links: a new batch of Marketing contacts arrives without
    accounts, so `marketing.lead_scoring_signals` fails its quality gate. Returns its rows."""
    import csv

    contacts_dir = root / "landing" / "marketing" / "contacts"
    rows = []
    for landed in sorted(contacts_dir.glob("*.csv")):
        with landed.open(newline="") as fh:
            reader = csv.DictReader(fh)
            header, rows = reader.fieldnames, rows + list(reader)
    orphans = [{**row, "contact_id": f"CON-{8_000_000 + i:07d}", "account_id": ""} for i, row in enumerate(rows)]
    with (contacts_dir / "part-99999.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(orphans)
    return len(orphans)


def query(root: Path, domain: str, sql: str, params=()) -> list[tuple]:
    """Read a domain's DuckDB file (read only)."""
    import duckdb

    con = duckdb.connect(str(MeshPaths(root).warehouse(domain)), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _holds(column, needle: str) -> bool:
    """Whether any value of a Parquet column, as text, holds `needle` (lower case): flat
    values as Arrow casts them to text, nested ones as JSON."""
    import json

    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return needle in json.dumps(column.to_pylist(), default=str).lower()
    text = column if pa.types.is_string(kind) or pa.types.is_large_string(kind) else pc.cast(column, pa.large_string())
    return pc.any(pc.match_substring(pc.utf8_lower(text), needle)).as_py() or False


def traces(root: Path, needles: list[str]) -> list[str]:
    """Every place under the mesh root where a needle is found: raw bytes of every file,
    then decoded: every row of every Parquet file (Delta data, old files included) and
    every text value of every DuckDB table (compressed on disk)."""

    import duckdb
    import pyarrow.parquet as pq

    needles = [n.lower() for n in needles]
    found = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        data = f.read_bytes().lower()
        found += [f"{f.relative_to(root)} (bytes)" for n in needles if n.encode() in data]
        if f.suffix == ".parquet":
            try:
                table = pq.read_table(f)
            except Exception:  # a landed file that is not Parquet: its raw bytes were searched above
                continue
            found += [f"{f.relative_to(root)} (rows)" for n in needles if any(_holds(c, n) for c in table.columns)]
        if f.suffix == ".duckdb":
            con = duckdb.connect(str(f), read_only=True)
            cols = con.execute("SELECT table_schema, table_name, column_name FROM information_schema.columns "
                               "WHERE table_catalog = current_database() AND data_type IN ('VARCHAR', 'JSON')").fetchall()
            by_table: dict[tuple[str, str], list[str]] = {}
            for schema, table, column in cols:
                by_table.setdefault((schema, table), []).append(column)
            hits = set()
            for (schema, table), columns in by_table.items():  # one pass over each table
                pairs = [(c, n) for c in columns for n in needles]
                counts = con.execute("SELECT " + ", ".join(f'count(*) FILTER (WHERE contains(lower("{c}"), ?))' for c, _ in pairs)
                                     + f' FROM "{schema}"."{table}"', [n for _, n in pairs]).fetchall()[0]
                hits |= {(schema, table, c, n) for (c, n), count in zip(pairs, counts) if count}
            found += [f"{f.relative_to(root)}:{schema}.{table}.{column}" for schema, table, column in cols
                      for n in needles if (schema, table, column, n) in hits]
            con.close()
    return found
