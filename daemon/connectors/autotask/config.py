"""Autotask credentials (secret, from the keyring) and options (non-secret, from the config file).

Both forbid unknown fields, so a typo such as `timout_ms` is an error that names the key.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["DEFAULT_API_URL", "Credentials", "Options", "OptionsError", "decode_options"]

DEFAULT_API_URL = "https://webservices.autotask.net"
"""Where zone discovery starts when the instance names no `api_url`."""


class Credentials(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """An Autotask API-only user: the three headers sent on every call."""

    integration_code: str
    """The tracking identifier (header `ApiIntegrationCode`)."""
    username: str
    """The API user's user name (header `UserName`); also the zone-discovery key."""
    secret: str
    """The API user's secret (header `Secret`)."""

    def __repr__(self) -> str:
        return f"Credentials(integration_code='***', username={self.username!r}, secret='***')"


class Options(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """`InstanceConfig.options` for an Autotask instance."""

    zone_url: str = ""
    """The zone's REST root, e.g. "https://webservices5.autotask.net/ATServicesRest/"; empty: discover it."""
    timeout_ms: Annotated[int, msgspec.Meta(ge=50, le=300_000)] = 30_000
    """Per request (connect, send, read); config option values are whole numbers, hence milliseconds."""
    max_concurrent: Annotated[int, msgspec.Meta(ge=1, le=3)] = 3
    """Requests in flight at once per endpoint (Autotask's thread limit is 3 per endpoint and integration)."""
    requests_per_hour: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 10_000
    """Our share of the database's 10,000 requests per rolling hour."""


class OptionsError(ValueError):
    """The instance's options cannot be used; the message names the key."""


def decode_options(raw: dict[str, str | int | bool]) -> Options:
    try:
        return msgspec.convert(raw, Options)
    except msgspec.ValidationError as exc:
        msg = str(exc).replace("Object contains unknown field", "unknown option").replace(" - at `$`", "")
        raise OptionsError(f"autotask options: {msg.replace('$.', '')}") from None
