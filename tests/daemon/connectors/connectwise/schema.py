"""Validate request bodies against the vendor's ConnectWise OpenAPI extract (tests/contracts).

OpenAPI 3.0 is not quite JSON Schema: `#/components/schemas/X` refs are mapped into a `referencing` registry and
`nullable: true` becomes a null-allowing type. The vendor schemas never set `additionalProperties: false`, so
`unknown_keys` separately checks that every key we send exists in the schema's properties (recursively).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACT = Path(__file__).resolve().parents[3] / "contracts" / "connectwise.openapi.json"
_REF_PREFIX = "#/components/schemas/"
_URN = "urn:connectwise:schemas:"


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _convert(value) for key, value in node.items() if key != "nullable"}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        out["$ref"] = _URN + ref.removeprefix(_REF_PREFIX)
    if node.get("nullable") is True:
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "$ref" in out:
            out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
    return out


@functools.cache
def _schemas() -> dict[str, Any]:
    spec = json.loads(CONTRACT.read_text())
    return {name: _convert(schema) for name, schema in spec["components"]["schemas"].items()}


@functools.cache
def registry() -> Registry:
    resources = [(_URN + name, Resource.from_contents(schema, DRAFT202012)) for name, schema in _schemas().items()]
    return Registry().with_resources(resources)


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": _URN + name}, registry=registry())


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = _schemas()[schema["$ref"].removeprefix(_URN)]
        elif "anyOf" in schema:
            schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        else:
            return schema


def unknown_keys(body: Any, name: str) -> list[str]:
    """Paths of keys in `body` that schema `name` does not define (nested objects and arrays included)."""
    return _unknown(body, {"$ref": _URN + name}, "$")


def _unknown(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    schema = _resolve(schema)
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found.extend(_unknown(item, schema["properties"][key], f"{path}.{key}"))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found.extend(_unknown(item, schema["items"], f"{path}[{index}]"))
    return found


def check_body(body: Any, name: str) -> None:
    """Raise AssertionError if `body` is not a valid `name` or sends a key the vendor schema lacks."""
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in validator(name).iter_errors(body)]
    assert not errors, f"{name} body fails the vendor schema: {errors}"
    extra = unknown_keys(body, name)
    assert not extra, f"{name} body sends keys the vendor schema does not define: {extra}"
