"""Open Data Product Standard (ODPS) v1 descriptors: a product's input ports are the
contracts of the products it reads, its output ports its own contracts, one per served
major version."""

from __future__ import annotations

from platform_lib.catalog import odcs
from platform_lib.declare.names import parse_ref
from platform_lib.declare.spec import DataProduct

API_VERSION = "v1.0.0"


def _input_ports(product: DataProduct, by_id: dict[str, DataProduct]) -> list[dict]:
    ports = []
    for ref in product.product_inputs:
        domain, name, pinned = parse_ref(ref)
        upstream_id = f"{domain}.{name}"
        upstream = by_id.get(upstream_id)
        if upstream is None:
            raise LookupError(f"{product.id} reads {ref}, which no code location declares")
        major = pinned or upstream.major
        ports.append({"name": upstream_id, "version": odcs.major_version(upstream, major),
                      "contractId": odcs.contract_id(upstream_id, major)})
    return ports


def descriptor(product: DataProduct, everything: list[DataProduct]) -> dict:
    by_id = {p.id: p for p in everything}
    inputs = _input_ports(product, by_id)
    return {
        "apiVersion": API_VERSION,
        "kind": "DataProduct",
        "id": f"urn:gtm-mesh:product:{product.id}",
        "name": product.id,
        "version": product.version,
        "status": "active",
        "domain": product.domain,
        "description": {
            "purpose": product.description,
            "usage": f"Read with `mesh read {product.id}` or platform_lib.read_product('{product.id}').",
            "limitations": "PII columns are masked unless your grant allows PII.",
        },
        "tags": [f"tier:{product.tier}", f"classification:{product.classification}"],
        "inputPorts": inputs,
        "outputPorts": [
            {
                "name": product.name,
                "description": "Delta Lake output port" + ("" if major == product.major else
                                                           f" (deprecated, served until {product.deprecations[major]})"),
                "type": "delta",
                "version": odcs.major_version(product, major),
                "contractId": odcs.contract_id(product.id, major),
                **({"inputContracts": [{"id": i["contractId"], "version": i["version"]} for i in inputs]} if inputs else {}),
            }
            for major in odcs.served_majors(product)
        ],
        "support": [{"channel": f"{product.owner.team}-data-products", "url": odcs.asset_url(product),
                     "tool": "other", "scope": "interactive"}],
        "team": odcs.team(product),
        "customProperties": [{"property": "owner", "value": f"{product.owner.role} (team {product.owner.team})"},
                             {"property": "consumers", "value": list(product.consumers)}],
    }
