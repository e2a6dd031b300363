"""What a msgspec validation error says, for people: the one reading of its messages.

msgspec says "Expected `int` <= 1440 - at `$.automations[0].minutes`". Config files, the rules and automation
editors and the API's 422s all show such errors; they read them here, so a field is named the same way everywhere
and the wording is plain: ("automations[0].minutes", "must be at most 1440").
"""

from __future__ import annotations

import re

import msgspec

__all__ = ["describe", "field_error", "join", "plain"]

_TYPES = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "nothing (null)",
}
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Expected `(?:int|float)` >= (\S+)$"), "must be at least {0}"),
    (re.compile(r"^Expected `(?:int|float)` > (\S+)$"), "must be more than {0}"),
    (re.compile(r"^Expected `(?:int|float)` <= (\S+)$"), "must be at most {0}"),
    (re.compile(r"^Expected `(?:int|float)` < (\S+)$"), "must be less than {0}"),
    (re.compile(r"^Expected `str` of length >= (\d+)$"), "must be at least {0} characters"),
    (re.compile(r"^Expected `str` of length <= (\d+)$"), "must be at most {0} characters"),
    (re.compile(r"^Expected `array` of length <= (\d+)$"), "must have at most {0} items"),
    (re.compile(r"^Expected `array` of length >= (\d+)$"), "must have at least {0} items"),
    (re.compile(r"^Invalid enum value (.+)$"), "{0} is not one of the allowed values"),
]
_EXPECTED = re.compile(r"^Expected `([^`]+)`, got `([^`]+)`$")


def join(a: str, b: str) -> str:
    """A field path: "scoped[0]" + "match" → "scoped[0].match"."""
    return f"{a}.{b}" if a and b else a or b


def plain(text: str) -> str:
    """msgspec's wording of one problem, in plain words (unknown wordings are kept as they are)."""
    for pattern, template in _RULES:
        m = pattern.match(text)
        if m:
            return template.format(*(_number(g) for g in m.groups()))
    m = _EXPECTED.match(text)
    if m:
        wanted = " or ".join(_TYPES.get(t.strip(), t.strip()) for t in m.group(1).split("|"))
        return f"must be {wanted}, not {_TYPES.get(m.group(2), m.group(2))}"
    return text


def _number(text: str) -> str:
    """msgspec prints a float bound as "0.0": say "0"."""
    return text.removesuffix(".0") if re.fullmatch(r"-?\d+\.0", text) else text


def field_error(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(the field's path, e.g. "timing.idle_s" or "" for the whole document; what is wrong with it)."""
    text, sep, at = str(exc).rpartition(" - at `")
    if not sep:  # at the top level msgspec names no place
        text, at = str(exc), "$`"
    field = at.rstrip("`").removeprefix("$").removeprefix(".")
    if text.startswith("Object contains unknown field"):
        return join(field, text.split("`")[1] if "`" in text else ""), "unknown key"
    if text.startswith("Object missing required field"):
        return join(field, text.split("`")[1] if "`" in text else ""), "required"
    return field, plain(text)


def describe(exc: msgspec.ValidationError, *, key: str = "key") -> str:
    """One sentence for a file's reader: "unknown key `idle` in `timing`", "`timing.idle_s`: must be at least 15".

    `key` names what the document's keys are ("option" for a connector's options)."""
    field, message = field_error(exc)
    parent, _, name = field.rpartition(".")
    if "[" in name and not parent:  # "instances[0]" is a place, not a key
        parent, name = name, ""
    inside = f" in `{parent}`" if parent else ""
    if message == "unknown key":
        return f"unknown {key} `{name}`{inside}"
    if message == "required":
        return f"missing required field `{name}`{inside}"
    return f"`{field}`: {message}" if field else message
