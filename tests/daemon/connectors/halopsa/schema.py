"""Validate what we send to HaloPSA against the vendor's own OpenAPI extract (tests/contracts/halopsa.openapi.json).

OpenAPI 3.0 schemas are turned into JSON Schema: each `#/components/schemas/X` (or swagger 2 `#/definitions/X`)
becomes a resource `urn:psa:X` in a `referencing` registry, and `nullable: true` admits `null`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACT = Path(__file__).resolve().parents[3] / "contracts" / "halopsa.openapi.json"
_PREFIXES = ("#/components/schemas/", "#/definitions/")


@functools.cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CONTRACT.read_text(encoding="utf-8"))
    return data


def _schemas() -> dict[str, Any]:
    s = spec()
    found: dict[str, Any] = s.get("components", {}).get("schemas") or s.get("definitions") or {}
    return found


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 / swagger 2 schema → JSON Schema 2020-12 (refs into the registry, nullable → null allowed)."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k not in ("nullable", "example", "x-nullable")}
    ref = out.get("$ref")
    if isinstance(ref, str):
        for prefix in _PREFIXES:
            if ref.startswith(prefix):
                out["$ref"] = "urn:psa:" + ref.removeprefix(prefix)
    if node.get("nullable") or node.get("x-nullable"):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        elif "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def registry() -> Registry[Any]:
    resources = [
        (f"urn:psa:{name}", Resource.from_contents(to_json_schema(schema), default_specification=DRAFT202012))
        for name, schema in _schemas().items()
    ]
    return Registry().with_resources(resources)


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(to_json_schema(schema), registry=registry())


def request_schema(path: str, method: str) -> dict[str, Any]:
    """The JSON request body schema of an operation, e.g. ("/Actions", "post")."""
    op = spec()["paths"][path][method.lower()]
    schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
    return schema


def properties(name: str) -> set[str]:
    return set(_schemas()[name].get("properties", {}))


def check_body(path: str, method: str, body: Any, *, allowed_extra: frozenset[str] = frozenset()) -> None:
    """Raise if `body` does not validate, or if an item uses a key the vendor schema does not define.

    `allowed_extra` names the documented exceptions (keys the vendor honours but its schema lacks); they are
    removed before validating, since Halo's schemas say `additionalProperties: false`.
    """
    schema = request_schema(path, method)
    ref = schema.get("items", schema).get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    known = properties(name)
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, dict):
            unknown = set(item) - known - allowed_extra
            assert not unknown, f"keys not in the {name} schema: {sorted(unknown)}"
    if isinstance(body, list):
        body = [{k: v for k, v in i.items() if k not in allowed_extra} if isinstance(i, dict) else i for i in body]
    validator(schema).validate(body)


def check_response(name: str, body: Any, *, allowed_extra: frozenset[str] = frozenset()) -> None:
    """Raise if a (sandbox) response object does not fit the vendor schema `name`, less the allowed extra keys."""
    validator({"$ref": f"#/components/schemas/{name}"}).validate(
        {k: v for k, v in body.items() if k not in allowed_extra}
    )
