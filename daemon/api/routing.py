"""Routes as data: one table feeds both the aiohttp router and the OpenAPI document."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from daemon import __version__
from daemon.api.connections import LIMITS
from daemon.api.errors import ApiError, ErrorBody
from daemon.invalid import field_error

__all__ = ["OPENAPI", "OpenApi", "Route", "build_openapi", "decode_json", "json_response", "read_json", "register"]

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 1_000_000


class Route(msgspec.Struct, frozen=True):
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: Any = None
    """A msgspec type for the JSON body, or None."""
    response: Any = None
    status: int = 200
    auth: bool = True
    params: dict[str, str] = msgspec.field(default_factory=dict)
    """Query parameters: name -> description."""


def register(app: web.Application, routes: Sequence[Route]) -> None:
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)


_encoder = msgspec.json.Encoder()
_decoders: dict[Any, Any] = {}


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(obj), status=status, content_type="application/json")


async def read_json(request: web.Request, type_: type[T]) -> T:
    """Decode the body as `type_`: 413 when too large, 400 when not JSON, 422 when it does not fit."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY} bytes")
    content = request.content
    if content.is_eof():  # the whole body is buffered already (the usual small JSON body): no waiting, no timer
        try:
            data = content.read_nowait(-1)
        except (web.RequestPayloadError, HttpProcessingError) as exc:
            raise ApiError(400, "invalid_body", f"the body could not be read: {exc}") from None
        if len(data) > MAX_BODY:
            raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY} bytes")
        return _decode_body(data, type_)
    chunks: list[bytes] = []
    size = 0
    limits = request.app.get(LIMITS)
    deadline = limits.read_timeout_s if limits is not None else None
    try:
        async with asyncio.timeout(deadline):
            while chunk := await content.read(MAX_BODY + 1 - size):  # read() may return less than asked
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BODY:
                    raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY} bytes")
    except (web.RequestPayloadError, HttpProcessingError, ConnectionResetError) as exc:
        raise ApiError(400, "invalid_body", f"the body could not be read: {exc}") from None
    except RuntimeError:  # aiohttp: "Connection closed." when the connection was dropped while we waited
        raise ApiError(400, "invalid_body", "the connection closed before the body arrived") from None
    except TimeoutError:
        raise ApiError(
            408, "request_timeout", f"the body did not arrive within {deadline} s", headers={"Connection": "close"}
        ) from None
    return _decode_body(b"".join(chunks), type_)


def _decode_body(data: bytes, type_: type[T]) -> T:
    decoder: msgspec.json.Decoder[T] | None = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    return decode_json(decoder.decode, data)


def decode_json(decode: Callable[[bytes | str], T], data: bytes | str) -> T:
    """The one JSON decode policy for request bodies and WebSocket frames: every failure is an `ApiError` 4xx.

    400 `invalid_json` when it is not JSON (bad UTF-8, or nested deeper than the decoder's recursion limit),
    422 `invalid_input` when it is JSON of the wrong shape.
    """
    try:
        return decode(data)
    except msgspec.ValidationError as exc:
        field, message = field_error(exc)
        raise ApiError(
            422, "invalid_input", f"{field}: {message}" if field else message, details={"field": field}
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # msgspec raises UnicodeDecodeError on bad UTF-8
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # msgspec's answer to JSON nested ~1,000 deep
        raise ApiError(400, "invalid_json", "the body is nested too deeply") from None


def build_openapi(routes: Sequence[Route]) -> dict[str, Any]:
    types: list[Any] = [ErrorBody]
    for r in routes:
        for t in (r.body, r.response):
            if t is not None and t not in types:
                types.append(t)
    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    by_type = dict(zip(types, schemas, strict=True))
    error_ref = by_type[ErrorBody]
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "tags": [r.tag],
            "operationId": _operation_id(r),
            "responses": {
                str(r.status): {
                    "description": "success",
                    **({"content": {"application/json": {"schema": by_type[r.response]}}} if r.response else {}),
                },
                "default": {"description": "error", "content": {"application/json": {"schema": error_ref}}},
            },
        }
        if not r.auth:
            op["security"] = []
        if r.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": by_type[r.body]}}}
        parameters = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in _path_params(r.path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
            for name, text in r.params.items()
        ]
        if parameters:
            op["parameters"] = parameters
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "TicketClock local API", "version": __version__},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


class OpenApi:
    """The document of a route table, built by its first reader (`GET /api/v1/openapi.json`), not at every start:
    the JSON schemas of ~100 types cost start-up time and ~0.5 MiB a daemon that is never asked would hold."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = list(routes)
        self._document: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = build_openapi(self._routes)
        return self._document


OPENAPI = web.AppKey("openapi", OpenApi)


def _operation_id(r: Route) -> str:
    path = r.path.removeprefix("/api/v1/").replace("/", "_").replace("{", "").replace("}", "").replace(".", "_")
    return f"{r.method.lower()}_{path}"


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
