"""Browser events over HTTP and the WebSocket, and ticket recognition."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from daemon.api.connections import LIMITS
from daemon.api.errors import ApiError, ws_error
from daemon.api.routing import Route, decode_json, json_response, read_json
from daemon.api.security import AUTH, WS_UNPAIRED, ProofMessage, bearer, decode_prove
from daemon.services import SERVICES
from daemon.timers.events import MAX_BODY_BYTES, Batch, Hello, SeqGap, decode_client_message
from daemon.timers.model import TicketRef
from daemon.timers.recognize import recognize
from daemon.timers.service import EventsRejected

__all__ = ["SOCKETS", "OpenSockets", "close_sockets", "routes"]

log = logging.getLogger("ticketclock.ws")


class OpenSockets:
    def __init__(self) -> None:
        self.open: set[web.WebSocketResponse] = set()


SOCKETS = web.AppKey("websockets", OpenSockets)


async def close_sockets(app: web.Application) -> None:
    """On shutdown, say goodbye to every client (1001 going away) instead of waiting for them to leave."""
    for ws in list(app[SOCKETS].open):
        with contextlib.suppress(Exception):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"daemon stopping")


HELLO_TIMEOUT_S = 10.0
_encoder = msgspec.json.Encoder()


class Ack(msgspec.Struct, tag="ack", tag_field="type", kw_only=True):
    install: str
    seq: int


class Welcome(msgspec.Struct, tag="welcome", tag_field="type", kw_only=True):
    instance: str
    acked: int


class InstanceInfo(msgspec.Struct, kw_only=True):
    name: str
    kind: str
    origins: list[str]


class ConfigPush(msgspec.Struct, tag="config", tag_field="type", kw_only=True):
    instances: list[InstanceInfo]
    heartbeat_s: int
    idle_s: int
    mode: str


class WsError(msgspec.Struct, tag="error", tag_field="type", kw_only=True):
    code: str
    message: str
    details: dict[str, Any] | None = None


class RecognizeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(max_length=8192)]
    title: Annotated[str, msgspec.Meta(max_length=2048)] = ""
    page_ticket: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Recognized(msgspec.Struct, kw_only=True):
    ticket: TicketRef | None


class AckBody(msgspec.Struct, kw_only=True):
    install: str
    acked: int


def _refusal(exc: EventsRejected | SeqGap) -> ApiError:
    """How a refused batch is told, the same over HTTP and the WebSocket (contract: daemon/timers/events.py)."""
    if isinstance(exc, SeqGap):
        return ApiError.of("seq_gap", exc.message, details={"expected": exc.expected})
    return ApiError.of("invalid_events", exc.message, details={"seqs": exc.seqs})


async def post_events(request: web.Request) -> web.Response:
    batch = await read_json(request, Batch)
    timers = request.app[SERVICES].timers
    try:
        acked = await timers.ingest(batch)
    except (EventsRejected, SeqGap) as exc:
        raise _refusal(exc) from None
    return json_response(AckBody(install=batch.install, acked=acked))


async def recognize_url(request: web.Request) -> web.Response:
    body = await read_json(request, RecognizeRequest)
    instances = request.app[SERVICES].settings.config.instances
    return json_response(
        Recognized(ticket=recognize(body.url, instances, title=body.title, page_ticket=body.page_ticket))
    )


def config_push(request: web.Request) -> ConfigPush:
    config = request.app[SERVICES].settings.config
    return ConfigPush(
        instances=[InstanceInfo(name=i.name, kind=i.kind, origins=list(i.origins)) for i in config.instances],
        heartbeat_s=config.timing.heartbeat_s,
        idle_s=config.timing.idle_s,
        mode=config.timing.mode,
    )


async def websocket(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    ws = web.WebSocketResponse(max_msg_size=MAX_BODY_BYTES, heartbeat=60.0)
    await ws.prepare(request)
    request.app[SOCKETS].open.add(ws)
    outbox: asyncio.Queue[bytes | None] = asyncio.Queue()

    def send(message: msgspec.Struct) -> None:
        outbox.put_nowait(_encoder.encode(message))

    async def writer() -> None:
        while (data := await outbox.get()) is not None:
            if ws.closed:
                return
            await ws.send_str(data.decode())

    writer_task = asyncio.create_task(writer())
    unsubscribe = None
    try:
        hello = await _hello(ws, request)
        if hello is None:
            return ws
        send(Welcome(instance=hello.instance, acked=services.timers.acked(hello.install)))
        send(config_push(request))
        send(services.timers.view())
        unsubscribe = services.timers.subscribe(lambda data: outbox.put_nowait(data))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT and msg.type != WSMsgType.BINARY:
                continue
            try:
                message = decode_json(decode_client_message, msg.data)
            except ApiError as exc:
                send(WsError(code="invalid_message", message=exc.message))
                continue
            if isinstance(message, Hello):
                send(WsError(code="invalid_message", message="hello was already received"))
                continue
            try:
                acked = await services.timers.ingest(message, instance=hello.instance)
            except (EventsRejected, SeqGap) as exc:
                refused = _refusal(exc)
                send(WsError(code=refused.code, message=refused.message, details=refused.details))
                continue
            send(Ack(install=message.install, seq=acked))
    finally:
        request.app[SOCKETS].open.discard(ws)
        request.app[AUTH].detach(ws)
        if unsubscribe is not None:
            unsubscribe()
        outbox.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer_task, 5)
    return ws


async def _first_frame(ws: web.WebSocketResponse) -> bytes | str | None:
    """The next data frame of the handshake, or None (refused or closed) when it does not come in time."""
    try:
        msg = await ws.receive(timeout=HELLO_TIMEOUT_S)
    except TimeoutError:
        await _refuse(ws, "hello_timeout", "send hello first")
        return None
    if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        await ws.close()
        return None
    data: bytes | str = msg.data
    return data


async def _hello(ws: web.WebSocketResponse, request: web.Request) -> Hello | None:
    guard = request.app[AUTH]
    data = await _first_frame(ws)
    if data is None:
        return None
    prove = decode_prove(data)
    if prove is not None:  # the client wants proof before it sends its token (daemon/auth.py)
        answer = await guard.prove(prove.challenge, prove.kid)
        if answer is None:
            await _refuse(ws, "unpaired", "this daemon knows no such token: pair again")
            return None
        await ws.send_str(_encoder.encode(ProofMessage(proof=answer)).decode())
        data = await _first_frame(ws)
        if data is None:
            return None
    try:
        hello = decode_json(decode_client_message, data)
    except ApiError as exc:
        await _refuse(ws, "invalid_message", f"the first message must be hello: {exc.message}")
        return None
    if not isinstance(hello, Hello):
        await _refuse(ws, "invalid_message", "the first message must be hello")
        return None
    principal = await guard.authenticate(hello.token or bearer(request))
    if principal is None:  # the web pages: the session cookie came with the upgrade, the page key is the token
        principal = await guard.session(request, key=hello.token)
    if principal is None:
        await _refuse(ws, "unauthorized", "the token is not valid; pair the extension again")
        return None
    guard.attach(ws, principal)
    request.app[LIMITS].trust(request)
    return hello


async def _refuse(ws: web.WebSocketResponse, code: str, message: str) -> None:
    await ws.send_str(ws_error(code, message))
    await ws.close(code=WS_UNPAIRED if code in ("unauthorized", "unpaired") else 4400, message=code.encode())


routes = [
    Route(
        "POST",
        "/api/v1/browser/events",
        post_events,
        "Apply a batch of browser events (the same batches the WebSocket carries); answers the acknowledged seq. "
        "Never acknowledges past a gap: a batch that does not continue at acked + 1 (and has no `after` <= acked) "
        "is refused whole with 409 seq_gap naming details.expected; resend from there",
        "browser",
        body=Batch,
        response=AckBody,
    ),
    Route(
        "GET",
        "/api/v1/ws",
        websocket,
        "WebSocket: hello, event batches in; welcome, config, acks and timer state out (see daemon/timers/events.py)",
        "browser",
    ),
    Route(
        "POST",
        "/api/v1/tickets/recognize",
        recognize_url,
        "The ticket a page URL names, or null",
        "browser",
        body=RecognizeRequest,
        response=Recognized,
    ),
]
