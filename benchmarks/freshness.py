"""Freshness benchmark: files landing -> `revenue_operations.account_360` published, on the
production topology (Postgres, a gRPC code server per domain, daemon, webserver) with the
production automation settings, no manual launch.

    python benchmarks/freshness.py [--batches 10] [--scale small] [--out benchmarks/results/freshness.json]

Seeds a landing zone, lets the mesh build itself from it (the cold figure), then lands a
new batch in every domain (about 150,000 new events, as `benchmarks/run.py` lands) `--batches`
times and reports p50 and p99 of the latency.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from dagster import AssetKey

from mesh_testkit.freshness import BATCH_ROWS, land_everywhere, wait_published
from mesh_testkit.topology import Topology, production_settings
from platform_lib.config import MeshPaths
from platform_lib.ops.seed import generate

ACCOUNT_360 = AssetKey(["revenue_operations", "account_360"])
GOAL_P99_SECONDS = 60


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--scale", default="small", choices=["small", "medium", "large"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/freshness.json"))
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="mesh-freshness-"))
    home = scratch / "mesh"
    try:
        generate(home, scale=args.scale, seed=7)
        started = time.time()
        with Topology(home) as topology:
            instance = topology.instance()
            cold = wait_published(instance, ACCOUNT_360, started, 0, timeout=1800)
            print(f"cold start (topology up + whole landing zone): {cold.published_at - started:.1f}s", flush=True)
            arrivals = []
            for n in range(args.batches):
                landed_at, files = land_everywhere(MeshPaths(home), f"bench{n:03d}", BATCH_ROWS)
                arrival = wait_published(instance, ACCOUNT_360, landed_at, files, timeout=900)
                arrivals.append(arrival)
                print(f"batch {n + 1}/{args.batches}: {files} files -> account_360 in {arrival.latency:.1f}s "
                      f"({arrival.runs} runs, {arrival.failed_runs} failed)", flush=True)
                print("    runs (location: created / started / ended, seconds after landing): "
                      + ", ".join(f"{loc} {c}/{s}/{e}" for loc, c, s, e in arrival.timeline), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # gigabytes at the large seed
    latencies = [a.latency for a in arrivals]
    result = {
        "figure": "files landed -> revenue_operations.account_360 published",
        "scale": args.scale, "batches": len(latencies), "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "settings": production_settings(),
        "cold_seconds": round(cold.published_at - started, 1),
        "p50_seconds": round(statistics.median(latencies), 1),
        "p99_seconds": round(percentile(latencies, 99), 1),
        "max_seconds": round(max(latencies), 1),
        "latencies": [round(v, 1) for v in latencies],
        "runs": [a.timeline for a in arrivals],
        "goal_p99_seconds": GOAL_P99_SECONDS,
    }
    result["goal_met"] = result["p99_seconds"] <= GOAL_P99_SECONDS
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\np50 {result['p50_seconds']}s  p99 {result['p99_seconds']}s  (goal p99 <= {GOAL_P99_SECONDS}s: "
          f"{'met' if result['goal_met'] else 'NOT met'})  -> {args.out}")


if __name__ == "__main__":
    main()
