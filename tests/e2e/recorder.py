"""A recording stand-in for the daemon, for testing the extension's side of the protocol in isolation.

It proves itself like the daemon (GET /api/v1/hello and the socket's prove -> proof, with daemon/auth.py's proof)
unless `honest` is False (then it is another user's program on the port: it answers with a made-up proof).
It speaks daemon/timers/events.py over `/api/v1/ws` (hello -> welcome + config + state; batch -> ack) and the REST
routes the popup and options page use, and records every frame the extension sends. Each frame is checked against
the real protocol structs, so a field the daemon would refuse fails the test. Its state (recorded frames, the acked
seq per install, the timers) lives in a `Recorder` that outlives a stop/start of the server on the same port, like
the real daemon's database.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from daemon.api.security import decode_prove
from daemon.auth import hash_token, key_id, proof
from daemon.timers.events import Hello, decode_client_message

T = TypeVar("T")

RECORDER = web.AppKey("recorder", "Recorder")
PAIR_CODE = "12345678"


def timer_view(**over: Any) -> dict[str, Any]:
    """A TimerView (daemon/timers/model.py) with plausible defaults."""
    now = time.time()
    view: dict[str, Any] = {
        "id": "t1",
        "slot": 0,
        "colour": "#e6194b",
        "kind": "auto",
        "state": "running",
        "paused_by": None,
        "ticket": {"instance": "halo", "kind": "halopsa", "id": 77, "number": None},
        "task": None,
        "label": "#77",
        "summary": "Printer on floor 2 jams",
        "company": "Acme Dental",
        "elapsed_s": 754.0,
        "as_of": now,
        "running": True,
        "notes": "",
        "internal_notes": "",
        "billable": "agreement",
        "work_type": "Remote support",
        "started_at": now - 754,
        "last_attended": now,
        "flags": [],
    }
    view.update(over)
    return view


class Recorder:
    """What the fake daemon knows and saw."""

    def __init__(self, instances: list[dict[str, Any]]) -> None:
        self.instances = instances
        self.messages: list[dict[str, Any]] = []  # every client frame, in arrival order, plus "_origin"/"_conn"
        self.invalid: list[tuple[str, str]] = []  # frames the real daemon would refuse: (frame, reason)
        self.applied: list[dict[str, Any]] = []  # events applied (first time seen), in order
        self.acked: dict[str, int] = {}
        self.closes = 0
        self.requests: list[tuple[str, str, Any]] = []  # REST calls: (method, path, body)
        self.token = "test-token"
        self.honest = True
        self.authorizations: list[str] = []  # every Authorization header received (REST)
        self.issued_tokens: list[str] = []
        self.timers: list[dict[str, Any]] = []
        self.idle_pending: dict[str, Any] | None = None
        self.sockets: set[web.WebSocketResponse] = set()
        self.changed = asyncio.Condition()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[Recorder], T], timeout: float = 10.0) -> T:
        """Wait until predicate(recorder) is truthy and return its value."""

        async def _wait() -> T:
            async with self.changed:
                while not (got := predicate(self)):
                    await self.changed.wait()
                return got

        return await asyncio.wait_for(_wait(), timeout)

    def proof(self, challenge: str, kid: str, port: int) -> dict[str, Any] | None:
        """The proof answer (a made-up one when not honest), or None for a token it does not know."""
        if not self.honest:
            return {"proof": "0" * 64}
        if kid != key_id(hash_token(self.token)):
            return None
        return {"proof": proof(hash_token(self.token), challenge, port)}

    def hellos(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "hello"]

    def events(self, **want: Any) -> list[dict[str, Any]]:
        """Applied events whose fields equal `want`."""
        return [e for e in self.applied if all(e.get(k) == v for k, v in want.items())]

    def state_message(self) -> dict[str, Any]:
        return {"type": "state", "timers": self.timers, "idle_pending": self.idle_pending, "at": time.time()}

    async def push_state(self) -> None:
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_json(self.state_message())


def _recorder(request: web.Request) -> Recorder:
    return request.app[RECORDER]


async def ws_handler(request: web.Request) -> web.WebSocketResponse:
    rec = _recorder(request)
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    rec.sockets.add(ws)
    conn = secrets.token_hex(4)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            data["_origin"] = request.headers.get("Origin")
            data["_conn"] = conn
            rec.messages.append(data)
            prove = decode_prove(msg.data)
            if prove is not None:
                answer = rec.proof(prove.challenge, prove.kid, _own_port(request))
                if answer is None:
                    await ws.send_json({"type": "error", "code": "unpaired", "message": "unknown token"})
                    await ws.close(code=4401, message=b"unpaired")
                    break
                await ws.send_json({"type": "proof", **answer})
                await rec._notify()
                continue
            try:
                decoded = decode_client_message(msg.data)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                rec.invalid.append((msg.data, str(exc)))
                await rec._notify()
                continue
            if isinstance(decoded, Hello):
                if decoded.token != rec.token:
                    await ws.send_json({"type": "error", "code": "unauthorized", "message": "bad token"})
                    await ws.close()
                    break
                acked = rec.acked.get(data["install"], 0)
                await ws.send_json({"type": "welcome", "instance": data["instance"], "acked": acked})
                await ws.send_json({"type": "config", "instances": rec.instances, "heartbeat_s": 20, "idle_s": 300})
                await ws.send_json(rec.state_message())
            else:
                install = data["install"]
                acked = rec.acked.get(install, 0)
                for event in data["events"]:
                    if event["seq"] > acked:
                        rec.applied.append(event)
                        acked = event["seq"]
                rec.acked[install] = acked
                await ws.send_json({"type": "ack", "install": install, "seq": acked})
            await rec._notify()
    finally:
        rec.sockets.discard(ws)
        rec.closes += 1
        await rec._notify()
    return ws


def _own_port(request: web.Request) -> int:
    port: int = request.transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
    return port


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "details": None}}, status=status)


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    rec = _recorder(request)
    body = await request.json() if request.can_read_body else None
    rec.requests.append((request.method, request.path, body))
    if "Authorization" in request.headers:
        rec.authorizations.append(request.headers["Authorization"])
    await rec._notify()
    public = request.path in ("/api/v1/health", "/api/v1/pair", "/api/v1/ws", "/api/v1/hello")
    if not public and request.headers.get("Authorization") != f"Bearer {rec.token}":
        return _error(401, "unauthorized", "missing or bad token")
    return await handler(request)


async def hello(request: web.Request) -> web.Response:
    answer = _recorder(request).proof(
        request.query.get("challenge", ""), request.query.get("kid", ""), _own_port(request)
    )
    return web.json_response(answer) if answer is not None else _error(401, "unpaired", "unknown token")


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": "0.1.0-recorder"})


async def pair(request: web.Request) -> web.Response:
    rec = _recorder(request)
    body = await request.json()
    if body.get("code") != PAIR_CODE:
        return _error(400, "pairing_code_invalid", "no such pairing code")
    rec.token = f"paired-{secrets.token_hex(8)}"
    rec.issued_tokens.append(rec.token)
    return web.json_response({"token": rec.token, "client_id": "c1"})


async def list_timers(request: web.Request) -> web.Response:
    rec = _recorder(request)
    state = rec.state_message()
    return web.json_response({"timers": state["timers"], "idle_pending": state["idle_pending"], "at": state["at"]})


def _find(rec: Recorder, timer_id: str) -> dict[str, Any]:
    for t in rec.timers:
        if t["id"] == timer_id:
            return t
    raise web.HTTPNotFound()


async def timer_action(request: web.Request) -> web.Response:
    rec = _recorder(request)
    timer = _find(rec, request.match_info["id"])
    action = request.match_info["action"]
    now = time.time()
    if timer["running"]:
        timer["elapsed_s"] += now - timer["as_of"]
    timer["as_of"] = now
    if action == "pause":
        timer.update(state="paused", paused_by="user", running=False)
    elif action == "resume":
        timer.update(state="running", paused_by=None, running=True)
    elif action == "stop":
        rec.timers.remove(timer)
    await rec.push_state()
    return web.json_response(timer)


async def patch_timer(request: web.Request) -> web.Response:
    rec = _recorder(request)
    timer = _find(rec, request.match_info["id"])
    timer.update(await request.json())
    await rec.push_state()
    return web.json_response(timer)


async def delete_timer(request: web.Request) -> web.Response:
    rec = _recorder(request)
    rec.timers.remove(_find(rec, request.match_info["id"]))
    await rec.push_state()
    return web.Response(status=204)


async def start_timer(request: web.Request) -> web.Response:
    rec = _recorder(request)
    body = await request.json()
    n = len(rec.timers)
    label = f"#{body['ticket']}" if "ticket" in body else body["task"]
    timer = timer_view(id=f"t{n + 100}", slot=n, label=label, task=body.get("task"), summary="", company="")
    rec.timers.append(timer)
    await rec.push_state()
    return web.json_response(timer, status=201)


async def resolve_idle(request: web.Request) -> web.Response:
    rec = _recorder(request)
    rec.idle_pending = None
    await rec.push_state()
    return web.json_response({"ok": True})


async def _close_sockets(app: web.Application) -> None:
    for ws in list(app[RECORDER].sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"shutdown")


def make_recorder_app(rec: Recorder) -> web.Application:
    app = web.Application(middlewares=[auth_middleware])
    app[RECORDER] = rec
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/api/v1/ws", ws_handler)
    app.router.add_get("/api/v1/health", health)
    app.router.add_get("/api/v1/hello", hello)
    app.router.add_post("/api/v1/pair", pair)
    app.router.add_get("/api/v1/timers", list_timers)
    app.router.add_post("/api/v1/timers", start_timer)
    app.router.add_post("/api/v1/timers/{id}/{action:pause|resume|stop}", timer_action)
    app.router.add_patch("/api/v1/timers/{id}", patch_timer)
    app.router.add_delete("/api/v1/timers/{id}", delete_timer)
    app.router.add_post("/api/v1/idle/resolve", resolve_idle)
    return app


class RecorderServer:
    """The recorder on 127.0.0.1; can be stopped and started again on the same port."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(make_recorder_app(self.rec), shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
