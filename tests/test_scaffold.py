"""Self-serve scaffolding, end to end, in a copy of the project: a new domain with a Python
and a dbt product loads, builds, passes every policy and shows up in the catalog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from platform_lib.config import PROJECT_ROOT

from tests.helpers import token_for

# dbt's parse (target/) is kept: the copy's projects are unchanged, so loads reuse it.
SKIP = shutil.ignore_patterns(".venv", ".mesh", ".git", "logs", "__pycache__", ".pytest_cache", "*.egg-info")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project") / "mesh"
    shutil.copytree(PROJECT_ROOT, root, ignore=SKIP)
    return root


def run(project, *args, principal=None, home=None):
    env = {**os.environ, "PYTHONPATH": str(project)}
    if principal:
        env["MESH_TOKEN"] = token_for(Path(env["MESH_HOME"]), principal)
    if home:
        env.update(MESH_HOME=str(home), DAGSTER_HOME=str(home / "dagster"))
    result = subprocess.run([sys.executable, "-m", "platform_lib.ops.cli", *args], cwd=project, env=env,
                            capture_output=True, text=True, timeout=600)
    return result


def test_a_new_domain_publishes_its_first_products(project, request):
    domain = run(project, "scaffold", "domain", "partnerships", "--dbt")
    assert domain.returncode == 0, domain.stderr
    # A dbt domain's next step is a dbt product.
    assert domain.stdout.splitlines()[-1] == "next: mesh scaffold product partnerships NAME --dbt --from DOMAIN.PRODUCT"
    made = run(project, "scaffold", "product", "partnerships", "partner_accounts", "--python", "--from", "sales.accounts")
    assert made.returncode == 0, made.stderr
    assert "requested for svc_partnerships" in made.stdout
    # It names the request and the command that approves it, as the producing domain's owner.
    assert made.stdout.splitlines()[-1].endswith("approves with their own credential: `mesh access approve AR-0001`")
    made_dbt = run(project, "scaffold", "product", "partnerships", "partner_pipeline", "--dbt",
                   "--from", "sales.opportunity_pipeline")
    assert made_dbt.returncode == 0, made_dbt.stderr

    # Until the producing domain's owner approves, the access policy keeps the location from loading.
    blocked = run(project, "policy", "check")
    assert blocked.returncode != 0 and "without an active grant for svc_partnerships" in blocked.stdout
    for request_id in ("AR-0001", "AR-0002"):
        approved = run(project, "access", "approve", request_id, principal="sam.sales")
        assert approved.returncode == 0, approved.stderr
    assert run(project, "policy", "check").returncode == 0

    # Asked for only now: scaffolding needs no built mesh, so it runs while the mesh is built.
    home = request.getfixturevalue("private_mesh")()  # sales' ports are published
    built = run(project, "build", "--select", "partnerships", home=home)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "partnerships.partner_accounts" in built.stdout and "partnerships.partner_pipeline" in built.stdout
    assert (home / "products" / "partnerships" / "partner_accounts" / "v1" / "_delta_log").is_dir()
    assert (home / "products" / "partnerships" / "partner_pipeline" / "v1" / "_delta_log").is_dir()

    found = json.loads(run(project, "catalog", "partner", "--json").stdout)
    assert {h["id"] for h in found[:2]} == {"partnerships.partner_accounts", "partnerships.partner_pipeline"}

    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                            "tests/scaffolded"], cwd=project, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PYTHONPATH": str(project)})
    assert tests.returncode == 0, tests.stdout + tests.stderr
