"""The team server's web pages: one HTML shell (daemon/web/team.html) for every page, and the files of daemon/web/
(the local web UI's style sheet and modules, served as they are, plus the server-mode modules team*.js).

The pages hold no data: they are public, and every API call they make is authenticated by the session cookie. The
shell's Content-Security-Policy allows nothing but this server (no inline script, nothing remote: the pages work
offline).
"""

from __future__ import annotations

from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route
from daemon.api.web import TYPES, assets

__all__ = ["CSP", "PAGES", "ROUTES"]

PAGES = ("approvals", "timesheet", "summary", "time")
"""The pages daemon/web/team.js knows; `/` signs in, then shows the person's first page."""

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'none'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


async def page(request: web.Request) -> web.Response:
    data, etag = assets()["team.html"]
    return web.Response(body=data, content_type="text/html", charset="utf-8", headers={**HEADERS, "ETag": f'"{etag}"'})


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    found = assets().get(name)
    if found is None or name.endswith(".html"):
        raise ApiError.of("not_found", f"no such file: {request.path}")
    data, etag = found
    headers = {**HEADERS, "ETag": f'"{etag}"'}
    if request.headers.get("If-None-Match") == f'"{etag}"':
        return web.Response(status=304, headers=headers)
    return web.Response(body=data, content_type=TYPES["." + name.rsplit(".", 1)[-1]], charset="utf-8", headers=headers)


ROUTES = [
    *(
        Route("GET", path, page, "The team web pages (HTML shell)", "pages", auth=False)
        for path in ["/", *(f"/{p}" for p in PAGES)]
    ),
    Route("GET", "/web/{name}", asset, "The web pages' scripts and style sheet", "pages", auth=False),
]
