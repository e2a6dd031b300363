"""The web UI: sign-in by one-time code, sign-out, and the static pages (daemon/web/).

`POST /api/v1/web/login-code` (the CLI token or a paired extension) answers a URL with a one-time code good for
`LOGIN_CODE_TTL_S`. `GET /login?code=…` trades it for a session cookie (HttpOnly, SameSite=Strict) and answers 303 to
the page asked for, so the code leaves the address bar. A bad, used or expired code gets a plain page saying how to
get a new link. The page shells and their assets are public (they hold no data); every API call they make is
authenticated by the cookie (daemon/api/security.py), and a page that finds itself signed out says so.
"""

from __future__ import annotations

import functools
import hashlib
from html import escape
from typing import Literal

import msgspec
from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.api.security import AUTH, PRINCIPAL, SESSION_COOKIE, viewer_of
from daemon.auth import SCOPE_FULL, SCOPE_WEB, SESSION_MAX_S, LoginRefused
from daemon.entries.model import EDITABLE
from daemon.entries.timesheet import Viewer

__all__ = ["PAGES", "PAGE_ROUTES", "routes"]

PAGES = ("today", "timesheet", "summary", "approvals", "outbox", "automations")
"""The pages the client-side router knows (daemon/web/app.js); `/` is Today."""
Page = Literal["/", "/today", "/timesheet", "/summary", "/approvals", "/outbox", "/automations"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'none'; "
    "connect-src 'self' ws://127.0.0.1:* ws://localhost:*; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
"""Nothing but this daemon: no inline script, no remote anything (the pages work offline)."""
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


class LoginCodeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    next: Page = "/"
    """The page to land on after sign-in."""


class LoginCode(msgspec.Struct, kw_only=True):
    url: str
    expires_in: float


class Me(msgspec.Struct, kw_only=True):
    viewer: Viewer
    """Who is looking (the audit trail's actor)."""
    scope: Literal["full", "web"]
    """"full" (SCOPE_FULL): everything the CLI may do; "web" (SCOPE_WEB): no pairings or PSA credentials."""
    editable: list[str]
    """The entry states a person may edit (daemon/entries/model.py EDITABLE): the pages show others read-only."""


@functools.cache
def assets() -> dict[str, tuple[bytes, str]]:
    """The files of daemon/web/ by name, with a content hash for the ETag (read once, by the first page asked for:
    they ship in the wheel; a daemon nobody opens in a browser neither imports importlib.resources nor holds them)."""
    from importlib import resources

    found: dict[str, tuple[bytes, str]] = {}
    for item in (resources.files("daemon") / "web").iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in TYPES:
            data = item.read_bytes()
            found[item.name] = (data, hashlib.sha256(data).hexdigest()[:16])
    return found


def _origin(request: web.Request) -> str:
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    port = sockname[1] if sockname else request.app[AUTH].port
    return f"http://127.0.0.1:{port}"


async def login_code(request: web.Request) -> web.Response:
    body = await read_json(request, LoginCodeRequest) if request.body_exists else LoginCodeRequest()
    principal = request[PRINCIPAL]
    full = principal.kind == "cli" or (principal.kind == "web" and principal.scope == SCOPE_FULL)
    login = request.app[AUTH].login
    if login is None:  # pragma: no cover - create_app always sets it
        raise ApiError(500, "internal_error", "sign-in is not available")
    code, ttl = login.new_code(SCOPE_FULL if full else SCOPE_WEB)
    url = f"{_origin(request)}/login?code={code}"
    if body.next != "/":
        url += f"&next={body.next.lstrip('/')}"
    return json_response(LoginCode(url=url, expires_in=ttl), status=201)


def _plain_page(title: str, text: str, status: int) -> web.Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
        f'{escape(title)} · TicketClock</title><link rel="stylesheet" href="/web/app.css"></head>'
        f'<body class="plain"><main><h1>{escape(title)}</h1><p>{escape(text)}</p></main></body></html>'
    )
    return web.Response(
        text=html, status=status, content_type="text/html", headers={**SECURITY_HEADERS, "Cache-Control": "no-store"}
    )


REFUSED = {
    "used": "This sign-in link was already used.",
    "expired": "This sign-in link has expired (links work for one minute).",
    "unknown": "This sign-in link is not valid.",
}
HOW_TO = " Get a new one: run `ticketclock open`, or click “Open timesheet” in the TicketClock popup."


async def login(request: web.Request) -> web.Response:
    code = request.query.get("code", "")
    target = request.query.get("next", "")
    login_ = request.app[AUTH].login
    try:
        if login_ is None or not code:
            raise LoginRefused("unknown")
        signed_in = await login_.redeem(code)
    except LoginRefused as exc:
        text = REFUSED[exc.reason] + HOW_TO
        if "text/html" in request.headers.get("Accept", ""):  # a browser: a page a person can read
            return _plain_page("Sign-in link not valid", text, 400)
        raise ApiError(400, "invalid_query", text) from None  # a program: the one error shape
    # the page key travels in the fragment: browsers keep it across the redirect and never send it to a server
    page_path = "/" + (target if target in PAGES else "")
    response = web.Response(status=303, headers={"Location": f"{page_path}#key={signed_in.key}"})
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        SESSION_COOKIE, signed_in.cookie, httponly=True, samesite="Strict", path="/", max_age=int(SESSION_MAX_S)
    )
    return response


async def me(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    full = principal.kind == "cli" or (principal.kind == "web" and principal.scope == SCOPE_FULL)
    return json_response(Me(viewer=viewer_of(request), scope="full" if full else "web", editable=sorted(EDITABLE)))


async def logout(request: web.Request) -> web.Response:
    login_ = request.app[AUTH].login
    if login_ is not None:
        await login_.end(request.cookies.get(SESSION_COOKIE, ""))
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")
    return response


async def page(request: web.Request) -> web.Response:
    """The shell: the same HTML for every page; app.js renders the one the path names."""
    data, etag = assets()["index.html"]
    return web.Response(
        body=data,
        content_type="text/html",
        charset="utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": f'"{etag}"'},
    )


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    found = assets().get(name)
    if found is None:
        raise ApiError(404, "not_found", f"no such file: {request.path}")
    data, etag = found
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "ETag": f'"{etag}"'}
    if request.headers.get("If-None-Match") == f'"{etag}"':
        return web.Response(status=304, headers=headers)
    suffix = "." + name.rsplit(".", 1)[-1]
    return web.Response(body=data, content_type=TYPES[suffix], charset="utf-8", headers=headers)


routes = [
    Route(
        "POST",
        "/api/v1/web/login-code",
        login_code,
        "A one-time sign-in URL for the web pages (good for 60 s); body optional: {next: page path}",
        "web",
        body=LoginCodeRequest,
        response=LoginCode,
        status=201,
    ),
    Route("GET", "/api/v1/web/me", me, "Who is looking, and what this sign-in may do", "web", response=Me),
    Route(
        "POST", "/api/v1/web/logout", logout, "Sign out of the web pages (ends the cookie's session)", "web", status=204
    ),
]

PAGE_ROUTES = [
    # Not API routes: not in the OpenAPI document (daemon/app.py registers them beside ROUTES).
    Route(
        "GET",
        "/login",
        login,
        "Trade a one-time code for a session cookie; 303 to the page (the code leaves the address bar)",
        "web",
        auth=False,
        params={"code": "the one-time code", "next": "the page to land on"},
    ),
    *(
        Route("GET", path, page, f"The web UI's {name} page (HTML shell)", "web", auth=False)
        for path, name in [("/", "today"), *((f"/{p}", p) for p in PAGES)]
    ),
    Route("GET", "/web/{name}", asset, "The web UI's scripts and style sheet", "web", auth=False),
]
