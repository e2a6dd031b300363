"""Validate request bodies against a vendor API extract in tests/contracts/ (an independent payload check).

`#/definitions/X` and `#/components/schemas/X` refs become `#/$defs/X`, `nullable: true` becomes a null-allowing
type, and every key of the body must be a property the vendor's schema declares (for Autotask, case-insensitively:
its swagger says `TicketID`, the wire says `ticketID`). Keys are renamed to the schema's spelling before validating.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

__all__ = ["check_body", "load_defs"]

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts"

OVERRIDES: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    # Autotask's swagger types a filter's `value` as its .NET binder model `ValueItem` (an object); on the wire it is
    # a plain JSON scalar (NOTES.md §2.3: `{"op":"eq","field":"ticketID","value":54321}`). Allow a scalar there.
    "autotask": {"Filter": {"value": {"type": ["string", "integer", "number", "boolean", "null"]}}},
}


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items() if k != "nullable"}
    ref = out.get("$ref")
    if isinstance(ref, str):
        out["$ref"] = "#/$defs/" + ref.rsplit("/", 1)[1]
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif "$ref" in out:
            out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
    return out


@cache
def load_defs(vendor: str) -> dict[str, Any]:
    """The vendor's schemas, converted, keyed by name."""
    spec = json.loads((CONTRACTS / f"{vendor}.openapi.json").read_text(encoding="utf-8"))
    raw = spec.get("definitions") or spec["components"]["schemas"]
    defs: dict[str, Any] = {name: _convert(schema) for name, schema in raw.items()}
    for name, props in OVERRIDES.get(vendor, {}).items():
        defs[name]["properties"].update(props)
    return defs


def _resolve(defs: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _normalise(defs: dict[str, Any], schema: dict[str, Any], value: Any, where: str, problems: list[str]) -> Any:
    schema = _resolve(defs, schema)
    if isinstance(value, list) and "items" in schema:
        return [_normalise(defs, schema["items"], v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, dict) or "properties" not in schema:
        return value
    props: dict[str, Any] = schema["properties"]
    by_lower = {name.lower(): name for name in props}
    out = {}
    for key, item in value.items():
        name = by_lower.get(key.lower())
        if name is None:
            problems.append(f"{where}.{key}: not a property of the vendor schema")
            continue
        out[name] = _normalise(defs, props[name], item, f"{where}.{name}", problems)
    return out


def check_body(vendor: str, schema_name: str, body: Any) -> None:
    """Raise AssertionError naming every key the vendor does not know and every schema violation."""
    defs = load_defs(vendor)
    problems: list[str] = []
    normalised = _normalise(defs, {"$ref": f"#/$defs/{schema_name}"}, body, "$", problems)
    root = {"$defs": defs, "$ref": f"#/$defs/{schema_name}"}
    validator = jsonschema.Draft202012Validator(root)
    problems += [
        f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in validator.iter_errors(normalised)
    ]
    assert not problems, f"{schema_name} body does not match the {vendor} contract: {problems}"
