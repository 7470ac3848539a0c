"""Who reads what: per product and column, from the access audit log (every governed read,
consumer domains' builds included), who read it, how often, for which purposes and when
last; and what nobody read for a while, as candidates for retirement."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

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


def usage(paths: MeshPaths, products: dict[str, list[str]], days: int = UNUSED_DAYS,
          now: datetime | None = None) -> dict[str, Usage]:
    """The reads of each product (id -> its columns) in the last `days` days."""
    since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    found = {pid: Usage(pid) for pid in products}
    path = audit_log.log_path(paths)
    if not path.exists():
        return found
    with path.open() as fh:
        for line in fh:
            try:
                entry = json.loads(line)
                at = datetime.fromisoformat(entry["at"])
            except (ValueError, KeyError, TypeError):
                continue  # `mesh audit verify` reports a damaged log; usage counts what it can read
            held = found.get(entry.get("product"))
            if held is None or entry.get("decision") not in ("allow", "mask") or at < since:
                continue
            held.reads += 1
            held.readers[entry.get("principal", "?")] += 1
            held.purposes[entry.get("purpose") or "-"] += 1
            held.columns.update(c for c in entry.get("columns") or [] if c in products[held.product])
            held.last_read = max(held.last_read or at, at)
    return found


def unused(found: dict[str, Usage], products: dict[str, list[str]]) -> tuple[list[str], dict[str, list[str]]]:
    """Products nobody read in the window, and, of the products read, the columns no read took."""
    idle = sorted(pid for pid, u in found.items() if not u.reads)
    columns = {pid: [c for c in products[pid] if not u.columns[c]] for pid, u in found.items() if u.reads}
    return idle, {pid: cols for pid, cols in columns.items() if cols}
