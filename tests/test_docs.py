"""Every setting is documented in the README (the OpenAPI test covers the routes)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from daemon.settings import Config

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _keys(struct: type, prefix: str = "") -> list[str]:
    keys = []
    for field in msgspec.structs.fields(struct):
        name = f"{prefix}{field.name}"
        default = field.default if field.default is not msgspec.NODEFAULT else None
        if isinstance(default, msgspec.Struct) and field.name != "instances":
            keys += _keys(type(default), f"{name}.")
        else:
            keys.append(name)
    return keys


def test_every_setting_is_in_the_readme() -> None:
    keys = _keys(Config)
    assert "timing.grace_s" in keys and "outbox.backoff_s" in keys  # the walk reaches nested tables
    missing = [k for k in keys if f"`{k}`" not in README and f"`{k}` (" not in README]
    assert not missing, f"settings missing from README.md: {missing}"
