"""The suppression list: salted hashes of erased subjects' identifiers. Staging drops any
landed row that carries one, so a later ingest or rebuild never brings a subject back."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb
from filelock import FileLock

from platform_lib.config import MeshPaths
from platform_lib.privacy.keys import privacy_dir, salt, sql_digest, sql_text_match
from platform_lib.storage.sql import q

TABLE = "_mesh_suppressed"


def list_path(paths: MeshPaths) -> Path:
    return privacy_dir(paths) / "suppression.jsonl"


def hashes(paths: MeshPaths) -> set[str]:
    path = list_path(paths)
    if not path.exists():
        return set()
    return {json.loads(line)["hash"] for line in path.read_text().splitlines() if line.strip()}


def add(paths: MeshPaths, new: set[str], request_id: str) -> int:
    """Append hashes not yet listed; returns how many were new."""
    path = list_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock", mode=0o600), path.open("a+") as fh:
        fh.seek(0)
        known = {json.loads(line)["hash"] for line in fh.read().splitlines() if line.strip()}
        now = datetime.now(timezone.utc).isoformat()
        fresh = sorted(new - known)
        fh.writelines(json.dumps({"hash": h, "request_id": request_id, "added_at": now}) + "\n" for h in fresh)
    return len(fresh)


def suppressed_when(con: duckdb.DuckDBPyConnection, paths: MeshPaths, columns: list[str]) -> str | None:
    """SQL true for rows carrying a suppressed identifier in any of `columns`, or None
    when nothing is suppressed (then staging pays nothing)."""
    listed = hashes(paths)
    if not listed or not columns:
        return None
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT unnest(?::VARCHAR[]) AS h", [sorted(listed)])
    s = salt(paths)
    return " OR ".join(f"coalesce({sql_digest(s, q(c))} IN (SELECT h FROM {TABLE}), false)" for c in columns)


def withheld_text(con: duckdb.DuckDBPyConnection, paths: MeshPaths) -> Callable[[str], str | None]:
    """For what is kept as text (a malformed line, a drifted record): SQL true when the text
    holds a suppressed identifier anywhere, so it is withheld before it is written, even to
    quarantine. None when nothing is suppressed."""
    listed = hashes(paths)
    if not listed:
        return lambda _: None
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT unnest(?::VARCHAR[]) AS h", [sorted(listed)])
    s = salt(paths)
    return lambda expr: sql_text_match(s, expr, TABLE)
