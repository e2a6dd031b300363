"""Packaging metadata in the form the build tools keep accepting (PEP 639: an SPDX license expression)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_license_is_an_spdx_expression_and_the_backend_understands_it() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    # The table form ({ text = "MIT" }) is deprecated by setuptools, and stops building in February 2027.
    assert project["project"]["license"] == "MIT"
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))
    # setuptools reads a string license (PEP 639) from version 77 on.
    requires = project["build-system"]["requires"]
    setuptools = next(r for r in requires if r.startswith("setuptools"))
    found = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert found is not None and int(found.group(1)) >= 77, setuptools
