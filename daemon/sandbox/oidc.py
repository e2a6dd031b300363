"""A local OIDC provider shaped like Microsoft Entra ID v2, for the team server's tests and for trying OIDC sign-in.

    issuer           http://127.0.0.1:PORT/{tenant}/v2.0
    discovery        {issuer}/.well-known/openid-configuration
    authorize        GET  /{tenant}/oauth2/v2.0/authorize   a page choosing one of the configured people; with a
                     `login_hint` naming one, the page submits itself (a test may also POST the form: fields
                     `request` and `login`)
                     POST /{tenant}/oauth2/v2.0/authorize   signs that person in: 302 to redirect_uri?code=…&state=…
    token            POST /{tenant}/oauth2/v2.0/token       checks the client secret, the code (once, 10 minutes),
                     the PKCE verifier (S256) and the redirect URI as Entra does; answers an RS256 ID token
    keys             GET  /{tenant}/discovery/v2.0/keys     the JWKS (a generated RSA key)

ID token claims: iss, sub, aud, exp, iat, nbf, nonce, oid, tid, email, preferred_username, name, ver.

Faults, switched from outside its process like the PSA sandboxes' (loopback clients only):
    GET/POST /_sandbox/faults   {"wrong_key": false, "wrong_audience": false, "expired": false, "wrong_nonce": false,
                                "wrong_issuer": false}; {"reset": true} clears them. An unknown switch: 400.

Run one: `python -m daemon.sandbox.oidc --port 0 --client-id ID --client-secret SECRET --user ann@example.com`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import msgspec
from aiohttp import web

from daemon.clock import Clock, SystemClock
from daemon.sandbox.control import CONTROL_PREFIX, _loopback_only

__all__ = ["OIDC", "OidcFaults", "OidcSandbox", "OidcUser", "create_oidc_app"]

CODE_TTL_S = 600
TOKEN_TTL_S = 3600


class OidcUser(msgspec.Struct, frozen=True):
    email: str
    name: str = ""
    oid: str = ""


class OidcFaults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reset: bool = False
    wrong_key: bool | None = None
    """Sign ID tokens with a key the JWKS does not hold (under the published key id)."""
    wrong_audience: bool | None = None
    expired: bool | None = None
    """ID tokens that expired an hour ago."""
    wrong_nonce: bool | None = None
    wrong_issuer: bool | None = None


_FAULTS = ("wrong_key", "wrong_audience", "expired", "wrong_nonce", "wrong_issuer")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@dataclass
class OidcSandbox:
    tenant: str
    client_id: str
    client_secret: str
    users: list[OidcUser]
    clock: Clock
    redirect_uris: list[str] = field(default_factory=list)
    """Registered redirect URIs; empty: any http(s) address (convenient for tests on random ports)."""
    faults: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(_FAULTS, False))
    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    issued: int = 0

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        jwk = {"kty": "RSA", "use": "sig", "kid": self.kid, "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
        from cryptography.hazmat.primitives.hashes import SHA256

        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        key = self.other_key if self.faults["wrong_key"] else self.key
        return f"{signing}.{_b64url(key.sign(signing.encode(), PKCS1v15(), SHA256()))}"

    def id_token(self, issuer: str, user: OidcUser, nonce: str) -> str:
        now = int(self.clock.now())
        issued = now - 2 * TOKEN_TTL_S if self.faults["expired"] else now
        claims = {
            "ver": "2.0",
            "iss": issuer + ("x" if self.faults["wrong_issuer"] else ""),
            "sub": _b64url(hashlib.sha256(f"{self.client_id}:{user.email}".encode()).digest()),
            "aud": "another-application" if self.faults["wrong_audience"] else self.client_id,
            "iat": issued,
            "nbf": issued,
            "exp": issued + TOKEN_TTL_S,
            "nonce": secrets.token_urlsafe(16) if self.faults["wrong_nonce"] else nonce,
            "oid": user.oid or str(uuid.uuid5(uuid.NAMESPACE_URL, user.email)),
            "tid": self.tenant,
            "email": user.email,
            "preferred_username": user.email,
            "name": user.name or user.email.partition("@")[0].title(),
        }
        self.issued += 1
        return self.sign(claims)


OIDC = web.AppKey("oidc_sandbox", OidcSandbox)


def _issuer(request: web.Request, sandbox: OidcSandbox) -> str:
    return f"http://{request.host}/{sandbox.tenant}/v2.0"


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


async def discovery(request: web.Request) -> web.Response:
    sandbox = request.app[OIDC]
    base = f"http://{request.host}/{sandbox.tenant}"
    return web.json_response(
        {
            "issuer": _issuer(request, sandbox),
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }
    )


async def keys(request: web.Request) -> web.Response:
    return web.json_response(request.app[OIDC].jwks())


def _redirect_ok(sandbox: OidcSandbox, uri: str) -> bool:
    if sandbox.redirect_uris:
        return uri in sandbox.redirect_uris
    return uri.startswith(("http://", "https://"))


async def authorize_page(request: web.Request) -> web.Response:
    sandbox = request.app[OIDC]
    q = request.query
    if q.get("client_id") != sandbox.client_id:
        return _oauth_error(400, "unauthorized_client", "AADSTS700016: unknown application (client_id)")
    if not _redirect_ok(sandbox, q.get("redirect_uri", "")):
        return _oauth_error(400, "invalid_request", "AADSTS50011: the redirect URI does not match the registration")
    if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
        return _oauth_error(400, "invalid_request", "response_type=code and the openid scope are required")
    if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
        return _oauth_error(400, "invalid_request", "a PKCE code_challenge with method S256 is required")
    pending = secrets.token_urlsafe(16)
    sandbox.pending[pending] = {k: q.get(k, "") for k in ("redirect_uri", "state", "nonce", "code_challenge")}
    hint = q.get("login_hint", "").lower()
    options = "".join(
        f'<option value="{html.escape(u.email)}"{" selected" if u.email.lower() == hint else ""}>'
        f"{html.escape(u.name or u.email)} ({html.escape(u.email)})</option>"
        for u in sandbox.users
    )
    auto = any(u.email.lower() == hint for u in sandbox.users) if hint else False
    page = (
        "<!doctype html><html><head><meta charset=utf-8><title>Sign in (sandbox Entra ID)</title></head><body>"
        "<h1>Sign in to your account</h1><p>A local look-alike of Microsoft Entra ID, for tests.</p>"
        f'<form id=signin method=post><input type=hidden name=request value="{pending}">'
        f"<label>Account <select name=login>{options}</select></label> <button type=submit>Sign in</button></form>"
        + ("<script>document.getElementById('signin').submit()</script>" if auto else "")
        + "</body></html>"
    )
    return web.Response(text=page, content_type="text/html")


async def authorize_submit(request: web.Request) -> web.Response:
    sandbox = request.app[OIDC]
    form = await request.post()
    pending = sandbox.pending.pop(str(form.get("request", "")), None)
    if pending is None:
        return _oauth_error(400, "invalid_request", "this sign-in page expired; start again")
    login = str(form.get("login", "")).lower()
    user = next((u for u in sandbox.users if u.email.lower() == login), None)
    if user is None:
        return _oauth_error(400, "invalid_request", "AADSTS50034: that account does not exist in this tenant")
    code = secrets.token_urlsafe(32)
    sandbox.codes[code] = {**pending, "user": user, "at": sandbox.clock.now()}
    target = pending["redirect_uri"] + "?" + urlencode({"code": code, "state": pending["state"]})
    raise web.HTTPFound(target)


async def token(request: web.Request) -> web.Response:
    sandbox = request.app[OIDC]
    form = await request.post()
    client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
    basic = request.headers.get("Authorization", "")
    if basic.lower().startswith("basic "):
        client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
    if client_id != sandbox.client_id or not secrets.compare_digest(secret, sandbox.client_secret):
        return _oauth_error(401, "invalid_client", "AADSTS7000215: invalid client secret")
    if form.get("grant_type") != "authorization_code":
        return _oauth_error(400, "unsupported_grant_type", "only authorization_code")
    granted = sandbox.codes.pop(str(form.get("code", "")), None)
    if granted is None or sandbox.clock.now() - granted["at"] > CODE_TTL_S:
        return _oauth_error(400, "invalid_grant", "AADSTS70008: the code is unknown, used or expired")
    if form.get("redirect_uri") != granted["redirect_uri"]:
        return _oauth_error(400, "invalid_grant", "AADSTS50148: the redirect_uri does not match the authorize request")
    verifier = str(form.get("code_verifier", ""))
    if _b64url(hashlib.sha256(verifier.encode()).digest()) != granted["code_challenge"]:
        return _oauth_error(400, "invalid_grant", "AADSTS501481: the code_verifier does not match the code_challenge")
    id_token = sandbox.id_token(_issuer(request, sandbox), granted["user"], granted["nonce"])
    return web.json_response(
        {
            "token_type": "Bearer",
            "scope": "openid profile email",
            "expires_in": TOKEN_TTL_S,
            "access_token": secrets.token_urlsafe(32),
            "id_token": id_token,
        }
    )


async def get_faults(request: web.Request) -> web.Response:
    sandbox = request.app[OIDC]
    return web.json_response({**sandbox.faults, "issued": sandbox.issued})


async def set_faults(request: web.Request) -> web.Response:
    sandbox = request.app[OIDC]
    try:
        update = msgspec.json.decode(await request.read(), type=OidcFaults)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return web.json_response({"error": {"code": "bad_request", "message": str(exc), "details": None}}, status=400)
    if update.reset:
        sandbox.faults = dict.fromkeys(_FAULTS, False)
    for name in _FAULTS:
        value = getattr(update, name)
        if value is not None:
            sandbox.faults[name] = value
    return web.json_response({**sandbox.faults, "issued": sandbox.issued})


def create_oidc_app(
    *,
    users: list[OidcUser],
    client_id: str,
    client_secret: str,
    tenant: str = "",
    redirect_uris: list[str] | None = None,
    clock: Clock | None = None,
) -> web.Application:
    sandbox = OidcSandbox(
        tenant=tenant or str(uuid.uuid4()),
        client_id=client_id,
        client_secret=client_secret,
        users=users,
        clock=clock or SystemClock(),
        redirect_uris=redirect_uris or [],
    )
    app = web.Application()
    app[OIDC] = sandbox
    t = sandbox.tenant
    app.router.add_get(f"/{t}/v2.0/.well-known/openid-configuration", discovery)
    app.router.add_get(f"/{t}/discovery/v2.0/keys", keys)
    app.router.add_get(f"/{t}/oauth2/v2.0/authorize", authorize_page)
    app.router.add_post(f"/{t}/oauth2/v2.0/authorize", authorize_submit)
    app.router.add_post(f"/{t}/oauth2/v2.0/token", token)
    app.router.add_get(f"{CONTROL_PREFIX}/faults", _loopback_only(get_faults))
    app.router.add_post(f"{CONTROL_PREFIX}/faults", _loopback_only(set_faults))
    return app


async def _main(args: argparse.Namespace) -> None:
    app = create_oidc_app(
        users=[OidcUser(email=e) for e in args.user], client_id=args.client_id, client_secret=args.client_secret
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = runner.addresses[0][1]
    print(f"sandbox OIDC issuer: http://127.0.0.1:{port}/{app[OIDC].tenant}/v2.0", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-id", default="ticketclock")
    parser.add_argument("--client-secret", default="sandbox-secret")
    parser.add_argument("--user", action="append", default=[], help="an e-mail address that can sign in (repeat)")
    try:
        asyncio.run(_main(parser.parse_args()))
    except KeyboardInterrupt:
        pass
