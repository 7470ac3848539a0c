"""The mesh's code locations, read from workspace.yaml, and their dependency order."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from graphlib import TopologicalSorter
from pathlib import Path

from dagster import AssetKey, AssetsDefinition, Definitions
from dagster._core.remote_origin import CodeLocationOrigin

from platform_lib.config import PROJECT_ROOT
from platform_lib.dagster.metadata import DECLARATION, SOURCE_DECLARATION
from platform_lib.declare.spec import DataProduct, Source
from platform_lib.governance import policies


@dataclass(frozen=True)
class CodeLocation:
    name: str
    module: str
    # Where workspace.yaml says the location's code is, as Dagster's own workspace loader reads
    # it: the webserver, the daemon and the CLI's runs (platform_lib.dagster.runs) name it alike.
    origin: CodeLocationOrigin | None = field(default=None, compare=False, repr=False)

    @cached_property
    def defs(self) -> Definitions:
        return getattr(importlib.import_module(self.module), self.attribute)

    @property
    def attribute(self) -> str:
        """The module attribute holding the location's `Definitions`."""
        target = getattr(self.origin, "loadable_target_origin", None)
        return (target.attribute if target is not None else None) or "defs"

    @cached_property
    def asset_keys(self) -> set[AssetKey]:
        return {k for a in self.defs.assets if isinstance(a, AssetsDefinition) for k in a.keys}

    @cached_property
    def upstream_domains(self) -> set[str]:
        deps = {
            dep.asset_key
            for a in self.defs.assets
            if isinstance(a, AssetsDefinition)
            for spec in a.specs
            for dep in spec.deps
        }
        return {k.path[0] for k in deps - self.asset_keys} - {self.name}


def declared_sources(locations: list[CodeLocation]) -> list[Source]:
    """Every raw source staged in the given code locations, read from its asset metadata."""
    return [
        Source.model_validate(spec.metadata[SOURCE_DECLARATION].value)
        for location in locations
        for a in location.defs.assets if isinstance(a, AssetsDefinition)
        for spec in a.specs if SOURCE_DECLARATION in spec.metadata
    ]


def declared_products(locations: list[CodeLocation]) -> list[DataProduct]:
    """Every product declared in the given code locations, read from its asset metadata."""
    found = []
    for location in locations:
        for assets_def in location.defs.assets:
            if not isinstance(assets_def, AssetsDefinition):
                continue
            for spec in assets_def.specs:
                if DECLARATION in spec.metadata:
                    found.append(DataProduct.model_validate(spec.metadata[DECLARATION].value))
    return sorted(found, key=lambda p: p.id)


def declared_products_unchecked(locations: list[CodeLocation]) -> list[DataProduct]:
    """Like `declared_products`, but loads declarations without running the load-time
    policy gate, so `mesh policy check` can report every violation at once."""
    with policies.reporting_only():
        return declared_products(locations)


def code_locations(workspace: Path = PROJECT_ROOT / "workspace.yaml") -> list[CodeLocation]:
    """The code locations of workspace.yaml, read by Dagster's own workspace loader (which
    starts no code server), so each carries the origin the UI knows it by."""
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    return [CodeLocation(o.location_name, o.loadable_target_origin.module_name, o)
            for o in location_origins_from_yaml_paths([str(workspace)])]


def in_dependency_order(locations: list[CodeLocation]) -> list[CodeLocation]:
    """Producers before consumers; cross-location edges come from asset deps."""
    by_name = {loc.name: loc for loc in locations}
    graph = {loc.name: {d for d in loc.upstream_domains if d in by_name} for loc in locations}
    return [by_name[name] for name in TopologicalSorter(graph).static_order()]
