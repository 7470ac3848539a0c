"""The README says what the code does: its domain table lists what each domain declares, and
its governance and scaffolding commands work as written, in order, in a fresh copy."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from platform_lib.config import PROJECT_ROOT

from tests.test_scaffold import SKIP

README = (PROJECT_ROOT / "README.md").read_text()


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_domain_table_lists_every_product_each_domain_declares():
    from platform_lib.dagster.workspace import code_locations, declared_products

    rows = [line for line in section("The domains").splitlines() if line.startswith("| `")]
    listed = {re.findall(r"`(\w+)`", row.split("|")[1])[0]: set(re.findall(r"`(\w+)`", row.split("|")[2])) for row in rows}
    declared: dict[str, set[str]] = {}
    for product in declared_products(code_locations()):
        declared.setdefault(product.domain, set()).add(product.name)
    assert listed == declared


ACCESS_OR_SCAFFOLD = re.compile(r"^(export MESH_PROFILE=\S+|(MESH_PROFILE=\S+ )?mesh (access|scaffold|token issue) .+)$")


def test_the_readme_s_access_and_scaffold_commands_work_in_order_with_the_ids_they_print(tmp_path):
    """Every `mesh access` and `mesh scaffold` line of the README's shell blocks, in order, as
    written, in a copy of the project: each succeeds, and each approval names the request id
    the command before it printed."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT, project, ignore=SKIP)
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    lines = [re.sub(r"\s{2,}#.*$", "", line).strip() for block in blocks for line in block.splitlines()]
    lines = [line for line in lines if ACCESS_OR_SCAFFOLD.match(line) and not re.search(r"\[| \| ", line)]  # not a synopsis
    assert sum("access approve" in line for line in lines) >= 2, lines
    env = {**os.environ, "PYTHONPATH": str(project), "MESH_HOME": str(tmp_path / "mesh"), "HOME": str(tmp_path)}
    for name in ("MESH_TOKEN", "MESH_PROFILE", "DAGSTER_HOME"):
        env.pop(name, None)
    prelude = f'mesh() {{ "{sys.executable}" -m platform_lib.ops.cli "$@"; }}\n'
    exports, printed = "", None
    for line in lines:
        if line.startswith("export "):
            exports += line + "\n"
            continue
        done = subprocess.run(["bash", "-c", prelude + exports + line], cwd=project, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        if " approve " in line:
            assert line.split()[-1] == printed, (line, printed)
        elif "access request" in line or "scaffold product" in line:
            printed = re.findall(r"\bAR-\d{4}\b", done.stdout)[-1]
