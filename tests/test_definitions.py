"""Every code location loads, alone and as the workspace."""

from __future__ import annotations

import subprocess
import sys

import pytest

from platform_lib.config import PROJECT_ROOT
from platform_lib.dagster.workspace import code_locations


@pytest.mark.parametrize("location", code_locations(), ids=lambda loc: loc.name)
def test_code_location_loads_on_its_own(location):
    result = subprocess.run(
        [sys.executable, "-c", f"import dagster, {location.module} as m; dagster.Definitions.validate_loadable(m.defs); print(len(list(m.defs.assets)))"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 0


def test_a_column_may_not_take_a_name_the_platform_stores_rows_by():
    """DuckDB's `rowid` finds stored rows, and an entity's history adds `valid_from` and
    `valid_to`: a declared column of those names is refused, saying why."""
    from pydantic import ValidationError

    from platform_lib.declare.columns import UPDATED_AT, key, ts
    from platform_lib.declare.spec import Column, Source

    with pytest.raises(ValidationError, match="DuckDB's own row id"):
        Column(name="rowid", type="integer", description="x")
    with pytest.raises(ValidationError, match="valid_from, valid_to"):
        Source(domain="sales", name="deals", format="jsonl", description="Deals.", primary_key=("deal_id",),
               event_time="updated_at", evolves="entity",
               columns=(key("deal_id", "Id."), UPDATED_AT, ts("valid_to", "Until when the deal's terms hold.")))


@pytest.mark.parametrize("changes", [{"name": "amount\n"}, {"name": "amount; drop"}])
def test_a_declared_name_must_be_snake_case_whole(changes):
    """`$` matches before a final newline: a name is checked whole, so none slips through."""
    from pydantic import ValidationError

    from platform_lib.declare.spec import Column, DataProduct

    with pytest.raises(ValidationError, match="snake_case"):
        Column(**{"name": "amount", "type": "string", "description": "x", **changes})
    product = dict(domain="sales", name="probe", description="x", version="1.0.0\n", owner={"team": "sales", "role": "x"},
                   primary_key=("id",), event_time="at", columns=(Column(name="id", type="string", description="x"),
                                                                 Column(name="at", type="timestamp", description="x")))
    with pytest.raises(ValidationError, match="is not semantic"):
        DataProduct(**product)
