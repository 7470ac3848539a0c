"""An append-only, tamper-evident log of every read and access decision.

Each entry carries the hash of the one before it, so editing, reordering or removing an
entry breaks the chain; each is sealed with a key only the platform holds (HMAC), so a
rewritten log cannot be re-chained; and the newest entry's position and hash are kept,
sealed, beside that key (the head), so removing the newest entries, truncating or deleting
the log is found too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

from platform_lib.config import MeshPaths
from platform_lib.governance import secrets

GENESIS = "0" * 64


def log_path(paths: MeshPaths | None = None) -> Path:
    return (paths or MeshPaths.from_env()).home / "audit" / "access.jsonl"


def _head_path(paths: MeshPaths) -> Path:
    return paths.identity / "audit.head"


def _digest(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "seal")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _seal(key: bytes, *parts) -> str:
    return hmac.new(key, ":".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()


def _write_head(paths: MeshPaths, key: bytes, seq: int, digest: str) -> None:
    path = _head_path(paths)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"seq": seq, "hash": digest, "seal": _seal(key, "head", seq, digest)}, fh)
    os.replace(tmp, path)


def append(record: dict, paths: MeshPaths | None = None) -> dict:
    """Append `record` (principal, product, version, columns, rows, purpose, decision)."""
    paths = paths or MeshPaths.from_env()
    path = log_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.key(paths, "audit")
    with FileLock(f"{path}.lock", mode=0o600), os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+") as fh:
        # one writer at a time keeps the chain linear
        fh.seek(0)
        lines = fh.read().splitlines()
        last = json.loads(lines[-1]) if lines else None
        entry = {
            **record,
            "seq": (last["seq"] + 1) if last else 1,
            "at": datetime.now(timezone.utc).isoformat(),
            "prev": last["hash"] if last else GENESIS,
        }
        entry["hash"] = _digest(entry)
        entry["seal"] = _seal(key, "entry", entry["seq"], entry["hash"])
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
        _write_head(paths, key, entry["seq"], entry["hash"])
    return entry


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    problem: str = ""
    note: str = ""


def head(paths: MeshPaths | None = None) -> str | None:
    """The newest entry as `SEQ:HASH`: kept outside the mesh (a ticket, a SIEM), it lets
    `verify` catch what the account holding the platform's key could still do, such as
    putting back an older copy of the log or sealing a rewritten one."""
    path = _head_path(paths or MeshPaths.from_env())
    if not path.exists():
        return None
    found = json.loads(path.read_text())
    return f"{found['seq']}:{found['hash']}"


def verify(paths: MeshPaths | None = None, expected: str | None = None) -> Verdict:
    """Check every entry's chain link, hash and seal, and that the log ends where its
    sealed head says it does; with `expected` (a head kept elsewhere, `SEQ:HASH`), also
    that the log still holds that entry as it was."""
    paths = paths or MeshPaths.from_env()
    verdict = _verify(paths)
    if expected is None or not verdict.ok:
        return verdict
    seq, _, digest = expected.partition(":")
    if not (seq.isascii() and seq.isdigit() and len(digest) == 64):
        return Verdict(False, verdict.entries, f"'{expected[:80]}' is not a head as `mesh audit head` prints it (SEQ:HASH)")
    text = log_path(paths).read_text() if log_path(paths).exists() else ""
    lines = text.splitlines()
    if int(seq) > len(lines):
        return Verdict(False, verdict.entries, f"the log holds {len(lines)} entries, fewer than the {seq} of the head kept "
                                               "elsewhere: it was cut, or an older copy put back")
    if int(seq) and json.loads(lines[int(seq) - 1]).get("hash") != digest:
        return Verdict(False, verdict.entries, f"entry {seq} is not the one the head kept elsewhere names: the log was rewritten")
    return verdict


def _verify(paths: MeshPaths) -> Verdict:
    path, head_path = log_path(paths), _head_path(paths)
    has_key = (paths.identity / "audit.key").exists()
    text = path.read_text() if path.exists() else None
    if not has_key and not head_path.exists():
        if text:
            return Verdict(False, 0, f"{path} has entries but the platform's audit key and head are gone: it cannot be trusted")
        return Verdict(True, 0, note="no reads recorded yet" + ("" if text is None else " (the log is empty)"))
    key = secrets.key(paths, "audit")
    if not head_path.exists():
        return Verdict(False, 0, f"the log's sealed head ({head_path}) is missing: the log may have been cut or replaced")
    try:
        head = json.loads(head_path.read_text())
        sealed = hmac.compare_digest(head["seal"], _seal(key, "head", head["seq"], head["hash"]))
    except (ValueError, KeyError, TypeError):
        sealed = False
    if not sealed:
        return Verdict(False, 0, f"the log's head ({head_path}) is not sealed by the platform: it was edited")
    if text is None:
        return Verdict(False, 0, f"{path} is missing: its head says {head['seq']} entries were written")
    if not text.strip():
        return Verdict(False, 0, f"{path} is empty: its head says {head['seq']} entries were written")
    prev, n, at_head = GENESIS, 0, None
    for n, line in enumerate(text.splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return Verdict(False, n, f"entry {n} is not valid JSON")
        if not isinstance(entry, dict) or entry.get("prev") != prev or entry.get("seq") != n:
            return Verdict(False, n, f"entry {n} does not follow entry {n - 1} (chain broken: an entry was removed or reordered)")
        if entry.get("hash") != _digest(entry):
            return Verdict(False, n, f"entry {n} was modified after it was written (hash mismatch)")
        if not hmac.compare_digest(str(entry.get("seal", "")), _seal(key, "entry", n, entry["hash"])):
            return Verdict(False, n, f"entry {n} is not sealed by the platform: the log was rewritten")
        prev = entry["hash"]
        if n == head["seq"]:
            at_head = entry["hash"]
    if n < head["seq"]:
        return Verdict(False, n, f"the log ends at entry {n} but its head says {head['seq']}: the newest "
                                 f"{head['seq'] - n} entries were removed")
    if at_head != head["hash"]:
        return Verdict(False, n, f"entry {head['seq']} is not the one the log's head sealed")
    # Sealed entries past the head: a writer stopped between its entry and its head.
    return Verdict(True, n, note=f"{n - head['seq']} sealed entries past the head" if n > head["seq"] else "")
