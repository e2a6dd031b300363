"""Pre-approved pairing for a managed (force-installed) extension: the secret in the browser's policy and in the
daemon's `pairing.managed_secret`. The daemon proves it holds the secret before the extension sends it; wrong
secrets, other callers and daemons without a secret are refused and nothing is paired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from daemon.auth import hash_token, key_id, new_challenge, proof
from daemon.settings import ConfigError, parse_config
from tests.support import RunningDaemon, assert_api_error, make_settings, start_daemon

SECRET = "managed-secret-for-the-fleet-0123456789"
EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


@pytest.fixture
async def managed(tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    d = await start_daemon(make_settings(tmp_path, config_text=f'[pairing]\nmanaged_secret = "{SECRET}"\n'))
    yield d
    await d.stop()


async def anonymous_post(d: RunningDaemon, body: object, origin: str | None = EXTENSION) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    async with httpx.AsyncClient(base_url=d.base_url, timeout=10) as http:
        return await http.post("/api/v1/pair/managed", json=body, headers=headers)


async def test_the_daemon_proves_it_holds_the_secret_before_the_extension_sends_it(managed: RunningDaemon) -> None:
    challenge = new_challenge()
    async with httpx.AsyncClient(base_url=managed.base_url, timeout=10) as http:
        answer = await http.get("/api/v1/hello", params={"challenge": challenge, "kid": key_id(hash_token(SECRET))})
    assert answer.status_code == 200, answer.text
    assert answer.json()["proof"] == proof(hash_token(SECRET), challenge, managed.port)


async def test_the_secret_pairs_the_extension_and_its_token_works(managed: RunningDaemon) -> None:
    paired = await anonymous_post(managed, {"secret": SECRET, "client": "Chrome"})
    assert paired.status_code == 200, paired.text
    token = paired.json()["token"]
    async with httpx.AsyncClient(base_url=managed.base_url, timeout=10) as http:
        timers = await http.get("/api/v1/timers", headers={"Authorization": f"Bearer {token}", "Origin": EXTENSION})
    assert timers.status_code == 200, timers.text
    [client] = (await managed.http.get("/api/v1/clients")).json()["clients"]
    assert client["origin"] == EXTENSION and client["name"] == "Chrome"


async def test_a_wrong_secret_is_refused_and_pairs_nothing(managed: RunningDaemon) -> None:
    refused = await anonymous_post(managed, {"secret": SECRET + "x"})
    assert_api_error(refused, 403, "managed_secret_invalid")
    assert SECRET not in refused.text
    assert (await managed.http.get("/api/v1/clients")).json()["clients"] == []


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
async def test_only_a_browser_extension_may_pair_with_the_secret(managed: RunningDaemon, origin: str | None) -> None:
    refused = await anonymous_post(managed, {"secret": SECRET}, origin=origin)
    assert_api_error(refused, 403, "origin_forbidden")
    assert (await managed.http.get("/api/v1/clients")).json()["clients"] == []


async def test_a_daemon_without_a_secret_refuses_managed_pairing(daemon: RunningDaemon) -> None:
    refused = await anonymous_post(daemon, {"secret": SECRET})
    assert_api_error(refused, 409, "managed_pairing_off")
    assert (await daemon.http.get("/api/v1/clients")).json()["clients"] == []


async def test_wrong_secrets_lead_to_the_pairing_lockout(managed: RunningDaemon) -> None:
    statuses = [(await anonymous_post(managed, {"secret": f"guess-{i}"})).status_code for i in range(12)]
    assert 429 in statuses
    assert_api_error(await anonymous_post(managed, {"secret": SECRET}), 429, "too_many_attempts")


@pytest.mark.parametrize("secret", ["too-short", "has a space in it 0123456789"])
def test_a_weak_or_odd_secret_in_the_config_names_the_key(secret: str) -> None:
    with pytest.raises(ConfigError, match=r"pairing\.managed_secret"):
        parse_config(f'[pairing]\nmanaged_secret = "{secret}"\n')
