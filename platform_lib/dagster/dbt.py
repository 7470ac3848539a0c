"""dbt products: the model's YAML is the declaration; the platform reads it from the
manifest and puts every product model through the same write-audit-publish path.

dbt builds the candidate in the domain's DuckDB (`main.<model>`), its tests become
asset checks, then the platform audits and publishes each product model to its port.

A code location is declared from the parsed manifest alone (`DbtProject`), so loading it
never imports dbt; dbt runs only inside the step (`platform_lib.dagster.dbt_cli`).
"""


import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSpec,
    ConfigurableResource,
    DataVersion,
    Failure,
    MaterializeResult,
    multi_asset,
)
from filelock import FileLock

from platform_lib.config import MeshPaths
from platform_lib.dagster import openlineage
from platform_lib.dagster.assets import (
    checks_of,
    consumed_metadata,
    covers,
    full_refresh,
    import_inputs,
    told_if_disk_full,
    unchanged_results,
)
from platform_lib.dagster.checks import freshness_policy, outcome_checks, product_check_specs, recorded
from platform_lib.dagster.lineage import metadata as lineage_metadata
from platform_lib.dagster.metadata import product_metadata, product_tags, usage_metadata
from platform_lib.dagster.resources import DomainWarehouse, MeshResource, writer_pool
from platform_lib.declare.identifiers import COMMON_IDENTIFIERS
from platform_lib.declare.spec import SLA, Column, DataProduct, Domain, Rule
from platform_lib.declare.types import logical_from_sql
from platform_lib.lifecycle import consumed, increments, lineage
from platform_lib.lifecycle.publish import PublishContext, audit_and_publish, measure_served
from platform_lib.sla.doc_sources import dbt_sources, describe
from platform_lib.storage.ports import OutputPort

if TYPE_CHECKING:
    from platform_lib.dagster.dbt_cli import DbtBuild



def prepare_manifest(project_dir: Path) -> dict:
    """Parse the project once; re-parse only when its files are newer than the manifest.
    Processes loading the project at once (code servers, the daemon, test workers) parse it
    once, under a lock; parsing goes to a private folder and is moved in atomically, so a
    load never reads a half-written manifest."""
    manifest = project_dir / "target" / "manifest.json"
    if _stale(project_dir, manifest):
        manifest.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(manifest.parent / ".parse.lock"):
            if _stale(project_dir, manifest):  # another process may have parsed it meanwhile
                with tempfile.TemporaryDirectory(dir=manifest.parent) as tmp:
                    from platform_lib.dagster.dbt_cli import parse

                    parse(project_dir, Path(tmp))
                    # partial_parse.msgpack lets every later dbt invocation skip parsing.
                    for artifact in ("partial_parse.msgpack", "manifest.json"):
                        if (Path(tmp) / artifact).exists():
                            os.replace(Path(tmp) / artifact, manifest.parent / artifact)
    return json.loads(manifest.read_text())


def _stale(project_dir: Path, manifest: Path) -> bool:
    watched = [p for p in project_dir.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"} and "target" not in p.parts]
    return not manifest.exists() or max(p.stat().st_mtime for p in watched) > manifest.stat().st_mtime


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
                deidentified=meta.get("deidentified"),
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


class DbtResource(ConfigurableResource):
    """Runs a domain's dbt project, with dbt from this interpreter's environment."""

    project_dir: str

    def build(self, manifest: Mapping[str, Any], key_of: Mapping[str, AssetKey], select: list[str], target: Path,
              warehouse: Path) -> "DbtBuild":
        from platform_lib.dagster.dbt_cli import DbtBuild  # dbt loads when it runs, not when the location loads

        return DbtBuild(Path(self.project_dir), warehouse, manifest, key_of, select, target)


ASSET_TYPES = ("model", "seed", "snapshot")


def _declares_product(node: Mapping[str, Any]) -> bool:
    return node["resource_type"] == "model" and "data_product" in node["config"].get("meta", {})


class DbtProject:
    """A domain's dbt project as the mesh sees it, from its parsed manifest: product models
    are `[domain, product]`, other models `[domain, "dbt", model]`; `staging` sources are the
    domain's staged sources, `ports` sources (`<domain>__<product>`) another domain's product."""

    def __init__(self, domain: Domain, project_dir: Path):
        self.domain, self.project_dir = domain, project_dir
        self.manifest = prepare_manifest(project_dir)
        self.nodes = {uid: n for uid, n in self.manifest["nodes"].items() if n["resource_type"] in ASSET_TYPES}

    def _node(self, uid: str) -> Mapping[str, Any]:
        return self.manifest["sources"].get(uid) or self.manifest["nodes"][uid]

    def key(self, node: Mapping[str, Any]) -> AssetKey:
        if node["resource_type"] == "source":
            if node["source_name"] == "staging":
                return AssetKey([self.domain.name, "staging", node["name"]])
            if node["source_name"] == "ports":
                return AssetKey(node["name"].split("__", 1))
            return AssetKey([node["source_name"], node["name"]])
        if _declares_product(node):
            return AssetKey([self.domain.name, node["name"]])
        return AssetKey([self.domain.name, "dbt", node["name"]])

    @cached_property
    def key_of(self) -> dict[str, AssetKey]:
        """Every node's asset key by dbt unique id (sources included)."""
        return {uid: self.key(n) for uid, n in [*self.manifest["sources"].items(), *self.nodes.items()]}

    def _parents(self, node: Mapping[str, Any]) -> list[str]:
        return [u for u in node["depends_on"]["nodes"] if u in self.manifest["sources"] or u in self.nodes]

    @cached_property
    def products(self) -> dict[str, DataProduct]:
        out = {}
        for uid, node in self.nodes.items():
            if _declares_product(node):
                inputs = tuple(".".join(self.key(self._node(u)).path) for u in self._parents(node))
                out[uid] = product_from_model(node, self.manifest, self.domain, inputs)
        return out

    def sql(self, uid: str) -> str:
        """A model's SQL as a whole recompute runs it (`is_incremental()` false), rendered
        from its source with what the mesh's models call: `source`, `ref` and `config`.
        A model calling anything else raises `jinja2.UndefinedError`."""
        import jinja2

        node = self.nodes[uid]
        sources = {(s["source_name"], s["name"]): f'"{s["schema"]}"."{s.get("identifier") or s["name"]}"'
                   for s in self.manifest["sources"].values()}
        models = {n["name"]: f'"{n["schema"]}"."{n.get("alias") or n["name"]}"' for n in self.nodes.values()}
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"])
        return env.from_string(node["raw_code"]).render(
            source=lambda name, table: sources[(name, table)], ref=lambda *names, **_: models[names[-1]],
            config=lambda *_, **__: "", is_incremental=lambda: False)

    def table(self, uid: str) -> str:
        node = self.nodes[uid]
        return f"{node['database']}.{node['schema']}.{node.get('alias') or node['name']}"

    def spec(self, uid: str) -> AssetSpec:
        node = self.nodes[uid]
        table = self.table(uid)
        spec = AssetSpec(
            key=self.key_of[uid],
            deps=[self.key_of[u] for u in self._parents(node)],
            description=node.get("description") or None,
            group_name=f"{self.domain.name}_staging",
            kinds={"dbt", "duckdb"},
            metadata={"dagster/table_name": table, "mesh/dbt_unique_id": uid},
            skippable=True,
        )
        product = self.products.get(uid)
        if product is None:
            return spec
        return spec.replace_attributes(
            group_name=self.domain.name,
            owners=[product.owner.dagster_owner],
            tags=product_tags(product),
            code_version=product.version,
            freshness_policy=freshness_policy(product),
        ).merge_attributes(
            metadata={**product_metadata(product, MeshPaths.from_env()), **describe(dbt_sources(node, self.project_dir))},
            kinds={"delta"},
        )

    def test_checks(self) -> list[AssetCheckSpec]:
        """dbt tests as asset checks, on the node a test is attached to (a generic test's
        column, or a singular test's one parent); an ERROR-severity test blocks."""
        checks = []
        for uid, test in self.manifest["nodes"].items():
            if test["resource_type"] != "test":
                continue
            parents = set(self._parents(test))
            attached = test.get("attached_node") or (next(iter(parents)) if len(parents) == 1 else None)
            if attached not in self.nodes:
                continue
            key = self.key_of[attached]
            checks.append(AssetCheckSpec(
                name=test["name"], asset=key, description=(test.get("meta") or {}).get("description"),
                additional_deps=[self.key_of[p] for p in parents if self.key_of[p] != key],
                metadata={"mesh/dbt_unique_id": uid},
                blocking=(test.get("config", {}).get("severity") or "error").lower() == "error",
            ))
        return checks

    def upstream(self, uid: str) -> tuple[list[str], list[str], set[str]]:
        """What a model reads, directly or through other models: the sources (as input
        references), each model's checksum on the way (its own included), and those models."""
        sources, sums, models, todo = set(), set(), set(), [uid]
        while todo:
            u = todo.pop()
            if u in self.manifest["sources"]:
                sources.add(".".join(self.key_of[u].path))
            elif u not in models:
                models.add(u)
                sums.add(f"{u}:{self.nodes[u]['checksum']['checksum']}:{self._patch_digest(self.nodes[u])}")
                todo.extend(self._parents(self.nodes[u]))
        return sorted(sources), sorted(sums), models - {uid}

    def _patch_digest(self, node: Mapping[str, Any]) -> str:
        """The model's YAML (its declaration and tests), by content: the manifest's own
        rendering of it may differ between a full and a partial parse."""
        patch = (node.get("patch_path") or "").split("://", 1)[-1]
        path = self.project_dir / patch if patch else None
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path and path.is_file() else ""

    def select(self, keys: set[AssetKey]) -> list[str]:
        """dbt's `--select` for the selected assets (their tests come with them)."""
        chosen = [n for uid, n in self.nodes.items() if self.key_of[uid] in keys]
        if len(chosen) == len(self.nodes):
            return ["fqn:*"]
        return [f"fqn:{'.'.join(n['fqn'])}" for n in chosen]


def dbt_products(project_dir: Path, domain: Domain) -> AssetsDefinition:
    """All models of a domain's dbt project as one asset definition (subsettable)."""
    project = DbtProject(domain, project_dir)
    products = {project.key_of[uid]: p for uid, p in project.products.items()}
    doc_sources = {project.key_of[uid]: dbt_sources(project.nodes[uid], project_dir) for uid in project.products}
    platform_checks = [c for key in products for c in product_check_specs(key)]

    def publish_context(context: AssetExecutionContext, paths: MeshPaths, key: AssetKey, warnings: list[str]):
        own = tuple(w for w in warnings if any(w.startswith(r) for r in products[key].product_inputs))
        return PublishContext(paths, context.run_id, context.instance, doc_sources[key], own)

    @multi_asset(
        name=f"{domain.name}_dbt_models",
        specs=[project.spec(uid) for uid in project.nodes],
        check_specs=[*project.test_checks(), *platform_checks],
        can_subset=True,
        pool=writer_pool(domain.name),
    )
    def _dbt(context: AssetExecutionContext, dbt: DbtResource, warehouse: DomainWarehouse, mesh: MeshResource):
        paths = mesh.paths
        chosen = [uid for uid in project.nodes if project.key_of[uid] in context.selected_asset_keys]
        with told_if_disk_full(paths):
            selected = [p for k, p in products.items() if k in context.selected_asset_keys]
            with warehouse.get_connection() as con:
                warnings, read = import_inputs(con, paths, sorted({r for p in selected for r in p.product_inputs}), domain.name)
                stamps, kept = {}, {}
                for uid in chosen:
                    sources, sums, _ = project.upstream(uid)
                    product = project.products.get(uid)
                    code = consumed.code_stamp(*sums)
                    stamps[uid] = consumed.now(con, sources, read, code)
                    port = OutputPort.of(paths, product) if product else None
                    kept[uid] = None if full_refresh(context) else consumed.unchanged_since(
                        con, ledger_name(project.key_of[uid]), stamps[uid], port, project.table(uid))
            # A model runs when what it reads changed, or a model it reads from runs.
            due = {uid for uid in chosen if kept[uid] is None or not covers(kept[uid], checks_of(context, project.key_of[uid]))}
            due |= {uid for uid in chosen if project.upstream(uid)[2] & due}
            for uid in chosen:
                if uid not in due:
                    key = project.key_of[uid]
                    served, used = None, None
                    if key in products:
                        with warehouse.get_connection() as con:
                            served = measure_served(con, products[key], publish_context(context, paths, key, warnings))
                        used = usage_metadata(paths, products[key])
                    yield from unchanged_results(key, stamps[uid], kept[uid], checks_of(context, key), served, used)
            if not due:
                return
            run_keys = {project.key_of[uid] for uid in due}
            plans = {}
            with warehouse.get_connection() as con:
                for uid in due:
                    product = project.products.get(uid)
                    if product is not None and product.updated_by is not None:
                        last = consumed.last_build(con, ledger_name(project.key_of[uid]))
                        plans[project.key_of[uid]] = increments.prepare(
                            con, product, project.table(uid), stamps[uid], last, full_refresh(context))

            for uid in due:
                if uid in project.products:
                    openlineage.started(context.run_id, project.products[uid])
            artifacts = DbtArtifacts(paths.home / "dbt" / domain.name, project_dir)
            target = artifacts.for_run(context.run_id)
            build = dbt.build(project.manifest, project.key_of, project.select(run_keys), target,
                              paths.warehouse(domain.name))
            held: dict[AssetKey, Mapping[str, Any]] = {}
            blocked: dict[AssetKey, list[str]] = {}
            built: set[AssetKey] = set()
            tested: dict[AssetKey, list[AssetCheckResult]] = {}
            for event in _declared_events(context, build.events()):
                if isinstance(event, MaterializeResult) and event.asset_key in products:
                    held[event.asset_key] = event.metadata or {}
                    continue
                if isinstance(event, MaterializeResult):
                    built.add(event.asset_key)
                if isinstance(event, AssetCheckResult):
                    tested.setdefault(event.asset_key, []).append(event)
                    if not event.passed and event.severity == AssetCheckSeverity.ERROR:
                        blocked.setdefault(event.asset_key, []).append(event.check_name)
                yield event

            failures = []
            by_key = {project.key_of[uid]: uid for uid in due}
            with warehouse.get_connection() as con:
                recomputed = {key: increments.settle(con, products[key], project.table(by_key[key]), plan)
                              for key, plan in plans.items()}
                for key in built & set(by_key):
                    consumed.record(con, ledger_name(key), stamps[by_key[key]], None, context.run_id,
                                    recorded(tested.get(key, [])))
                for key, dbt_metadata in held.items():
                    product = products[key]
                    if key in blocked:
                        failures.append(f"{product.id} was not published: dbt tests {blocked[key]} failed.")
                        continue
                    outcome = audit_and_publish(con, product, product.build_table,
                                                publish_context(context, paths, key, warnings), recomputed.get(key))
                    derived = model_lineage(con, project, by_key[key], products)
                    openlineage.finished(context.run_id, product, derived, None if outcome.published else outcome.error())
                    checks = outcome_checks(outcome)
                    yield from checks
                    if outcome.published:
                        version = outcome.metadata["delta_version"]
                        consumed.record(con, ledger_name(key), stamps[by_key[key]], version, context.run_id,
                                        recorded([*tested.get(key, []), *checks]))
                        plan = plans.get(key, increments.WHOLE).metadata()
                        yield MaterializeResult(
                            asset_key=key, data_version=DataVersion(str(version)),
                            metadata={**dbt_metadata, **outcome.metadata, **plan,
                                      **lineage_metadata(derived),
                                      **consumed_metadata(stamps[by_key[key]], True), **usage_metadata(paths, product)})
                    else:
                        failures.append(outcome.error())
        if build.succeeded:
            artifacts.keep_parse(target)
        else:
            failures.append(f"dbt build failed in {domain.name}: {build.error} (dbt's logs: {target})")
        if failures:
            raise Failure(description=" ".join(failures))

    return _dbt


def model_lineage(con, project: DbtProject, uid: str, products: Mapping[AssetKey, DataProduct]) -> lineage.Lineage:
    """The column lineage of a product model's SQL, read against the domain's warehouse."""
    product = project.products[uid]
    try:
        sql = project.sql(uid)
    except Exception as err:  # a macro the rendering does not know: no lineage rather than a guess
        return lineage.Lineage(product.id, problems=[f"the model's SQL could not be rendered: {type(err).__name__}"])
    builds = {p.build_table: p.id for p in products.values()}
    return lineage.derive(product.id, sql, con, lineage.owners(con, product.domain, builds))


def ledger_name(key: AssetKey) -> str:
    return ".".join(key.path)


def _declared_events(context: AssetExecutionContext, events: Iterable[Any]) -> Iterator[MaterializeResult | AssetCheckResult]:
    """dbt's events as results of this step: a model built, a selected test's outcome.
    Tests dbt ran on unselected models (indirect selection) are not this step's checks."""
    for event in events:
        if isinstance(event, AssetMaterialization) and event.asset_key in context.selected_asset_keys:
            yield MaterializeResult(asset_key=event.asset_key, metadata=event.metadata)
        elif isinstance(event, AssetCheckEvaluation) and AssetCheckKey(event.asset_key, event.check_name) in context.selected_asset_check_keys:
            yield AssetCheckResult(asset_key=event.asset_key, check_name=event.check_name, passed=event.passed,
                                   severity=event.severity, metadata=event.metadata)


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
            shutil.copyfile(seed, target / seed.name)  # made private here, not with the project file's mode
        return target

    def keep_parse(self, target: Path) -> None:
        parsed = target / self.parse_cache.name
        if parsed.exists():
            os.replace(parsed, self.parse_cache)
        shutil.rmtree(target, ignore_errors=True)


__all__ = ["DbtProject", "DbtResource", "dbt_products", "prepare_manifest"]
