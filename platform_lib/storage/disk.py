"""A full disk, told apart from other failures, so the user gets the folder and the fix
instead of a DuckDB, Delta or SQLite traceback. Every write the platform makes is atomic
(a DuckDB transaction, a Delta commit), so a full disk never leaves half a version: the
message can promise that the last good version keeps serving."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

# How each engine says it: the OS (errno 28), DuckDB, delta-rs, SQLite.
_FULL = ("no space left on device", "os error 28", "disk is full", "database or disk is full")
# SQLite reports a failed write on a full disk as an I/O error: counted only when space is short.
_MAYBE_FULL = ("disk i/o error",)
_LOW = 64 * 2**20


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _free(place: Path) -> tuple[Path, int]:
    while not place.exists() and place != place.parent:
        place = place.parent
    return place, shutil.disk_usage(place).free


def full_disk(failure: BaseException | str, places: Iterable[Path]) -> str | None:
    """The message for `failure` (an exception, or a run's error text) when a full disk
    under one of `places` caused it: the folder, the space left and the fix. None for any
    other failure."""
    texts = [failure.lower()] if isinstance(failure, str) else [str(e).lower() for e in _chain(failure)]
    certain = any(m in t for t in texts for m in _FULL) or (
        not isinstance(failure, str) and any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in _chain(failure)))
    if not certain and not any(m in t for t in texts for m in _MAYBE_FULL):
        return None
    place, free = min((_free(Path(p)) for p in places), key=lambda pf: pf[1])
    if not certain and free >= _LOW:
        return None
    return (f"the disk holding {place} is full ({free / 2**20:.1f} MB free): free space there, or move the mesh "
            "(MESH_HOME, DAGSTER_HOME) to a larger disk, then run the command again. Nothing was half-written: "
            "every output port keeps serving its last published version.")
