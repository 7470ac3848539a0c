"""Serving benchmark: one product read through `mesh serve` with the `delta-sharing` client
against the same Delta table read directly with `deltalake`, side by side.

    python benchmarks/serving.py [--rows 1000000] [--rounds 3] [--out benchmarks/results/serving.json]

Publishes a `--rows` product (an account id, a day, a count, an amount, a text) as a
Delta table under a fresh mesh root, starts `mesh serve` on a free local port, and times
both reads in alternating rounds. The goal: the server's read takes at most 2x the direct one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import delta_sharing
import numpy as np
import pyarrow as pa
import requests
from deltalake import DeltaTable, write_deltalake

from platform_lib import config
from platform_lib.config import MeshPaths
from platform_lib.governance import identity

GOAL_RATIO = 2.0
PRODUCT = ("marketing", "serving_benchmark")  # owned by marketing: maria.marketing reads it


def product_rows(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table({
        "account_id": pa.array([f"ACC-{i:06d}" for i in rng.integers(0, 50_000, rows)]),
        "activity_date": pa.array(np.datetime64("2026-01-01") + rng.integers(0, 365, rows).astype("timedelta64[D]")),
        "events": pa.array(rng.integers(0, 500, rows)),
        "amount_usd": pa.array(rng.random(rows) * 10_000),
        "channel": pa.array(rng.choice(["web", "email", "ads", "events"], rows)),
    })


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mesh-serving-")) / "mesh"
    paths = MeshPaths(root)
    port_folder = paths.port(*PRODUCT, 1)
    port_folder.mkdir(parents=True)
    write_deltalake(str(port_folder), product_rows(args.rows), configuration={"delta.enableChangeDataFeed": "true"})
    endpoint = f"http://127.0.0.1:{free_port()}/delta-sharing"
    with config.overridden(home=root, serve_url=endpoint):
        secret, token = identity.issue(paths, "maria.marketing", "serving benchmark")
        profile = root.parent / "maria.share"
        identity.write_profile(profile, identity.profile(secret, token))
    server = subprocess.Popen([str(Path(sys.executable).parent / "mesh"), "serve", "--root", str(root)],
                              env={**os.environ, "MESH_SERVE_URL": endpoint}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                requests.get(f"{endpoint}/shares", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        url = f"{profile}#{PRODUCT[0]}.{PRODUCT[1]}.v1"
        direct, served = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            rows_direct = len(DeltaTable(str(port_folder)).to_pandas())
            direct.append(time.perf_counter() - started)
            started = time.perf_counter()
            rows_served = len(delta_sharing.load_as_pandas(url))
            served.append(time.perf_counter() - started)
            assert rows_direct == rows_served == args.rows
    finally:
        server.terminate()
        server.wait(timeout=30)
    ratio = statistics.median(served) / statistics.median(direct)
    result = {
        "rows": args.rows, "rounds": args.rounds, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "direct_seconds": [round(t, 3) for t in direct], "served_seconds": [round(t, 3) for t in served],
        "ratio_of_medians": round(ratio, 2), "goal_ratio": GOAL_RATIO, "met": ratio <= GOAL_RATIO,
    }
    print(f"{args.rows:,} rows, {args.rounds} alternating rounds")
    print(f"  deltalake, direct       {'  '.join(f'{t:6.2f} s' for t in direct)}   median {statistics.median(direct):.2f} s")
    print(f"  mesh serve + client     {'  '.join(f'{t:6.2f} s' for t in served)}   median {statistics.median(served):.2f} s")
    print(f"  served / direct: {ratio:.2f}x (goal <= {GOAL_RATIO}x: {'met' if result['met'] else 'not met'})")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
