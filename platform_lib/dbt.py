"""dbt products: the model's YAML is the declaration; the platform reads it from the
manifest and puts every product model through the same write-audit-publish path.

dbt builds the candidate in the domain's DuckDB (`main.<model>`), its tests become
asset checks, then the platform audits and publishes each product model to its port.
"""


import json
import os
import shutil
import sys
import tempfile
from importlib.metadata import version as installed_version
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    AssetsDefinition,
    Failure,
    Output,
    multi_asset,
)
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource
from dagster_dbt.asset_utils import DAGSTER_DBT_SELECT_METADATA_KEY, DBT_DEFAULT_SELECT, build_dbt_specs
from dagster_duckdb import DuckDBResource
from packaging.version import Version

from platform_lib.assets import import_inputs, writer_pool
from platform_lib.governance.policies import COMMON_IDENTIFIERS
from platform_lib.metadata import product_metadata, product_tags
from platform_lib.sla.checks import freshness_policy
from platform_lib.sources_of import dbt_sources, describe
from platform_lib.resources import MeshResource
from platform_lib.settings import MeshPaths
from platform_lib.spec import SLA, Column, DataProduct, Domain, Rule
from platform_lib.types import logical_from_sql
from platform_lib.wap import PublishContext, audit_and_publish, product_check_specs

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def prepare_manifest(project_dir: Path) -> dict:
    """Parse the project once; re-parse only when its files are newer than the manifest.
    Parsing goes to a private folder and is moved in atomically, so concurrent loads
    never read a half-written manifest."""
    manifest = project_dir / "target" / "manifest.json"
    watched = [p for p in project_dir.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"} and "target" not in p.parts]
    stale = not manifest.exists() or max(p.stat().st_mtime for p in watched) > manifest.stat().st_mtime
    if stale:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=manifest.parent) as tmp:
            dbt_resource(project_dir).cli(
                ["parse", "--quiet"], target_path=Path(tmp), raise_on_error=True
            ).wait()
            # partial_parse.msgpack lets every later dbt invocation skip parsing.
            for artifact in ("partial_parse.msgpack", "manifest.json"):
                if (Path(tmp) / artifact).exists():
                    os.replace(Path(tmp) / artifact, manifest.parent / artifact)
    return json.loads(manifest.read_text())


def _tests_by_column(manifest: Mapping[str, Any], model_id: str) -> dict[str, dict[str, Any]]:
    """The generic dbt tests attached to a model's columns: not_null, accepted_values."""
    found: dict[str, dict[str, Any]] = {}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if node["resource_type"] != "test" or node.get("attached_node") != model_id or not meta:
            continue
        column = node.get("column_name") or meta.get("kwargs", {}).get("column_name")
        if column:
            found.setdefault(column, {})[meta["name"]] = meta.get("kwargs", {})
    return found


def product_from_model(node: Mapping[str, Any], manifest: Mapping[str, Any], domain: Domain, inputs: tuple[str, ...]) -> DataProduct:
    """The `DataProduct` a dbt model declares in its YAML (`config.meta.data_product`)."""
    declared = dict(node["config"]["meta"]["data_product"])
    tests = _tests_by_column(manifest, node["unique_id"])
    columns = []
    for col in node["columns"].values():
        meta, col_tests = col.get("meta", {}), tests.get(col["name"], {})
        values = col_tests.get("accepted_values", {}).get("values")
        standard = COMMON_IDENTIFIERS.get(col["name"])
        columns.append(
            Column(
                pattern=standard.pattern if standard else None,
                masking=meta.get("masking"),
                name=col["name"],
                type=logical_from_sql(col.get("data_type") or ""),
                description=col.get("description", ""),
                classification=meta.get("classification", "internal"),
                pii_category=meta.get("pii_category"),
                nullable="not_null" not in col_tests,
                accepted_values=tuple(values) if values else None,
            )
        )
    owner = declared.pop("owner", None)
    return DataProduct(
        domain=domain.name,
        name=node["name"],
        description=node.get("description", ""),
        owner=owner or domain.owner,
        consumers=tuple(declared.pop("consumers", domain.consumers)),
        columns=tuple(columns),
        primary_key=tuple(declared.pop("primary_key")),
        rules=tuple(Rule(**r) for r in declared.pop("rules", [])),
        sla=SLA(**declared.pop("sla", {})),
        inputs=inputs,
        kind="dbt",
        **declared,
    )


class MeshDbtTranslator(DagsterDbtTranslator):
    """Maps dbt nodes onto the mesh: product models to `[domain, product]` with the
    product's metadata, `staging` sources to the domain's staged sources, `ports`
    sources (`<domain>__<product>`) to another domain's product."""

    def __init__(self, domain: Domain, manifest: Mapping[str, Any], project_dir: Path):
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self.domain = domain
        self.manifest = manifest
        self.project_dir = project_dir

    @cached_property
    def products(self) -> dict[str, DataProduct]:
        out = {}
        for uid, node in self.manifest["nodes"].items():
            if node["resource_type"] == "model" and "data_product" in node["config"].get("meta", {}):
                inputs = tuple(
                    ".".join(self.get_asset_key(self.manifest[("sources" if u.startswith("source") else "nodes")][u]).path)
                    for u in node["depends_on"]["nodes"]
                )
                out[uid] = product_from_model(node, self.manifest, self.domain, inputs)
        return out

    def get_asset_key(self, props: Mapping[str, Any]) -> AssetKey:
        if props["resource_type"] == "source":
            if props["source_name"] == "staging":
                return AssetKey([self.domain.name, "staging", props["name"]])
            if props["source_name"] == "ports":
                return AssetKey(props["name"].split("__", 1))
            return super().get_asset_key(props)
        if props["unique_id"] in self.products:
            return AssetKey([self.domain.name, props["name"]])
        return AssetKey([self.domain.name, "dbt", props["name"]])

    def get_asset_spec(self, manifest, unique_id, project) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        product = self.products.get(unique_id) if unique_id.startswith("model") else None
        if product is None:
            return spec.replace_attributes(group_name=f"{self.domain.name}_staging")
        return spec.replace_attributes(
            group_name=self.domain.name,
            owners=[product.owner.dagster_owner],
            tags={**spec.tags, **product_tags(product)},
            code_version=product.version,
            freshness_policy=freshness_policy(product),
        ).merge_attributes(
            metadata={
                **product_metadata(product, MeshPaths.from_env()),
                **describe(dbt_sources(manifest["nodes"][unique_id], self.project_dir)),
            },
            kinds={"delta"},
        )


def dbt_products(project_dir: Path, domain: Domain) -> AssetsDefinition:
    """All models of a domain's dbt project as one asset definition (subsettable)."""
    manifest = prepare_manifest(project_dir)
    translator = MeshDbtTranslator(domain, manifest, project_dir)
    specs, dbt_checks = build_dbt_specs(
        translator=translator, manifest=manifest, select=DBT_DEFAULT_SELECT, exclude="", selector="",
        io_manager_key=None, project=None,
    )
    products = {AssetKey(p.key_path): p for p in translator.products.values()}
    doc_sources = {AssetKey(p.key_path): dbt_sources(manifest["nodes"][uid], project_dir) for uid, p in translator.products.items()}
    platform_checks = [c for key in products for c in product_check_specs(key)]

    @multi_asset(
        name=f"{domain.name}_dbt_models",
        specs=specs,
        check_specs=[*dbt_checks, *platform_checks],
        can_subset=True,
        op_tags={DAGSTER_DBT_SELECT_METADATA_KEY: DBT_DEFAULT_SELECT},
        pool=writer_pool(domain.name),
        allow_arbitrary_check_specs=True,
    )
    def _dbt(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: DuckDBResource, mesh: MeshResource):
        paths = mesh.paths
        os.environ["MESH_HOME"] = str(paths.home)  # profiles.yml locates the domain's DuckDB file by it
        selected = [p for k, p in products.items() if k in context.selected_asset_keys]
        with warehouse.get_connection() as con:
            warnings = import_inputs(con, paths, sorted({r for p in selected for r in p.product_inputs}), domain.name)

        held: dict[AssetKey, Output] = {}
        blocked: dict[AssetKey, list[str]] = {}
        artifacts = DbtArtifacts(paths.home / "dbt" / domain.name, project_dir)
        target = artifacts.for_run(context.run_id)
        invocation = dbt.cli(["build"], context=context, raise_on_error=False, target_path=target)
        for event in invocation.stream():
            key = _event_key(context, event)
            if isinstance(event, Output) and key in products:
                held[key] = event
                continue
            if isinstance(event, AssetCheckResult) and not event.passed and event.severity == AssetCheckSeverity.ERROR:
                blocked.setdefault(event.asset_key, []).append(event.check_name)
            yield event

        failures = []
        with warehouse.get_connection() as con:
            for key, output in held.items():
                product = products[key]
                if key in blocked:
                    failures.append(f"{product.id} was not published: dbt tests {blocked[key]} failed.")
                    continue
                own = tuple(w for w in warnings if any(w.startswith(r) for r in product.product_inputs))
                publish = PublishContext(paths, context.run_id, context.instance, doc_sources[key], own)
                outcome = audit_and_publish(con, product, product.build_table, publish)
                yield from outcome.checks
                if outcome.published:
                    yield Output(None, output_name=output.output_name, metadata={**output.metadata, **outcome.metadata})
                else:
                    failures.append(outcome.error())
        if invocation.is_successful():
            artifacts.keep_parse(target)
        else:
            failures.append(f"dbt build failed in {domain.name}: {invocation.get_error()} (dbt's logs: {target})")
        if failures:
            raise Failure(description=" ".join(failures))

    return _dbt


def _event_key(context: AssetExecutionContext, event: Any) -> AssetKey | None:
    if isinstance(event, Output):
        return context.asset_key_for_output(event.output_name)
    return getattr(event, "asset_key", None)


class DbtArtifacts:
    """Where a domain's dbt invocations write, under the mesh root rather than the project.

    The parse is cached per mesh root: dbt keys its partial parse on the profile, whose
    DuckDB path holds the mesh root, so a cache shared between roots would always be
    stale. A successful run's folder is removed; a failed run's stays for its logs."""

    def __init__(self, root: Path, project_dir: Path):
        self.root, self.project_dir = root, project_dir
        self.parse_cache = root / "partial_parse.msgpack"

    def for_run(self, run_id: str) -> Path:
        target = self.root / "runs" / f"{run_id}-{os.getpid()}"
        target.mkdir(parents=True, exist_ok=True)
        seed = self.parse_cache if self.parse_cache.exists() else self.project_dir / "target" / "partial_parse.msgpack"
        if seed.exists():
            shutil.copy(seed, target / seed.name)
        return target

    def keep_parse(self, target: Path) -> None:
        parsed = target / self.parse_cache.name
        if parsed.exists():
            os.replace(parsed, self.parse_cache)
        shutil.rmtree(target, ignore_errors=True)


class MeshDbtCliResource(DbtCliResource):
    """`DbtCliResource` without the per-invocation start-up it only needs for
    features the mesh does not use: it runs `dbt --version` in a subprocess and
    loads a dbt adapter with every macro (about 8 s per run on two cores), to fetch
    column metadata and row counts. The platform audits the candidate itself."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource(project_dir: Path) -> DbtCliResource:
    """dbt from this interpreter's environment, so an unactivated venv works too."""
    executable = Path(sys.executable).parent / "dbt"
    return MeshDbtCliResource(
        project_dir=str(project_dir),
        profiles_dir=str(project_dir),
        dbt_executable=str(executable) if executable.exists() else "dbt",
    )


__all__ = ["MeshDbtCliResource", "dbt_products", "dbt_resource", "prepare_manifest"]
