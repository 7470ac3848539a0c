"""`mesh contracts export`: write the open-standard documents for every declared product."""

from __future__ import annotations

from pathlib import Path

import yaml

from platform_lib.catalog import odcs, odps
from platform_lib.config import MeshPaths
from platform_lib.declare.spec import DataProduct

FORMATS = ("odcs", "odps")


def _write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120))
    return path


def export(fmt: str, products: list[DataProduct], out: Path, paths: MeshPaths,
           everything: list[DataProduct] | None = None) -> list[Path]:
    """One ODCS contract per served major (`<domain>.<product>.v<major>.odcs.yaml`) or one
    ODPS descriptor per product (`<domain>.<product>.odps.yaml`). `everything` is the whole
    mesh, which input ports are resolved against (default: `products`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for product in products:
        if fmt == "odcs":
            written += [_write(out / f"{product.id}.v{major}.odcs.yaml", odcs.contract(product, major, paths))
                        for major in odcs.served_majors(product)]
        else:
            written.append(_write(out / f"{product.id}.odps.yaml", odps.descriptor(product, everything or products)))
    return written
