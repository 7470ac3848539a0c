"""`mesh scaffold`: a new domain or product from the same pattern as the hand-written
ones, passing every global policy out of the box."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml

from platform_lib.config import PROJECT_ROOT
from platform_lib.declare.spec import NAME, DataProduct
from platform_lib.declare.types import SQL_TYPES
from platform_lib.governance import registry, requests

DOMAIN_PY = '''from platform_lib import Domain, Owner

{const} = Domain(
    name="{name}",
    description="{title}: describe what this domain owns and who relies on it.",
    owner=Owner(team="{name}", role="{title} Lead"),
    consumers=(),
)
'''
DEFINITIONS_PY = '''"""{title}'s code location."""

from platform_lib import domain_definitions
from platform_lib.dagster.location import products_in
from platform_lib.config import PROJECT_ROOT

from domains.{name}.domain import {const}

defs = domain_definitions(
    {const},
    products=products_in("domains.{name}.products"),
    dbt_project={dbt},
)
'''
README_MD = '''# {title}

The `{name}` domain's code location. Owner: {title} Lead (team `{name}`).

- Add a product: `mesh scaffold product {name} NAME --python --from DOMAIN.PRODUCT` (or `--dbt`).
- Cross-domain inputs need a grant: the scaffold files the access request; the producing
  domain's owner approves it with `mesh access approve ID`.
- Build it: `mesh build --select {name}`; check it: `mesh policy check`.
'''
PRODUCT_PY = '''from platform_lib import BuildContext, Column, DataProduct, data_product

from domains.{domain}.domain import {const}

{upper} = DataProduct(
    domain={const}.name,
    name="{name}",
    version="1.0.0",
    retention_days=365,
    description=(
        "{name} of the {domain} domain, built from {source}. Describe what one row means, "
        "how it is computed and who should use it."
    ),
    owner={const}.owner,
    consumers={const}.consumers,
    primary_key={pk},
    inputs=("{source}",),
    event_time="{event_time}",
    columns=(
{columns}
    ),
)


@data_product({upper})
def {name}(ctx: BuildContext) -> str:
    """Reads {source} from its output port; shape it into this product here."""
    return "SELECT {select} FROM {port_table}"
'''
DBT_PROJECT = '''name: {name}
version: "1.0.0"
config-version: 2
profile: {name}
model-paths: ["models"]
clean-targets: ["target"]
flags:
  send_anonymous_usage_stats: false
models:
  {name}:
    +materialized: table
'''
def _title(name: str) -> str:
    return name.replace("_", " ").title()


def scaffold_domain(name: str, dbt: bool, root: Path = PROJECT_ROOT) -> list[Path]:
    if not NAME.fullmatch(name):
        raise ValueError(f"domain name '{name}' must be snake_case")
    folder = root / "domains" / name
    if folder.exists():
        raise FileExistsError(f"domain {name} already exists at {folder}")
    const = name.upper()
    files = {
        folder / "__init__.py": "",
        folder / "products" / "__init__.py": "",
        folder / "domain.py": DOMAIN_PY.format(const=const, name=name, title=_title(name)),
        folder / "definitions.py": DEFINITIONS_PY.format(
            title=_title(name), name=name, const=const,
            dbt=f'PROJECT_ROOT / "dbt_projects" / "{name}"' if dbt else "None"),
        folder / "README.md": README_MD.format(title=_title(name), name=name),
    }
    if dbt:
        project = root / "dbt_projects" / name
        files[project / "dbt_project.yml"] = DBT_PROJECT.format(name=name)
        files[project / "models" / "sources.yml"] = yaml.safe_dump(
            {"version": 2, "sources": [{"name": "ports", "schema": "ports", "tables": []}]}, sort_keys=False)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    workspace = root / "workspace.yaml"
    workspace.write_text(workspace.read_text().rstrip("\n") + (
        f"\n  - python_module:\n      module_name: domains.{name}.definitions\n      location_name: {name}\n"))
    principals = registry.governance_dir() / "principals.yaml"
    data = yaml.safe_load(principals.read_text())
    data["principals"] += [{"id": f"svc_{name}", "kind": "service", "team": name}]
    principals.write_text(yaml.safe_dump(data, sort_keys=False))
    return [*files, workspace, principals]


def scaffold_product(domain: str, name: str, source: DataProduct, dbt: bool, today: date,
                     root: Path = PROJECT_ROOT) -> tuple[list[Path], str | None]:
    if not NAME.fullmatch(name):
        raise ValueError(f"product name '{name}' must be snake_case")
    if not (root / "domains" / domain).exists():
        raise FileNotFoundError(f"no domain {domain}; create it with `mesh scaffold domain {domain}`")
    port_table = f"ports.{source.domain}__{source.name}"
    cols = [c.name for c in source.columns]
    if dbt:
        models = root / "dbt_projects" / domain / "models"
        if not models.exists():
            raise FileNotFoundError(f"domain {domain} has no dbt project; scaffold it with --dbt or use --python")
        sql = models / f"{name}.sql"
        sql.write_text(f"-- Built from {source.id}; shape it into this product here.\nselect {', '.join(cols)}\n"
                       f"from {{{{ source('ports', '{source.domain}__{source.name}') }}}}\n")
        spec = {"version": 2, "models": [{
            "name": name,
            "description": f"{name} of the {domain} domain, built from {source.id}. Describe what one row means, "
                           "how it is computed and who should use it.",
            "config": {"contract": {"enforced": True}, "meta": {"data_product": {
                "version": "1.0.0", "retention_days": 365, "primary_key": list(source.primary_key),
                "event_time": source.event_time}}},
            "columns": [{"name": c.name, "data_type": SQL_TYPES[c.type], "description": c.description,
                         "meta": {"classification": c.classification,
                                  **({"pii_category": c.pii_category, "masking": c.masking} if c.classification == "pii" else {})},
                         **({"data_tests": ["not_null"]} if c.name in source.primary_key else {})}
                        for c in source.columns],
        }]}
        yml = models / f"{name}.yml"
        yml.write_text(yaml.safe_dump(spec, sort_keys=False))
        sources = models / "sources.yml"
        data = yaml.safe_load(sources.read_text())
        ports = next(s for s in data["sources"] if s["name"] == "ports")
        table = f"{source.domain}__{source.name}"
        if table not in [t["name"] for t in ports["tables"]]:
            ports["tables"].append({"name": table})
        sources.write_text(yaml.safe_dump(data, sort_keys=False))
        written = [sql, yml, sources]
    else:
        columns = "\n".join(
            f"        Column(name={c.name!r}, type={c.type!r}, description={c.description!r}, "
            f"classification={c.classification!r}"
            + (f", pii_category={c.pii_category!r}, masking={c.masking!r}" if c.classification == "pii" else "")
            + (f", pattern={c.pattern!r}" if c.pattern else "")
            + (", nullable=False" if c.name in source.primary_key else "") + "),"
            for c in source.columns
        )
        path = root / "domains" / domain / "products" / f"{name}.py"
        path.write_text(PRODUCT_PY.format(
            domain=domain, const=domain.upper(), upper=name.upper(), name=name, source=source.id,
            pk=tuple(source.primary_key), event_time=source.event_time, columns=columns,
            select=", ".join(cols), port_table=port_table))
        written = [path]
    test = root / "tests" / "scaffolded" / f"test_{domain}__{name}.py"
    test.parent.mkdir(parents=True, exist_ok=True)
    (test.parent / "__init__.py").touch()
    test.write_text(
        f'"""Scaffolded with {domain}.{name}: its declaration passes every global policy."""\n\n'
        "from platform_lib.governance import policies\n"
        "from platform_lib.dagster.workspace import code_locations, declared_products_unchecked\n\n\n"
        f"def test_{name}_passes_every_global_policy():\n"
        f"    products = [p for p in declared_products_unchecked([l for l in code_locations() if l.name == {domain!r}])\n"
        f"                if p.id == {f'{domain}.{name}'!r}]\n"
        "    assert products and not [v for v in policies.evaluate(products) if v.exempted_by is None]\n"
    )
    written.append(test)
    request_id = None
    if source.domain != domain:
        principal = registry.service_principal(domain)
        request_id = requests.request(principal, source.id, source.major, f"input of {domain}.{name}", False, today).id
    return written, request_id
