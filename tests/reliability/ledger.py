"""Each reliability case records what it fed in and where every row went; the suite's
summary (tests/conftest.py) prints the table: cases tried, passed, rows lost."""

from __future__ import annotations

import json

KEY = "reliability"


def record(request, *, rows_in: int, rows_accounted: int, note: str = "") -> None:
    """Attach the case's row ledger to its test report (it travels back from xdist workers)."""
    request.node.user_properties.append(
        (KEY, json.dumps({"rows_in": rows_in, "rows_accounted": rows_accounted, "note": note})))
    assert rows_accounted == rows_in, f"{rows_in - rows_accounted} rows lost"
