"""OIDC sign-in against the local Entra ID look-alike (daemon/sandbox/oidc.py) on a real port: httpx follows the
whole flow (start, the provider's page, its redirect back, the callback), and every fault the provider can be
switched to from outside (a wrong key, audience, issuer, nonce, an expired token) is refused with nobody signed in."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp import web

from daemon.clock import FakeClock
from daemon.sandbox.oidc import OIDC, OidcUser, create_oidc_app
from tests.server.support import RunningServer, seed_person, start_server
from tests.support import assert_api_error

CLIENT_ID, SECRET = "ticketclock-app", "the client secret"


@dataclass
class Provider:
    url: str
    issuer: str
    runner: web.AppRunner


@pytest.fixture
async def provider(fake_clock: FakeClock) -> AsyncIterator[Provider]:
    users = [OidcUser("ann@example.com", "Ann"), OidcUser("zed@example.com", "Zed"), OidcUser("off@example.com")]
    app = create_oidc_app(users=users, client_id=CLIENT_ID, client_secret=SECRET, clock=fake_clock)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield Provider(url=url, issuer=f"{url}/{app[OIDC].tenant}/v2.0", runner=runner)
    finally:
        await runner.cleanup()


@pytest.fixture
async def oidc_server(pg_url: str, fake_clock: FakeClock, provider: Provider) -> AsyncIterator[RunningServer]:
    running = await start_server(
        pg_url, clock=fake_clock, oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=SECRET
    )
    try:
        yield running
    finally:
        await running.stop()


async def through_provider(client: httpx.AsyncClient, login: str) -> httpx.Response:
    """Start at the server, take the provider's page, sign in as `login`, and answer the server's callback."""
    started = await client.get("/api/team/v1/oidc/start", params={"login_hint": login})
    assert started.status_code == 302, started.text
    page = await client.get(started.headers["Location"])
    assert page.status_code == 200 and "document.getElementById('signin').submit()" in page.text, page.text
    pending = re.search(r'name=request value="([^"]+)"', page.text)
    assert pending is not None
    back = await client.post(started.headers["Location"], data={"request": pending.group(1), "login": login})
    assert back.status_code == 302, back.text
    assert back.headers["Location"].startswith(str(client.base_url).rstrip("/") + "/api/team/v1/oidc/callback?")
    return await client.get(back.headers["Location"])


async def control(provider: Provider, switches: dict[str, bool] | None = None) -> httpx.Response:
    """The provider's fault switches: read them, or set `switches`."""
    async with httpx.AsyncClient(base_url=provider.url) as client:
        if switches is None:
            return await client.get("/_sandbox/faults")
        return await client.post("/_sandbox/faults", json=switches)


async def sessions(server: RunningServer) -> int:
    count: int = await server.services.db.pool.fetchval("SELECT count(*) FROM sessions")
    return count


async def test_signing_in_through_the_provider_opens_a_session(oidc_server: RunningServer, provider: Provider) -> None:
    ann = await seed_person(oidc_server.services, "Ann@Example.com", name="Ann")
    async with httpx.AsyncClient(base_url=oidc_server.url) as client:
        methods = (await client.get("/api/team/v1/auth-methods")).json()
        assert methods == {"password": True, "oidc": True, "oidc_label": "Microsoft"}
        started = await client.get("/api/team/v1/oidc/start")
        query = parse_qs(urlsplit(started.headers["Location"]).query)
        assert started.headers["Location"].startswith(provider.issuer.removesuffix("v2.0") + "oauth2/v2.0/authorize")
        assert query["client_id"] == [CLIENT_ID] and query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [oidc_server.url + "/api/team/v1/oidc/callback"]
        assert query["nonce"] and query["state"] and "client_secret" not in started.headers["Location"]
        done = await through_provider(client, "ann@example.com")
        assert done.status_code == 302 and done.headers["Location"] == "/", done.text
        assert "httponly" in done.headers["set-cookie"].lower()
        me = await client.get("/api/team/v1/me")
        assert me.status_code == 200 and me.json()["id"] == ann.id
        assert await sessions(oidc_server) == 1
    audit = await oidc_server.services.db.pool.fetch("SELECT actor_id, via, action FROM audit")
    assert [tuple(a) for a in audit] == [(ann.id, "oidc", "signed_in")]
    faults = (await control(provider)).json()
    assert faults["issued"] == 1


async def test_a_callback_is_used_once_and_only_in_the_browser_that_started_it(
    oidc_server: RunningServer, provider: Provider
) -> None:
    await seed_person(oidc_server.services, "ann@example.com")
    async with httpx.AsyncClient(base_url=oidc_server.url) as client:
        started = await client.get("/api/team/v1/oidc/start", params={"login_hint": "ann@example.com"})
        page = await client.get(started.headers["Location"])
        pending = re.search(r'name=request value="([^"]+)"', page.text)
        assert pending is not None
        back = await client.post(
            started.headers["Location"], data={"request": pending.group(1), "login": "ann@example.com"}
        )
        callback = back.headers["Location"]
        async with httpx.AsyncClient(base_url=oidc_server.url) as another_browser:  # login CSRF: no state cookie
            assert_api_error(await another_browser.get(callback), 401, "oidc_failed")
        assert (await client.get(callback)).status_code == 302
        client.cookies.delete("tc_team")
        replay = await client.get(callback)  # the state is spent (and the provider's code too)
        assert_api_error(replay, 401, "oidc_failed")
    assert await sessions(oidc_server) == 1


@pytest.mark.parametrize("fault", ["wrong_key", "wrong_audience", "expired", "wrong_nonce", "wrong_issuer"])
async def test_each_provider_fault_is_refused_with_nobody_signed_in(
    oidc_server: RunningServer, provider: Provider, fault: str
) -> None:
    await seed_person(oidc_server.services, "ann@example.com")
    switched = await control(provider, {fault: True})
    assert switched.status_code == 200 and switched.json()[fault] is True
    async with httpx.AsyncClient(base_url=oidc_server.url) as client:
        refused = await through_provider(client, "ann@example.com")
        assert_api_error(refused, 401, "oidc_failed")
        assert "tc_team" not in client.cookies
        assert_api_error(await client.get("/api/team/v1/me"), 401, "unauthorized")
    assert await sessions(oidc_server) == 0
    assert (await control(provider)).json()["issued"] == 1  # a token was made, and refused
    await control(provider, {"reset": True})
    async with httpx.AsyncClient(base_url=oidc_server.url) as client:
        assert (await through_provider(client, "ann@example.com")).status_code == 302
    assert await sessions(oidc_server) == 1


async def test_unknown_and_deactivated_people_are_refused(oidc_server: RunningServer) -> None:
    off = await seed_person(oidc_server.services, "off@example.com")
    await oidc_server.services.db.pool.execute("UPDATE people SET active = false WHERE id = $1", off.id)
    for login in ("zed@example.com", "off@example.com"):
        async with httpx.AsyncClient(base_url=oidc_server.url) as client:
            refused = await through_provider(client, login)
            body = assert_api_error(refused, 403, "oidc_unknown_person")
            assert login in body["message"]
    assert await sessions(oidc_server) == 0
    assert await oidc_server.services.db.pool.fetchval("SELECT count(*) FROM people") == 1  # nobody registered


async def test_the_sandbox_token_endpoint_enforces_the_client_secret_code_and_pkce(provider: Provider) -> None:
    token_url = provider.issuer.removesuffix("v2.0") + "oauth2/v2.0/token"
    authorize = provider.issuer.removesuffix("v2.0") + "oauth2/v2.0/authorize"
    redirect = "http://127.0.0.1:9/cb"
    verifier = "v" * 50
    import base64
    import hashlib

    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    async with httpx.AsyncClient() as client:
        params = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": redirect, "scope": "openid",
                  "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
        assert (await client.get(authorize, params={**params, "code_challenge_method": "plain"})).status_code == 400
        assert (await client.get(authorize, params={**params, "client_id": "other"})).status_code == 400

        async def code() -> str:
            page = await client.get(authorize, params=params)
            pending = re.search(r'name=request value="([^"]+)"', page.text)
            assert pending is not None
            back = await client.post(authorize, data={"request": pending.group(1), "login": "ann@example.com"})
            return parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]

        form = {"grant_type": "authorization_code", "redirect_uri": redirect, "client_id": CLIENT_ID,
                "client_secret": SECRET, "code_verifier": verifier}  # fmt: skip
        assert (
            await client.post(token_url, data={**form, "code": await code(), "client_secret": "x"})
        ).status_code == 401
        assert (await client.post(token_url, data={**form, "code": await code(), "code_verifier": "w" * 50})).json()[
            "error"
        ] == "invalid_grant"
        wrong_uri = await client.post(token_url, data={**form, "code": await code(), "redirect_uri": redirect + "x"})
        assert wrong_uri.json()["error"] == "invalid_grant"
        good = await code()
        assert "id_token" in (await client.post(token_url, data={**form, "code": good})).json()
        assert (await client.post(token_url, data={**form, "code": good})).json()["error"] == "invalid_grant"
        bad_switch = await client.post(provider.url + "/_sandbox/faults", json={"wrong_everything": True})
        assert bad_switch.status_code == 400


async def test_without_oidc_settings_only_passwords_are_offered(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/api/team/v1/auth-methods")).json() == {
            "password": True,
            "oidc": False,
            "oidc_label": "",
        }
        assert_api_error(await client.get("/api/team/v1/oidc/start"), 404, "oidc_not_configured")
        assert_api_error(await client.get("/api/team/v1/oidc/callback?code=x&state=y"), 404, "oidc_not_configured")


def test_oidc_settings_come_all_together_and_the_secret_stays_out_of_output() -> None:
    from daemon.server.config import ConfigError, ServerConfig

    base = {"TICKETCLOCK_DATABASE_URL": "postgresql://u:dbpass@h/db"}
    with pytest.raises(ConfigError, match="all of"):
        ServerConfig.from_env(base | {"TICKETCLOCK_OIDC_ISSUER": "https://login.example/t/v2.0"})
    config = ServerConfig.from_env(
        base
        | {
            "TICKETCLOCK_OIDC_ISSUER": "https://login.example/t/v2.0/",
            "TICKETCLOCK_OIDC_CLIENT_ID": "app",
            "TICKETCLOCK_OIDC_CLIENT_SECRET": "s3cret-value",
            "TICKETCLOCK_PUBLIC_URL": "https://time.example.com/",
        }
    )
    assert config.oidc and config.oidc_issuer == "https://login.example/t/v2.0" and config.oidc_label == "Microsoft"
    assert config.public_base + "/api/team/v1/oidc/callback" == "https://time.example.com/api/team/v1/oidc/callback"
    assert "s3cret-value" not in repr(config) and "dbpass" not in repr(config) and "s3cret-value" not in str(config)
