"""Who the caller is, proven by a credential, never by a name it gives itself.

Two kinds of credential are accepted:
- bearer tokens the platform issues (`mesh token issue`), stored only as SHA-256 hashes
  under `<home>/identity/tokens.json`, each with an expiry and revocable;
- OpenID Connect access tokens from the configured issuer, verified against its keys.

A caller presents one through `MESH_TOKEN`, or `MESH_PROFILE` naming a Delta Sharing
profile file, as the Delta Sharing connectors do; `mesh serve` takes it as
`Authorization: Bearer`. Tokens are managed by a platform admin, or, without any
credential, by the mesh's operator: the OS account that owns the mesh root and so holds
every store already.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from filelock import FileLock

from platform_lib.config import MeshPaths, settings
from platform_lib.governance import audit_log, registry
from platform_lib.governance.registry import Principal

TOKEN_DAYS = 90
PREFIX = "mesh_"  # issued tokens are recognisable, so secret scanners can find leaked ones
OPERATOR = "operator"


class Unauthenticated(PermissionError):
    """No credential, or one the mesh does not accept."""


class NotAllowed(PermissionError):
    pass


@dataclass
class Token:
    id: str
    principal: str
    sha256: str
    issued: str
    expires: str
    issued_by: str
    revoked: str | None = None
    revoked_by: str | None = None

    def state(self, now: datetime) -> str:
        if self.revoked:
            return "revoked"
        return "expired" if datetime.fromisoformat(self.expires) <= now else "active"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _store(paths: MeshPaths) -> Path:
    return paths.identity / "tokens.json"


def private_dir(path: Path) -> Path:
    """`path`, created readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _load(paths: MeshPaths) -> list[Token]:
    path = _store(paths)
    if not path.exists():
        return []
    return [Token(**item) for item in json.loads(path.read_text())["tokens"]]


def _save(paths: MeshPaths, tokens: list[Token]) -> None:
    path = _store(paths)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"tokens": [asdict(t) for t in tokens]}, fh, indent=1)
    os.replace(tmp, path)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def tokens(paths: MeshPaths) -> list[Token]:
    return _load(paths)


def issue(paths: MeshPaths, principal_id: str, by: str, days: int = TOKEN_DAYS) -> tuple[str, Token]:
    """A new token for `principal_id`: (the secret, shown once; its record)."""
    if principal_id not in registry.principals():
        raise LookupError(f"'{principal_id}' is not in governance/principals.yaml; register the principal first")
    if not 1 <= days <= 366:
        raise ValueError("a token lives between 1 and 366 days")
    secret = PREFIX + secrets.token_urlsafe(32)
    private_dir(paths.identity)
    with FileLock(f"{_store(paths)}.lock", mode=0o600):
        known = _load(paths)
        now = _now()
        token = Token(id=f"T-{len(known) + 1:04d}", principal=principal_id, sha256=_digest(secret),
                      issued=now.isoformat(timespec="seconds"),
                      expires=(now + timedelta(days=days)).isoformat(timespec="seconds"), issued_by=by)
        _save(paths, [*known, token])
    audit_log.append({"principal": by, "event": "token_issued", "token": token.id, "for": principal_id,
                      "expires": token.expires}, paths)
    return secret, token


def revoke(paths: MeshPaths, token_id: str, by: str) -> Token:
    with FileLock(f"{_store(paths)}.lock", mode=0o600):
        known = _load(paths)
        token = next((t for t in known if t.id == token_id), None)
        if token is None:
            raise LookupError(f"no token {token_id}; `mesh token list` shows them")
        if not token.revoked:
            token.revoked, token.revoked_by = _now().isoformat(timespec="seconds"), by
            _save(paths, known)
            audit_log.append({"principal": by, "event": "token_revoked", "token": token.id, "for": token.principal}, paths)
    return token


def profile(secret: str, token: Token) -> dict:
    """A Delta Sharing profile file's content for `secret`: what every Delta Sharing
    client (and the `mesh` CLI and notebooks) reads to reach `mesh serve`."""
    expires = datetime.fromisoformat(token.expires).astimezone(timezone.utc)
    return {"shareCredentialsVersion": 1, "endpoint": settings().serve_url, "bearerToken": secret,
            "expirationTime": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")}


def write_profile(path: Path, content: dict) -> None:
    """Write a profile file readable by its owner only: it holds a credential. It is made
    new under a private name and moved into place, so a file someone else made (or a link
    they left) at `path` never receives it."""
    path = Path(path)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(content, fh, indent=2)
    os.replace(draft, path)


def authenticate(credential: str, paths: MeshPaths) -> Principal:
    """The principal `credential` proves; `Unauthenticated` for anything else. The message
    never echoes the credential."""
    return verify(credential, paths)[0]


def verify(credential: str, paths: MeshPaths) -> tuple[Principal, str]:
    """The principal `credential` proves, and which credential it was: a token's id, or
    `oidc` for an identity provider's access token."""
    credential = credential.strip()
    if credential.startswith(PREFIX):
        digest = _digest(credential)
        for token in _load(paths):
            if hmac.compare_digest(token.sha256, digest):
                _check_active(token)
                return _registered(token.principal), token.id
        raise Unauthenticated("the token is not one the mesh issued; ask a platform admin for one (`mesh token issue`)")
    if credential.count(".") == 2 and registry.identity_provider() is not None:
        from platform_lib.governance import oidc

        principal = _registered(oidc.principal_of(credential))
        if principal.kind != "person":
            raise Unauthenticated(f"{principal.id} is a service account: services use mesh tokens, not the identity provider's")
        return principal, "oidc"
    raise Unauthenticated("the credential is neither a mesh token nor an access token from the configured identity provider")


def _check_active(token: Token) -> None:
    state = token.state(_now())
    if state != "active":
        raise Unauthenticated(f"token {token.id} is {state}; ask a platform admin for a new one (`mesh token issue`)")


def still_valid(paths: MeshPaths, credential_id: str) -> bool:
    """Whether the credential a grant of access was made to still holds (a file URL handed
    out under a token dies with the token)."""
    if credential_id == "oidc":
        return True
    token = next((t for t in _load(paths) if t.id == credential_id), None)
    return token is not None and token.state(_now()) == "active"


def _registered(principal_id: str) -> Principal:
    known = registry.principals()
    if principal_id not in known:
        raise Unauthenticated(f"'{principal_id}' is no longer a principal of the mesh (governance/principals.yaml)")
    return known[principal_id]


def presented(token: str | None = None, profile_file: Path | str | None = None) -> str | None:
    """The credential a caller presents: `token`, else the one in `profile_file`, else
    `MESH_TOKEN`, else the profile file `MESH_PROFILE` names."""
    current = settings()
    if token:
        return token
    if profile_file is None and current.token is not None:
        return current.token.get_secret_value()
    profile_file = profile_file or current.profile
    if profile_file is None:
        return None
    try:
        return json.loads(Path(profile_file).expanduser().read_text())["bearerToken"]
    except (OSError, ValueError, KeyError, TypeError):
        raise Unauthenticated(f"{profile_file} is not a readable Delta Sharing profile file with a bearerToken; "
                              "`mesh token issue PRINCIPAL --out FILE` writes one") from None


NO_CREDENTIAL = ("no credential: set MESH_PROFILE to the profile file `mesh token issue PRINCIPAL --out FILE` wrote "
                 "(or MESH_TOKEN to its token); a platform admin issues tokens")


def caller(paths: MeshPaths | None = None, *, token: str | None = None, profile_file: Path | str | None = None) -> Principal:
    """The authenticated caller of this process."""
    credential = presented(token, profile_file)
    if credential is None:
        raise Unauthenticated(NO_CREDENTIAL)
    return authenticate(credential, paths or MeshPaths.from_env())


def is_operator(paths: MeshPaths) -> bool:
    """Whether this process runs as the OS account that owns the mesh root."""
    home = paths.home
    while not home.exists() and home != home.parent:
        home = home.parent
    return home.stat().st_uid == os.geteuid()


def token_manager(paths: MeshPaths) -> str:
    """Who is managing tokens: a platform admin's credential, or (with none presented) the
    mesh's operator account. A credential that is not an admin's is refused, not ignored."""
    credential = presented()
    if credential is not None:
        who = authenticate(credential, paths)
        if not who.platform_admin:
            raise NotAllowed(f"{who.id} is not a platform admin: only platform admins issue and revoke tokens")
        return who.id
    if not is_operator(paths):
        raise Unauthenticated(NO_CREDENTIAL)
    import pwd

    return f"{OPERATOR} ({pwd.getpwuid(os.geteuid()).pw_name})"
