"""Open Data Contract Standard (ODCS) v3 contracts, derived from the product declarations.

One contract per served major version of a product: the current major comes from the
declaration itself, an older major still served during its deprecation notice from its
contract snapshot (`contracts/<domain>/<product>/v<major>.json`).
"""

from __future__ import annotations

from platform_lib.config import MeshPaths, settings
from platform_lib.declare import versions as snapshots
from platform_lib.declare.spec import DataProduct
from platform_lib.declare.types import DELTA_TYPES, ODCS_TYPES
from platform_lib.governance import registry

API_VERSION = "v3.1.0"



def contract_id(product_id: str, major: int) -> str:
    """Stable across minor and patch releases: a major version is one contract."""
    return f"urn:gtm-mesh:contract:{product_id}:v{major}"


def asset_url(product: DataProduct) -> str:
    return f"{settings().ui_url}/assets/{product.domain}/{product.name}"


def served_majors(product: DataProduct) -> list[int]:
    """Majors the output port publishes: the current one and any still in their notice period."""
    return sorted({product.major, *product.deprecations})


def major_version(product: DataProduct, major: int) -> str:
    """The semantic version a served major was last released as."""
    if major == product.major:
        return product.version
    snap = snapshots.load_snapshot(product.id, major)
    return snap["version"] if snap else f"{major}.0.0"


def _column_facts(product: DataProduct, major: int) -> list[dict]:
    """Columns as the contract of `major` promises them."""
    if major == product.major:
        return [{"name": c.name, "type": c.type, "required": product.required(c),
                 "classification": c.classification, "pii_category": c.pii_category,
                 "description": c.description, "accepted_values": c.accepted_values, "pattern": c.pattern}
                for c in product.columns]
    snap = snapshots.load_snapshot(product.id, major)
    if snap is None:
        raise FileNotFoundError(
            f"{product.id}: major v{major} is still served but has no contract snapshot; "
            f"run `mesh contracts snapshot {product.id}` on the release that introduced v{major + 1}"
        )
    return snap["columns"]


def _property(col: dict, pk: list[str]) -> dict:
    prop = {
        "name": col["name"],
        "logicalType": ODCS_TYPES[col["type"]],
        "physicalType": DELTA_TYPES[col["type"]],
        "required": bool(col["required"]),
        "classification": col["classification"],
    }
    if col["name"] in pk:
        prop |= {"primaryKey": True, "primaryKeyPosition": pk.index(col["name"]) + 1}
    if col.get("description"):
        prop["description"] = col["description"]
    if col.get("pii_category"):
        prop["tags"] = [f"pii:{col['pii_category']}"]
    checks = []
    if col.get("accepted_values"):
        checks.append({"type": "library", "metric": "invalidValues", "dimension": "conformity",
                       "arguments": {"validValues": list(col["accepted_values"])}, "mustBe": 0})
    if col.get("pattern"):
        checks.append({"type": "library", "metric": "invalidValues", "dimension": "conformity",
                       "arguments": {"pattern": col["pattern"]}, "mustBe": 0})
    if prop["required"]:
        checks.append({"type": "library", "metric": "nullValues", "dimension": "completeness", "mustBe": 0})
    if checks:
        prop["quality"] = checks
    return prop


def _table_quality(product: DataProduct) -> list[dict]:
    checks = [
        {"type": "library", "metric": "rowCount", "dimension": "completeness", "mustBeGreaterThan": 0,
         "description": "A published batch is never empty."},
        {"type": "library", "metric": "duplicateValues", "dimension": "uniqueness", "mustBe": 0,
         "arguments": {"properties": list(product.primary_key)},
         "description": f"One row per {', '.join(product.primary_key)}."},
    ]
    checks += [
        {"type": "sql", "name": rule.name, "description": rule.description, "dimension": "accuracy",
         "query": f"SELECT COUNT(*) FROM {product.name} WHERE NOT ({rule.valid_when})", "mustBe": 0}
        for rule in product.rules
    ]
    return checks


def team(product: DataProduct) -> dict:
    members = [
        {"username": p.id, "role": "owner" if p.role == product.owner.role else "member", "description": p.role}
        for p in registry.principals().values() if p.kind == "person" and p.team == product.owner.team
    ]
    return {"name": product.owner.team, "description": f"Owned by the {product.owner.role}",
            **({"members": members} if members else {})}


def _sla(product: DataProduct) -> list[dict]:
    sla = product.sla
    return [
        {"property": "latency", "value": sla.freshness_minutes, "unit": "min", "element": f"{product.name}.{product.event_time}",
         "description": "Newest event in the port is at most this old once its source data has landed."},
        {"property": "frequency", "value": sla.freshness_minutes, "unit": "min",
         "description": "Rebuilt as source data lands, so at least this often while sources deliver."},
        {"property": "availability", "value": sla.availability * 100, "unit": "percent",
         "description": "Share of time the output port answers reads."},
        {"property": "retention", "value": product.retention_days, "unit": "d", "element": f"{product.name}.{product.event_time}",
         "description": "Rows older than this are removed from every version of the port."},
        {"property": "quality", "value": sla.quality_min * 100, "unit": "percent",
         "description": "Minimum share of a batch's rows passing every rule for it to be published."},
        {"property": "breakingChangeNotice", "value": sla.breaking_change_notice_days, "unit": "d",
         "description": "A breaking change ships as a new major; the old one stays served this long."},
    ]


def contract(product: DataProduct, major: int, paths: MeshPaths) -> dict:
    """The ODCS v3 contract for one served major version of a product."""
    pk = list(product.primary_key)
    deprecated = major != product.major
    out = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": contract_id(product.id, major),
        "name": product.id if not deprecated else f"{product.id} v{major}",
        "version": major_version(product, major),
        "status": "deprecated" if deprecated else "active",
        "domain": product.domain,
        "dataProduct": product.id,
        "tags": [f"tier:{product.tier}", f"classification:{product.classification}"],
        "description": {
            "purpose": product.description,
            "usage": f"mesh read {product.id}@v{major}   |   platform_lib.read_product('{product.id}@v{major}')",
            "limitations": (f"Deprecated: served until {product.deprecations[major].isoformat()}; move to v{product.major}."
                            if deprecated else
                            "Columns classified pii are masked unless your grant allows PII; ask with `mesh access request`."),
        },
        "servers": [{
            "server": f"{product.id}-v{major}",
            "type": "local",
            "format": "delta",
            "path": str(paths.port(product.domain, product.name, major)),
            "description": "The product's Delta Lake output port; read it through the governed API.",
        }],
        "schema": [{
            "name": product.name,
            "physicalName": product.name,
            "logicalType": "object",
            "physicalType": "table",
            "description": product.description,
            "properties": [_property(col, pk) for col in _column_facts(product, major)],
            # An older major is shaped by its compatibility SQL; only the table-level promises carry over.
            "quality": _table_quality(product)[:2] if deprecated else _table_quality(product),
        }],
        "team": team(product),
        "support": [
            {"channel": f"{product.owner.team}-data-products", "tool": "other", "scope": "interactive",
             "url": asset_url(product), "description": f"Catalog page and run history; owner: {product.owner.role}."},
            {"channel": "access-requests", "tool": "other", "scope": "issues",
             "description": f"mesh access request {product.id} --purpose '<why>' asks the owner for a grant."},
        ],
        "slaDefaultElement": f"{product.name}.{product.event_time}",
        "slaProperties": _sla(product),
        "customProperties": [
            {"property": "consumers", "value": list(product.consumers)},
            {"property": "inputs", "value": list(product.inputs)},
            {"property": "buildKind", "value": product.kind},
        ],
    }
    return out
