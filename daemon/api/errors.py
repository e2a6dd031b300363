"""Every API error has one shape: {"error": {"code": "snake_case", "message": "...", "details": ...}}.

Handlers raise `ApiError` (or let a service error be mapped by the app's error table); the error middleware
renders it. Anything unexpected becomes 500 `internal_error` without leaking its text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from daemon.entries.service import EntryError
from daemon.timers.engine import EngineError, InvalidInput, InvalidTransition, NoSuchTimer, TooManyTimers

__all__ = ["ApiError", "ErrorBody", "error_middleware", "error_response"]

log = logging.getLogger("ticketclock.api")


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str
    details: Any = None


class ErrorBody(msgspec.Struct, kw_only=True):
    error: ErrorDetail


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


_encoder = msgspec.json.Encoder()


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    body = _encoder.encode(ErrorBody(error=ErrorDetail(code=code, message=message, details=details)))
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}

_ENGINE_ERRORS: dict[type[EngineError], tuple[int, str]] = {
    NoSuchTimer: (404, "not_found"),
    TooManyTimers: (409, "too_many_timers"),
    InvalidTransition: (409, "invalid_transition"),
    InvalidInput: (422, "invalid_input"),
}
_ENTRY_STATUS = {"not_found": 404, "invalid_transition": 409, "not_editable": 409, "invalid_input": 422}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        message = exc.reason if exc.status != 404 else f"no such resource: {request.path}"
        return error_response(exc.status, code, message, headers=headers)
    except EngineError as exc:
        status, code = _ENGINE_ERRORS.get(type(exc), (409, "invalid_transition"))
        return error_response(status, code, str(exc))
    except EntryError as exc:
        return error_response(_ENTRY_STATUS.get(exc.code, 409), exc.code, exc.message)
    except msgspec.ValidationError as exc:
        return error_response(422, "invalid_input", str(exc))
    except msgspec.DecodeError as exc:
        return error_response(400, "invalid_json", f"the body is not valid JSON: {exc}")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the daemon hit an unexpected error; see its log")
