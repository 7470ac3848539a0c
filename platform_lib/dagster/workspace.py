"""The mesh's code locations, read from workspace.yaml, and their dependency order."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from graphlib import TopologicalSorter
from pathlib import Path

import yaml
from dagster import AssetKey, AssetsDefinition, Definitions

from platform_lib.config import PROJECT_ROOT
from platform_lib.dagster.metadata import DECLARATION, SOURCE_DECLARATION
from platform_lib.declare.spec import DataProduct, Source
from platform_lib.governance import policies


@dataclass(frozen=True)
class CodeLocation:
    name: str
    module: str

    @cached_property
    def defs(self) -> Definitions:
        return importlib.import_module(self.module).defs

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
    entries = yaml.safe_load(workspace.read_text())["load_from"]
    return [CodeLocation(e["python_module"]["location_name"], e["python_module"]["module_name"]) for e in entries]


def in_dependency_order(locations: list[CodeLocation]) -> list[CodeLocation]:
    """Producers before consumers; cross-location edges come from asset deps."""
    by_name = {loc.name: loc for loc in locations}
    graph = {loc.name: {d for d in loc.upstream_domains if d in by_name} for loc in locations}
    return [by_name[name] for name in TopologicalSorter(graph).static_order()]
