"""Schema-driven fuzzing of the whole OpenAPI document against a real daemon subprocess: zero 5xx.

Every operation in the document the daemon serves gets bodies generated from its request schema (`from_schema`,
a small generator for the JSON Schema subset msgspec emits: valid shapes with edge values), arbitrary JSON, and
raw bytes; path and query parameters are arbitrary text. The WebSocket's first frame gets the same treatment.
Hypothesis runs derandomized (a fixed sequence, no example database) with its health checks off and a bounded
number of examples per operation, so the run is deterministic and short.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from daemon.api.routing import build_openapi
from daemon.app import ROUTES
from daemon.timers.events import Hello
from tests.support import daemon_output, spawn_daemon, stop_process

pytestmark = pytest.mark.slow

DOC = build_openapi(ROUTES)
OPERATIONS = [(method.upper(), path, op) for path, ops in DOC["paths"].items() for method, op in ops.items()]
EXAMPLES = 40
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

DEEP = st.integers(min_value=900, max_value=3000).map(lambda n: f"\x00deep{n}\x00")
"""A marker that `dumps` turns into arrays nested n deep (past msgspec's recursion limit)."""
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | DEEP,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
PARAM = st.text(max_size=40) | st.integers().map(str) | st.sampled_from(["0", "-1", "1e999", "%00", "../x", "null"])


def dumps(value: Any) -> bytes:
    text = json.dumps(value)
    return re.sub(r'"\\u0000deep(\d+)\\u0000"', lambda m: "[" * int(m[1]) + "]" * int(m[1]), text).encode()


HELLO_SCHEMA = msgspec.json.schema(Hello)
DEFINITIONS: dict[str, Any] = {**DOC["components"]["schemas"], **HELLO_SCHEMA.get("$defs", {})}
ODD_STRINGS = st.sampled_from(["", "\x00", "\ud800", "\u202e", "💥" * 3, "a" * 5000, "null", "0", "-1", "1e999"])


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for the JSON Schema subset msgspec writes ($ref, anyOf, enum, the six types and their bounds)."""
    if depth > 8:
        return JSON_VALUES
    if "$ref" in schema:
        target = DEFINITIONS[schema["$ref"].rsplit("/", 1)[-1]]
        return st.deferred(lambda: from_schema(target, depth + 1))
    if "anyOf" in schema:
        return st.one_of(*(from_schema(s, depth + 1) for s in schema["anyOf"]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(*(from_schema({**schema, "type": k}, depth) for k in kind))
    low, high = schema.get("minimum"), schema.get("maximum")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        edges = [v for v in (low, high, 0, -1, 2**53, 2**63) if v is not None]
        return st.integers(min_value=low, max_value=high) | st.sampled_from(edges)
    if kind == "number":
        return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True) | ODD_STRINGS
        lo, hi = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
        return st.text(min_size=lo, max_size=max(lo, hi)) | ODD_STRINGS
    if kind == "array":
        if "prefixItems" in schema:
            return st.tuples(*(from_schema(s, depth + 1) for s in schema["prefixItems"])).map(list)
        lo = schema.get("minItems", 0)
        items = from_schema(schema.get("items", {}), depth + 1)
        return st.lists(items, min_size=lo, max_size=max(lo, min(schema.get("maxItems", 3), 3)))
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fixed = {k: from_schema(v, depth + 1) for k, v in props.items() if k in required}
        optional = {k: from_schema(v, depth + 1) for k, v in props.items() if k not in required}
        shaped = st.fixed_dictionaries(fixed, optional=optional)
        extra = schema.get("additionalProperties", {} if not props else False)  # a bare "object": dict[str, Any]
        if isinstance(extra, dict):
            more = st.dictionaries(st.text(max_size=8), from_schema(extra, depth + 1), max_size=3)
            return st.tuples(shaped, more).map(lambda both: {**both[1], **both[0]})
        return shaped
    return JSON_VALUES


def with_deep_field_first(value: Any) -> Any:
    """An unknown field nested deep, before the known ones (a tagged union must skip it to find its tag)."""
    return {"zz": "\x00deep1500\x00", **value} if isinstance(value, dict) else value


def body_strategy(op: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    raw: st.SearchStrategy[bytes | None] = st.binary(max_size=200) | JSON_VALUES.map(dumps)
    if "requestBody" not in op:
        return st.none() | raw
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    shaped = from_schema(schema).map(dumps)
    return shaped | shaped | from_schema(schema).map(with_deep_field_first).map(dumps) | raw


class Fuzzed:
    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.token = (home / "data" / "token").read_text(encoding="utf-8").strip()
        self.http = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        self.seen: dict[str, set[int]] = {}
        self.ids: list[str] = []
        """Real timer and entry ids, so that path parameters sometimes name something that exists."""


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    home = tmp_path_factory.mktemp("fuzz")
    proc = spawn_daemon(home)
    target = Fuzzed(home, proc.port)
    try:
        served = target.http.get("/api/v1/openapi.json").json()
        assert served["paths"] == DOC["paths"], "the fuzzed document is the one the daemon serves"
        for task in ("Fuzz", "Fuzz stopped"):
            started = target.http.post("/api/v1/timers", json={"task": task})
            assert started.status_code in (200, 201), started.text
            target.ids.append(str(started.json()["id"]))
        stopped = target.http.post(f"/api/v1/timers/{target.ids[-1]}/stop")
        assert stopped.status_code == 200, stopped.text
        target.ids += [str(e["id"]) for e in stopped.json()["entries"]]
        yield target
    finally:
        target.http.close()
        stop_process(proc)
    log = (home / "logs" / "ticketclock.log").read_text(encoding="utf-8", errors="replace")
    assert "unhandled error" not in log and "Traceback" not in log, log[-4000:]
    assert "Traceback" not in daemon_output(home)[1], daemon_output(home)[1][-4000:]


def fill(path: str, values: list[str]) -> str:
    """The path with each {param} replaced by the next value, percent-encoded (empty: "x")."""
    parts = iter(values)
    return re.sub(r"\{[^}]+\}", lambda _: quote(next(parts, ""), safe="") or "x", path)


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_no_input_gives_a_5xx(fuzzed: Fuzzed, method: str, path: str, op: dict[str, Any]) -> None:
    names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
    path_params = [p for p in op.get("parameters", []) if p["in"] == "path"]

    @FUZZ
    @given(
        params=st.lists(st.sampled_from(fuzzed.ids) | PARAM, min_size=len(path_params), max_size=len(path_params)),
        query=st.fixed_dictionaries({}, optional={n: PARAM for n in names}),
        body=body_strategy(op),
    )
    def run(params: list[str], query: dict[str, str], body: bytes | None) -> None:
        if path == "/api/v1/ws":
            return  # the WebSocket: test_the_websockets_first_frame_never_gives_a_server_error
        url = fill(path, params)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        response = fuzzed.http.request(method, url, params=query, content=body, headers=headers)
        assert response.status_code < 500, (method, url, query, body, response.text)
        fuzzed.seen.setdefault(f"{method} {path}", set()).add(response.status_code)
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"code", "message", "details"}, response.text

    run()


FRAME_SCHEMAS = [HELLO_SCHEMA, {"$ref": "#/components/schemas/Batch"}]
FRAMES = (
    st.one_of(*(from_schema(s) for s in FRAME_SCHEMAS)).map(lambda v: dumps(v).decode())
    | st.one_of(*(from_schema(s) for s in FRAME_SCHEMAS)).map(with_deep_field_first).map(lambda v: dumps(v).decode())
    | JSON_VALUES.map(lambda v: dumps(v).decode())
    | st.text(max_size=200)
    | st.binary(max_size=200)
)


@FUZZ
@given(frame=FRAMES)
def test_the_websockets_first_frame_never_gives_a_server_error(fuzzed: Fuzzed, frame: str | bytes) -> None:
    with connect(f"ws://127.0.0.1:{fuzzed.port}/api/v1/ws", open_timeout=30, close_timeout=5) as ws:
        ws.send(frame)
        try:
            answer = ws.recv(timeout=30)
        except ConnectionClosed:
            answer = None
        if answer is not None:
            message = json.loads(answer)
            assert message["type"] in ("welcome", "error"), message
            if message["type"] == "error":
                assert message["code"] in ("invalid_message", "unauthorized"), message
        code = ws.close_code
    assert code in (None, 1000, 4400, 4401), code  # a clean close or ours; 1006/1011 would mean a crash


def test_the_fuzzing_reached_the_handlers(fuzzed: Fuzzed) -> None:
    """The control: requests got past decoding into the services, not only 4xx at the door."""
    assert len(fuzzed.seen) == len(OPERATIONS) - 1  # all but the WebSocket
    for op in ("POST /api/v1/tickets/recognize", "POST /api/v1/browser/events", "GET /api/v1/timers/{id}"):
        assert fuzzed.seen[op] & {200, 201}, (op, fuzzed.seen[op])
