"""The subset of ConnectWise's `conditions` query grammar the sandbox understands.

    conditions := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := factor ("and" factor)*
    factor     := "(" or_expr ")" | path op value
    path       := name ("/" name)*            e.g. member/identifier
    op         := = | != | < | <= | > | >= | contains | like | not contains | not like
    value      := "double quoted" | 'single quoted' | integer | decimal | [2026-01-01T00:00:00Z] | true | false | null

Keywords are case-insensitive; string comparisons are too (SQL Server's default collation). `like` takes `*` as
the wildcard. Conditions are evaluated against the JSON the API returns, so a path names the vendor's fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

__all__ = ["ConditionsError", "Predicate", "parse_conditions"]

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>\() | (?P<rp>\)) |
        (?P<str>"[^"]*"|'[^']*') |
        (?P<date>\[[^\]]*\]) |
        (?P<op>!=|<=|>=|=|<|>) |
        (?P<num>-?[0-9]+(?:\.[0-9]+)?) |
        (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
_MISSING = object()


class ConditionsError(ValueError):
    pass


def parse_conditions(text: str) -> Predicate:
    tokens = _tokenize(text)
    parser = _Parser(tokens)
    predicate = parser.or_expr()
    if parser.pos != len(tokens):
        raise ConditionsError(f"unexpected {tokens[parser.pos][1]!r}")
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        found = _TOKEN.match(text, pos)
        if found is None or found.lastgroup is None:
            raise ConditionsError(f"cannot read the conditions at {text[pos : pos + 20]!r}")
        tokens.append((found.lastgroup, found.group(found.lastgroup)))
        pos = found.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek_word(self) -> str:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "word":
            return self.tokens[self.pos][1].lower()
        return ""

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ConditionsError("the conditions end too early")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek_word() == "or":
            self.pos += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.factor()]
        while self.peek_word() == "and":
            self.pos += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def factor(self) -> Predicate:
        kind, text = self.take()
        if kind == "lp":
            inner = self.or_expr()
            if self.take()[0] != "rp":
                raise ConditionsError("missing ')'")
            return inner
        if kind != "word":
            raise ConditionsError(f"expected a field name, got {text!r}")
        path = text.split("/")
        kind, op = self.take()
        negate = False
        if kind == "word" and op.lower() == "not":
            negate = True
            kind, op = self.take()
        if kind == "word" and op.lower() in ("contains", "like"):
            op = op.lower()
        elif kind != "op" or negate:
            raise ConditionsError(f"unknown operator {op!r}")
        value = self.value()
        test = _compare(op, value)

        def predicate(row: dict[str, Any]) -> bool:
            result = test(_lookup(row, path))
            return not result if negate else result

        return predicate

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1]
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "date":
            return _parse_date(text[1:-1])
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        raise ConditionsError(f"expected a value, got {text!r}")


def _lookup(row: Any, path: list[str]) -> Any:
    for name in path:
        if not isinstance(row, dict):
            return _MISSING
        row = row.get(name, _MISSING)
    return row


def _parse_date(text: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ConditionsError(f"not a date: [{text}]") from None


def _compare(op: str, value: Any) -> Callable[[Any], bool]:
    def test(field: Any) -> bool:
        if field is _MISSING:
            field = None
        if op in ("contains", "like"):
            if not isinstance(field, str) or not isinstance(value, str):
                return False
            if op == "contains":
                return value.lower() in field.lower()
            return fnmatchcase(field.lower(), value.lower().replace("%", "*"))
        left, right = field, value
        if isinstance(right, datetime) and isinstance(left, str):
            try:
                left = _parse_date(left)
            except ConditionsError:
                return False
        if isinstance(left, str) and isinstance(right, str):
            left, right = left.lower(), right.lower()
        if op == "=":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (left, right))
        if not numbers and (type(left) is not type(right) or left is None):
            return False
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)

    return test
