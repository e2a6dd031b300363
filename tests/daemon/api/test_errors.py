"""Every error is one JSON shape with a snake_case code, and no input makes the daemon answer 500."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from tests.support import RunningDaemon, assert_api_error

EVIL = "https://evil.example"
JSON_TYPE = {"Content-Type": "application/json"}


async def anonymous(d: RunningDaemon, method: str, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=d.base_url) as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


def crashes(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Unhandled errors our error middleware logged (aiohttp logs malformed HTTP itself; that is not a crash)."""
    return [r for r in caplog.records if r.name.startswith("ticketclock") and r.levelno >= logging.ERROR]


async def post_json(d: RunningDaemon, path: str, data: bytes) -> httpx.Response:
    """POST raw bytes labelled as JSON, with the daemon's token."""
    return await d.http.post(path, content=data, headers={"Content-Type": "application/json"})


async def test_unknown_path_is_404(daemon: RunningDaemon) -> None:
    for path in ("/nope", "/api/v1/nope", "/api/v2/health", "/api/v1/health/extra", "/web/nope.js"):
        error = assert_api_error(await daemon.http.get(path), 404, "not_found")
        assert path in error["message"]


async def test_unknown_path_without_a_token_is_401_not_404(daemon: RunningDaemon) -> None:
    """Without a token, the daemon does not tell which routes exist."""
    assert_api_error(await anonymous(daemon, "GET", "/api/v1/nope"), 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/health", "GET"),
        ("POST", "/api/v1/health", "GET"),
        ("GET", "/api/v1/pair", "POST"),
        ("PUT", "/api/v1/clients", "GET"),
        ("PATCH", "/api/v1/openapi.json", "GET"),
    ],
)
async def test_wrong_method_is_405_with_allow(daemon: RunningDaemon, method: str, path: str, allowed: str) -> None:
    response = await daemon.http.request(method, path, json={})
    assert_api_error(response, 405, "method_not_allowed")
    assert allowed in response.headers["Allow"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"{'code': '12345678'}",
        b'{"code": "12345678",}',
        b"code=12345678",
        b"\x00",
        b"nul",
        b'{"code": "12345678"} {}',
    ],
)
async def test_invalid_json_is_400(daemon: RunningDaemon, body: bytes) -> None:
    assert_api_error(await post_json(daemon, "/api/v1/pair", body), 400, "invalid_json")


@pytest.mark.parametrize(
    "body",
    [{"code": 12345678}, {"code": ["12345678"]}, {"code": "12345678", "client": 1}, {"code": None}, [], "x", 1, {}],
)
async def test_wrong_types_are_422(daemon: RunningDaemon, body: object) -> None:
    assert_api_error(await daemon.http.post("/api/v1/pair", json=body), 422, "invalid_input")


async def test_unknown_fields_are_422_and_named(daemon: RunningDaemon) -> None:
    response = await daemon.http.post("/api/v1/pair", json={"code": "12345678", "cod": "12345678"})
    error = assert_api_error(response, 422, "invalid_input")
    assert "cod" in error["message"]


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_1_mb_is_413(daemon: RunningDaemon, chunked: bool) -> None:
    body = b'{"code": "12345678", "client": "' + b"x" * 1_000_000 + b'"}'
    content = _chunks(body, 64 * 1024) if chunked else body
    response = await daemon.http.post("/api/v1/pair", content=content, headers={"Content-Type": "application/json"})
    assert_api_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_just_under_1_mb_is_read_whole(daemon: RunningDaemon, chunked: bool) -> None:
    """Whitespace padding keeps it valid JSON: the answer must come from the pairing, not from a truncated read."""
    body = b'{"code": "12345678"' + b" " * (1_000_000 - 21) + b"}"
    assert len(body) <= 1_000_000
    content = _chunks(body, 64 * 1024) if chunked else body
    response = await daemon.http.post("/api/v1/pair", content=content, headers={"Content-Type": "application/json"})
    assert_api_error(response, 400, "pairing_code_invalid")


async def test_missing_token_is_401(daemon: RunningDaemon) -> None:
    response = await anonymous(daemon, "GET", "/api/v1/clients")
    assert_api_error(response, 401, "unauthorized")


async def test_foreign_origin_is_403(daemon: RunningDaemon) -> None:
    assert_api_error(await daemon.http.get("/api/v1/clients", headers={"Origin": EVIL}), 403, "origin_forbidden")


async def test_bad_host_is_421(daemon: RunningDaemon) -> None:
    response = await daemon.http.get("/api/v1/health", headers={"Host": f"attacker.example:{daemon.port}"})
    assert_api_error(response, 421, "host_forbidden")


async def test_wrong_content_type_is_415(daemon: RunningDaemon) -> None:
    response = await daemon.http.post("/api/v1/pair", content=b"{}", headers={"Content-Type": "text/plain"})
    assert_api_error(response, 415, "unsupported_media_type")


# --- hostile input: never a 500 ----------------------------------------------------------------------------------

HOSTILE_BODIES = {
    "deep array": b"[" * 200_000,
    "deep object": b'{"code":' * 100_000,
    "deep inside a field": b'{"code": "12345678", "client": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "huge integer": b'{"code": ' + b"9" * 100_000 + b"}",
    "huge float": b'{"code": 1e999999}',
    "negative huge float": b'{"code": -1e400}',
    "NaN": b'{"code": NaN}',
    "raw NUL in a string": b'{"code": "1234\x005678"}',
    "escaped NUL": b'{"code": "1234\\u00005678"}',
    "NUL bytes": b"\x00" * 1000,
    "invalid UTF-8": b'{"code": "\xff\xfe\xfd"}',
    "overlong UTF-8": b'{"code": "\xc0\xaf"}',
    "UTF-8 surrogate": b'{"client": "\xed\xa0\x80", "code": "12345678"}',
    "lone surrogate escape": b'{"code": "12345678", "client": "\\ud800"}',
    "BOM": b'\xef\xbb\xbf{"code": "12345678"}',
    "UTF-16": '{"code": "12345678"}'.encode("utf-16"),
    "many keys": b"{" + b",".join(b'"k%d": 1' % i for i in range(50_000)) + b"}",
    "duplicate keys": b'{"code": "12345678", "code": "87654321"}',
    "long string": b'{"code": "' + b"1" * 900_000 + b'"}',
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
async def test_hostile_bodies_get_a_clean_4xx(
    daemon: RunningDaemon, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    for path in ("/api/v1/pair", "/api/v1/pair/codes"):
        response = await post_json(daemon, path, body)
        if response.status_code < 400:  # pair/codes ignores its body
            assert path == "/api/v1/pair/codes", response.text
            continue
        assert 400 <= response.status_code < 500, response.text
        assert_api_error(response, response.status_code)
    assert not crashes(caplog)
    assert (await daemon.http.get("/api/v1/health")).status_code == 200


async def test_a_hostile_client_name_with_a_valid_code_is_stored_or_refused_cleanly(
    daemon: RunningDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """The body reaches storage: names with NUL, lone surrogates or odd Unicode must not break SQLite."""
    for name in (b"\\ud800", b"\\udfff\\ud800", b"a\\u0000b", b"\\u202e evil", b"\xf0\x9f\x95\x90 clock"):
        code = (await daemon.http.post("/api/v1/pair/codes")).json()["code"]
        body = b'{"code": "' + code.encode() + b'", "client": "' + name + b'"}'
        response = await post_json(daemon, "/api/v1/pair", body)
        assert response.status_code in (200, 400, 422), (name, response.text)
        if response.status_code != 200:
            assert_api_error(response, response.status_code)
    assert not crashes(caplog)
    listed = await daemon.http.get("/api/v1/clients")
    assert listed.status_code == 200


HOSTILE_HEADERS = {
    "Authorization": [b"Bearer \xff\xfe", b"Bearer " + b"A" * 7000, b"Basic \x80", b"Bearer tc_\xc3\xa9"],
    "Origin": [b"\xff", b"chrome-extension://" + b"a" * 5000, b"null", b"https://127.0.0.1.evil.example"],
    "Host": [b"\xff", b"127.0.0.1:\xff", b"[::1", b"127.0.0.1:0", b"127.0.0.1:-1"],
    "Content-Type": [b"application/json; charset=\xff", b"application/json; charset=utf-16", b"\x01", b";;;"],
    "Content-Encoding": [b"gzip", b"br", b"deflate"],
}


@pytest.mark.parametrize("header", HOSTILE_HEADERS)
async def test_hostile_headers_never_give_500(
    daemon: RunningDaemon, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    for value in HOSTILE_HEADERS[header]:
        for method, path in (("GET", "/api/v1/health"), ("GET", "/api/v1/clients"), ("POST", "/api/v1/pair")):
            headers = {b"Content-Type": b"application/json", header.encode(): value}
            response = await daemon.http.request(method, path, content=b'{"code": "12345678"}', headers=headers)
            assert response.status_code < 500, (header, value, path, response.text)
    assert not crashes(caplog)


async def raw_request(port: int, data: bytes, *, close_write: bool = False) -> bytes:
    """Send bytes as they are; return what came back (up to EOF or a short deadline)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if close_write:
            writer.write_eof()
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(3):
                while chunk := await reader.read(65536):
                    chunks.append(chunk)
        except TimeoutError:
            pass  # the server still waits for the rest of a body that never comes
        return b"".join(chunks)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def status_of(response: bytes) -> int | None:
    if not response:
        return None
    line = response.split(b"\r\n", 1)[0]
    return int(line.split()[1])


def head(port: int, request_line: bytes = b"POST /api/v1/pair HTTP/1.1", **headers: bytes) -> bytes:
    lines = [request_line, b"Host: 127.0.0.1:%d" % port, b"Connection: close"]
    lines += [name.replace("_", "-").encode() + b": " + value for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


RAW = {
    "content-length too small": lambda p: (
        head(p, Content_Type=b"application/json", Content_Length=b"5") + b'{"code": "12345678"}'
    ),
    "content-length negative": lambda p: head(p, Content_Type=b"application/json", Content_Length=b"-1") + b"{}",
    "content-length overflow": lambda p: head(p, Content_Type=b"application/json", Content_Length=b"9" * 30) + b"{}",
    "content-length not a number": lambda p: head(p, Content_Type=b"application/json", Content_Length=b"ten") + b"{}",
    "content-length twice": lambda p: (
        head(p, Content_Type=b"application/json", Content_Length=b"2")[:-2] + b"Content-Length: 3\r\n\r\n{}"
    ),
    "bad chunk size": lambda p: head(p, Content_Type=b"application/json", Transfer_Encoding=b"chunked") + b"zz\r\n",
    "chunked and content-length": lambda p: (
        head(p, Content_Type=b"application/json", Transfer_Encoding=b"chunked", Content_Length=b"2")
        + b"2\r\n{}\r\n0\r\n\r\n"
    ),
    "NUL in the path": lambda p: head(p, b"GET /api/v1/health\x00 HTTP/1.1"),
    "escaped NUL in the path": lambda p: head(p, b"GET /api/v1/%00 HTTP/1.1"),
    "invalid UTF-8 in the path": lambda p: head(p, b"GET /api/v1/\xff\xfe HTTP/1.1"),
    "escaped invalid UTF-8 in the path": lambda p: head(p, b"GET /api/v1/%ff%fe?x=%ff HTTP/1.1"),
    "very long path": lambda p: head(p, b"GET /api/v1/" + b"a" * 20_000 + b" HTTP/1.1"),
    "many headers": lambda p: head(p, b"GET /api/v1/health HTTP/1.1", **{f"X_{i}": b"1" for i in range(500)}),
    "not HTTP": lambda p: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100,
    "HTTP/0.9": lambda p: b"GET /api/v1/health\r\n\r\n",
    "no Host": lambda p: b"GET /api/v1/health HTTP/1.1\r\nConnection: close\r\n\r\n",
    "absolute URI to another host": lambda p: head(p, b"GET http://evil.example/api/v1/health HTTP/1.1"),
}


@pytest.mark.parametrize("make", RAW.values(), ids=RAW.keys())
async def test_malformed_http_never_gives_500(
    daemon: RunningDaemon, make: object, caplog: pytest.LogCaptureFixture
) -> None:
    data = make(daemon.port)  # type: ignore[operator]
    status = status_of(await raw_request(daemon.port, data))
    assert status is None or status < 500, status
    assert not crashes(caplog)
    assert (await daemon.http.get("/api/v1/health")).status_code == 200


async def test_a_body_shorter_than_its_content_length_then_a_hang_up(
    daemon: RunningDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    data = head(daemon.port, Content_Type=b"application/json", Content_Length=b"500") + b'{"code": "12345678"}'
    status = status_of(await raw_request(daemon.port, data, close_write=True))
    assert status is None or 400 <= status < 500
    # the daemon is fine and nothing was paired
    assert (await daemon.http.get("/api/v1/clients")).json() == {"clients": []}
    assert not crashes(caplog)


# --- deep JSON: every decode path answers 4xx in the one shape ---------------------------------------------------

DEEP = {
    "deep value under Any": b'{"credentials": {"k": ' + b"[" * 1_000 + b"]" * 1_000 + b"}}",
    "deep object under Any": b'{"credentials": ' + b'{"k": ' * 1_000 + b"1" + b"}" * 1_001,
    "very deep under Any": b'{"credentials": {"k": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
}


@pytest.mark.parametrize("body", DEEP.values(), ids=DEEP.keys())
async def test_deep_json_on_the_credentials_route_is_400(
    daemon: RunningDaemon, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    response = await daemon.http.put("/api/v1/psa/acme/credentials", content=body, headers=JSON_TYPE)
    error = assert_api_error(response, 400, "invalid_json")
    assert "deep" in error["message"] or "JSON" in error["message"]
    assert not crashes(caplog)
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a client error"


DEEP_FRAMES = {
    "unknown field before the tag": b'{"zz": ' + b"[" * 1_000 + b"]" * 1_000 + b', "type": "hello"}',
    "nested objects": b'{"zz": ' + b'{"a": ' * 1_000 + b"1" + b"}" * 1_000 + b', "type": "hello"}',
}


@pytest.mark.parametrize("frame", DEEP_FRAMES.values(), ids=DEEP_FRAMES.keys())
async def test_deep_json_as_the_websockets_first_frame_gets_the_error_frame_and_4400(
    daemon: RunningDaemon, frame: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{daemon.base_url}/api/v1/ws")
        await ws.send_str(frame.decode())
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        error = json.loads(msg.data)
        assert error["type"] == "error" and error["code"] == "invalid_message", error
        closing = await ws.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE, closing
        assert ws.close_code == 4400
        await ws.close()
    assert not crashes(caplog)
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a client error"


async def test_deep_json_after_hello_gets_an_error_frame_and_the_socket_stays_up(
    daemon: RunningDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{daemon.base_url}/api/v1/ws")
        await ws.send_json({"type": "hello", "install": "deep", "instance": "w1", "token": daemon.token})
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"
        await ws.send_str(DEEP_FRAMES["unknown field before the tag"].decode())
        while (message := await ws.receive_json(timeout=5))["type"] != "error":
            pass
        assert message["code"] == "invalid_message", message
        await ws.send_json({"type": "batch", "install": "deep", "events": []})
        while (message := await ws.receive_json(timeout=5))["type"] != "ack":
            assert message["type"] in ("config", "state"), message
        await ws.close()
    assert not crashes(caplog)


# --- small edges: the Server header, the IPv6 Host, the OpenAPI servers entry ------------------------------------


async def test_the_server_header_names_no_library_versions(daemon: RunningDaemon) -> None:
    for response in (
        await daemon.http.get("/api/v1/health"),
        await anonymous(daemon, "GET", "/api/v1/clients"),
        await daemon.http.get("/api/v1/nope"),
    ):
        assert response.headers["Server"] == "TicketClock", response.headers


async def test_an_ipv6_loopback_host_is_refused_because_the_daemon_never_listens_there(daemon: RunningDaemon) -> None:
    response = await daemon.http.get("/api/v1/health", headers={"Host": f"[::1]:{daemon.port}"})
    assert_api_error(response, 421, "host_forbidden")
    for host in (f"127.0.0.1:{daemon.port}", f"localhost:{daemon.port}"):
        assert (await daemon.http.get("/api/v1/health", headers={"Host": host})).status_code == 200


async def test_the_openapi_servers_entry_is_the_port_the_daemon_listens_on(daemon: RunningDaemon) -> None:
    assert daemon.port != 47600
    doc = (await daemon.http.get("/api/v1/openapi.json")).json()
    assert doc["servers"] == [{"url": f"http://127.0.0.1:{daemon.port}"}]
