"""An append-only, tamper-evident log of every read and access decision: each entry
carries the hash of the one before it, so editing or removing any entry breaks the chain."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

from platform_lib.config import MeshPaths

GENESIS = "0" * 64


def log_path(paths: MeshPaths | None = None) -> Path:
    return (paths or MeshPaths.from_env()).home / "audit" / "access.jsonl"


def _digest(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def append(record: dict, paths: MeshPaths | None = None) -> dict:
    """Append `record` (principal, product, version, columns, rows, purpose, decision)."""
    path = log_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"), path.open("a+") as fh:  # one writer at a time keeps the chain linear
        fh.seek(0)
        lines = fh.read().splitlines()
        last = json.loads(lines[-1]) if lines else None
        entry = {
            **record,
            "seq": (last["seq"] + 1) if last else 1,
            "at": datetime.now(timezone.utc).isoformat(),
            "prev": last["hash"] if last else GENESIS,
        }
        entry["hash"] = _digest(entry)
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
    return entry


def verify(paths: MeshPaths | None = None) -> tuple[bool, int, str]:
    """(ok, entries checked, first problem)."""
    path = log_path(paths)
    if not path.exists():
        return True, 0, ""
    prev = GENESIS
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return False, n, f"entry {n} is not valid JSON"
        if entry.get("prev") != prev:
            return False, n, f"entry {n} does not follow entry {n - 1} (chain broken: an entry was removed or reordered)"
        if entry.get("hash") != _digest(entry):
            return False, n, f"entry {n} was modified after it was written (hash mismatch)"
        prev = entry["hash"]
    return True, n, ""
