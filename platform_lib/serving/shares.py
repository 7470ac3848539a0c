"""What a principal may read over the Delta Sharing protocol: one share per domain, one
schema per product, one table per served major version (`marketing.web_behavior.v1`), each
visible only to principals its grants (or its owning team) allow. A grant without PII is
served the port's masked twin; every other reader the port itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from platform_lib.config import MeshPaths
from platform_lib.declare.spec import NAME
from platform_lib.governance import access, registry
from platform_lib.governance.registry import Principal
from platform_lib.storage.ports import MASKED, MASKING, OutputPort, port_versions

MAJOR = re.compile(r"v([1-9][0-9]{0,5})")


class NotShared(LookupError):
    """No such table, or none the caller may read: the two are told the same way, so
    names the caller holds no grant for stay unknown to it."""


@dataclass(frozen=True)
class SharedTable:
    share: str
    schema: str
    name: str
    major: int
    port: OutputPort  # the Delta table served: the port, or its masked twin
    decision: access.Decision

    @property
    def product_id(self) -> str:
        return f"{self.share}.{self.schema}"


def _today():
    return datetime.now(timezone.utc).date()


def _served(principal: Principal, paths: MeshPaths, domain: str, product: str, folder: Path) -> SharedTable | None:
    major = int(folder.name[1:])
    product_id = f"{domain}.{product}"
    decision = access.decide(principal, product_id, major, _today())
    if not decision.allowed:
        return None
    port = OutputPort(folder)
    if decision.masked:
        try:
            masking = access.masking(decision, product_id, major, paths)
        except access.AccessDenied:  # its PII columns are not known: never served raw
            return None
        if masking.columns:
            port = port.masked()
            # Only a twin masked as the product is now (these columns, this key); the next
            # build of its domain brings a twin behind in step.
            if not port.exists() or port.last_commit().get(MASKING) != masking.name:
                return None
    return SharedTable(domain, product, folder.name, major, port, decision)


def tables(principal: Principal, paths: MeshPaths) -> list[SharedTable]:
    """Every table `principal` may read, by share, schema and name."""
    found = []
    if paths.products.is_dir():
        for domain in sorted(d.name for d in paths.products.iterdir() if d.is_dir() and NAME.fullmatch(d.name)):
            for product in sorted(p.name for p in (paths.products / domain).iterdir() if p.is_dir() and NAME.fullmatch(p.name)):
                for folder in port_versions(paths, domain, product):
                    table = _served(principal, paths, domain, product, folder)
                    if table is not None:
                        found.append(table)
    return found


def table(principal: Principal, paths: MeshPaths, share: str, schema: str, name: str, *, purpose: str) -> SharedTable:
    """The table `share.schema.name` as `principal` may read it; a refusal of a table that
    exists is recorded in the audit log."""
    match = MAJOR.fullmatch(name)
    if not (NAME.fullmatch(share) and NAME.fullmatch(schema) and match):
        raise NotShared(f"no table {share[:64]}.{schema[:64]}.{name[:64]} is shared with you")
    folder = paths.port(share, schema, int(match[1]))
    if folder not in port_versions(paths, share, schema):
        raise NotShared(f"no table {share}.{schema}.{name} is shared with you")
    served = _served(principal, paths, share, schema, folder)
    if served is None:
        decision = access.decide(principal, f"{share}.{schema}", int(match[1]), _today())
        if decision.allowed:  # granted, but its masked copy is not in step with the product yet
            raise NotShared(f"{share}.{schema}.{name} is not ready for you: its masked copy is being remade; "
                            "it is served again after its domain's next build")
        access.record(principal, f"{share}.{schema}", int(match[1]), [], 0, purpose, decision, paths)
        # Told as a table that does not exist: the reason (and the owner) is in the audit log.
        raise NotShared(f"no table {share}.{schema}.{name} is shared with you")
    return served


def still_served(principal_id: str, paths: MeshPaths, rel: str) -> bool:
    """Whether the file `rel` (`share/schema/folder/file`) belongs to the table as it is
    served to `principal_id` now: the same grant decision, the same (masked or whole) table."""
    principal = registry.principals().get(principal_id)
    parts = rel.split("/", 3)
    if principal is None or len(parts) != 4:
        return False
    share, schema, folder, _ = parts
    match = MAJOR.fullmatch(folder.removesuffix(MASKED))
    if not (match and NAME.fullmatch(share) and NAME.fullmatch(schema)):
        return False
    served = _served(principal, paths, share, schema, paths.port(share, schema, int(match[1])))
    return served is not None and served.port.path.name == folder
