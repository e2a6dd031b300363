"""Every API error has one shape: {"error": {"code": "snake_case", "message": "...", "details": ...}}.

Handlers raise `ApiError`, or let a service's error (engine, entries, PSA, pairing) through; the error middleware
is the one place that renders them, with the status the catalogue (`daemon.errors`) gives each code. Anything
unexpected becomes 500 `internal_error` without leaking its text. WebSocket error frames are made by `ws_error`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from daemon.auth import PairingError
from daemon.entries.service import EntryError
from daemon.errors import HTTP_STATUS_CODES, status_of
from daemon.psa import PsaError
from daemon.timers.engine import EngineError, InvalidInput, InvalidTransition, NoSuchTimer, TooManyTimers

__all__ = ["ApiError", "ErrorBody", "error_middleware", "error_response", "ws_error"]

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

    @classmethod
    def of(cls, code: str, message: str, *, details: Any = None, headers: dict[str, str] | None = None) -> ApiError:
        """The error with the catalogue's status for its code."""
        return cls(status_of(code), code, message, details=details, headers=headers)


_encoder = msgspec.json.Encoder()


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    body = _encoder.encode(ErrorBody(error=ErrorDetail(code=code, message=message, details=details)))
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def ws_error(code: str, message: str, details: Any = None) -> str:
    """A WebSocket error frame: {"type": "error", "code", "message", "details"} (contract: daemon/timers/events.py)."""
    return _encoder.encode({"type": "error", "code": code, "message": message, "details": details}).decode()


_ENGINE_CODES: dict[type[EngineError], str] = {
    NoSuchTimer: "not_found",
    TooManyTimers: "too_many_timers",
    InvalidTransition: "invalid_transition",
    InvalidInput: "invalid_input",
}

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
        code = HTTP_STATUS_CODES.get(exc.status, "http_error")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        message = exc.reason if exc.status != 404 else f"no such resource: {request.path}"
        return error_response(exc.status, code, message, headers=headers)
    except EngineError as exc:
        code = _ENGINE_CODES.get(type(exc), "invalid_transition")
        return error_response(status_of(code), code, str(exc))
    except (EntryError, PsaError) as exc:
        return error_response(status_of(exc.code), exc.code, exc.message)
    except PairingError as exc:
        headers = {"Retry-After": str(int(exc.retry_after + 0.999))} if exc.retry_after else None
        return error_response(status_of(exc.code), exc.code, exc.message, headers=headers)
    except msgspec.ValidationError as exc:
        return error_response(status_of("invalid_input"), "invalid_input", str(exc))
    except msgspec.DecodeError as exc:
        return error_response(status_of("invalid_json"), "invalid_json", f"the body is not valid JSON: {exc}")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            status_of("internal_error"), "internal_error", "the daemon hit an unexpected error; see its log"
        )
