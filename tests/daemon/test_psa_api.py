"""The PSA endpoints: GET /api/v1/psa (health never → ok → error), POST /api/v1/psa/{name}/test, PUT credentials,
unknown instances in the one error shape, and where the credentials end up (a user-only file, never a log line)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web

from daemon.clock import SystemClock
from daemon.sandbox import KINDS, sandbox_module
from tests.support import (
    RunningDaemon,
    await_until,
    daemon_output,
    instance_toml,
    make_settings,
    spawn_daemon,
    start_daemon,
    stop_process,
    yesterday_at,
)

WRONG_SECRET = {"connectwise": "private_key", "autotask": "secret", "halopsa": "client_secret"}
STATUS_FIELDS = {
    "name",
    "kind",
    "origins",
    "api_url",
    "credentials",
    "credentials_store",
    "health",
    "identity",
    "message",
    "checked_at",
}


def config_text(instances: list[dict[str, Any]]) -> str:
    lines = ['credentials = "file"', 'timezone = "UTC"', "", "[outbox]", "backoff_s = 0.02", "max_backoff_s = 0.2"]
    for inst in instances:
        lines += instance_toml(inst)
    return "\n".join(lines) + "\n"


class Psas:
    """The three sandboxes on loopback ports: instance configs and credentials (plain dicts)."""

    def __init__(self) -> None:
        self.runners: list[web.AppRunner] = []
        self.instances: dict[str, dict[str, Any]] = {}
        self.credentials: dict[str, dict[str, Any]] = {}

    async def start(self) -> None:
        for kind in KINDS:
            module = sandbox_module(kind)
            runner = web.AppRunner(module.create_app(clock=SystemClock()), access_log=None, shutdown_timeout=0.1)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.runners.append(runner)
            host, port = runner.addresses[0][:2]
            instance, credentials = module.demo_instance(f"http://{host}:{port}")
            self.instances[kind] = msgspec.to_builtins(instance)
            self.credentials[kind] = msgspec.to_builtins(credentials)

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()

    def name(self, kind: str) -> str:
        name: str = self.instances[kind]["name"]
        return name

    def wrong(self, kind: str) -> dict[str, Any]:
        return {**self.credentials[kind], WRONG_SECRET[kind]: "wrong-secret-0123"}

    def secrets(self) -> list[str]:
        return [self.credentials[k][WRONG_SECRET[k]] for k in KINDS] + ["wrong-secret-0123"]


@pytest.fixture
async def psas() -> AsyncIterator[Psas]:
    running = Psas()
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def daemon(psas: Psas, tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    settings = make_settings(tmp_path, config_text=config_text([psas.instances[k] for k in KINDS]))
    running = await start_daemon(settings)
    try:
        yield running
    finally:
        await running.stop()


async def statuses(daemon: RunningDaemon) -> dict[str, dict[str, Any]]:
    response = await daemon.http.get("/api/v1/psa")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"instances"}
    return {s["name"]: s for s in body["instances"]}


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) <= {"code", "message", "details"}
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    return message


async def test_status_shape_before_any_credentials(daemon: RunningDaemon, psas: Psas) -> None:
    listed = await statuses(daemon)
    assert list(listed) == [psas.name(k) for k in KINDS]
    for kind in KINDS:
        status = listed[psas.name(kind)]
        assert set(status) == STATUS_FIELDS
        assert status["kind"] == kind
        assert status["api_url"] == psas.instances[kind]["api_url"]
        assert status["origins"] == psas.instances[kind]["origins"]
        assert status["credentials"] is False
        assert status["credentials_store"].startswith("file ")
        assert (status["health"], status["identity"], status["message"], status["checked_at"]) == (
            "never",
            "",
            "",
            None,
        )


@pytest.mark.parametrize("kind", KINDS)
async def test_health_never_then_ok_then_error(daemon: RunningDaemon, psas: Psas, kind: str) -> None:
    name = psas.name(kind)
    assert_error(await daemon.http.post(f"/api/v1/psa/{name}/test"), 409, "no_credentials")

    saved = await daemon.http.put(f"/api/v1/psa/{name}/credentials", json={"credentials": psas.credentials[kind]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["ok"] is True and saved.json()["identity"]
    status = (await statuses(daemon))[name]
    assert status["credentials"] is True and status["health"] == "ok"
    assert status["identity"] == saved.json()["identity"] and isinstance(status["checked_at"], float)

    tested = await daemon.http.post(f"/api/v1/psa/{name}/test")
    assert tested.status_code == 200 and tested.json() == {"ok": True, "identity": saved.json()["identity"]}

    refused = await daemon.http.put(f"/api/v1/psa/{name}/credentials", json={"credentials": psas.wrong(kind)})
    message = assert_error(refused, 502, "connection_failed")
    assert name in message
    status = (await statuses(daemon))[name]
    # refused new credentials say nothing about the stored ones, which still work
    assert (status["health"], status["identity"], status["message"]) == ("ok", saved.json()["identity"], "")
    assert status["credentials"] is True  # the good ones stay stored
    assert (await daemon.http.post(f"/api/v1/psa/{name}/test")).json()["ok"] is True
    assert (await statuses(daemon))[name]["health"] == "ok"

    body = (await daemon.http.get("/api/v1/psa")).text
    assert not any(secret in body for secret in psas.secrets())


async def test_credentials_that_do_not_fit_the_connector(daemon: RunningDaemon, psas: Psas) -> None:
    name = psas.name("connectwise")
    missing = await daemon.http.put(f"/api/v1/psa/{name}/credentials", json={"credentials": {"company": "x"}})
    assert_error(missing, 422, "invalid_credentials")
    assert (await statuses(daemon))[name]["credentials"] is False


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/psa/nope/test", None),
        ("PUT", "/api/v1/psa/nope/credentials", {"credentials": {"a": "b"}}),
    ],
)
async def test_unknown_instance_is_404(daemon: RunningDaemon, method: str, path: str, body: Any) -> None:
    response = await daemon.http.request(method, path, json=body)
    message = assert_error(response, 404, "not_found")
    assert "nope" in message


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
async def test_credentials_file_is_user_only(daemon: RunningDaemon, psas: Psas) -> None:
    for kind in KINDS:
        response = await daemon.http.put(
            f"/api/v1/psa/{psas.name(kind)}/credentials", json={"credentials": psas.credentials[kind]}
        )
        assert response.status_code == 200
    path = daemon.settings.data_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored == {psas.name(k): psas.credentials[k] for k in KINDS}
    assert not list(daemon.settings.data_dir.glob("*.tmp"))


@pytest.mark.slow
async def test_no_secret_reaches_the_log_file(psas: Psas, tmp_path: Path) -> None:
    """A real daemon process at debug level: wrong and right credentials, a posted entry — no secret logged."""
    home = tmp_path / "home"
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(config_text([psas.instances[k] for k in KINDS]), encoding="utf-8")
    proc = await asyncio.to_thread(spawn_daemon, home, 0, "--verbose")
    try:
        token = (home / "data" / "token").read_text(encoding="utf-8").strip()
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proc.port}", headers=headers, timeout=10) as client:
            ids = []
            for kind in KINDS:
                name = psas.name(kind)
                wrong = await client.put(f"/api/v1/psa/{name}/credentials", json={"credentials": psas.wrong(kind)})
                assert wrong.status_code == 502
                good = await client.put(f"/api/v1/psa/{name}/credentials", json={"credentials": psas.credentials[kind]})
                assert good.status_code == 200, good.text
                start = yesterday_at(10)
                body = {"instance": name, "ticket": str(sandbox_module(kind).SEED.service_ticket)}
                created = await client.post(
                    "/api/v1/entries", json={**body, "started_at": start, "ended_at": start + 600}
                )
                assert created.status_code == 201
                ids.append(created.json()["id"])

            async def posted() -> bool:
                listed = (await client.get("/api/v1/entries", params={"status": "posted"})).json()["entries"]
                return {e["id"] for e in listed} >= set(ids)

            await await_until(posted, timeout=20, what="the entries to be posted")
    finally:
        stop_process(proc)
    logs = "".join(p.read_text(encoding="utf-8", errors="replace") for p in (home / "logs").glob("*.log*"))
    assert "posted" in logs or "ready" in logs  # the file is really written
    output = logs + "".join(daemon_output(home))
    for kind in KINDS:
        for key, value in psas.credentials[kind].items():
            if key in ("company", "username", "tenant"):
                continue  # identifiers, not secrets (the Autotask user name is the zone-discovery key in URLs)
            assert value not in output, f"{kind} {key} is in the daemon's log"
    assert "wrong-secret-0123" not in output
