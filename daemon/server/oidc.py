"""OIDC sign-in (authorization code flow with PKCE and a nonce), as Microsoft Entra ID and other providers do it.

`begin` makes the provider's authorization address and keeps the sign-in in progress in the database (a hash of
its `state`, the nonce, the PKCE verifier; ten minutes, used once), so any server process may take the callback.
`finish` exchanges the code (client secret + verifier), verifies the ID token (RS256 against the provider's JWKS,
`iss`, `aud`, `exp`/`iat` with a one-minute leeway, `nonce`) and finds the ACTIVE person with the token's e-mail
(`email`, else `preferred_username`); nobody is created. Verification uses `cryptography` directly (already the
server's dependency): one algorithm, a dozen lines, no second JWT library to trust.

The provider's discovery document and keys are cached per process (they are the provider's, not shared state); an
unknown key id fetches the keys again once (the provider rolled its keys).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from daemon.server.auth import token_hash
from daemon.server.services import ServerServices
from daemon.server.store import signins

__all__ = ["CALLBACK_PATH", "LEEWAY_S", "OidcError", "Provider", "begin", "finish", "verify_id_token"]

CALLBACK_PATH = "/api/team/v1/oidc/callback"
LEEWAY_S = 60
LOGIN_TTL_S = 600
TIMEOUT_S = 15


class OidcError(Exception):
    """The sign-in cannot be trusted or did not complete; the message says why (no secret in it)."""


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise OidcError("the ID token is not well formed") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Provider:
    """One OIDC provider's discovery document and signing keys, fetched when first needed."""

    issuer: str
    client_id: str
    client_secret: str
    _meta: dict[str, Any] = field(default_factory=dict)
    _keys: dict[str, Any] = field(default_factory=dict)

    async def meta(self) -> dict[str, Any]:
        if not self._meta:
            doc = await _get_json(self.issuer + "/.well-known/openid-configuration")
            if doc.get("issuer") != self.issuer:
                raise OidcError("the provider's discovery document names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(doc.get(key), str):
                    raise OidcError(f"the provider's discovery document has no {key}")
            self._meta = doc
        return self._meta

    async def key(self, kid: str) -> Any:
        if kid not in self._keys:
            jwks = await _get_json((await self.meta())["jwks_uri"])
            self._keys = {k.get("kid", ""): k for k in jwks.get("keys", []) if isinstance(k, dict)}
        if kid not in self._keys:
            raise OidcError("the ID token is signed with a key the provider does not publish")
        return _rsa_key(self._keys[kid])


def _rsa_key(jwk: dict[str, Any]) -> Any:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    if jwk.get("kty") != "RSA":
        raise OidcError("the provider's key is not an RSA key")
    n = int.from_bytes(b64url_decode(str(jwk.get("n", ""))), "big")
    e = int.from_bytes(b64url_decode(str(jwk.get("e", ""))), "big")
    return RSAPublicNumbers(e, n).public_key()


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            answer = await client.get(url)
    except httpx.HTTPError as exc:
        raise OidcError(f"the sign-in provider did not answer ({type(exc).__name__})") from None
    if answer.status_code != 200:
        raise OidcError(f"the sign-in provider answered {answer.status_code} for {url}")
    try:
        body = answer.json()
    except ValueError:
        raise OidcError(f"the sign-in provider's answer for {url} is not JSON") from None
    if not isinstance(body, dict):
        raise OidcError(f"the sign-in provider's answer for {url} is not a JSON object")
    return body


def provider_of(services: ServerServices) -> Provider:
    """This process's provider (one per process; the configuration names it)."""
    if services.oidc is None:
        config = services.config
        services.oidc = Provider(config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret)
    provider: Provider = services.oidc
    return provider


def redirect_uri(services: ServerServices) -> str:
    return services.config.public_base + CALLBACK_PATH


async def begin(services: ServerServices, login_hint: str = "") -> tuple[str, str]:
    """(the provider's authorization address to send the browser to, the `state` to bind to this browser)."""
    provider = provider_of(services)
    meta = await provider.meta()
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    now = services.clock.now()
    async with services.db.transaction() as tx:
        await signins.save_login(tx, token_hash(state), nonce, verifier, now + LOGIN_TTL_S, now)
    query = {
        "client_id": provider.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri(services),
        "response_mode": "query",
        "scope": "openid profile email",
        "state": state,
        "nonce": nonce,
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    if login_hint:
        query["login_hint"] = login_hint
    return f"{meta['authorization_endpoint']}?{urlencode(query)}", state


async def finish(services: ServerServices, state: str, code: str) -> str:
    """The verified e-mail address of whoever signed in at the provider for this `state` and `code`."""
    now = services.clock.now()
    async with services.db.transaction() as tx:
        login = await signins.take_login(tx, token_hash(state), now)
    if login is None:
        raise OidcError("this sign-in expired or was used already; start again")
    nonce, verifier = login
    provider = provider_of(services)
    meta = await provider.meta()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(services),
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "code_verifier": verifier,
    }
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            answer = await client.post(meta["token_endpoint"], data=form)
    except httpx.HTTPError as exc:
        raise OidcError(f"the sign-in provider did not answer ({type(exc).__name__})") from None
    if answer.status_code != 200:
        raise OidcError(f"the sign-in provider refused the code ({answer.status_code})")
    try:
        token = answer.json().get("id_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str):
        raise OidcError("the sign-in provider sent no ID token")
    header = _segment(token, 0)
    key = await provider.key(str(header.get("kid", "")))
    claims = verify_id_token(token, key, issuer=provider.issuer, audience=provider.client_id, nonce=nonce, now=now)
    email = claims.get("email") or claims.get("preferred_username")
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
        raise OidcError("the ID token carries no verified e-mail address")
    return email.strip().lower()


def _segment(token: str, index: int) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise OidcError("the ID token is not well formed")
    try:
        value = json.loads(b64url_decode(parts[index]))
    except ValueError:
        raise OidcError("the ID token is not well formed") from None
    if not isinstance(value, dict):
        raise OidcError("the ID token is not well formed")
    return value


def verify_id_token(token: str, key: Any, *, issuer: str, audience: str, nonce: str, now: float) -> dict[str, Any]:
    """The token's claims once its RS256 signature (by `key`), issuer, audience, times and nonce are right."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.hashes import SHA256

    header = _segment(token, 0)
    if header.get("alg") != "RS256":
        raise OidcError("the ID token is not signed with RS256")
    head, body, signature = token.split(".")
    try:
        key.verify(b64url_decode(signature), f"{head}.{body}".encode(), PKCS1v15(), SHA256())
    except InvalidSignature:
        raise OidcError("the ID token's signature is not the provider's") from None
    claims = _segment(token, 1)
    if claims.get("iss") != issuer:
        raise OidcError("the ID token comes from another issuer")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise OidcError("the ID token is meant for another application")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise OidcError("the ID token has no exp or iat")
    if exp < now - LEEWAY_S:
        raise OidcError("the ID token has expired")
    if iat > now + LEEWAY_S:
        raise OidcError("the ID token is issued in the future")
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
        raise OidcError("the ID token's nonce is not this sign-in's")
    return claims
