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


def parse(kind, values) -> np.ndarray:
    """The inverse of `render`, for values read back from landed files: Id and Cat give their
    numbers (-1 for null, or a label the category does not hold), Ts and Date epoch seconds
    (-1 for null or unparseable), Num floats (NaN for null)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else pa.array(values)
    if isinstance(kind, Id):
        return np.array([int(v[len(kind.prefix):]) if v and v[len(kind.prefix):].isdigit() else NULL
                         for v in values.cast(pa.string()).to_pylist()], dtype=np.int64)
    if isinstance(kind, Cat):
        return pc.index_in(values.cast(pa.string()), pa.array(kind.values)).fill_null(NULL).to_numpy(zero_copy_only=False)
    if kind is Ts or kind is Date:
        if pa.types.is_timestamp(values.type):
            stamps = values.cast(pa.timestamp("s"))
        else:  # the leading date and time, with or without fractions of a second and the zone
            text = pc.utf8_slice_codeunits(values.cast(pa.string()), 0, 19 if kind is Ts else 10)
            stamps = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S" if kind is Ts else "%Y-%m-%d", unit="s", error_is_null=True)
        return stamps.cast(pa.int64()).fill_null(NULL).to_numpy(zero_copy_only=False)
    return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
