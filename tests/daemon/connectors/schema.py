"""Check what we send (and what the sandboxes answer) against the vendors' own API extracts in tests/contracts/.

One helper for the three PSAs. The extracts are OpenAPI 3.0 (ConnectWise, HaloPSA) or swagger 2 (Autotask); they
become one JSON Schema 2020-12 document per vendor: `#/components/schemas/X` and `#/definitions/X` refs point into
`$defs`, and `nullable: true` admits `null` (and adds it to an `enum`).

The vendor schemas rarely say `additionalProperties: false`, so `validate_body` separately checks that every key we
send (recursively) is a property the vendor's schema declares. Per-vendor normalisation:

- Autotask matches keys case-insensitively (its swagger says `TicketID`, the wire says `ticketID`): keys are
  renamed to the schema's spelling before validating. Its swagger types a filter's `value` as the .NET binder model
  `ValueItem` (an object); on the wire it is a plain JSON scalar, so a scalar is allowed there.
- HaloPSA takes a JSON array of actions; a list body is checked item by item. `DOCUMENTED_EXTRA` names the keys Halo
  honours but its schema lacks (removed before validating, since Halo's schemas forbid additional properties).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Literal

import jsonschema

__all__ = ["DOCUMENTED_EXTRA", "properties", "schema_errors", "unknown_keys", "validate_body"]

Kind = Literal["connectwise", "autotask", "halopsa"]

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
_PREFIXES = ("#/components/schemas/", "#/definitions/")

DOCUMENTED_EXTRA: dict[str, dict[str, frozenset[str]]] = {
    # `who`: the agent user name Halo logs the action as (NOTES §3.2); not in the vendor's `Actions` schema.
    "halopsa": {"Actions": frozenset({"who"})},
}
_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "autotask": {"Filter": {"value": {"type": ["string", "integer", "number", "boolean", "null"]}}},
}
_CASE_INSENSITIVE = frozenset({"autotask"})


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 / swagger 2 schema node → JSON Schema 2020-12."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items() if k not in ("nullable", "x-nullable", "example")}
    ref = out.get("$ref")
    if isinstance(ref, str):
        for prefix in _PREFIXES:
            if ref.startswith(prefix):
                out["$ref"] = "#/$defs/" + ref.removeprefix(prefix)
    if node.get("nullable") is True or node.get("x-nullable") is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif kind is None:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _defs(kind: str) -> dict[str, Any]:
    spec = json.loads((CONTRACTS / f"{kind}.openapi.json").read_text(encoding="utf-8"))
    raw = spec.get("definitions") or spec["components"]["schemas"]
    defs: dict[str, Any] = {name: _convert(schema) for name, schema in raw.items()}
    for name, props in _OVERRIDES.get(kind, {}).items():
        defs[name]["properties"].update(props)
    return defs


@functools.cache
def _validator(kind: str, name: str) -> jsonschema.Draft202012Validator:
    defs = _defs(kind)
    if name not in defs:
        raise KeyError(f"{kind} contract has no schema {name!r}")
    return jsonschema.Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"})


def properties(kind: str, name: str) -> set[str]:
    """The property names the vendor's schema `name` declares."""
    return set(_defs(kind)[name].get("properties", {}))


def _resolve(kind: str, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Follow refs (and the non-null branch of a nullable anyOf); returns (def name or "", schema)."""
    name = ""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = _defs(kind)[name]
        elif "anyOf" in schema:
            schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        else:
            return name, schema


def _normalise(kind: str, schema: dict[str, Any], value: Any, where: str, unknown: list[str]) -> Any:
    """Rename keys to the schema's spelling (Autotask), drop documented extras, collect keys the schema lacks."""
    name, schema = _resolve(kind, schema)
    if isinstance(value, list) and "items" in schema:
        return [_normalise(kind, schema["items"], v, f"{where}[{i}]", unknown) for i, v in enumerate(value)]
    if not isinstance(value, dict) or "properties" not in schema:
        return value
    props: dict[str, Any] = schema["properties"]
    extra = DOCUMENTED_EXTRA.get(kind, {}).get(name, frozenset())
    spelling = {p.lower(): p for p in props} if kind in _CASE_INSENSITIVE else {p: p for p in props}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in extra:
            continue
        prop = spelling.get(key.lower() if kind in _CASE_INSENSITIVE else key)
        if prop is None:
            unknown.append(f"{where}.{key}")
            out[key] = item
            continue
        out[prop] = _normalise(kind, props[prop], item, f"{where}.{prop}", unknown)
    return out


def unknown_keys(kind: str, name: str, body: Any) -> list[str]:
    """Paths of keys in `body` that schema `name` (recursively) does not declare, documented extras aside."""
    unknown: list[str] = []
    for i, item in enumerate(body if isinstance(body, list) else [body]):
        _normalise(kind, {"$ref": f"#/$defs/{name}"}, item, f"$[{i}]" if isinstance(body, list) else "$", unknown)
    return unknown


def schema_errors(kind: str, name: str, value: Any, *, allowed_extra: frozenset[str] = frozenset()) -> list[str]:
    """JSON Schema violations of `value` as a `name` (keys renamed for Autotask; `allowed_extra` top-level keys and
    the documented extras removed first). Unknown keys are not reported here unless the schema forbids them."""
    if isinstance(value, dict) and allowed_extra:
        value = {k: v for k, v in value.items() if k not in allowed_extra}
    normalised = _normalise(kind, {"$ref": f"#/$defs/{name}"}, value, "$", [])
    errors = _validator(kind, name).iter_errors(normalised)
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in errors]


def validate_body(kind: str, schema_name: str, body: Any) -> None:
    """Raise AssertionError naming every key the vendor's schema lacks and every schema violation.

    A list body (Halo's `POST /api/Actions`) is checked item by item against `schema_name`.
    """
    items = body if isinstance(body, list) else [body]
    problems = unknown_keys(kind, schema_name, body)
    for i, item in enumerate(items):
        at = f"[{i}] " if isinstance(body, list) else ""
        problems += [at + p for p in schema_errors(kind, schema_name, item)]
    assert not problems, f"{schema_name} body does not match the {kind} contract: {problems}"
