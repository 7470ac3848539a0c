"""Schema stability: each product's published contract is snapshotted in the repository
(`contracts/<domain>/<product>/v<major>.json`). A breaking change needs a major bump and a
deprecation date at least 30 days after the change; a compatible change needs a minor
bump. While a deprecated major version is within its notice period it keeps being
published beside the new one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from platform_lib.config import settings
from platform_lib.declare.spec import Column, DataProduct


def contracts_dir() -> Path:
    """The contract registry in the repository (`MESH_CONTRACTS` overrides it)."""
    return settings().contracts

# Widening conversions that cannot break a reader.
WIDENS = {("integer", "double"), ("date", "timestamp")}


def contract_of(product: DataProduct) -> dict:
    """The published contract: what a consumer may rely on."""
    return {
        "id": product.id,
        "version": product.version,
        "owner": {"team": product.owner.team, "role": product.owner.role},
        "primary_key": list(product.primary_key),
        "columns": [
            {
                "name": c.name,
                "type": c.type,
                "required": product.required(c),
                "accepted_values": list(c.accepted_values) if c.accepted_values else None,
                "classification": c.classification,
                **({"pii_category": c.pii_category, "masking": c.masking} if c.classification == "pii" else {}),
            }
            for c in product.columns
        ],
    }


def snapshot_path(product_id: str, major: int, root: Path | None = None) -> Path:
    domain, name = product_id.split(".")
    return (root or contracts_dir()) / domain / name / f"v{major}.json"


def snapshot_majors(product_id: str, root: Path | None = None) -> list[int]:
    """The majors of a product with a contract snapshot."""
    folder = snapshot_path(product_id, 1, root).parent
    return sorted(int(p.stem[1:]) for p in folder.glob("v*.json") if p.stem[1:].isdigit()) if folder.is_dir() else []


def load_snapshot(product_id: str, major: int, root: Path | None = None) -> dict | None:
    path = snapshot_path(product_id, major, root)
    return json.loads(path.read_text()) if path.exists() else None


def breaking_columns(old: dict, new: dict) -> dict[str, list[str]]:
    """The published columns a new contract breaks, each with how."""
    changes: dict[str, list[str]] = {}
    new_cols = {c["name"]: c for c in new["columns"]}
    for col in old["columns"]:
        name, cur = col["name"], new_cols.get(col["name"])
        if cur is None:
            changes.setdefault(name, []).append(f"column {name} removed or renamed")
            continue
        if cur["type"] != col["type"] and (col["type"], cur["type"]) not in WIDENS:
            changes.setdefault(name, []).append(f"column {name} changed type {col['type']} -> {cur['type']}")
        if cur["required"] and not col["required"]:
            changes.setdefault(name, []).append(f"column {name} became required")
        if col["accepted_values"] is not None and cur["accepted_values"] is not None:
            removed = set(col["accepted_values"]) - set(cur["accepted_values"])
            if removed:
                changes.setdefault(name, []).append(f"column {name} lost accepted values {sorted(removed)}")
        if col["accepted_values"] is None and cur["accepted_values"] is not None:
            changes.setdefault(name, []).append(f"column {name} now restricts its values")
    return changes


def breaking_changes(old: dict, new: dict) -> list[str]:
    changes = [change for found in breaking_columns(old, new).values() for change in found]
    if old["primary_key"] != new["primary_key"]:
        changes.append(f"primary key {old['primary_key']} -> {new['primary_key']}")
    return changes


def compatible_changes(old: dict, new: dict) -> bool:
    return {k: v for k, v in old.items() if k not in ("version", "deprecation")} != {
        k: v for k, v in new.items() if k not in ("version", "deprecation")
    }


@dataclass
class Verdict:
    product_id: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _version(v: str) -> tuple[int, int, int]:
    major, minor, patch = (int(x) for x in v.split("."))
    return major, minor, patch


def check(product: DataProduct, today: date, root: Path | None = None, notice_days: int | None = None) -> Verdict:
    """Compare the declared contract with the repository's snapshots."""
    notice = notice_days if notice_days is not None else product.sla.breaking_change_notice_days
    new = contract_of(product)
    verdict = Verdict(product.id, True)
    current = load_snapshot(product.id, product.major, root)
    if current is not None:
        breaks = breaking_changes(current, new)
        if breaks:
            verdict.problems.append(
                f"breaking change without a major version bump: {'; '.join(breaks)}. "
                f"Fix: bump {product.id} to {product.major + 1}.0.0 and declare "
                f"deprecations={{{product.major}: 'YYYY-MM-DD'}} at least {notice} days out"
            )
        elif compatible_changes(current, new) and _version(product.version)[:2] <= _version(current["version"])[:2]:
            verdict.problems.append(
                f"the contract changed compatibly but the version did not: bump {product.id} to at least "
                f"{product.major}.{_version(current['version'])[1] + 1}.0"
            )
        elif _version(product.version) < _version(current["version"]):
            verdict.problems.append(f"version went backwards: {current['version']} -> {product.version}")
    for major, sunset in product.deprecations.items():
        old = load_snapshot(product.id, major, root)
        if old is None:
            verdict.problems.append(f"v{major} is deprecated but has no contract snapshot to keep serving")
            continue
        changed_on = date.fromisoformat(old.get("deprecation", {}).get("announced", today.isoformat()))
        if (sunset - changed_on).days < notice:
            verdict.problems.append(
                f"v{major} retires on {sunset}, only {(sunset - changed_on).days} days after the breaking change "
                f"was announced ({changed_on}); the notice period is {notice} days"
            )
        elif sunset >= today:
            verdict.notes.append(f"v{major} is served until {sunset}")
    previous = product.major - 1
    if previous >= 1 and load_snapshot(product.id, previous, root) and previous not in product.deprecations:
        if current is None:
            verdict.problems.append(
                f"major version bumped to {product.major} without a deprecation date for v{previous}: "
                f"declare deprecations={{{previous}: 'YYYY-MM-DD'}} at least {notice} days out"
            )
    verdict.ok = not verdict.problems
    return verdict


def write_snapshot(product: DataProduct, today: date, root: Path | None = None) -> list[Path]:
    """Record the current contract, and the deprecation of older majors."""
    written = []
    path = snapshot_path(product.id, product.major, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(contract_of(product), indent=2) + "\n")
    written.append(path)
    for major, sunset in product.deprecations.items():
        old_path = snapshot_path(product.id, major, root)
        if old_path.exists():
            old = json.loads(old_path.read_text())
            announced = old.get("deprecation", {}).get("announced", today.isoformat())
            old["deprecation"] = {"announced": announced, "sunset": sunset.isoformat(), "superseded_by": f"v{product.major}"}
            old_path.write_text(json.dumps(old, indent=2) + "\n")
            written.append(old_path)
    return written


def served_majors(product: DataProduct, today: date, root: Path | None = None) -> dict[int, dict]:
    """Deprecated major versions still inside their notice period, with their contracts."""
    out = {}
    for major, sunset in product.deprecations.items():
        old = load_snapshot(product.id, major, root)
        if old is not None and today <= sunset:
            out[major] = old
    return out


def product_from_contract(product: DataProduct, snapshot: dict) -> DataProduct:
    """The declaration of an older major version, rebuilt from its contract snapshot."""
    columns = tuple(
        Column(name=c["name"], type=c["type"], nullable=not c["required"], classification=c.get("classification", "internal"),
               pii_category=c.get("pii_category"), masking=c.get("masking"),
               accepted_values=tuple(c["accepted_values"]) if c["accepted_values"] else None,
               description=next((x.description for x in product.columns if x.name == c["name"]), ""))
        for c in snapshot["columns"]
    )
    return product.model_copy(update={"version": snapshot["version"], "columns": columns,
                                      "primary_key": tuple(snapshot["primary_key"]), "deprecations": {}, "compatibility": {}})
