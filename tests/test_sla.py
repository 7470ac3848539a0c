"""Each SLA fails for the right reason and passes otherwise."""

from __future__ import annotations

import subprocess
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from dagster import AssetCheckEvaluation, AssetKey, AssetMaterialization, DagsterEvent, DagsterEventType, DagsterInstance
from dagster._core.events import StepMaterializationData
from dagster._core.events.log import EventLogEntry
from deltalake import DeltaTable

from platform_lib.config import MeshPaths
from platform_lib.declare import versions as contracts
from platform_lib.lifecycle.read import RetiredVersion, deprecation
from platform_lib.sla import docs_currency

from tests import sla_lab
from tests.helpers import mesh_in_process


@pytest.fixture
def contracts_dir(tmp_path, configure):
    root = tmp_path / "contracts"
    configure(contracts=str(root))
    return root


def test_fresh_events_pass_and_late_events_push_p99_over_the_target(tmp_path, contracts_dir):
    product, asset = sla_lab.event_log()
    sla_lab.land(tmp_path, "batch-1", [1, 2, 3, 4, 5] * 20)
    first = sla_lab.check_result(sla_lab.build(tmp_path, asset), "freshness")
    assert first.passed and first.metadata["p99_latency_minutes"].value < 15
    assert first.metadata["new_records"].value == 100

    # A second batch arrives: a few fresh events and a handful that happened hours ago.
    sla_lab.land(tmp_path, "batch-2", [1] * 50 + [180] * 5)
    second = sla_lab.check_result(sla_lab.build(tmp_path, asset), "freshness")
    assert not second.passed
    assert second.metadata["new_records"].value == 55  # only what this batch added
    assert second.metadata["p99_latency_minutes"].value > 170
    assert second.metadata["p50_latency_minutes"].value < 15


def _store(instance: DagsterInstance, event_type: DagsterEventType, data, at: float, run_id: str) -> None:
    event = DagsterEvent(event_type_value=event_type.value, job_name="__ASSET_JOB", event_specific_data=data)
    instance.store_event(
        EventLogEntry(error_info=None, level="INFO", user_message="", run_id=run_id, timestamp=at, dagster_event=event)
    )


def test_availability_comes_from_a_month_of_instance_history(tmp_path, contracts_dir):
    product, asset = sla_lab.event_log()
    key = AssetKey(["sla_lab", "event_log"])
    instance = DagsterInstance.ephemeral()
    now = time.time()
    day = 86400
    # Published 30 days ago; a batch failed its quality check on day 10; fixed on day 12.
    history = [
        (DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(AssetMaterialization(key)), now - 30 * day),
        (DagsterEventType.ASSET_CHECK_EVALUATION, AssetCheckEvaluation(key, "quality_score", True), now - 30 * day),
        (DagsterEventType.ASSET_CHECK_EVALUATION, AssetCheckEvaluation(key, "quality_score", False), now - 20 * day),
        (DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(AssetMaterialization(key)), now - 18 * day),
        (DagsterEventType.ASSET_CHECK_EVALUATION, AssetCheckEvaluation(key, "quality_score", True), now - 18 * day),
    ]
    for i, (kind, data, at) in enumerate(history):
        _store(instance, kind, data, at, run_id=f"history-{i}")
    sla_lab.land(tmp_path, "batch-1", [1, 2, 3])
    measured = sla_lab.check_result(sla_lab.build(tmp_path, asset, instance), "availability")
    assert measured.metadata["availability"].value == pytest.approx(28 / 30, abs=0.002)
    assert not measured.passed  # 93.3% is below the 99.5% target

    fresh = sla_lab.check_result(sla_lab.build(tmp_path, asset, DagsterInstance.ephemeral()), "availability")
    assert fresh.passed and fresh.metadata["availability"].value == 1.0


def test_removing_a_column_needs_a_major_bump_and_notice(contracts_dir):
    today = date(2026, 11, 24)
    v1, _ = sla_lab.event_log()
    contracts.write_snapshot(v1, today)

    renamed, _ = sla_lab.event_log(version="1.1.0", rename=True)
    verdict = contracts.check(renamed, today)
    assert not verdict.ok and "column channel removed or renamed" in verdict.problems[0]
    assert "bump sla_lab.event_log to 2.0.0" in verdict.problems[0]

    short, _ = sla_lab.event_log(version="2.0.0", rename=True, deprecations={1: today + timedelta(days=10)})
    assert not contracts.check(short, today).ok

    bumped, _ = sla_lab.event_log(version="2.0.0", rename=True, deprecations={1: today + timedelta(days=30)})
    assert contracts.check(bumped, today).ok

    added, _ = sla_lab.event_log(version="1.0.0", rename=False)
    assert contracts.check(added, today).ok


def test_the_repository_contracts_match_the_code():
    result = mesh_in_process("contracts", "check", root=MeshPaths.from_env().home)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("ok ") >= 16


def test_a_deprecated_major_keeps_being_served_beside_the_new_one(tmp_path, contracts_dir):
    today = datetime.now(timezone.utc).date()
    v1, v1_asset = sla_lab.event_log()
    sla_lab.land(tmp_path, "batch-1", [1, 2, 3])
    sla_lab.build(tmp_path, v1_asset)
    contracts.write_snapshot(v1, today)

    v2, v2_asset = sla_lab.event_log(
        version="2.0.0", rename=True, deprecations={1: today + timedelta(days=30)},
        compatibility={1: "SELECT event_id, source_channel AS channel, occurred_at FROM {batch}"},
    )
    contracts.write_snapshot(v2, today)
    sla_lab.land(tmp_path, "batch-2", [1])
    result = sla_lab.build(tmp_path, v2_asset)
    paths = MeshPaths(tmp_path)
    served_v1 = DeltaTable(str(paths.port("sla_lab", "event_log", 1))).to_pyarrow_table()
    served_v2 = DeltaTable(str(paths.port("sla_lab", "event_log", 2))).to_pyarrow_table()
    assert served_v1.column_names == ["event_id", "channel", "occurred_at"] and served_v1.num_rows == 4
    assert served_v2.column_names == ["event_id", "source_channel", "occurred_at"] and served_v2.num_rows == 4
    stability = sla_lab.check_result(result, "schema_stability")
    assert stability.passed and stability.metadata["v1_days_to_sunset"].value == 30

    # A consumer pinned to v1 is warned; after the sunset it is refused with the way forward.
    assert "retires on" in deprecation("sla_lab.event_log@v1", today)
    with pytest.raises(RetiredVersion, match="was retired on .* Move the input to sla_lab.event_log@v2"):
        deprecation("sla_lab.event_log@v1", today + timedelta(days=31))


def test_documentation_currency_flags_code_that_moved_on_without_its_docs(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    module = repo / "lab_product.py"
    source = (
        "from tests.sla_lab import *\n"
        "PRODUCT, _ = event_log()\n"
        "def build(ctx):\n"
        "    return 'SELECT 1'\n"
    )
    module.write_text(source)

    def git(*args, when: datetime):
        env = {"GIT_AUTHOR_DATE": when.isoformat(), "GIT_COMMITTER_DATE": when.isoformat(), "HOME": str(tmp_path),
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    git("init", "-q", when=start)
    git("add", ".", when=start)
    git("commit", "-qm", "docs and code", when=start)
    docs = docs_currency.Span(module, 2, 2)
    code = docs_currency.Span(module, 3, 4)
    assert docs_currency.measure([code], [docs], 7).status == "current"

    module.write_text(source.replace("'SELECT 1'", "'SELECT 2'"))
    git("commit", "-qam", "code only", when=start + timedelta(days=10))
    outdated = docs_currency.measure([code], [docs], 7)
    assert outdated.status == "outdated" and not outdated.passed
    assert outdated.lag_days == pytest.approx(10, abs=0.01)

    module.write_text(source.replace("'SELECT 1'", "'SELECT 2'").replace("event_log()", "event_log() "))
    git("commit", "-qam", "docs catch up", when=start + timedelta(days=11))
    assert docs_currency.measure([code], [docs], 7).status == "current"


def test_documentation_currency_outside_git_is_unknown(tmp_path):
    (tmp_path / "p.py").write_text("x = 1\n")
    measured = docs_currency.measure([docs_currency.Span(tmp_path / "p.py")], [docs_currency.Span(tmp_path / "p.py")], 7)
    assert measured.status == "unknown" and measured.passed


@pytest.mark.parametrize("product_id", ["marketing.web_behavior", "marketing.campaign_engagement"])
def test_products_show_where_their_code_and_docs_live(product_id):
    from tests.helpers import domain_defs

    key = AssetKey(product_id.split("."))
    meta = domain_defs("marketing").resolve_assets_def(key).specs_by_key[key].metadata
    code, docs = meta["mesh/code"], meta["mesh/docs"]
    if product_id.endswith("web_behavior"):
        assert code.startswith("domains/marketing/products/web_behavior.py:") and docs.startswith(code.split(":")[0])
    else:
        assert code.endswith("models/campaign_engagement.sql") and docs.endswith("models/campaign_engagement.yml")
