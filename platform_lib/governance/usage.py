"""Who reads what: per product and column, from the access audit log (every governed read,
consumer domains' builds included), who read it, how often, for which purposes and when
last; and what nobody read for a while, as candidates for retirement."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from platform_lib.config import MeshPaths
from platform_lib.governance import audit_log

UNUSED_DAYS = 90


@dataclass
class Usage:
    product: str
    reads: int = 0
    readers: Counter = field(default_factory=Counter)
    purposes: Counter = field(default_factory=Counter)
    columns: Counter = field(default_factory=Counter)  # reads that took each column
    last_read: datetime | None = None


@lru_cache(maxsize=4)
def _reads(path: str, size: int, mtime_ns: int) -> tuple[tuple, ...]:
    """The log's allowed reads as (product, at, principal, purpose, columns), parsed once per
    version of the file: every product a build materializes asks for its own."""
    reads = []
    with open(path) as fh:
        for line in fh:
            try:
                entry = json.loads(line)
                at = datetime.fromisoformat(entry["at"])
            except (ValueError, KeyError, TypeError):
                continue  # `mesh audit verify` reports a damaged log; usage counts what it can read
            if entry.get("product") and entry.get("decision") in ("allow", "mask"):
                reads.append((entry["product"], at, entry.get("principal", "?"), entry.get("purpose") or "-",
                              tuple(entry.get("columns") or ())))
    return tuple(reads)


def usage(paths: MeshPaths, products: dict[str, list[str]], days: int = UNUSED_DAYS,
          now: datetime | None = None) -> dict[str, Usage]:
    """The reads of each product (id -> its columns) in the last `days` days."""
    since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    found = {pid: Usage(pid) for pid in products}
    path = audit_log.log_path(paths)
    if not path.exists():
        return found
    stat = path.stat()
    for product, at, principal, purpose, columns in _reads(str(path), stat.st_size, stat.st_mtime_ns):
        held = found.get(product)
        if held is None or at < since:
            continue
        held.reads += 1
        held.readers[principal] += 1
        held.purposes[purpose] += 1
        held.columns.update(c for c in columns if c in products[product])
        held.last_read = max(held.last_read or at, at)
    return found


def unused(found: dict[str, Usage], products: dict[str, list[str]]) -> tuple[list[str], dict[str, list[str]]]:
    """Products nobody read in the window, and, of the products read, the columns no read took."""
    idle = sorted(pid for pid, u in found.items() if not u.reads)
    columns = {pid: [c for c in products[pid] if not u.columns[c]] for pid, u in found.items() if u.reads}
    return idle, {pid: cols for pid, cols in columns.items() if cols}
