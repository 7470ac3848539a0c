"""Right to erasure: one request, planned from the mesh's own declarations and lineage,
executed by every domain in its own code location, verified store by store.

A request lives in `<MESH_HOME>/privacy/erasures/<id>.json` and holds only salted hashes
of the subject's identifiers. Each domain moves through
`pending -> erased -> rebuilt -> confirmed`; every step is idempotent, so a killed run
resumes where it stopped, and the request is complete only after a scan of every store
finds nothing left.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import duckdb
from filelock import FileLock
from pydantic import BaseModel, Field

from platform_lib.config import MeshPaths
from platform_lib.declare.identifiers import KINDS, PERSON_KINDS
from platform_lib.declare.spec import DataProduct
from platform_lib.governance import audit_log
from platform_lib.governance.policies import Derivations
from platform_lib.privacy import stores, suppression
from platform_lib.privacy.carriers import Traced, carriers_of, trace
from platform_lib.privacy.keys import TEXT_LITERALS, Subject, digest, literal_of, privacy_dir, salt, sql_digest
from platform_lib.privacy.stores import Store
from platform_lib.storage import staged
from platform_lib.storage.landing import domain_files
from platform_lib.storage.ports import all_ports, port_versions
from platform_lib.storage.sql import q
from platform_lib.storage.warehouse import WarehouseBusy, compact, scratch
from platform_lib.storage.warehouse import connect as connect_warehouse

STATUTORY_DAYS = 30


class ErasureFailed(RuntimeError):
    pass


class ErasureWaiting(ErasureFailed):
    """The request is recorded, but a domain's warehouse is busy: its part waits for the
    next pass (`mesh erase --request-id`, or the erasure inbox sensor's next tick)."""

Phase = Literal["pending", "erased", "rebuilt", "confirmed"]


class DomainPart(BaseModel):
    phase: Phase = "pending"
    # Where the plan found the subject, by `str(Store)`: `port:` a port's current version,
    # `history:` only its older versions. The erase step works on these and on whatever
    # changed since the plan.
    holds: dict[str, int] = Field(default_factory=dict)
    rows_removed: dict[str, int] = Field(default_factory=dict)
    rebuild: list[str] = Field(default_factory=list)  # products to recompute in this domain
    runs: list[str] = Field(default_factory=list)
    files_purged: int = 0
    confirmed_at: datetime | None = None
    waiting: str | None = None  # why the part could not run on its last attempt (a busy warehouse)
    # Landing files searched by content and found clean of the subject, by `str(Store)`, with
    # their `stores.fingerprint` (size and content hash) then: unchanged since, they need no
    # search again.
    clean: dict[str, str] = Field(default_factory=dict)


class ErasureRequest(BaseModel):
    request_id: str
    subject_kind: str
    subject_hash: str
    reason: str
    received_at: datetime
    hashes: list[str]
    carriers: dict[str, str]  # column name -> identifier kind: declared, and copies the lineage finds
    identifiers: dict[str, list[str]] = Field(default_factory=dict)  # kind -> hashes, as resolved so far
    # A literal each of its identifiers holds (`keys.literal_of`: "con-", "@"): a search of
    # text passes over text holding none. None (recorded before, or an identifier holding
    # none of them): every text is searched.
    literals: list[str] | None = None
    domains: dict[str, DomainPart]
    # The product columns that carry or derive from the subject's identifiers, with their path.
    columns: list[Traced] = Field(default_factory=list)
    status: Literal["open", "complete"] = "open"
    # Before it, stores not in a part's `holds` held nothing. None: recorded, not yet planned
    # (the subject's own identifier is already suppressed; planning resolves the others).
    planned_at: datetime | None = None
    stores_checked: dict[str, int] = Field(default_factory=dict)
    verified_at: datetime | None = None

    @property
    def deadline(self) -> datetime:
        return self.received_at + timedelta(days=STATUTORY_DAYS)

    def matcher(self, paths: MeshPaths) -> stores.Matcher:
        known = self.literals is not None and set(self.literals) <= set(TEXT_LITERALS)
        return stores.Matcher(salt(paths), frozenset(self.hashes), self.carriers, frozenset(self.literals) if known else None)


# ---- request records ------------------------------------------------------------------


def requests_dir(paths: MeshPaths) -> Path:
    return privacy_dir(paths) / "erasures"


def inbox_dir(paths: MeshPaths) -> Path:
    return privacy_dir(paths) / "inbox"


def _path(paths: MeshPaths, request_id: str) -> Path:
    if not request_id.replace("-", "").replace("_", "").isalnum() or len(request_id) > 64:
        raise ValueError(f"request id '{request_id[:40]}' may only hold letters, digits, '-' and '_' (64 at most)")
    return requests_dir(paths) / f"{request_id}.json"


def load(paths: MeshPaths, request_id: str) -> ErasureRequest:
    path = _path(paths, request_id)
    if not path.exists():
        raise LookupError(f"no erasure request '{request_id}'; `mesh erase --status` lists them")
    return ErasureRequest.model_validate_json(path.read_text())


def save(paths: MeshPaths, request: ErasureRequest) -> None:
    path = _path(paths, request.request_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(request.model_dump_json(indent=2))
    os.replace(tmp, path)


def all_requests(paths: MeshPaths) -> list[ErasureRequest]:
    folder = requests_dir(paths)
    return sorted((ErasureRequest.model_validate_json(p.read_text()) for p in folder.glob("*.json")),
                  key=lambda r: r.received_at) if folder.is_dir() else []


@contextmanager
def domain_lock(paths: MeshPaths, domain: str):
    """One erasure step at a time per domain, across processes."""
    lock = privacy_dir(paths) / "locks" / f"{domain}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock, mode=0o600):  # exclusive; waits as long as it takes
        yield


@contextmanager
def request_lock(paths: MeshPaths, request_id: str):
    """One writer of a request's record at a time: domains carry their parts side by side
    (each domain's sensor runs in its own code location)."""
    with domain_lock(paths, f"request-{request_id}"):
        yield


def record_part(paths: MeshPaths, request_id: str, domain: str, **changes) -> ErasureRequest:
    """Record a change to one domain's part on the request as it is on disk now, so the
    parts other domains recorded meanwhile are kept. Only the domain changes its own part
    (under its `domain_lock`); returns the request as recorded."""
    with request_lock(paths, request_id):
        request = load(paths, request_id)
        request.domains[domain] = request.domains[domain].model_copy(update=changes)
        save(paths, request)
    return request


# ---- resolving a subject --------------------------------------------------------------


def resolve(identifiers: dict[str, set[str]], paths: MeshPaths, domains: list[str], carriers: dict[str, str],
            literals: set[str | None] | None = None) -> dict[str, set[str]]:
    """Every identifier of the subject, as salted hashes by kind, following the links staging
    holds (a contact's emails and product users; an account's contacts and users), starting
    from `identifiers`. Staging is matched by hash, so no raw identifier is ever needed. The
    literal of each identifier found (`keys.literal_of`, None for none) is added to `literals`."""
    literals = set() if literals is None else literals
    s = salt(paths)
    values: dict[str, set[str]] = {k: set(identifiers.get(k, ())) for k in KINDS}
    for _ in range(4):  # links are at most a few hops deep
        before = sum(len(v) for v in values.values())
        for domain in domains:
            db = paths.warehouse(domain)
            if not db.exists():
                continue
            with connect_warehouse(paths, domain, read_only=True) as con:
                for schema, table, columns in stores.tables(con):
                    if schema != "staging":
                        continue
                    kinds = {c: carriers[c] for c in columns if c in carriers}
                    _follow(con, f"{q(schema)}.{q(table)}", kinds, values, s, literals)
        if sum(len(v) for v in values.values()) == before:
            break
    return values


def _follow(con, table: str, kinds: dict[str, str], values: dict[str, set[str]], salt_hex: str,
            literals: set[str | None]) -> None:
    for col, kind in kinds.items():
        known = values[kind]
        if not known:
            continue
        # from an account to its people; from a person to their other identifiers, never to the account
        targets = {c: k for c, k in kinds.items() if k in PERSON_KINDS and c != col}
        if not targets:
            continue
        sel = ", ".join(f"lower(trim(CAST({q(c)} AS VARCHAR)))" for c in targets)
        rows = con.execute(f"SELECT DISTINCT {sel} FROM {table} WHERE {sql_digest(salt_hex, q(col))} IN "
                           f"(SELECT unnest(?::VARCHAR[]))", [sorted(known)]).fetchall()
        for row in rows:
            for (c, k), v in zip(targets.items(), row):
                if v:
                    values[k].add(digest(salt_hex, v))
                    literals.add(literal_of(v))


# ---- opening, planning ----------------------------------------------------------------


def subject_hash(paths: MeshPaths, subject: Subject) -> str:
    return digest(salt(paths), subject.value)


def _recorded(subject: Subject, reason: str, paths: MeshPaths, domains: list[str], declared: list,
              request_id: str | None) -> ErasureRequest:
    """The request as it is first recorded: the subject's own identifier, not yet planned."""
    s = salt(paths)
    subject_hash, literal = digest(s, subject.value), literal_of(subject.value)
    return ErasureRequest(
        request_id=request_id or f"ER-{datetime.now(timezone.utc):%Y%m%d}-{uuid.uuid4().hex[:8]}",
        subject_kind=subject.kind, subject_hash=subject_hash, reason=reason, received_at=datetime.now(timezone.utc),
        hashes=[subject_hash], carriers=carriers_of(declared), identifiers={subject.key_kind: [subject_hash]},
        literals=None if literal is None else [literal],
        domains={d: DomainPart() for d in domains},
    )


def _planned(request: ErasureRequest, paths: MeshPaths, domains: list[str], declared: list,
             products: list[DataProduct], lineage: Derivations) -> dict:
    """Resolve the subject's identifiers and plan, on `request` in memory. Raises
    `WarehouseBusy` when a domain's warehouse stays held."""
    carriers = carriers_of(declared)
    # Links are followed in staging only, by its declared carriers.
    literals: set[str | None] = {None} if request.literals is None else set(request.literals)
    values = resolve({k: set(v) for k, v in request.identifiers.items()}, paths, domains, carriers, literals)
    request.literals = None if None in literals else sorted(literals)
    kinds = {k for k, v in values.items() if v}
    request.identifiers = {k: sorted(v) for k, v in values.items() if v}
    request.hashes = sorted({h for vs in values.values() for h in vs} | set(request.hashes))
    traced = [t for t in trace(carriers, lineage) if t.kind in kinds]
    request.carriers = {c: k for c, k in carriers.items() if k in kinds} | {t.column: t.kind for t in traced if t.direct}
    planned_at = datetime.now(timezone.utc)
    found = plan(request, paths, domains, products, traced)
    request.planned_at = planned_at
    request.columns = [Traced.model_validate(c) for c in found["columns"]]
    for domain, held in found["holds"].items():
        request.domains[domain].holds = held
        request.domains[domain].clean = found["clean"][domain]
    for domain, names in found["recompute"].items():
        request.domains[domain].rebuild = names
    return found


def new_request(subject: Subject, reason: str, paths: MeshPaths, domains: list[str], declared: list,
                products: list[DataProduct], request_id: str | None = None, *,
                lineage: Derivations) -> tuple[ErasureRequest, dict]:
    """The request and its plan, from declarations, staging links and the products' column
    `lineage`; nothing is written (`mesh erase --plan` stops here)."""
    request = _recorded(subject, reason, paths, domains, declared, request_id)
    return request, _planned(request, paths, domains, declared, products, lineage)


def open_request(subject: Subject, reason: str, paths: MeshPaths, domains: list[str], declared: list,
                 products: list[DataProduct], request_id: str | None = None, *, lineage: Derivations) -> ErasureRequest:
    """Create the request, or return the open one for the same subject or id. It is recorded,
    and the subject suppressed, before anything that can fail; then it is planned. When a
    warehouse is busy the request stays recorded, unplanned, and `ErasureWaiting` says so."""
    subject_hash = digest(salt(paths), subject.value)
    for existing in all_requests(paths):
        if existing.request_id == request_id or (existing.subject_hash == subject_hash and existing.status == "open"):
            return prepare(paths, existing.request_id, domains, declared, products, lineage=lineage)
    request = _recorded(subject, reason, paths, domains, declared, request_id)
    suppression.add(paths, set(request.hashes), request.request_id)
    save(paths, request)
    return prepare(paths, request.request_id, domains, declared, products, lineage=lineage)


def prepare(paths: MeshPaths, request_id: str, domains: list[str], declared: list,
            products: list[DataProduct], *, lineage: Derivations) -> ErasureRequest:
    """Plan a recorded request that is not planned yet (idempotent): every identifier the
    subject resolves to is suppressed, and each part learns where the subject is."""
    with request_lock(paths, request_id):
        request = load(paths, request_id)
        if request.planned_at is not None or request.status == "complete":
            return request
        try:
            _planned(request, paths, domains, declared, products, lineage)
        except WarehouseBusy as err:
            why = f"waiting to plan: {err}"
            for part in request.domains.values():
                part.waiting = why
            save(paths, request)
            raise ErasureWaiting(f"erasure {request_id} is recorded and its subject suppressed, but it waits: {why}. "
                                 f"It resumes with `mesh erase --request-id {request_id}` (or the erasure inbox "
                                 f"sensor's next pass); `mesh erase --status` follows it") from None
        for part in request.domains.values():
            part.waiting = None
        suppression.add(paths, set(request.hashes), request.request_id)
        save(paths, request)
        return request


def note_waiting(paths: MeshPaths, request_id: str, domain: str, why: str) -> ErasureWaiting:
    """Record that a domain's part could not run (its warehouse is busy); the error to raise."""
    record_part(paths, request_id, domain, waiting=why)
    return ErasureWaiting(f"erasure {request_id}: {domain}'s part waits: {why}. It resumes with `mesh erase "
                          f"--request-id {request_id}` (or the erasure inbox sensor's next pass)")


def plan(request: ErasureRequest, paths: MeshPaths, domains: list[str], products: list[DataProduct],
         traced: Sequence[Traced] = ()) -> dict:
    """Where the subject is (rows per store, read only), which products to recompute, and
    the columns of published products that carry or derive from the subject's identifiers
    (`traced`, of its kinds) where the subject was found on their way."""
    matcher = request.matcher(paths)
    found: dict[str, dict[str, int]] = {}
    clean: dict[str, dict[str, str]] = {}
    con = scratch()
    matcher.load(con)
    for domain in domains:
        here: dict[str, int] = {}
        clean[domain] = {}
        for key, n in _search_landing(con, matcher, paths, domain_files(paths.landing / domain), clean[domain]).items():
            if n:
                here[key] = n
        db = paths.warehouse(domain)
        if db.exists():
            with connect_warehouse(paths, domain, read_only=True) as wh:
                matcher.load(wh)
                here |= {str(Store.table(domain, t)): n for t, n in stores.warehouse_matches(wh, matcher).items()}
        for folder in all_ports(paths, domain):
            if anywhere := stores.port_files_matches(con, matcher, folder):
                current = stores.port_matches(con, matcher, folder)
                here[str(Store.port(paths, folder, current=bool(current)))] = current or anywhere
        found[domain] = here
    con.close()
    published = {p.id for p in products if port_versions(paths, p.domain, p.name)}
    holders = holding(found)
    columns = [t.model_dump() for t in traced if t.product in published and t.assets & holders]
    return {"holds": found, "recompute": recompute(products, found, published, traced), "columns": columns, "clean": clean}


def holding(found: dict[str, dict[str, int]]) -> set[str]:
    """The assets a plan found holding the subject: staged sources (`<domain>.staging.<table>`)
    and products whose current port version holds it."""
    held = [(d, Store.parse(k)) for d, keys in found.items() for k in keys]
    return ({f"{d}.{s.name}" for d, s in held if s.kind == "warehouse" and s.name.startswith("staging.")}
            | {f"{s.domain}.{s.product}" for _, s in held if s.kind == "port"})


def recompute(products: list[DataProduct], found: dict[str, dict[str, int]], published: set[str],
              traced: Sequence[Traced] = ()) -> dict[str, list[str]]:
    """Products whose port held the subject, products with a column computed from the
    subject's identifiers where they were found (`traced`), and products derived from
    either, or from any store that held the subject, along lineage across domains. No
    other product can hold the subject once its inputs are erased, so none other is
    recomputed; nor is one never published (its first build reads the erased inputs)."""
    holders = holding(found)
    affected = {p.id for p in products if p.id in holders}
    # A computed value cannot be matched by hash: only recomputing the product clears it.
    affected |= {t.product for t in traced if not t.direct and t.assets & holders}
    changed = True
    while changed:
        changed = False
        for p in products:
            if p.id in affected:
                continue
            if any(i.split("@")[0] in affected or i in holders for i in p.inputs):
                affected.add(p.id)
                changed = True
    out: dict[str, list[str]] = {}
    for p in products:
        if p.id in affected and p.id in published:
            out.setdefault(p.domain, []).append(p.name)
    return out


# ---- a domain's part, run inside its code location ------------------------------------


def _changed_since(path: Path, moment: datetime | None) -> bool:
    return moment is None or datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) >= moment


def erase_part(paths: MeshPaths, request_id: str, domain: str, run_id: str) -> dict[str, int]:
    """Remove the subject's rows from the domain's landing files, warehouse and ports.
    Files and ports are the ones the plan found holding the subject, and any written
    since the plan; the warehouse is searched whole (a build may have run since)."""
    with domain_lock(paths, domain):
        request = load(paths, request_id)
        part = request.domains[domain]
        if part.phase != "pending":
            return part.rows_removed
        if request.planned_at is None:
            raise ErasureWaiting(f"erasure {request_id} is not planned yet; run `mesh erase --request-id {request_id}`")
        matcher = request.matcher(paths)
        removed: dict[str, int] = {}
        con = scratch()
        matcher.load(con)
        held = {Store.parse(k) for k in part.holds}
        for f in domain_files(paths.landing / domain):
            store = Store.landing(paths, f)
            if store in held or _changed_since(f, request.planned_at):
                if n := stores.rewrite_landing_file(con, matcher, f, known=store in held):
                    removed[str(store)] = n
        for folder in all_ports(paths, domain):
            store = Store.port(paths, folder)
            if store in held or _changed_since(folder / "_delta_log", request.planned_at):
                if n := stores.erase_port_rows(con, matcher, folder, request_id):
                    removed[str(store)] = n
        con.close()
        db = paths.warehouse(domain)
        if db.exists():
            with connect_warehouse(paths, domain) as wh:
                matcher.load(wh)
                _log_erased(wh, matcher, domain)
                deleted = stores.warehouse_matches(wh, matcher, delete=True)
                removed |= {str(Store.table(domain, t)): n for t, n in deleted.items()}
        record_part(paths, request_id, domain, rows_removed=removed, phase="erased", runs=[*part.runs, run_id], waiting=None)
        return removed


def _log_erased(wh: duckdb.DuckDBPyConnection, matcher: stores.Matcher, domain: str) -> None:
    """Record the subject's staged records as a staging run of their source, as they were
    but with the subject's identifiers left out: products computed per key recompute the
    keys the subject reached (an account's week without the contact's calls), the others
    are recomputed as after any staging run. No identifier of the subject is kept. The keys
    that other landed records still carry are audited again by the next staging run."""
    found = wh.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                       "AND table_schema IN ('staging', 'ledger', 'landed')").fetchall()
    tables = {t for schema, t in found if schema == "staging"}
    logs = {t for schema, t in found if schema == "ledger"}
    for source in sorted(t for t in tables if f"{t}_changes" in logs):
        log = staged.changes_table(source)
        logged = [c for c in wh.sql(f"SELECT * FROM {log} LIMIT 0").columns if c not in ("seq", "image")]
        kept = ", ".join(f"CASE WHEN {matcher.is_subject(c)} THEN NULL ELSE {q(c)} END" if c in matcher.carriers else q(c)
                         for c in logged)
        rows = [f"SELECT {kept} FROM staging.{q(t)} WHERE {where}" for t in (source, f"{source}_history")
                if t in tables and (where := matcher.where(wh.sql(f"SELECT * FROM staging.{q(t)} LIMIT 0").columns))]
        if rows:
            staged.log_deleted(wh, f"{domain}.{source}", logged, " UNION ".join(rows), "erasure")
    for source in sorted(t for schema, t in found if schema == "landed"):
        if where := matcher.where(wh.sql(f"SELECT * FROM landed.{q(source)} LIMIT 0").columns):
            staged.keep_pending(wh, f"{domain}.{source}", where)


def purge_part(paths: MeshPaths, request_id: str, domain: str, run_id: str) -> dict[str, int]:
    """After the recompute: drop every older version of the ports that held or were rebuilt
    without the subject, compact the warehouse if it held the subject, and prove those stores
    clean. The last domain to confirm completes the request with a scan of the whole mesh."""
    with domain_lock(paths, domain):
        request = load(paths, request_id)
        part = request.domains[domain]
        if part.phase == "confirmed":
            return {}
        touched = {Store.parse(k) for k in (*part.holds, *part.rows_removed)}
        changed = {*part.rebuild, *(s.product for s in touched if s.kind in ("port", "history") and s.domain == domain)}
        ports = [folder for folder in all_ports(paths, domain) if Store.port(paths, folder).product in changed]
        purged = sum(stores.purge_history(folder) for folder in ports)
        # Deleted and replaced rows linger in the file's freed blocks until it is rewritten.
        db = paths.warehouse(domain)
        rewritten = db.exists() and (part.rebuild or any(s.kind == "warehouse" for s in touched))
        if rewritten:
            compact(db)
        landing = [s.path(paths) for s in touched if s.kind == "landing"]
        clean = dict(part.clean)
        left = scan(paths, request, [domain], landing=landing, ports=ports, warehouse=bool(rewritten), clean=clean)
        if any(left.values()):
            raise RuntimeError(f"erasure {request_id}: {domain} still holds the subject in "
                               f"{', '.join(k for k, n in left.items() if n)}; re-run `mesh erase --request-id {request_id}`")
        request = record_part(paths, request_id, domain, files_purged=part.files_purged + purged, phase="confirmed", clean=clean,
                              confirmed_at=datetime.now(timezone.utc), runs=[*part.runs, run_id])
    if all(p.phase == "confirmed" for p in request.domains.values()):
        try:
            complete(paths, request_id)  # the last domain to confirm completes the request
        except Reopened as err:
            return err.left  # the reopened domains run again: the sensor's next tick, or `mesh erase`'s next pass
    return left


class Reopened(ErasureFailed):
    """The whole-mesh scan found the subject again (say, in a file landed since the plan):
    the domains holding it go back to `pending` with the new findings as their plan."""

    def __init__(self, request_id: str, left: dict[str, int]):
        super().__init__(f"erasure {request_id}: the subject is still in {', '.join(left)}; those domains start "
                         f"over: re-run `mesh erase --request-id {request_id}`")
        self.left = left


def complete(paths: MeshPaths, request_id: str) -> ErasureRequest:
    """Once every domain confirmed: scan the whole mesh and record the completion."""
    with request_lock(paths, request_id):
        request = load(paths, request_id)
        if request.status == "complete":
            return request
        if any(p.phase != "confirmed" for p in request.domains.values()):
            raise ErasureFailed(f"erasure {request_id}: not every domain has confirmed; re-run `mesh erase --request-id {request_id}`")
        # Files found clean since the plan and unchanged since are not searched again.
        clean = {k: v for part in request.domains.values() for k, v in part.clean.items()}
        checked = scan(paths, request, list(request.domains), clean=clean)
        left = {k: n for k, n in checked.items() if n}
        if left:
            request.planned_at = datetime.now(timezone.utc)
            for domain, part in request.domains.items():
                held = {k: n for k, n in left.items() if Store.parse(k).domain == domain}
                if held:
                    request.domains[domain] = DomainPart(holds=held, rebuild=part.rebuild, runs=part.runs,
                                                         clean={k: v for k, v in clean.items() if Store.parse(k).domain == domain})
            save(paths, request)
            raise Reopened(request_id, left)
        request.status, request.verified_at, request.stores_checked = "complete", datetime.now(timezone.utc), checked
        save(paths, request)
        audit_log.append({
            "event": "erasure_completed", "request_id": request.request_id, "subject_hash": request.subject_hash,
            "subject_kind": request.subject_kind, "reason": request.reason, "stores_checked": len(checked),
            "rows_removed": sum(n for p in request.domains.values() for n in p.rows_removed.values()),
            "products_recomputed": sorted(f"{d}.{n}" for d, p in request.domains.items() for n in p.rebuild),
            "verified_at": request.verified_at.isoformat(), "deadline": request.deadline.isoformat(),
        }, paths)
        return request


def _search_landing(con: duckdb.DuckDBPyConnection, matcher: stores.Matcher, paths: MeshPaths, files,
                    clean: dict[str, str]) -> dict[str, int]:
    """The subject's records in each landed file. A file in `clean` with the same fingerprint
    (its bytes unchanged) is known clean without searching it; each file found clean is
    added to `clean`. A file that changes while it is searched is searched again next time:
    its fingerprint is taken before and after, and kept only when both agree."""
    found, searched = {}, {}
    for f in files:
        key, before = str(Store.landing(paths, f)), stores.fingerprint(f)
        found[key] = 0
        if clean.get(key) != before:
            searched[f] = (key, before)
    for f, n in stores.landing_matches_all(con, matcher, list(searched)).items():  # all in one pass
        key, before = searched[f]
        found[key] = n
        clean.pop(key, None)
        if not n and f.exists() and stores.fingerprint(f) == before:
            clean[key] = before
    return found


def scan(paths: MeshPaths, request: ErasureRequest, domains: list[str], *, landing: list[Path] | None = None,
         ports: list[Path] | None = None, warehouse: bool = True, clean: dict[str, str] | None = None) -> dict[str, int]:
    """Rows of the subject left in every store of `domains`: each landing file, each
    warehouse table (quarantine included), and every data file and log entry of every port.
    `landing` and `ports` narrow the scan to those files and folders; `warehouse=False` skips it.
    `clean` holds the landing files already found clean (see `_search_landing`), and gains
    those found clean now."""
    matcher = request.matcher(paths)
    checked: dict[str, int] = {}
    clean = {} if clean is None else clean
    con = scratch()
    matcher.load(con)
    for domain in domains:
        files = domain_files(paths.landing / domain) if landing is None else [f for f in landing if f.exists()]
        checked |= _search_landing(con, matcher, paths, files, clean)
        for folder in all_ports(paths, domain) if ports is None else ports:
            checked[str(Store.port(paths, folder))] = stores.port_files_matches(con, matcher, folder)
        db = paths.warehouse(domain)
        if warehouse and db.exists():
            with connect_warehouse(paths, domain, read_only=True) as wh:
                matcher.load(wh)
                found = stores.warehouse_matches(wh, matcher)
                checked |= {str(Store.table(domain, f"{schema}.{table}")): found.get(f"{schema}.{table}", 0)
                            for schema, table, _ in stores.tables(wh)}
    con.close()
    return checked
