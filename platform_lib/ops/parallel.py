"""Work per code location in forked processes, side by side: a location starts once the
locations it reads from are done. A domain writes only its own DuckDB file, so locations
that do not read each other never contend for one; a child that dies takes only its own
location down."""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from typing import Any

from platform_lib.dagster.workspace import CodeLocation
from platform_lib.ops.children import die_with_parent


def fork_each(
    locations: list[CodeLocation],
    workers: int,
    work: Callable[[CodeLocation], Any],
    start: Callable[[CodeLocation, set[str]], bool],
    done: Callable[[CodeLocation, Any, int | None], None],
    seconds: Callable[[str], float] = lambda _: 1.0,
) -> None:
    """Run `work(location)` in a forked child per location, `workers` at a time, each after
    the locations it reads from (among `locations`) are done. `start(location, producers)`
    may decline a location, which then counts as done without running; `done(location,
    result, exitcode)` gets what `work` returned, or None from a child that died. Of the
    locations ready, the one heading the longest chain still to run starts first, by
    `seconds(name)`, the time a location is expected to take."""
    fork = multiprocessing.get_context("fork")
    names = {loc.name for loc in locations}
    needs = {loc.name: loc.upstream_domains & names for loc in locations}
    readers = {name: {n for n, upstream in needs.items() if name in upstream} for name in names}

    @functools.cache
    def chain(name: str) -> float:
        return seconds(name) + max((chain(r) for r in readers[name]), default=0.0)

    waiting = sorted(locations, key=lambda loc: -chain(loc.name))
    finished: set[str] = set()
    running: dict[Connection, tuple[CodeLocation, multiprocessing.Process]] = {}
    while waiting or running:
        for location in [loc for loc in waiting if needs[loc.name] <= finished]:
            if len(running) == workers:
                break
            waiting.remove(location)
            if not start(location, needs[location.name]):
                finished.add(location.name)
                continue
            receive, send = fork.Pipe(duplex=False)
            child = fork.Process(target=_child, args=(work, location, send, os.getpid()))
            child.start()
            send.close()
            running[receive] = (location, child)
        if not running:
            continue  # every location ready was declined: look again at those waiting on them
        for receive in wait_for(list(running)):
            location, child = running.pop(receive)
            try:
                result = receive.recv()
            except EOFError:
                result = None
            child.join()
            finished.add(location.name)
            done(location, result, child.exitcode)


def _child(work: Callable[[CodeLocation], Any], location: CodeLocation, send: Connection, parent: int) -> None:
    die_with_parent(parent)
    send.send(work(location))
