"""A domain's landing sensor: newly arrived (or rewritten) landing files start one run of
exactly the staged sources they feed and the domain's products downstream of them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from dagster import (
    AssetKey,
    AssetSelection,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from platform_lib.config import settings
from platform_lib.dagster.automation.switch import sensor_status
from platform_lib.dagster.resources import MeshResource
from platform_lib.declare.spec import Source
from platform_lib.storage.landing import source_files, unknown_folders

LANDING_TRIGGER = "landing"


def landing_sensor_name(domain: str) -> str:
    return f"{domain}_landing"


def landing_sensor(domain: str, sources: Sequence[Source]) -> SensorDefinition:
    @sensor(
        name=landing_sensor_name(domain),
        description=f"Starts a run of the {domain} sources with new or rewritten landing files and of every "
                    f"{domain} product downstream of them, or with landing files removed; a file is processed "
                    "once per version (path, size, modification and change times).",
        target=AssetSelection.all(),  # each run request narrows it to the affected assets
        minimum_interval_seconds=settings().landing_sensor_seconds,
        default_status=sensor_status(),
    )
    def _landing(context: SensorEvaluationContext, mesh: MeshResource):
        paths = mesh.paths
        unknown = unknown_folders(paths.landing, {domain: {s.name for s in sources}}, {domain})
        for warning in unknown:
            context.log.warning(warning)
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current: dict[str, str] = {}
        arrived: dict[AssetKey, list[str]] = {}
        for source in sources:
            folder = paths.landing_dir(source.domain, source.name)
            for f in source_files(folder, source.format):
                stat = f.stat()
                # The change time too: a file rewritten with its size and mtime put back is new.
                name, version = str(f.relative_to(paths.home)), f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"
                current[name] = version
                if seen.get(name) != version:
                    arrived.setdefault(AssetKey(source.key_path), []).append(f"{name}@{version}")
            # A removed file takes its records with it: its source is staged again.
            prefix = f"{folder.relative_to(paths.home)}/"
            for name in seen:
                if name.startswith(prefix) and name not in current:
                    arrived.setdefault(AssetKey(source.key_path), []).append(f"{name}@removed")
        if not arrived:
            context.update_cursor(json.dumps(current, sort_keys=True))
            return SkipReason(" ".join([f"no new landing files in {len(current)} seen.", *unknown]))  # shown on the tick
        graph = context.repository_def.asset_graph
        keys = AssetSelection.assets(*arrived).downstream().resolve(graph) & graph.materializable_asset_keys
        # A product whose input from another domain has never been published waits for it:
        # automation runs it once that input publishes.
        waiting = {k for k in keys if any(d not in graph.materializable_asset_keys
                                          and context.instance.get_latest_materialization_event(d) is None for d in graph.get(k).parent_keys)}
        if waiting:
            keys -= AssetSelection.assets(*waiting).downstream().resolve(graph)
        batch = sorted(v for vs in arrived.values() for v in vs)
        context.update_cursor(json.dumps(current, sort_keys=True))
        return RunRequest(
            run_key=hashlib.sha256("\n".join(batch).encode()).hexdigest()[:32],
            asset_selection=sorted(keys, key=lambda k: k.path),
            tags={"mesh/trigger": LANDING_TRIGGER, "mesh/code_location": domain, "mesh/landed_files": str(len(batch))},
        )

    return _landing
