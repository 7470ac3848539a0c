"""The benchmark suite: every performance figure with its goal, measured on this machine.

    python benchmarks/run.py                       # medium and large (about half an hour on 2 cores)
    python benchmarks/run.py --scales small --quick  # the harness itself, in a couple of minutes

Prints a table and writes JSON (`--out`, default benchmarks/results/latest.json). Build and
floor run side by side in the same invocation, on the same landing zone; short figures are
medians of several repetitions. The freshness figure (files -> account_360 on the
production topology) is `benchmarks/freshness.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from mesh_testkit.freshness import BATCH_ROWS

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None
    detail: str = ""


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the largest process in the command's tree, stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=PROJECT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak: dict[int, int] = {}
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            for p in [root, *root.children(recursive=True)]:
                peak[p.pid] = max(peak.get(p.pid, 0), p.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command[:3])} failed: {err[-2000:]}")
    return time.perf_counter() - started, max(peak.values(), default=0) / 2**20, out


def mesh_env(root: Path) -> dict[str, str]:
    return {"MESH_HOME": str(root), "DAGSTER_HOME": str(root / "dagster"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def python(code: str, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    return measure([sys.executable, "-c", code], env)


# ---- the figures -------------------------------------------------------------------




def build_and_floor(scale: str, work: Path) -> dict:
    root = work / scale / "mesh"
    seeded, _, _ = measure([str(BIN / "mesh"), "seed", "--scale", scale, "--root", str(root)])
    built, peak, _ = measure([str(BIN / "mesh"), "build"], mesh_env(root))
    floor_code = ("from benchmarks.floor import compiled_models, run_floor; from platform_lib.config import MeshPaths;"
                  "p = MeshPaths.from_env(); m = compiled_models(p); print(run_floor(p, m)[0])")
    _, floor_peak, out = python(floor_code, mesh_env(root))
    floor = float(out.strip().splitlines()[-1])
    audits = audit_seconds(root)
    # What a build costs when little changed: nothing new, then one new batch in every domain.
    unchanged, _, _ = measure([str(BIN / "mesh"), "build"], mesh_env(root))
    measure([str(BIN / "mesh"), "seed", "--increment", "bench1", "--rows", str(BATCH_ROWS), "--root", str(root)])
    after_batch, _, _ = measure([str(BIN / "mesh"), "build"], mesh_env(root))
    # The same again with every dbt run started cold (`MESH_DBT_WARM=false`): what the warm
    # dbt server saves on a batch.
    measure([str(BIN / "mesh"), "seed", "--increment", "bench2", "--rows", str(BATCH_ROWS), "--root", str(root)])
    cold_batch, _, _ = measure([str(BIN / "mesh"), "build"], {**mesh_env(root), "MESH_DBT_WARM": "false"})
    return {"scale": scale, "root": str(root), "seed_seconds": seeded, "build_seconds": built, "build_peak_mb": peak,
            "floor_seconds": floor, "floor_peak_mb": floor_peak, "audits": audits,
            "unchanged_seconds": unchanged, "batch_seconds": after_batch, "cold_dbt_batch_seconds": cold_batch}


def audit_seconds(root: Path) -> dict[str, float]:
    code = ("import json; from dagster import DagsterInstance, AssetKey; i = DagsterInstance.get(); out = {};\n"
            "for key in i.get_asset_keys():\n"
            "    e = i.get_latest_materialization_event(key)\n"
            "    m = e and e.asset_materialization.metadata\n"
            "    if m and 'audit_seconds' in m: out['.'.join(key.path)] = m['audit_seconds'].value\n"
            "print(json.dumps(out))")
    return json.loads(python(code, mesh_env(root))[2].strip().splitlines()[-1])


def audit_of_rows(rows: int, work: Path) -> float:
    """The platform's audit (row rules, quarantine, Pandera contract in DuckDB) of a
    generated batch of `rows` rows shaped like sales.opportunity_pipeline, built into the
    domain file as a product's candidate is."""
    code = f"""
import time, duckdb
from platform_lib.lifecycle.audit import audit
from platform_lib.storage.quarantine import ensure_quarantine
from platform_lib.lifecycle import contract
from platform_lib.declare.types import DUCKDB_TYPES
from platform_lib.lifecycle.publish import scratch_table
from platform_lib.dagster.workspace import code_locations, declared_products
product = next(p for p in declared_products(code_locations()) if p.id == "sales.opportunity_pipeline")
con = duckdb.connect({str(work / 'audit.duckdb')!r})
con.execute("SET enable_progress_bar = false")
ensure_quarantine(con)
con.execute("CREATE SCHEMA IF NOT EXISTS build")
def value(c):
    if c.accepted_values:
        vals = ", ".join("'" + v + "'" for v in c.accepted_values)
        return f"([{{vals}}])[1 + i % {{len(c.accepted_values)}}]"
    if c.name == "account_id": return "printf('ACC-%06d', i % 1000000)"
    if c.name == "contact_id": return "printf('CON-%07d', i % 10000000)"
    if c.name in product.primary_key: return "printf('OPP-%09d', i)"
    return {{"string": "'v' || (i % 1000)", "integer": "i % 100", "double": "(i % 1000) / 10.0", "boolean": "i % 2 = 0",
            "timestamp": "TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i % 86400)",
            "date": "DATE '2026-01-01' + CAST(i % 365 AS INTEGER)"}}[c.type]
cols = ", ".join(f"CAST({{value(c)}} AS {{DUCKDB_TYPES[c.type]}}) AS {{c.name}}" for c in product.columns)
con.execute(f"CREATE OR REPLACE TABLE build.candidate AS SELECT {{cols}} FROM range({rows}) t(i)")
import ibis, pandera.ibis  # a step imports them once per process, whatever the rows: not the audit's cost
started = time.perf_counter()
audited = scratch_table(con, "opportunity_pipeline")
audit(con, product, "build.candidate", audited, "benchmark")
contract.enforce(con, product, audited)
print(time.perf_counter() - started)
"""
    return float(python(code)[2].strip().splitlines()[-1])


def definition_loads(work: Path, products: int, repeat: int, only: set[str] | None = None) -> dict[str, float]:
    """Cold load of each code location (or `only` these) and of a synthetic domain, each in a fresh process."""
    from platform_lib.dagster.workspace import code_locations

    from benchmarks.synthetic_domain import write_domain

    loads = {}
    for location in (loc for loc in code_locations() if only is None or loc.name in only):
        loads[location.name] = statistics.median(python(f"import {location.module}")[0] for _ in range(repeat))
    module = write_domain(work / "synthetic", products)
    env = {"PYTHONPATH": f"{work / 'synthetic'}{os.pathsep}{PROJECT}"}
    loads[f"synthetic ({products} products)"] = statistics.median(python(f"import {module}", env)[0] for _ in range(repeat))
    return loads


def erasures(root: Path) -> dict[str, float]:
    import duckdb

    con = duckdb.connect(str(Path(root) / "warehouse" / "sales.duckdb"), read_only=True)
    contact = con.execute("SELECT contact_id FROM staging.activities WHERE contact_id IS NOT NULL "
                          "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchall()[0][0]
    account = con.execute("SELECT account_id FROM staging.accounts ORDER BY account_id LIMIT 1").fetchall()[0][0]
    con.close()
    out = {}
    for kind, subject in (("contact", f"contact:{contact}"), ("account", f"account:{account}")):
        seconds, _, _ = measure([str(BIN / "mesh"), "erase", "--subject", subject, "--reason", "benchmark"], mesh_env(Path(root)))
        out[kind] = seconds
    return out


# ---- the suite ---------------------------------------------------------------------


def suite(scales: list[str], quick: bool, work: Path) -> list[Figure]:
    figures: list[Figure] = []
    builds = {s: build_and_floor(s, work) for s in scales}
    big = builds[scales[-1]]
    for s, b in builds.items():
        ratio = b["build_seconds"] / b["floor_seconds"]
        figures.append(Figure(f"mesh build, {s}", b["build_seconds"], "s", detail=f"floor {b['floor_seconds']:.1f}s"))
        figures.append(Figure(f"mesh build / floor, {s}", ratio, "x", "<= 1.5x" if s == "large" else "",
                              ratio <= 1.5 if s == "large" else None))
        figures.append(Figure(f"mesh build peak memory, {s}", b["build_peak_mb"], "MB", "<= 3072 MB" if s == "large" else "",
                              b["build_peak_mb"] <= 3072 if s == "large" else None))
        figures.append(Figure(f"audit total, {s}", sum(b["audits"].values()), "s",
                              detail="slowest: " + ", ".join(f"{k} {v:.2f}s" for k, v in
                                                             sorted(b["audits"].items(), key=lambda kv: -kv[1])[:3])))
    for s, b in builds.items():
        large = s == "large"
        share = b["batch_seconds"] / b["build_seconds"]
        figures.append(Figure(f"mesh build, nothing new, {s}", b["unchanged_seconds"], "s"))
        figures.append(Figure(f"mesh build after one new batch, {s}", b["batch_seconds"], "s"))
        figures.append(Figure(f"the next batch with dbt started cold, {s}", b["cold_dbt_batch_seconds"], "s",
                              detail="MESH_DBT_WARM=false; same batch size"))
        figures.append(Figure(f"one new batch / full build, {s}", share * 100, "%", "<= 10%" if large else "",
                              share <= 0.10 if large else None))
    if len(scales) >= 2:
        a, b = builds[scales[-2]], builds[scales[-1]]
        ratio = b["build_seconds"] / a["build_seconds"]
        figures.append(Figure(f"build time {scales[-1]} / {scales[-2]}", ratio, "x", "<= 10x", ratio <= 10))
        ratio = b["batch_seconds"] / a["batch_seconds"]
        figures.append(Figure(f"one new batch, {scales[-1]} / {scales[-2]} (flat in history)", ratio, "x", "<= 1.3x",
                              ratio <= 1.3))
    rows = 100_000 if quick else 10_000_000
    figures.append(Figure(f"audit of a {rows:,}-row product", audit_of_rows(rows, work), "s",
                          "<= 1 s" if not quick else ""))
    if not quick:
        figures[-1].met = figures[-1].value <= 1
    products = 50 if quick else 500
    loads = definition_loads(work, products, 1 if quick else 3)
    for name, seconds in loads.items():
        synthetic = name.startswith("synthetic")
        goal = 5 if synthetic else 2
        figures.append(Figure(f"cold load: {name}", seconds, "s", f"<= {goal} s" if not quick or not synthetic else "",
                              seconds <= goal if not quick or not synthetic else None))
    for kind, seconds in erasures(Path(big["root"])).items():
        goal = kind == "contact" and scales[-1] == "large"
        figures.append(Figure(f"erasure of one {kind}, {scales[-1]}", seconds, "s", "<= 30 s" if goal else "",
                              seconds <= 30 if goal else None))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="medium,large")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the harness, not the goals")
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "results" / "latest.json")
    parser.add_argument("--work", type=Path, default=None, help="where to build (default: a temporary folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mesh-bench-"))
    try:
        figures = suite(args.scales.split(","), args.quick, work)
    finally:
        if args.work is None:  # a large run leaves gigabytes behind otherwise
            shutil.rmtree(work, ignore_errors=True)
    width = max(len(f.name) for f in figures)
    print(f"\n{'figure':<{width}}  {'measured':>12}  {'goal':<12} met")
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "NO")
        print(f"{f.name:<{width}}  {f.value:>9.2f} {f.unit:<2}  {f.goal:<12} {met:<3} {f.detail}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version()},
        "scales": args.scales.split(","), "quick": args.quick, "figures": [asdict(f) for f in figures],
    }, indent=2))
    print(f"\nresults: {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT))
    main()
