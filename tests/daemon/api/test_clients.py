"""The daemon's proof of identity (GET /api/v1/hello and the WebSocket's prove message), what a paired client may
do, and revoking a pairing — over real HTTP and a real WebSocket on a loopback port."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from daemon.auth import hash_token, key_id, new_challenge, new_token, proof_matches
from tests.support import RunningDaemon, assert_api_error

EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
RECV_S = 5.0


async def paired(d: RunningDaemon, name: str = "Chrome") -> tuple[str, str]:
    """(client id, token) of a freshly paired extension."""
    code = (await d.http.post("/api/v1/pair/codes")).json()["code"]
    async with httpx.AsyncClient(base_url=d.base_url) as anonymous:
        response = await anonymous.post("/api/v1/pair", json={"code": code, "client": name}, headers=ext_headers())
    assert response.status_code == 200, response.text
    return response.json()["client_id"], response.json()["token"]


def ext_headers(token: str | None = None) -> dict[str, str]:
    return {"Origin": EXTENSION, **({"Authorization": f"Bearer {token}"} if token else {})}


async def as_client(d: RunningDaemon, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=d.base_url) as http:
        return await http.request(method, path, headers=ext_headers(token), **kwargs)


def expected_proof(token: str, challenge: str, port: int) -> str:
    """The proof spelled out independently of daemon.auth: HMAC-SHA256 keyed by the raw SHA-256 of the token."""
    key = hashlib.sha256(token.encode()).digest()
    return hmac.new(key, f"ticketclock-proof:{challenge}:{port}".encode(), hashlib.sha256).hexdigest()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


# --- the proof -----------------------------------------------------------------------------------------------------


async def test_hello_proves_the_cli_token_without_a_token(daemon: RunningDaemon) -> None:
    challenge = new_challenge()
    response = await as_client(
        daemon, "GET", "/api/v1/hello", None, params={"challenge": challenge, "kid": key_id(hash_token(daemon.token))}
    )
    assert response.status_code == 200, response.text
    answer = response.json()["proof"]
    assert answer == expected_proof(daemon.token, challenge, daemon.port)
    assert proof_matches(daemon.token, challenge, daemon.port, answer)
    assert not proof_matches(daemon.token, challenge, daemon.port + 1, answer)  # a relay on another port fails
    assert daemon.token not in response.text


async def test_hello_proves_a_paired_clients_token_and_not_an_unknown_one(daemon: RunningDaemon) -> None:
    _, token = await paired(daemon)
    challenge = new_challenge()
    known = await as_client(
        daemon, "GET", "/api/v1/hello", None, params={"challenge": challenge, "kid": key_id(hash_token(token))}
    )
    assert known.status_code == 200
    assert known.json()["proof"] == expected_proof(token, challenge, daemon.port)
    stranger = await as_client(
        daemon, "GET", "/api/v1/hello", None, params={"challenge": challenge, "kid": key_id(hash_token(new_token()))}
    )
    assert_api_error(stranger, 401, "unpaired")


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"challenge": "short", "kid": "0" * 32},
        {"challenge": "x" * 43, "kid": "nothex" * 6},
        {"challenge": "a b" * 20, "kid": "0" * 32},
        {"challenge": "x" * 129, "kid": "0" * 32},
    ],
)
async def test_a_malformed_challenge_is_422(daemon: RunningDaemon, params: dict[str, str]) -> None:
    assert_api_error(await as_client(daemon, "GET", "/api/v1/hello", None, params=params), 422, "invalid_input")


async def test_the_websocket_proves_itself_before_the_hello(
    daemon: RunningDaemon, session: aiohttp.ClientSession
) -> None:
    _, token = await paired(daemon)
    async with session.ws_connect(f"{daemon.base_url}/api/v1/ws", headers={"Origin": EXTENSION}) as ws:
        challenge = new_challenge()
        await ws.send_str(json.dumps({"type": "prove", "challenge": challenge, "kid": key_id(hash_token(token))}))
        answer = json.loads((await ws.receive(timeout=RECV_S)).data)
        assert answer == {"type": "proof", "proof": expected_proof(token, challenge, daemon.port)}
        await ws.send_str(json.dumps({"type": "hello", "install": "i1", "instance": "w1", "token": token}))
        assert json.loads((await ws.receive(timeout=RECV_S)).data)["type"] == "welcome"


async def test_the_websocket_refuses_to_prove_an_unknown_token_as_unpaired(
    daemon: RunningDaemon, session: aiohttp.ClientSession
) -> None:
    # (An unpaired extension origin is refused at the handshake; its REST hello says "unpaired", tested above.)
    async with session.ws_connect(f"{daemon.base_url}/api/v1/ws", headers={"Origin": daemon.base_url}) as ws:
        kid = key_id(hash_token(new_token()))
        await ws.send_str(json.dumps({"type": "prove", "challenge": new_challenge(), "kid": kid}))
        error = json.loads((await ws.receive(timeout=RECV_S)).data)
        assert error["type"] == "error" and error["code"] == "unpaired"
        closed = await ws.receive(timeout=RECV_S)
        assert (closed.type, closed.data, closed.extra) == (aiohttp.WSMsgType.CLOSE, 4401, "unpaired")


# --- scopes --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/pair/codes", {}),
        ("GET", "/api/v1/clients", None),
        ("DELETE", "/api/v1/clients/c_000000000000", None),
        ("PUT", "/api/v1/psa/halo/credentials", {"credentials": {"client_id": "x", "client_secret": "y"}}),
        ("POST", "/api/v1/psa/halo/test", {}),
        ("GET", "/api/v1/openapi.json", None),
    ],
)
async def test_a_paired_client_cannot_do_what_only_the_cli_may(
    daemon: RunningDaemon, method: str, path: str, body: object
) -> None:
    _, token = await paired(daemon)
    kwargs = {"json": body} if body is not None else {}
    response = await as_client(daemon, method, path, token, **kwargs)
    assert_api_error(response, 403, "cli_only")
    assert (await daemon.http.get("/api/v1/clients")).json()["clients"][0]["name"] == "Chrome"  # nothing changed


async def test_a_paired_client_still_does_what_the_extension_needs(daemon: RunningDaemon) -> None:
    _, token = await paired(daemon)
    assert (await as_client(daemon, "GET", "/api/v1/timers", token)).status_code == 200
    started = await as_client(daemon, "POST", "/api/v1/timers", token, json={"task": "Admin"})
    assert started.status_code == 201, started.text
    timer = started.json()["id"]
    assert (await as_client(daemon, "POST", f"/api/v1/timers/{timer}/pause", token)).status_code == 200
    assert (await as_client(daemon, "GET", "/api/v1/entries", token)).status_code == 200
    recognize = await as_client(daemon, "POST", "/api/v1/tickets/recognize", token, json={"url": "https://x.test/"})
    assert recognize.status_code == 200


async def test_the_cli_token_may_do_everything(daemon: RunningDaemon) -> None:
    assert (await daemon.http.post("/api/v1/pair/codes")).status_code == 201
    assert (await daemon.http.get("/api/v1/clients")).status_code == 200
    assert (await daemon.http.get("/api/v1/openapi.json")).status_code == 200


# --- revocation ----------------------------------------------------------------------------------------------------


async def test_revoking_closes_the_clients_websocket_as_unpaired_and_its_token_stops_working(
    daemon: RunningDaemon, session: aiohttp.ClientSession
) -> None:
    client_id, token = await paired(daemon)
    _, other_token = await paired(daemon, "Edge")
    async with (
        session.ws_connect(f"{daemon.base_url}/api/v1/ws", headers={"Origin": EXTENSION}) as ws,
        session.ws_connect(f"{daemon.base_url}/api/v1/ws", headers={"Origin": EXTENSION}) as other,
    ):
        for sock, tok, install in ((ws, token, "i1"), (other, other_token, "i2")):
            await sock.send_str(json.dumps({"type": "hello", "install": install, "instance": "w", "token": tok}))
            assert json.loads((await sock.receive(timeout=RECV_S)).data)["type"] == "welcome"
        assert (await as_client(daemon, "GET", "/api/v1/timers", token)).status_code == 200  # cached as known

        revoked = await daemon.http.delete(f"/api/v1/clients/{client_id}")
        assert revoked.status_code == 204, revoked.text

        while (msg := await ws.receive(timeout=RECV_S)).type == aiohttp.WSMsgType.TEXT:
            data = json.loads(msg.data)
            if data["type"] == "error":
                assert data["code"] == "unpaired"
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 4401, "unpaired")
        assert not other.closed  # the other browser stays paired

    assert_api_error(await as_client(daemon, "GET", "/api/v1/timers", token), 401)
    assert (await as_client(daemon, "GET", "/api/v1/timers", other_token)).status_code == 200
    assert [c["name"] for c in (await daemon.http.get("/api/v1/clients")).json()["clients"]] == ["Edge"]
    hello = await as_client(
        daemon, "GET", "/api/v1/hello", None, params={"challenge": new_challenge(), "kid": key_id(hash_token(token))}
    )
    assert_api_error(hello, 401, "unpaired")


async def test_revoking_an_unknown_client_is_404_and_changes_nothing(daemon: RunningDaemon) -> None:
    await paired(daemon)
    assert_api_error(await daemon.http.delete("/api/v1/clients/c_000000000000"), 404, "not_found")
    assert len((await daemon.http.get("/api/v1/clients")).json()["clients"]) == 1
