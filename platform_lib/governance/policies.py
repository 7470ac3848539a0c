"""Global policies as code. Each is a named rule with a rationale and a fix; all of them
run on every domain's declarations when its code location loads, and in
`mesh policy check`. Exemptions are explicit, reasoned and expire."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date

from platform_lib.config import MeshPaths
from platform_lib.declare.identifiers import COMMON_IDENTIFIERS
from platform_lib.declare.purposes import PURPOSES
from platform_lib.declare.spec import SEMVER, DataProduct
from platform_lib.governance import audit_log, registry

IDENTIFIER_LOOKALIKE = re.compile(r"^(acct|accnt|account|cust|customer|contact|cntct|usr|user)(_?id|_?key|_?num)?$|^(accountid|contactid|userid)$")
MIN_DESCRIPTION = 20


@dataclass(frozen=True)
class Violation:
    policy: str
    product: str
    problem: str
    fix: str
    exempted_by: registry.Exemption | None = None

    def message(self) -> str:
        domain = self.product.split(".")[0]
        return f"[{self.policy}] domain {domain}, product {self.product}: {self.problem}. Fix: {self.fix}"


@dataclass(frozen=True)
class Policy:
    name: str
    rationale: str
    fix: str
    check: Callable[[DataProduct, date], list[str]]


def _ownership(p: DataProduct, today: date) -> list[str]:
    problems = []
    if not p.owner.team.strip() or not p.owner.role.strip():
        problems.append("the owner needs a team and a named role")
    if p.owner.team != p.domain:
        problems.append(f"owned by team {p.owner.team}, not by its domain {p.domain}")
    return problems


def _documentation(p: DataProduct, today: date) -> list[str]:
    problems = []
    if len(p.description.strip()) < MIN_DESCRIPTION:
        problems.append(f"the description has fewer than {MIN_DESCRIPTION} characters")
    undocumented = [c.name for c in p.columns if not c.description.strip()]
    if undocumented:
        problems.append(f"columns without a description: {undocumented}")
    return problems


def _classification(p: DataProduct, today: date) -> list[str]:
    return [
        f"pii column {c.name} needs a pii_category and a masking ('hash' or 'redact')"
        for c in p.columns
        if c.classification == "pii" and not (c.pii_category and c.masking)
    ]


def _sla(p: DataProduct, today: date) -> list[str]:
    s = p.sla
    ok = s.freshness_minutes > 0 and 0 < s.availability <= 1 and 0 < s.quality_min <= 1 and s.docs_max_age_days > 0
    return [] if ok and s.breaking_change_notice_days >= 1 else ["every SLA target must be set to a meaningful value"]


def _version(p: DataProduct, today: date) -> list[str]:
    return [] if SEMVER.fullmatch(p.version) else [f"version {p.version} is not MAJOR.MINOR.PATCH"]


def _identifiers(p: DataProduct, today: date) -> list[str]:
    problems = []
    for c in p.columns:
        standard = COMMON_IDENTIFIERS.get(c.name)
        if standard and (c.type != standard.type or c.pattern != standard.pattern):
            problems.append(f"{c.name} must be {standard.type} in format {standard.pattern} (use platform_lib.declare.identifiers)")
        elif not standard and IDENTIFIER_LOOKALIKE.match(c.name):
            problems.append(f"column {c.name} looks like a common identifier; name it account_id, contact_id or user_id")
    return problems


def _naming(p: DataProduct, today: date) -> list[str]:
    return [
        f"timestamp column {c.name} should end in _at (or be as_of)"
        for c in p.columns
        if c.type == "timestamp" and not (c.name.endswith("_at") or c.name.endswith("as_of"))
    ]


def _access(p: DataProduct, today: date) -> list[str]:
    """Another domain's product may be read only under a granted data-usage agreement."""
    consumer = registry.service_principal(p.domain)
    problems = []
    for ref in p.product_inputs:
        producer = ref.split(".")[0]
        if producer == p.domain:
            continue
        product_id, _, pin = ref.partition("@v")
        majors = {int(pin)} if pin else None
        if not any(
            g.consumer == consumer.id and g.product == product_id and g.active(today) and (majors is None or g.major in majors)
            for g in registry.grants()
        ):
            problems.append(f"reads {ref} without an active grant for {consumer.id}")
    return problems


def _retention(p: DataProduct, today: date) -> list[str]:
    return [] if p.retention_days and p.retention_days > 0 else ["no retention declared"]


def _purpose(p: DataProduct, today: date) -> list[str]:
    """Contact-level personal data is used only for a declared purpose."""
    if p.personal_columns and not p.purpose:
        return [f"publishes contact-level personal data ({', '.join(p.personal_columns)}) without a declared purpose"]
    return []


POLICIES = (
    Policy("ownership", "Someone answers for every product.", "set owner=Owner(team=<domain>, role=...)", _ownership),
    Policy("documentation", "Consumers self-serve only what is explained.", "write the description and every column's description", _documentation),
    Policy("classification", "Privacy starts with knowing which columns are personal data.",
           "classify every column; give pii columns pii_category and masking", _classification),
    Policy("sla", "A product states what it guarantees.", "declare SLA targets (or keep the defaults)", _sla),
    Policy("semantic_version", "Consumers pin versions; versions must mean something.", "use MAJOR.MINOR.PATCH", _version),
    Policy("common_identifiers", "Products combine on one account_id, contact_id and user_id.",
           "use platform_lib.declare.identifiers for identifier columns", _identifiers),
    Policy("naming", "Predictable names make products composable.", "rename the column", _naming),
    Policy("access", "Cross-domain use needs a data-usage agreement.",
           "request it: mesh access request <product> --purpose ...; the owner approves", _access),
    Policy("retention", "Data is kept only as long as it is needed.", "declare retention_days", _retention),
    Policy("purpose", "Personal data is used only for a purpose its subject consented to or another lawful basis.",
           f"declare purpose= one of {', '.join(PURPOSES)}; consent-based purposes keep only consenting contacts", _purpose),
)


# Checked where the column lineage of the whole mesh is known (`mesh policy check`).
PII_LINEAGE = Policy(
    "pii_lineage", "Personal data stays personal data however many products it passes through.",
    "classify the column pii (with pii_category and masking), or, if it identifies no one any more (a count, "
    "a keyed pseudonym), declare deidentified='how' for review", lambda product, today: [])

# product id -> column -> each (asset, column) input it derives from, and whether that input
# reaches it as it was (copied or renamed), from the column lineage.
Derivations = dict[str, dict[str, dict[tuple[str, str], bool]]]


def _pii_lineage(product: DataProduct, derivations: Derivations, personal: set[tuple[str, str]]) -> list[str]:
    problems = []
    traced = derivations.get(product.id)
    if traced is None:
        return ["its column lineage could not be read, so where its PII goes is unverified"]
    for column in product.columns:
        if column.classification == "pii" or column.deidentified:
            continue
        if column.name not in traced:
            problems.append(f"column {column.name} could not be traced, so whether it carries PII is unverified")
            continue
        carried = sorted(i for i in derivations.get(product.id, {}).get(column.name, {}) if i in personal)
        if carried:
            path = ", ".join(f"{asset}.{name}" for asset, name in carried)
            problems.append(f"column {column.name} derives from PII ({path} -> {product.id}.{column.name}) "
                            "but is not classified pii")
    return problems


def evaluate(products: list[DataProduct], today: date | None = None, derivations: Derivations | None = None,
             personal: set[tuple[str, str]] | None = None) -> list[Violation]:
    """Every policy on every product; with the mesh's column lineage (`derivations`) and its
    PII columns (`personal`, of sources and products), the PII lineage policy too."""
    today = today or date.today()
    exempt = {(e.policy, e.product): e for e in registry.exemptions() if e.expires >= today}
    found = []
    for product in products:
        for policy in POLICIES:
            for problem in policy.check(product, today):
                found.append(Violation(policy.name, product.id, problem, policy.fix, exempt.get((policy.name, product.id))))
        if derivations is not None:
            for problem in _pii_lineage(product, derivations, personal or set()):
                found.append(Violation(PII_LINEAGE.name, product.id, problem, PII_LINEAGE.fix,
                                       exempt.get((PII_LINEAGE.name, product.id))))
    return found


class PolicyViolation(Exception):
    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("global policy violations:\n" + "\n".join(v.message() for v in violations))


def enforce(products: list[DataProduct], today: date | None = None) -> None:
    failing = [v for v in evaluate(products, today) if v.exempted_by is None]
    if failing:
        raise PolicyViolation(failing)


# Whether a code location refuses to load with a violation (it does, except while
# `mesh policy check` loads every location to report all violations at once).
LOAD_GATE: ContextVar[bool] = ContextVar("policy_load_gate", default=True)


@contextmanager
def reporting_only() -> Iterator[None]:
    token = LOAD_GATE.set(False)
    try:
        yield
    finally:
        LOAD_GATE.reset(token)


EXEMPTION_DAYS = 180


def exempt(approver: registry.Principal, policy: str, product_id: str, reason: str, expires: date, today: date,
           paths: MeshPaths | None = None) -> registry.Exemption:
    """Record an exemption of `product_id` from `policy`, granted by `approver`, a platform admin."""
    if not approver.platform_admin:
        raise PermissionError(f"{approver.id} is not a platform admin: only platform admins grant policy exemptions")
    if policy not in {p.name for p in (*POLICIES, PII_LINEAGE)}:
        raise ValueError(f"no policy '{policy[:64]}'; `mesh policy check` lists them")
    if not reason.strip():
        raise ValueError("a reason is required: say why the product may not follow the policy yet")
    if not today < expires <= date.fromordinal(today.toordinal() + EXEMPTION_DAYS):
        raise ValueError(f"an exemption expires after today and within {EXEMPTION_DAYS} days")
    item = registry.Exemption(policy=policy, product=product_id, reason=reason.strip(), expires=expires, approved_by=approver.id)
    with registry.editing():
        kept = [e for e in registry.exemptions() if (e.policy, e.product) != (policy, product_id)]
        registry.save_exemptions([*kept, item])
    audit_log.append({"principal": approver.id, "event": "exemption_granted", "policy": policy, "for": product_id,
                      "until": expires.isoformat(), "reason": item.reason}, paths)
    return item
