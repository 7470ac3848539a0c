"""`mesh build`: materialize the mesh, one real Dagster run per code location, producers
before consumers (a run cannot span code locations), independent locations side by side,
recorded in the instance the UI reads."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dagster import AssetKey, AssetsDefinition, AssetSelection, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from platform_lib.config import settings
from platform_lib.dagster import runs
from platform_lib.dagster.assets import FULL_REFRESH_TAG
from platform_lib.dagster.workspace import CodeLocation, declared_sources, in_dependency_order
from platform_lib.declare.names import brief
from platform_lib.ops.instance import process_tags, recover_orphaned_runs
from platform_lib.ops.parallel import fork_each
from platform_lib.storage.disk import full_disk
from platform_lib.storage.landing import unknown_folders


@dataclass
class AssetOutcome:
    key: AssetKey
    rows_published: int | None = None
    rows_quarantined: int | None = None
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    materialized: bool = False
    # Whether what it serves changed: a product's new port version, a source's staged keys.
    changed: bool = False
    seconds: float | None = None

    @property
    def name(self) -> str:
        return ".".join(self.key.path)


@dataclass
class LocationOutcome:
    location: str
    run_id: str | None
    success: bool
    seconds: float
    assets: list[AssetOutcome]
    error: str | None = None


class UnknownSelector(ValueError):
    pass


def check_selectors(locations: Sequence[CodeLocation], selectors: Sequence[str]) -> None:
    """Every selector names a code location, or an asset of one; refused before anything runs."""
    names = {loc.name for loc in locations}
    for sel in selectors:
        if sel.split(".")[0] not in names:
            raise UnknownSelector(f"'{brief(sel)}' names no code location; expected one of {sorted(names)} "
                                  "or DOMAIN.PRODUCT")
        for location in locations:
            if sel.split(".")[0] == location.name:
                selection_for(location, [sel])


def selection_for(location: CodeLocation, selectors: Sequence[str]) -> set[AssetKey]:
    """Selectors: a domain name (all its assets) or `domain.product` (the product and its
    upstream assets inside the domain; other domains are read from their ports)."""
    if not selectors:
        return set(location.asset_keys)
    keys: set[AssetKey] = set()
    for sel in selectors:
        parts = sel.split(".")
        if parts[0] != location.name:
            continue
        if len(parts) == 1:
            return set(location.asset_keys)
        key = AssetKey(parts)
        if key not in location.asset_keys:
            raise UnknownSelector(f"'{brief(sel)}' is not an asset of code location {location.name}")
        graph = location.defs.resolve_asset_graph()
        keys |= {k for k in AssetSelection.assets(key).upstream().resolve(graph) if k in location.asset_keys}
    return keys


def build_mesh(
    instance: DagsterInstance,
    locations: list[CodeLocation],
    selectors: Sequence[str] = (),
    on_progress: Callable[[str], None] = lambda _: None,
    log_level: str = "WARNING",
    workers: int | None = None,
    full_refresh: bool = False,
) -> list[LocationOutcome]:
    """One run per selected code location. A location starts once the locations it reads
    from have published; independent ones run side by side, each in its own process (a
    domain writes only its own DuckDB file, so they never contend for one). A location
    whose producer failed is not run: it would only read the producer's previous version.
    With `full_refresh`, staging reads every landed file again instead of the new ones.

    The children are forked, so a process that has already read a Delta table (whose
    runtime a fork cannot carry) passes `workers=1`, as the notebook API does."""
    check_selectors(locations, selectors)
    recover_orphaned_runs(instance)
    declared: dict[str, set[str]] = {loc.name: set() for loc in locations}
    for source in declared_sources(locations):
        declared.setdefault(source.domain, set()).add(source.name)
    for warning in unknown_folders(settings().paths.landing, declared):
        on_progress(f"warning: {warning}")
    plan = [(loc, keys) for loc in in_dependency_order(locations) if (keys := selection_for(loc, selectors))]
    workers = settings().workers if workers is None else workers
    tags = {FULL_REFRESH_TAG: "true"} if full_refresh else {}
    if workers > 1 and len(plan) > 1 and not instance.is_ephemeral:
        return _build_side_by_side(instance, plan, workers, on_progress, log_level, tags)
    outcomes = []
    for location, keys in plan:
        on_progress(f"{location.name}: materializing {len(keys)} assets")
        outcome = run_location(instance, location, keys, log_level, tags)
        outcomes.append(outcome)
        on_progress(_finished(outcome))
        if not outcome.success:
            break
    return outcomes


def run_location(instance: DagsterInstance, location: CodeLocation, keys: set[AssetKey], log_level: str,
                 tags: dict[str, str] | None = None) -> LocationOutcome:
    """Materialize `keys` of one code location as one Dagster run of the location, recorded
    in `instance` as the UI would launch it (see platform_lib.dagster.runs)."""
    started = time.monotonic()
    run = runs.execute(
        location, instance,
        asset_selection=keys,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags={"mesh/build": "true", "mesh/code_location": location.name, **process_tags(), **(tags or {})},
    )
    success = run.status == DagsterRunStatus.SUCCESS
    outcome = LocationOutcome(
        location=location.name,
        run_id=run.run_id,
        success=success,
        seconds=time.monotonic() - started,
        assets=_asset_outcomes(instance, run.run_id, keys),
    )
    if not success:
        outcome.error = _failure_message(instance, run.run_id)
    return outcome


def _finished(outcome: LocationOutcome) -> str:
    return f"{outcome.location}: {'ok' if outcome.success else 'FAILED'} in {outcome.seconds:.1f}s"


def _import_once_for_children(plan: list[tuple[CodeLocation, set[AssetKey]]]) -> None:
    """Forked children inherit the parent's imports: the audit's libraries (and dbt's, when
    a selected asset runs dbt) are imported here once, not again in every child."""
    import ibis
    import pandera.ibis  # noqa: F401

    ibis.duckdb  # noqa: B018 -- the contract's backend loads on first use: 0.16 s in each child otherwise

    if any("dbt" in spec.kinds for loc, keys in plan for a in loc.defs.assets if isinstance(a, AssetsDefinition)
           for spec in a.specs if spec.key in keys):
        import platform_lib.dagster.dbt_cli  # noqa: F401


def _build_side_by_side(instance: DagsterInstance, plan, workers: int, on_progress, log_level: str,
                        tags: dict[str, str]) -> list[LocationOutcome]:
    _import_once_for_children(plan)
    keys_of = {loc.name: keys for loc, keys in plan}
    ref = instance.get_ref()
    outcomes: dict[str, LocationOutcome] = {}
    started: dict[str, float] = {}

    def start(location: CodeLocation, producers: set[str]) -> bool:
        failed = sorted(n for n in producers if n not in outcomes or not outcomes[n].success)
        if failed:
            on_progress(f"{location.name}: not run, its producer {', '.join(failed)} did not publish")
            return False
        on_progress(f"{location.name}: materializing {len(keys_of[location.name])} assets")
        started[location.name] = time.monotonic()
        return True

    def work(location: CodeLocation) -> LocationOutcome:  # in the child: the instance opened afresh
        with DagsterInstance.from_ref(ref) as own:
            return run_location(own, location, keys_of[location.name], log_level, tags)

    def done(location: CodeLocation, outcome: LocationOutcome | None, exitcode: int | None) -> None:
        if outcome is None:
            outcome = LocationOutcome(location.name, None, False, time.monotonic() - started[location.name], [],
                                      f"the process building {location.name} ended without a result (exit code {exitcode}); "
                                      "its run is marked failed by the next mesh command")
        outcomes[location.name] = outcome
        on_progress(_finished(outcome))

    expected = _last_seconds(instance, [loc.name for loc, _ in plan])
    fork_each([loc for loc, _ in plan], workers, work, start, done, lambda name: expected.get(name, 1.0))
    return [outcomes[loc.name] for loc, _ in plan if loc.name in outcomes]


def _last_seconds(instance: DagsterInstance, names: list[str]) -> dict[str, float]:
    """Each location's last successful build run, in seconds: what its next one is expected to take."""
    last = {}
    for name in names:
        records = instance.get_run_records(RunsFilter(tags={"mesh/build": "true", "mesh/code_location": name},
                                                      statuses=[DagsterRunStatus.SUCCESS]), limit=1)
        if records and records[0].start_time and records[0].end_time:
            last[name] = records[0].end_time - records[0].start_time
    return last


def _asset_outcomes(instance: DagsterInstance, run_id: str, keys: set[AssetKey]) -> list[AssetOutcome]:
    by_key = {k: AssetOutcome(k) for k in keys}
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    step_of: dict[AssetKey, str] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ended[event.step_key] = record.timestamp
        if getattr(event.event_specific_data, "asset_key", None) is not None or event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            key = event.asset_key
            if key is not None:
                step_of.setdefault(key, event.step_key)
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.step_materialization_data.materialization
            out = by_key.get(mat.asset_key)
            if out:
                out.materialized = True
                meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
                out.changed = bool(meta.get("content_changed") or meta.get("full_refresh") or meta.get("keys_recomputed"))
                out.rows_published = _int(mat.metadata.get("rows_published") or mat.metadata.get("rows_valid"))
                out.rows_quarantined = _int(mat.metadata.get("rows_quarantined"))
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data
            out = by_key.get(ev.asset_key)
            if out:
                if ev.passed:
                    out.checks_passed += 1
                else:
                    out.checks_failed.append(f"{ev.check_name} ({ev.severity.value.lower()})")
                if out.rows_quarantined is None and "rows_quarantined" in ev.metadata:
                    out.rows_quarantined = _int(ev.metadata["rows_quarantined"])
    for key, out in by_key.items():
        step = step_of.get(key)
        if step in started and step in ended:
            out.seconds = ended[step] - started[step]
    return sorted(by_key.values(), key=lambda o: o.key.path)


def _failure_message(instance: DagsterInstance, run_id: str) -> str:
    messages = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        error = record.dagster_event.event_specific_data.error
        messages.append(_root_message(error))
    paths = settings().paths
    told = [full_disk(m, [paths.home, paths.dagster_home]) or m for m in messages]
    return "\n".join(dict.fromkeys(told)) or "the run failed; see its logs in the Dagster UI"


def _root_message(error) -> str:
    while error.cause is not None and "Failure" not in error.cls_name:
        error = error.cause
    return error.message.strip()


def _int(value) -> int | None:
    return None if value is None else int(getattr(value, "value", value))
