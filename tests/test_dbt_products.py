"""dbt products: a failing dbt test blocks publication (a failed asset check, a run failure
naming the product and the test, the port keeps its last version); a subset of a project's
models builds only those."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import AssetKey, DagsterEventType, materialize
from deltalake import DeltaTable

from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.dagster.dbt import DbtResource, dbt_products
from platform_lib.dagster.resources import domain_resources

from domains.marketing.domain import MARKETING
from tests.helpers import mesh_in_process

KEY = AssetKey(["marketing", "campaign_engagement"])
NARROWED = "accepted_values_campaign_engagement_channel__email"


def test_a_failing_dbt_test_blocks_publication_and_the_last_version_serves(private_mesh, tmp_path):
    root = private_mesh()
    # The same project, but channel may only be 'email': real campaigns break the test.
    project = tmp_path / "marketing_dbt"
    shutil.copytree(PROJECT_ROOT / "dbt_projects" / "marketing", project, ignore=shutil.ignore_patterns("target", "logs"))
    spec = project / "models" / "campaign_engagement.yml"
    spec.write_text(spec.read_text().replace("values: [email, webinar, paid_social, paid_search, event, content]", "values: [email]"))

    port = MeshPaths(root).port("marketing", "campaign_engagement", 1)
    before = DeltaTable(str(port))
    version, rows = before.version(), before.to_pyarrow_table()

    result = materialize(
        [dbt_products(project, MARKETING)],
        resources={**domain_resources("marketing", MeshPaths(root)), "dbt": DbtResource(project_dir=str(project))},
        selection=[KEY],
        raise_on_error=False,
    )

    assert not result.success
    checks = {e.event_specific_data.check_name: e.event_specific_data.passed
              for e in result.all_events if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION}
    assert checks[NARROWED] is False and checks["not_null_campaign_engagement_account_id"] is True
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    message = failure.event_specific_data.error.message
    assert "marketing.campaign_engagement was not published" in message and NARROWED in message
    assert not result.asset_materializations_for_node("marketing_dbt_models")
    after = DeltaTable(str(port))
    assert after.version() == version and after.to_pyarrow_table().equals(rows)


def test_a_subset_of_a_projects_models_builds_only_those(private_mesh):
    root = private_mesh()
    versions = {name: DeltaTable(str(MeshPaths(root).port("customer_success", name, 1))).version()
                for name in ("account_health", "engagement_metrics", "support_interactions")}

    built = mesh_in_process("build", "--select", "customer_success.engagement_metrics",
                 "--select", "customer_success.support_interactions", root=root)

    assert built.returncode == 0, built.stdout + built.stderr
    assert "customer_success.engagement_metrics" in built.stdout and "customer_success.account_health" not in built.stdout
    assert "not_null_engagement_metrics_account_id" not in built.stdout  # dbt's own output stays in its run folder
    after = {name: DeltaTable(str(MeshPaths(root).port("customer_success", name, 1))).version() for name in versions}
    assert after["account_health"] == versions["account_health"]


def test_dbt_started_warm_answers_as_dbt_started_cold(tmp_path):
    """`mesh-dbt` (what every dbt step starts) runs dbt in a fork of a resident server by
    default: the caller sees dbt's own output and exit code, as from dbt started cold."""
    import os
    import subprocess
    import sys

    import psutil

    from platform_lib.ops.warm_dbt import socket_path

    mesh_dbt = str(Path(sys.executable).parent / "mesh-dbt")

    def dbt(*args: str, warm: bool) -> tuple[int, str, str]:
        env = {**os.environ, "MESH_DBT_WARM": str(warm).lower()}
        done = subprocess.run([mesh_dbt, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr

    for args in (["build", "--help"], ["build", "--no-such-option"]):
        assert dbt(*args, warm=True) == dbt(*args, warm=False)
    code, _, err = dbt("build", "--no-such-option", warm=True)
    assert code == 2 and "No such option" in err
    server = [p for p in psutil.process_iter(["cmdline"]) if str(socket_path()) in " ".join(p.info["cmdline"] or [])]
    assert server, "no warm dbt server answered"


def test_a_step_reads_dbt_s_events_without_importing_dbt_core():
    """dbt runs in its own process; the step's process reads its events with dagster-dbt
    alone, sparing every process that runs a dbt step dbt-core's import."""
    import subprocess
    import sys

    code = "import sys, platform_lib.dagster.dbt_cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'dbt'))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_processes_loading_an_unparsed_project_at_once_parse_it_once(tmp_path):
    """Code servers, the daemon or test workers starting together on a fresh checkout each
    load every dbt project: the first parses it, the others wait for its manifest."""
    import subprocess
    import sys

    project = tmp_path / "marketing"
    shutil.copytree(PROJECT_ROOT / "dbt_projects" / "marketing", project, ignore=shutil.ignore_patterns("target", "logs"))
    load = ("import sys\nfrom pathlib import Path\nimport platform_lib.dagster.dbt_cli as cli\nparse = cli.parse\n"
            "def counted(*args):\n    print('parsed', flush=True)\n    parse(*args)\ncli.parse = counted\n"
            "from platform_lib.dagster.dbt import prepare_manifest\n"
            "print(len(prepare_manifest(Path(sys.argv[1]))['nodes']), 'nodes')\n")
    loads = [subprocess.Popen([sys.executable, "-c", load, str(project)], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    said = [p.communicate(timeout=300)[0].split("\n") for p in loads]
    assert all(p.returncode == 0 for p in loads)
    assert sum(lines.count("parsed") for lines in said) == 1
    assert len({lines[-2] for lines in said}) == 1 and said[0][-2] != "0 nodes"
