"""OpenID Connect access tokens: signed by the configured issuer, for the configured
audience, verified against the keys its discovery document publishes. The configured
claim (`MESH_OIDC_PRINCIPAL_CLAIM`, by default `email`) must name a registered principal."""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.request import urlopen

import jwt

from platform_lib.config import settings
from platform_lib.governance.identity import Unauthenticated

# Asymmetric signatures only: a token signed with a shared secret (HS256) or none at all
# would let whoever holds the public key, or anyone, mint one.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


@lru_cache(maxsize=4)
def _keys(issuer: str) -> jwt.PyJWKClient:
    try:
        with urlopen(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=10) as response:
            discovery = json.load(response)
    except (OSError, ValueError) as err:
        _keys.cache_clear()
        raise Unauthenticated(f"the identity provider {issuer} could not be reached to verify the token ({type(err).__name__})") from None
    if discovery.get("issuer", "").rstrip("/") != issuer.rstrip("/") or "jwks_uri" not in discovery:
        raise Unauthenticated(f"{issuer}'s discovery document names another issuer or no keys")
    return jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=True, lifespan=300)


def principal_of(token: str) -> str:
    """The principal id an access token proves; `Unauthenticated` if it does not verify."""
    current = settings()
    if not current.oidc_audience:
        raise Unauthenticated("MESH_OIDC_AUDIENCE is not set: access tokens are accepted only for a configured audience")
    try:
        key = _keys(current.oidc_issuer).get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=current.oidc_audience,
                            issuer=current.oidc_issuer, options={"require": ["exp", "iss", "aud"]}, leeway=30)
    except jwt.PyJWTError as err:
        raise Unauthenticated(f"the access token was refused ({type(err).__name__}): sign in again") from None
    value = claims.get(current.oidc_principal_claim)
    if not isinstance(value, str) or not value:
        raise Unauthenticated(f"the access token has no '{current.oidc_principal_claim}' claim naming a principal")
    return value
