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
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:  # the first process to need it makes it; the others read it
        fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def masking_key(paths: MeshPaths) -> bytes:
    configured = settings().masking_key
    return configured.get_secret_value().encode() if configured is not None else key(paths, "masking")


def fingerprint(value: bytes) -> str:
    """Which key, without revealing it: recorded beside what the key made."""
    return hashlib.sha256(b"mesh key fingerprint:" + value).hexdigest()[:12]
