"""The error catalogue (daemon/errors.py) is complete: every code raised anywhere has a status and a text, and the
extension's ERROR_TEXT table says the same thing for each of them."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from daemon.api.errors import _ENGINE_CODES
from daemon.errors import CATALOGUE, HTTP_STATUS_CODES, SERVER_ONLY, status_of, user_text

ROOT = Path(__file__).resolve().parents[2]
DAEMON = ROOT / "daemon"

CODE_FIRST = {"EntryError", "PsaError", "PairingError", "ws_error", "of"}
"""Calls whose first argument is a code (the status comes from the catalogue)."""
STATUS_FIRST = {"ApiError", "ApiClientError"}
"""Calls whose arguments are (status, code, ...): the status must be the catalogue's."""


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def raised_codes() -> list[tuple[str, str, int | None]]:
    """(where, code, status or None) for every error code written in daemon/ (the sandboxes speak vendors' errors)."""
    found: list[tuple[str, str, int | None]] = []
    for path in sorted(DAEMON.rglob("*.py")):
        if "sandbox" in path.relative_to(DAEMON).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name, args = _name(node.func), node.args
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            literal = [a.value if isinstance(a, ast.Constant) else None for a in args]
            if name in STATUS_FIRST and len(literal) >= 2 and isinstance(literal[1], str):
                status = literal[0] if isinstance(literal[0], int) else None
                found.append((where, literal[1], status))
            elif name in CODE_FIRST and literal and isinstance(literal[0], str):
                found.append((where, literal[0], None))
            elif name == "_refuse" and len(literal) >= 2 and isinstance(literal[1], str):
                found.append((where, literal[1], None))
            for kw in node.keywords:  # WsError(code="...")
                if kw.arg == "code" and isinstance(kw.value, ast.Constant) and name == "WsError":
                    found.append((where, kw.value.value, None))
    return found


def test_the_walk_finds_the_codes_it_is_meant_to_check() -> None:
    codes = {code for _, code, _ in raised_codes()}
    assert {"invalid_query", "not_editable", "no_credentials", "pairing_code_invalid", "seq_gap"} <= codes
    assert {"invalid_message", "hello_timeout", "daemon_unproven", "no_answer"} <= codes


def test_every_code_raised_is_catalogued_with_its_status() -> None:
    missing = [f"{where}: {code}" for where, code, _ in raised_codes() if code not in CATALOGUE]
    assert missing == [], "add these codes to daemon/errors.py (status and user text)"
    wrong = [  # a client-made code (status 0) carries whatever status the client saw
        f"{where}: {code} raised with {status}, catalogued {status_of(code)}"
        for where, code, status in raised_codes()
        if status is not None and status_of(code) != 0 and status != status_of(code)
    ]
    assert wrong == []


def test_engine_and_http_refusals_map_to_catalogued_codes() -> None:
    assert set(_ENGINE_CODES.values()) <= set(CATALOGUE)
    for status, code in HTTP_STATUS_CODES.items():
        assert status_of(code) == status, code


def test_every_code_has_a_user_text() -> None:
    assert [code for code, kind in CATALOGUE.items() if not kind.text.strip()] == []
    assert user_text("no_credentials").startswith("No credentials")
    assert user_text("no_such_code") == ""


def test_the_extension_error_table_says_what_the_catalogue_says() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the extension's own tests need it too)")
    script = "import { ERROR_TEXT } from './extension/lib/api.js'; console.log(JSON.stringify(ERROR_TEXT));"
    out = subprocess.run(
        [node, "--input-type=module", "-e", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    table = json.loads(out.stdout)
    texts = {code: kind.text for code, kind in CATALOGUE.items() if code not in SERVER_ONLY}
    assert sorted(set(texts) - set(table)) == [], "extension/lib/api.js ERROR_TEXT lacks these codes"
    assert sorted(set(table) - set(texts)) == [], "ERROR_TEXT has codes daemon/errors.py does not know"
    assert {c: t for c, t in table.items() if texts[c] != t} == {}, "ERROR_TEXT differs from daemon/errors.py"
