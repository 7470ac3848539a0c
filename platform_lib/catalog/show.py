"""`mesh product show`: everything a consumer needs to decide whether to use a product."""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal

from deltalake import DeltaTable

from platform_lib.config import MeshPaths
from platform_lib.declare.spec import DataProduct
from platform_lib.governance import registry, usage
from platform_lib.governance.access import AccessDenied
from platform_lib.governance.identity import Unauthenticated
from platform_lib.lifecycle.read import read_product
from platform_lib.storage.ports import ProductNotPublished, port_versions


def plain(value):
    """A sample value as JSON carries it: numbers stay numbers, a missing value (null, or a
    NaN a computation left) is None, dates and times are ISO 8601 text."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def served_versions(paths: MeshPaths, product: DataProduct) -> list[dict]:
    out = []
    for folder in port_versions(paths, product.domain, product.name):
        table = DeltaTable(str(folder))
        out.append({"major": folder.name, "delta_version": table.version(), "rows": table.to_pyarrow_dataset().count_rows(),
                    "path": str(folder)})
    return out


def describe(product: DataProduct, everything: list[DataProduct], paths: MeshPaths, instance=None, sample: int = 5) -> dict:
    downstream = sorted(p.id for p in everything if any(i.split("@")[0] == product.id for i in p.inputs))
    facts = {
        "id": product.id,
        "version": product.version,
        "description": product.description,
        "owner": {"team": product.owner.team, "role": product.owner.role},
        "consumers": list(product.consumers),
        "grants": [g.model_dump(mode="json") for g in registry.grants() if g.product == product.id],
        "schema": [
            {"name": c.name, "type": c.type, "required": product.required(c),
             "classification": c.classification, "description": c.description}
            for c in product.columns
        ],
        "primary_key": list(product.primary_key),
        "sla_targets": product.sla.model_dump(),
        "upstream": list(product.inputs),
        "downstream": downstream,
        "output_port": str(paths.port(product.domain, product.name, product.major)),
        "served": served_versions(paths, product),
        "retention_days": product.retention_days,
    }
    read = usage.usage(paths, {product.id: [c.name for c in product.columns]})[product.id]
    facts["usage"] = {"days": usage.UNUSED_DAYS, "reads": read.reads, "readers": dict(read.readers),
                      "purposes": dict(read.purposes), "last_read": read.last_read.isoformat() if read.last_read else None,
                      "retirement_candidate": read.reads == 0,
                      "unread_columns": [c.name for c in product.columns if read.reads and not read.columns[c.name]]}
    if instance is not None:
        from platform_lib.sla import report

        facts["sla_status"] = [
            {"sla": line.sla, "target": line.target, "current": line.current, "passing": line.passing,
             "attainment": line.attainment}
            for line in report.product_lines(instance, product)
        ]
    try:
        rows = read_product(product.id, limit=sample, purpose="catalog preview", paths=paths)
        facts["sample"] = [{name: plain(value) for name, value in row.items()} for row in rows.to_pylist()]
    except (AccessDenied, Unauthenticated, ProductNotPublished) as err:
        facts["sample"] = f"not shown: {err}"
    return facts
