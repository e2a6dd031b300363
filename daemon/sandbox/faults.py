"""Fault switches shared by the sandbox PSAs: latency, 429 storms, 5xx, dropped connections, hangs, and a 5xx
answered after the write was committed (a gateway's 502 after the PSA stored the entry).

Each sandbox app gets a `Faults` object at `app[FAULTS]`; tests in the same process flip its fields while the app
runs, and anything outside the process sets them through the control endpoint (`daemon.sandbox.control`).
Only API paths (those the `applies` predicate accepts) are affected, so ticket web pages stay fast. "Writes" are
POST/PUT/PATCH requests other than Autotask's `…/query` and `…/query/count` (reads sent as POST).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["FAULTS", "DroppedAfterCommit", "Faults", "fault_middleware"]


@dataclass
class Faults:
    latency_s: float = 0.0
    rate_limit_every: int = 0
    """Answer every Nth API request with 429 and Retry-After (0: never)."""
    retry_after_s: float = 1.0
    error_every: int = 0
    """Answer every Nth API request with 503 (0: never)."""
    fail_next: int = 0
    """Answer the next N API requests with 503."""
    drop_after_commit_next: int = 0
    """For the next N writes (POST/PUT/PATCH): apply them, then drop the connection without an answer."""
    hang_after_commit_next: int = 0
    """For the next N writes: apply them, then never answer (the client times out)."""
    error_after_commit_next: int = 0
    """For the next N writes: apply them, then answer `error_after_commit_status` as a gateway would."""
    error_after_commit_status: int = 502
    max_concurrent: int = 0
    """Refuse (429) a request beyond this many in flight at once (0: unlimited)."""
    date_skew_s: float = 0.0
    """Answer every request (API or page) with a `Date` header this many seconds off the real time (negative: in
    the past), as a PSA server with a wrong clock would; `ticketclock doctor` compares clocks with it."""
    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    log: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path, status) of every API request, for tests."""


FAULTS = web.AppKey("faults", Faults)


class DroppedAfterCommit(Exception):
    pass


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(applies: Callable[[web.Request], bool]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not applies(request):
            return await handler(request)
        faults = request.app[FAULTS]
        faults.requests += 1
        n = faults.requests
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if faults.max_concurrent and faults.in_flight >= faults.max_concurrent:
            return _log(request, faults, _too_many(faults))
        if faults.rate_limit_every and n % faults.rate_limit_every == 0:
            return _log(request, faults, _too_many(faults))
        if faults.fail_next > 0:
            faults.fail_next -= 1
            return _log(request, faults, web.json_response({"message": "Service Unavailable"}, status=503))
        if faults.error_every and n % faults.error_every == 0:
            return _log(request, faults, web.json_response({"message": "Service Unavailable"}, status=503))
        faults.in_flight += 1
        faults.peak_in_flight = max(faults.peak_in_flight, faults.in_flight)
        try:
            response = await handler(request)
        finally:
            faults.in_flight -= 1
        is_write = _is_write(request)
        if is_write and response.status < 300 and faults.drop_after_commit_next > 0:
            faults.drop_after_commit_next -= 1
            _log(request, faults, 0)
            if request.transport is not None:
                request.transport.abort()
            raise DroppedAfterCommit
        if is_write and response.status < 300 and faults.hang_after_commit_next > 0:
            faults.hang_after_commit_next -= 1
            _log(request, faults, 0)
            await asyncio.sleep(3600)
        if is_write and response.status < 300 and faults.error_after_commit_next > 0:
            faults.error_after_commit_next -= 1
            return _log(request, faults, _gateway_error(faults.error_after_commit_status))
        return _log(request, faults, response)

    return middleware


def _is_write(request: web.Request) -> bool:
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    return not request.path.lower().rstrip("/").endswith(("/query", "/query/count"))


def _gateway_error(status: int) -> web.Response:
    """What a reverse proxy in front of the PSA answers when it gave up on the upstream: an HTML page."""
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    text = f"{status} {reason.get(status, 'Server Error')}"
    body = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>"
    return web.Response(text=body, status=status, content_type="text/html")


def _too_many(faults: Faults) -> web.Response:
    retry = faults.retry_after_s
    header = str(int(retry)) if float(retry).is_integer() else f"{retry:.3f}"
    return web.json_response({"message": "Too Many Requests"}, status=429, headers={"Retry-After": header})


def _log(request: web.Request, faults: Faults, response: web.StreamResponse | int) -> web.StreamResponse:
    status = response if isinstance(response, int) else response.status
    faults.log.append((request.method, request.path, status))
    return response  # type: ignore[return-value]
