"""The loopback guard, over real HTTP: token, Host (DNS rebinding), Origin (cross-site), body type, bind address."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import msgspec
import pytest

from daemon.auth import new_token
from tests.support import RunningDaemon, start_daemon

EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
OTHER_EXTENSION = "chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba"
EVIL = "https://evil.example"
AUTHED = ["/api/v1/clients", "/api/v1/openapi.json"]


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def no_cors(response: httpx.Response) -> None:
    leaked = [name for name in response.headers if name.lower().startswith("access-control-")]
    assert leaked == [], f"{response.request.method} {response.request.url} sent {leaked}"


async def anonymous(d: RunningDaemon, method: str, path: str, **kwargs: object) -> httpx.Response:
    """A request without the daemon's token."""
    async with httpx.AsyncClient(base_url=d.base_url) as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def new_code(d: RunningDaemon) -> str:
    response = await d.http.post("/api/v1/pair/codes")
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    return code


async def client_names(d: RunningDaemon) -> list[str]:
    response = await d.http.get("/api/v1/clients")
    assert response.status_code == 200, response.text
    return [c["name"] for c in response.json()["clients"]]


# --- the token ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", AUTHED)
async def test_the_right_token_opens_an_authed_route(daemon: RunningDaemon, path: str) -> None:
    response = await daemon.http.get(path)
    assert response.status_code == 200
    no_cors(response)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer nope",
        "Token {token}",
        "Basic {token}",
        "Bearer {token}x",
        "Bearer {unknown}",
        "{token}",
        "Bearer tc_\u00e9\u00e9",
    ],
)
async def test_a_missing_wrong_or_unknown_token_is_401(daemon: RunningDaemon, authorization: str | None) -> None:
    headers: dict[str, bytes] = {}
    if authorization is not None:
        # bytes: non-ASCII goes out as raw UTF-8, which the server sees as undecodable header bytes
        headers["Authorization"] = authorization.format(token=daemon.token, unknown=new_token()).encode()
    for path in AUTHED:
        response = await anonymous(daemon, "GET", path, headers=headers)
        assert response.status_code == 401, path
        assert error_code(response) == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert daemon.token not in response.text


async def test_an_unknown_token_of_the_right_shape_is_401(daemon: RunningDaemon) -> None:
    unknown = new_token()
    assert len(unknown) == len(daemon.token) and unknown.startswith("tc_")
    response = await anonymous(daemon, "GET", "/api/v1/clients", headers={"Authorization": f"Bearer {unknown}"})
    assert response.status_code == 401


# --- Host: DNS rebinding -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["attacker.example:{port}", "127.0.0.1:{other}", "localhost:{other}", "attacker.example", "127.0.0.1.evil:{port}"],
)
async def test_a_foreign_host_header_is_refused_everywhere(daemon: RunningDaemon, host: str) -> None:
    other = daemon.port + 1 if daemon.port < 65535 else daemon.port - 1
    headers = {"Host": host.format(port=daemon.port, other=other)}
    for method, path in [
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/clients"),
        ("POST", "/api/v1/pair"),
        ("GET", "/x"),
    ]:
        response = await daemon.http.request(method, path, headers=headers, json={"code": "12345678"})
        assert response.status_code == 421, path
        assert error_code(response) == "host_forbidden"
        assert "version" not in response.text  # a rebinding page learns nothing
        no_cors(response)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
async def test_the_loopback_host_headers_are_accepted(daemon: RunningDaemon, host: str) -> None:
    response = await daemon.http.get("/api/v1/health", headers={"Host": host.format(port=daemon.port)})
    assert response.status_code == 200


# --- Origin: cross-site requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1:1", "http://localhost.evil.example", "file://"])
async def test_a_foreign_origin_is_refused_even_on_health(daemon: RunningDaemon, origin: str) -> None:
    response = await daemon.http.get("/api/v1/health", headers={"Origin": origin})
    assert response.status_code == 403
    assert error_code(response) == "origin_forbidden"
    no_cors(response)


async def test_the_daemons_own_origin_is_accepted(daemon: RunningDaemon) -> None:
    for origin in (f"http://127.0.0.1:{daemon.port}", f"http://localhost:{daemon.port}"):
        response = await daemon.http.get("/api/v1/clients", headers={"Origin": origin})
        assert response.status_code == 200, origin
        no_cors(response)


async def test_pairing_from_a_foreign_origin_is_refused_and_leaves_the_code_usable(daemon: RunningDaemon) -> None:
    code = await new_code(daemon)
    refused = await anonymous(daemon, "POST", "/api/v1/pair", json={"code": code}, headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert error_code(refused) == "origin_forbidden"
    assert "token" not in refused.json()
    assert await client_names(daemon) == []

    ok = await anonymous(daemon, "POST", "/api/v1/pair", json={"code": code}, headers={"Origin": EXTENSION})
    assert ok.status_code == 200, ok.text
    assert ok.json()["token"].startswith("tc_")


async def test_an_authed_post_from_a_foreign_origin_is_refused_even_with_the_token(daemon: RunningDaemon) -> None:
    response = await daemon.http.post("/api/v1/pair/codes", headers={"Origin": EVIL})
    assert response.status_code == 403
    assert error_code(response) == "origin_forbidden"
    assert set(response.json()) == {"error"}  # no code was handed out
    no_cors(response)


async def test_a_code_made_before_a_refused_request_is_the_only_one_that_works(daemon: RunningDaemon) -> None:
    """A refused cross-site POST /pair/codes does not disturb codes or pairing: the legitimate code still pairs."""
    code = await new_code(daemon)
    refused = await daemon.http.post("/api/v1/pair/codes", headers={"Origin": EVIL})
    assert refused.status_code == 403
    ok = await anonymous(daemon, "POST", "/api/v1/pair", json={"code": code})
    assert ok.status_code == 200
    assert len(await client_names(daemon)) == 1


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
@pytest.mark.parametrize("origin", [None, EVIL])
async def test_a_cross_site_form_post_cannot_pair(daemon: RunningDaemon, content_type: str, origin: str | None) -> None:
    """The classic CSRF: a form (or no-cors fetch) posting a JSON-looking body as text/plain."""
    code = await new_code(daemon)
    headers = {"Content-Type": content_type}
    if origin is not None:
        headers["Origin"] = origin
    body = msgspec.json.encode({"code": code})
    response = await anonymous(daemon, "POST", "/api/v1/pair", content=body, headers=headers)
    assert response.status_code in (403, 415)
    assert error_code(response) in ("origin_forbidden", "unsupported_media_type")
    assert "token" not in response.text
    no_cors(response)
    assert await client_names(daemon) == []

    # the code was not spent: a proper JSON request still pairs with it
    ok = await anonymous(daemon, "POST", "/api/v1/pair", json={"code": code})
    assert ok.status_code == 200
    assert len(await client_names(daemon)) == 1


async def test_a_text_plain_post_with_the_token_is_refused_too(daemon: RunningDaemon) -> None:
    response = await daemon.http.post("/api/v1/pair/codes", content=b"{}", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/pair", "/api/v1/clients", "/api/v1/pair/codes"])
async def test_a_foreign_preflight_is_refused(daemon: RunningDaemon, path: str) -> None:
    response = await anonymous(
        daemon,
        "OPTIONS",
        path,
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 403
    assert error_code(response) == "origin_forbidden"
    no_cors(response)


async def test_no_response_ever_allows_cors(daemon: RunningDaemon) -> None:
    code = await new_code(daemon)
    paired = await anonymous(daemon, "POST", "/api/v1/pair", json={"code": code}, headers={"Origin": EXTENSION})
    assert paired.status_code == 200
    token = paired.json()["token"]
    ext = {"Origin": EXTENSION, "Authorization": f"Bearer {token}"}
    responses = [
        paired,
        await anonymous(daemon, "GET", "/api/v1/health"),
        await anonymous(daemon, "GET", "/api/v1/health", headers={"Origin": EXTENSION}),
        await anonymous(daemon, "GET", "/api/v1/timers", headers=ext),
        await anonymous(daemon, "OPTIONS", "/api/v1/timers", headers={**ext, "Access-Control-Request-Method": "GET"}),
        await anonymous(daemon, "GET", "/api/v1/clients", headers={"Origin": EVIL}),
        await daemon.http.get("/api/v1/openapi.json", headers={"Origin": f"http://127.0.0.1:{daemon.port}"}),
        await daemon.http.get("/nope"),
        await daemon.http.delete("/api/v1/health"),
    ]
    assert responses[3].status_code == 200
    for response in responses:
        no_cors(response)


# --- the paired extension ----------------------------------------------------------------------------------------


async def test_the_paired_extensions_origin_is_accepted_and_no_other(daemon: RunningDaemon) -> None:
    before = await anonymous(daemon, "GET", "/api/v1/health", headers={"Origin": EXTENSION})
    assert before.status_code == 401  # not allowed until paired
    assert error_code(before) == "unpaired"

    code = await new_code(daemon)
    paired = await anonymous(
        daemon, "POST", "/api/v1/pair", json={"code": code, "client": "Chrome"}, headers={"Origin": EXTENSION}
    )
    assert paired.status_code == 200
    token = paired.json()["token"]

    response = await anonymous(
        daemon, "GET", "/api/v1/timers", headers={"Origin": EXTENSION, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    [client] = (await daemon.http.get("/api/v1/clients")).json()["clients"]
    assert client["origin"] == EXTENSION and client["name"] == "Chrome"
    assert client["id"] == paired.json()["client_id"]

    other = await anonymous(
        daemon, "GET", "/api/v1/timers", headers={"Origin": OTHER_EXTENSION, "Authorization": f"Bearer {token}"}
    )
    assert other.status_code == 401  # another extension: not paired
    assert error_code(other) == "unpaired"
    # the paired origin does not open authed routes without a token
    tokenless = await anonymous(daemon, "GET", "/api/v1/timers", headers={"Origin": EXTENSION})
    assert tokenless.status_code == 401


async def test_a_paired_origin_is_still_accepted_after_a_restart(daemon: RunningDaemon) -> None:
    code = await new_code(daemon)
    paired = await anonymous(daemon, "POST", "/api/v1/pair", json={"code": code}, headers={"Origin": EXTENSION})
    assert paired.status_code == 200
    token = paired.json()["token"]
    await daemon.stop()

    again = await start_daemon(msgspec.structs.replace(daemon.settings, port=0))
    try:
        headers = {"Origin": EXTENSION, "Authorization": f"Bearer {token}"}
        assert (await anonymous(again, "GET", "/api/v1/timers", headers=headers)).status_code == 200
        headers["Origin"] = OTHER_EXTENSION
        assert (await anonymous(again, "GET", "/api/v1/timers", headers=headers)).status_code == 401
    finally:
        await again.stop()


async def test_extension_origins_from_the_config_are_accepted(tmp_path: Path) -> None:
    from tests.support import make_settings

    settings = make_settings(tmp_path, config_text=f'extension_origins = ["{OTHER_EXTENSION}"]\n')
    d = await start_daemon(settings)
    try:
        assert (await d.http.get("/api/v1/clients", headers={"Origin": OTHER_EXTENSION})).status_code == 200
        assert (await d.http.get("/api/v1/clients", headers={"Origin": EXTENSION})).status_code == 401
    finally:
        await d.stop()


# --- loopback only -----------------------------------------------------------------------------------------------


def non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, UDP connect sends nothing
            address: str = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def test_the_daemon_listens_on_loopback_only(daemon: RunningDaemon) -> None:
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=2):
        pass  # the control: loopback answers
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with pytest.raises(OSError), socket.create_connection((address, daemon.port), timeout=2):
        pass
