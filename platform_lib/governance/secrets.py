"""The platform's own keys: for pseudonyms (masking), for the audit log's seal and for
signing the file URLs `mesh serve` hands out. Each is 32 random bytes in
`<home>/identity/<name>.key`, readable by its owner only and made on first use. The
masking key may instead come from configuration (`MESH_MASKING_KEY`, e.g. a secret store's
value): changing it rotates every pseudonym."""

from __future__ import annotations

import hashlib
import os
import secrets

from platform_lib.config import MeshPaths, settings


def key(paths: MeshPaths, name: str) -> bytes:
    folder = paths.identity
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{name}.key"
    if not path.exists():
        # Written whole under a private name, then linked into place: the link either makes
        # the key or finds the one another process made first, never a half-written file.
        draft = folder / f".{name}.key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    value = bytes.fromhex(path.read_text().strip())
    if len(value) != 32:
        raise RuntimeError(f"the platform key {path} is damaged; restore it from backup")
    return value


def masking_key(paths: MeshPaths) -> bytes:
    configured = settings().masking_key
    return configured.get_secret_value().encode() if configured is not None else key(paths, "masking")


def fingerprint(value: bytes) -> str:
    """Which key, without revealing it: recorded beside what the key made."""
    return hashlib.sha256(b"mesh key fingerprint:" + value).hexdigest()[:12]
