"""The local instance's storage, side by side: CPU seconds of a full `mesh build` and of a
build with nothing new, recorded through Dagster's own SQLite storage and through the mesh's
(`platform_lib/ops/sqlite_storage.py`, connections kept open). One location at a time, in one
process per variant; dbt's own CPU (in the warm dbt server) is not counted.

    python benchmarks/instance_storage.py [--scale small] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

VARIANTS = ("dagster", "mesh")


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def one_variant(variant: str, landing: Path) -> dict[str, float]:
    """Runs in its own process: `mesh build`, then again with nothing new."""
    root = Path(tempfile.mkdtemp()) / "mesh"
    shutil.copytree(landing, root / "landing")
    from dagster import DagsterInstance

    import platform_lib.ops.instance as instance
    from platform_lib import config
    from platform_lib.ops.cli import main

    if variant == "dagster":
        instance.mesh_instance = lambda paths=None: DagsterInstance.from_config(str(instance.dagster_home(paths)))
    figures = {}
    for label in ("full build", "nothing new"):
        before, started = cpu_seconds(), time.perf_counter()
        with config.overridden(home=root, dagster_home=root / "dagster", workers=1):
            try:
                main(["build"], standalone_mode=False)
            except SystemExit as stop:
                assert not stop.code, f"mesh build failed ({variant})"
        figures[f"{label} cpu_s"] = round(cpu_seconds() - before, 2)
        figures[f"{label} wall_s"] = round(time.perf_counter() - started, 2)
    shutil.rmtree(root.parent, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--rounds", type=int, default=2, help="variants alternate, this many times each")
    args = parser.parse_args()
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from platform_lib.ops.seed import generate

    work = Path(tempfile.mkdtemp())
    generate(work, scale=args.scale, seed=7, as_of=datetime(2026, 11, 1, tzinfo=timezone.utc))
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            out = subprocess.run([sys.executable, __file__, "--one", variant, str(work / "landing")],
                                 capture_output=True, text=True, check=True, env={**os.environ, "MESH_HOME": str(work / "unused")})
            results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    shutil.rmtree(work, ignore_errors=True)
    print(f"instance storage, scale {args.scale}, {args.rounds} rounds (median CPU seconds, wall in brackets)")
    for label in ("full build", "nothing new"):
        line = []
        for variant in VARIANTS:
            cpu = sorted(r[f"{label} cpu_s"] for r in results[variant])[len(results[variant]) // 2]
            wall = sorted(r[f"{label} wall_s"] for r in results[variant])[len(results[variant]) // 2]
            line.append(f"{variant} storage {cpu:.1f} s ({wall:.1f} s)")
        print(f"  {label:<12} " + "  |  ".join(line))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one_variant(sys.argv[2], Path(sys.argv[3]))))
    else:
        main()
