"""Test helpers that drive the mesh through its public surfaces."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, materialize

from platform_lib.resources import domain_resources
from platform_lib.settings import PROJECT_ROOT, MeshPaths


def domain_defs(domain: str):
    return importlib.import_module(f"domains.{domain}.definitions").defs


def materialize_domain(domain: str, root: Path, *, selection=None, instance=None, raise_on_error=True, extra_assets=()):
    """A real Dagster run of the domain's assets against mesh root `root`."""
    defs = domain_defs(domain)
    os.environ["MESH_HOME"] = str(root)
    resources = {**defs.resources, **domain_resources(domain, MeshPaths(root))}
    return materialize(
        [*defs.assets, *extra_assets],
        resources=resources,
        instance=instance or DagsterInstance.ephemeral(),
        selection=selection,
        raise_on_error=raise_on_error,
    )


def copy_landing(template: Path, root: Path) -> Path:
    shutil.copytree(template / "landing", root / "landing")
    return root


def mesh(*args: str, root: Path, check: bool = False, principal: str | None = None) -> subprocess.CompletedProcess:
    """Run the `mesh` CLI as a user would, against mesh root `root`, as `principal`."""
    env = {**os.environ, "MESH_HOME": str(root), "DAGSTER_HOME": str(root / "dagster")}
    if principal:
        env["MESH_PRINCIPAL"] = principal
    cli = Path(sys.executable).parent / "mesh"
    return subprocess.run(
        [str(cli), *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=check, timeout=600
    )


def copy_of_built_mesh(template: Path, destination: Path):
    """A private copy of the built mesh and the `mesh build` result that made it."""
    import json
    import shutil
    import subprocess

    shutil.copytree(template, destination, ignore=shutil.ignore_patterns("build.json"))
    built = json.loads((template / "build.json").read_text())
    return destination, subprocess.CompletedProcess(["mesh", "build"], built["returncode"], built["stdout"], built["stderr"])
