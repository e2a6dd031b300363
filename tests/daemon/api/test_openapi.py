"""The served OpenAPI document describes exactly the routes the app serves."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.support import RunningDaemon

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
async def document(daemon: RunningDaemon) -> dict[str, Any]:
    response = await daemon.http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = response.json()
    return doc


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        assert path, f"a route with neither path nor formatter: {route}"
        if not path.startswith("/api/"):
            continue  # the web UI's pages and their files (daemon/api/web.py PAGE_ROUTES) are not the API
        routes.add((route.method.upper(), path))
    return routes


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items() if m in METHODS]


async def test_the_document_lists_exactly_the_apps_routes(daemon: RunningDaemon, document: dict[str, Any]) -> None:
    served = app_routes(daemon.app)
    assert ("GET", "/api/v1/health") in served  # the control: we did read the router
    assert documented(document) == served


async def test_the_core_routes_are_documented(document: dict[str, Any]) -> None:
    assert {("GET", "/api/v1/health"), ("POST", "/api/v1/pair"), ("GET", "/api/v1/openapi.json")} <= documented(
        document
    )


async def test_every_operation_has_a_summary_responses_and_a_unique_operation_id(document: dict[str, Any]) -> None:
    ids = []
    for method, path, op in operations(document):
        where = f"{method.upper()} {path}"
        assert isinstance(op.get("summary"), str) and op["summary"].strip(), where
        assert isinstance(op.get("responses"), dict) and op["responses"], where
        for status, response in op["responses"].items():
            assert status == "default" or re.fullmatch(r"[1-5][0-9][0-9]", status), where
            assert isinstance(response.get("description"), str), where
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", op["operationId"]), where
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids)), sorted(ids)


async def test_the_document_is_structurally_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert isinstance(document["info"]["title"], str) and document["info"]["title"]
    assert isinstance(document["info"]["version"], str) and document["info"]["version"]
    assert document["paths"]
    for path, item in document["paths"].items():
        assert path.startswith("/api/v1/"), path
        assert isinstance(item, dict) and item
        assert set(item) <= METHODS | {"summary", "description", "parameters", "servers"}, path
        templated = set(re.findall(r"{([^}/]+)}", path))
        for method, op in item.items():
            if method not in METHODS:
                continue
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, f"{method.upper()} {path}"
            for p in op.get("parameters", []):
                assert p["in"] in {"path", "query", "header", "cookie"}
                assert "schema" in p or "content" in p
                if p["in"] == "path":
                    assert p["required"] is True
            if "requestBody" in op:
                assert op["requestBody"]["content"], f"{method.upper()} {path}"


async def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    refs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs  # the control: the error schema at least is a reference
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"unresolved {ref}"
            node = node[part]


async def test_public_routes_are_marked_as_needing_no_token(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert document["paths"]["/api/v1/health"]["get"]["security"] == []
    assert document["paths"]["/api/v1/pair"]["post"]["security"] == []
    assert "security" not in document["paths"]["/api/v1/clients"]["get"]


async def test_every_operation_not_marked_public_needs_the_token(
    daemon: RunningDaemon, document: dict[str, Any]
) -> None:
    """Every operation without `security: []` refuses a request without a token."""
    async with httpx.AsyncClient(base_url=daemon.base_url) as anonymous:
        for method, path, op in operations(document):
            if op.get("security") == [] or path == "/api/v1/ws":  # the WebSocket authenticates in its hello
                continue
            concrete = re.sub(r"{[^}/]+}", "x", path)
            response = await anonymous.request(method.upper(), concrete, json={})
            assert response.status_code == 401, f"{method.upper()} {path}: {response.status_code}"


async def test_the_error_schema_is_the_one_error_shape(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["ErrorBody"]["required"] == ["error"]
    detail_ref = schemas["ErrorBody"]["properties"]["error"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[detail_ref]["properties"]) == {"code", "message", "details"}
    for method, path, op in operations(document):
        default = op["responses"]["default"]["content"]["application/json"]["schema"]
        assert default == {"$ref": "#/components/schemas/ErrorBody"}, f"{method.upper()} {path}"
