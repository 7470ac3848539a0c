"""OpenID Connect access tokens: signed by the issuer `governance/identity.yaml` names, for
its audience, verified against the keys the issuer's discovery document publishes, and
living at most `MAX_LIFETIME`. The configured claim (by default `email`) must name a
registered principal."""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.request import urlopen

import jwt

from platform_lib.governance import registry
from platform_lib.governance.identity import Unauthenticated

# Asymmetric signatures only: a token signed with a shared secret (HS256) or none at all
# would let whoever holds the public key, or anyone, mint one.
MAX_LIFETIME = 12 * 3600  # seconds between a token's issue and expiry: a leaked one dies soon
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
    provider = registry.identity_provider()
    if provider is None:
        raise Unauthenticated("no identity provider is configured (governance/identity.yaml)")
    try:
        key = _keys(provider.issuer).get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=provider.audience, issuer=provider.issuer,
                            options={"require": ["exp", "iat", "iss", "aud"]}, leeway=30)
    except jwt.PyJWTError as err:
        raise Unauthenticated(f"the access token was refused ({type(err).__name__}): sign in again") from None
    if not all(isinstance(claims[k], (int, float)) and not isinstance(claims[k], bool) for k in ("exp", "iat")):
        raise Unauthenticated("the access token's times are not numbers")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME:
        raise Unauthenticated(f"the access token lives longer than {MAX_LIFETIME // 3600} hours; the mesh accepts shorter-lived ones")
    value = claims.get(provider.principal_claim)
    if not isinstance(value, str) or not value:
        raise Unauthenticated(f"the access token has no '{provider.principal_claim}' claim naming a principal")
    return value
