"""Columns are generated as numbers (ids, category codes, epoch seconds) and rendered
to the strings a source system exports only when a batch is written, so even the large
scale holds no per-row Python objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NULL = -1
MALFORMED = np.iinfo(np.int64).min  # epoch-seconds marker for a malformed timestamp
MALFORMED_TEXT = ["2026-13-45T99:61:00Z", "not-a-date", "31/02/2026 25:00"]


@dataclass(frozen=True)
class Id:
    """An identifier rendered as PREFIX-000123; negative means null."""

    prefix: str
    width: int


@dataclass(frozen=True)
class Cat:
    """A category code into `values`; code len(values) renders an unknown value; negative is null."""

    values: tuple[str, ...]
    unknown: str = "unknown_value"


class Ts:
    """Epoch seconds rendered as ISO-8601 UTC; MALFORMED renders an unparseable string."""


class Date:
    """Epoch seconds rendered as YYYY-MM-DD; negative is null."""


class Num:
    """An integer or float column; NaN (floats) or a mask is null."""


class Bool:
    """A boolean column."""


class Text:
    """Already strings (small entity tables only)."""


def render(kind, values: np.ndarray) -> pa.Array:
    if isinstance(kind, Id):
        digits = pc.utf8_lpad(pa.array(values).cast(pa.string()), width=kind.width, padding="0")
        out = pc.binary_join_element_wise(kind.prefix, digits, "")
        return pc.if_else(pa.array(values < 0), pa.nulls(len(values), pa.string()), out)
    if isinstance(kind, Cat):
        labels = pa.array([*kind.values, kind.unknown, None], pa.string())
        codes = np.where(values < 0, len(kind.values) + 1, values).astype(np.int32)
        return pc.take(labels, pa.array(codes))
    if kind is Ts or kind is Date:
        bad = values == MALFORMED
        null = (values < 0) & ~bad
        micros = np.where(bad | null, 0, values).astype("int64") * 1_000_000
        stamps = pa.array(micros, pa.timestamp("us"))
        text = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ" if kind is Ts else "%Y-%m-%d")
        if bad.any():
            junk = np.array(MALFORMED_TEXT, dtype=object)[np.arange(len(values)) % len(MALFORMED_TEXT)]
            text = pc.if_else(pa.array(bad), pa.array(junk, pa.string()), text)
        return pc.if_else(pa.array(null), pa.nulls(len(values), pa.string()), text)
    if kind is Text:
        return pa.array(values, pa.string())
    return pa.array(values)
