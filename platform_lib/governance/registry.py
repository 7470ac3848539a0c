"""The governance registry in the repository (`governance/`): principals, grants
(data-usage agreements), access requests and policy exemptions."""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from filelock import FileLock
from pydantic import BaseModel, ConfigDict

from platform_lib.config import settings


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Principal(_Model):
    id: str
    kind: Literal["person", "service"]
    team: str
    role: str | None = None
    platform_admin: bool = False


class Grant(_Model):
    id: str
    consumer: str
    product: str
    major: int
    purpose: str
    pii_allowed: bool
    approver: str
    granted: date
    expires: date

    def active(self, today: date) -> bool:
        return self.granted <= today <= self.expires


class AccessRequest(_Model):
    id: str
    principal: str
    product: str
    major: int
    purpose: str
    pii_requested: bool = False
    requested: date
    status: Literal["pending", "approved", "rejected"] = "pending"
    decided_by: str | None = None
    grant: str | None = None


class IdentityProvider(_Model):
    """An OpenID Connect issuer whose access tokens, for `audience`, prove a person: the
    `principal_claim` names the principal."""

    issuer: str
    audience: str
    principal_claim: str = "email"


class Exemption(_Model):
    policy: str
    product: str
    reason: str
    expires: date
    approved_by: str | None = None  # the platform admin whose credential granted it


def governance_dir() -> Path:
    return settings().governance


def _load(name: str, key: str, model):
    path = governance_dir() / name
    if not path.exists():
        return []
    stat = path.stat()
    data = _parsed(str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_ctime_ns)
    return [model.model_validate(item) for item in (data or {}).get(key) or []]


@lru_cache(maxsize=64)
def _parsed(path: str, mtime_ns: int, size: int, inode: int, ctime_ns: int):
    """Each registry file is parsed once per version: policies consult it for every product.
    A version is told by its modification time, size, inode and change time (which no
    caller can set back), so an edit is never missed."""
    return yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def editing() -> FileLock:
    """Held while a change to the registry reads, decides and writes it (an approval, an
    exemption), so two changes at once never lose one of them."""
    return FileLock(str(governance_dir() / ".registry.lock"), mode=0o600)


def _save(name: str, key: str, items: list[BaseModel], header: str) -> None:
    path = governance_dir() / name
    body = yaml.safe_dump({key: [i.model_dump(mode="json") for i in items]}, sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + body)
    os.replace(tmp, path)


def identity_provider() -> IdentityProvider | None:
    """The identity provider the mesh trusts (`governance/identity.yaml`), if any: part of
    the reviewed registry, so no caller's environment can point the mesh at its own."""
    path = governance_dir() / "identity.yaml"
    if not path.exists():
        return None
    stat = path.stat()
    found = (_parsed(str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_ctime_ns) or {}).get("oidc")
    return IdentityProvider.model_validate(found) if found else None


def principals() -> dict[str, Principal]:
    return {p.id: p for p in _load("principals.yaml", "principals", Principal)}


def grants() -> list[Grant]:
    return _load("grants.yaml", "grants", Grant)


def exemptions() -> list[Exemption]:
    return _load("exemptions.yaml", "exemptions", Exemption)


def requests() -> list[AccessRequest]:
    return _load("requests.yaml", "requests", AccessRequest)


def save_grants(items: list[Grant]) -> None:
    _save("grants.yaml", "grants", items, "# Data-usage agreements: who may read which product (major version), for what purpose,\n"
          "# whether PII is visible, who approved it and until when. `mesh access approve` appends here.\n")


def save_exemptions(items: list[Exemption]) -> None:
    _save("exemptions.yaml", "exemptions", items, "# Explicit, time-boxed exceptions to global policies: policy, product, reason, expires,\n"
          "# and the platform admin who granted it (`mesh policy exempt`).\n")


def save_requests(items: list[AccessRequest]) -> None:
    _save("requests.yaml", "requests", items, "# Pending and decided access requests (`mesh access request` / `approve`).\n")


def service_principal(domain: str) -> Principal:
    """The identity a domain's code location reads other domains' products as."""
    known = principals()
    name = f"svc_{domain}"
    return known.get(name) or Principal(id=name, kind="service", team=domain)
