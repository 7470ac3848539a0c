"""Reading products: always from output ports, never from another domain's DuckDB."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pyarrow as pa

from platform_lib.ports import OutputPort, ProductNotPublished
from platform_lib.settings import MeshPaths
from platform_lib.sla import contracts

PRODUCT_REF = re.compile(r"^(?P<domain>[a-z][a-z0-9_]*)\.(?P<product>[a-z][a-z0-9_]*)(?:@v(?P<major>[1-9]\d*))?$")


def parse_ref(ref: str) -> tuple[str, str, int | None]:
    """`domain.product` or `domain.product@vN`."""
    m = PRODUCT_REF.match(ref)
    if not m:
        raise ValueError(f"'{ref}' is not a product id; expected 'domain.product' or 'domain.product@vN'")
    return m["domain"], m["product"], int(m["major"]) if m["major"] else None


def resolve_port(paths: MeshPaths, ref: str) -> OutputPort:
    """The pinned major version, or the newest one served."""
    domain, product, major = parse_ref(ref)
    if major is None:
        root = paths.products / domain / product
        majors = sorted(int(p.name[1:]) for p in root.glob("v*") if p.name[1:].isdigit() and (p / "_delta_log").is_dir())
        if not majors:
            raise ProductNotPublished(f"{domain}.{product} has no output port yet: its domain must publish it first")
        major = majors[-1]
    return OutputPort(paths.port(domain, product, major))


def deprecation(ref: str, today: date) -> str | None:
    """A warning when `ref` pins a deprecated major version; an error once it is retired."""
    domain, product, major = parse_ref(ref)
    if major is None:
        return None
    snapshot = contracts.load_snapshot(f"{domain}.{product}", major) or {}
    notice = snapshot.get("deprecation")
    if not notice:
        return None
    sunset = date.fromisoformat(notice["sunset"])
    if today > sunset:
        raise RetiredVersion(
            f"{ref} was retired on {sunset}; it is no longer published. Move the input to "
            f"{domain}.{product}@{notice['superseded_by']} (see contracts/{domain}/{product}/)."
        )
    return f"{ref} is deprecated and retires on {sunset} ({(sunset - today).days} days); move to {notice['superseded_by']}"


class RetiredVersion(LookupError):
    pass


def port_table_name(ref: str) -> str:
    domain, product, _ = parse_ref(ref)
    return f"ports.{domain}__{product}"


def import_port(con: duckdb.DuckDBPyConnection, paths: MeshPaths, ref: str) -> str:
    """Copy another domain's published product into this domain's DuckDB, read through
    its Delta output port, as `ports.<domain>__<product>`."""
    dataset = resolve_port(paths, ref).dataset()
    table = port_table_name(ref)
    con.execute("CREATE SCHEMA IF NOT EXISTS ports")
    con.register("_mesh_port", dataset)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _mesh_port")
    con.unregister("_mesh_port")
    return table


def read_product(
    ref: str, *, columns: list[str] | None = None, limit: int | None = None, paths: MeshPaths | None = None
) -> pa.Table:
    """Read a published product from its output port as an Arrow table."""
    dataset = resolve_port(paths or MeshPaths.from_env(), ref).dataset()
    if limit is not None:
        return dataset.head(limit, columns=columns)
    return dataset.to_table(columns=columns)
