"""Autotask credentials (secret, from the keyring) and options (non-secret, from the config file).

Both forbid unknown fields, so a typo such as `timout_ms` is an error that names the key. The options are checked
when the config file loads (`daemon.connectors.options`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from daemon.connectors.options import ConnectorOptions, OptionsError, decode_options
from daemon.settings import InstanceConfig

__all__ = ["DEFAULT_API_URL", "Credentials", "Options", "OptionsError", "parse_options"]

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


class Options(ConnectorOptions, frozen=True, kw_only=True):
    """`InstanceConfig.options` for an Autotask instance (and `connect_timeout_s`, `read_timeout_s`)."""

    strict: ClassVar[bool] = True

    zone_url: str = ""
    """The zone's REST root, e.g. "https://webservices5.autotask.net/ATServicesRest/"; empty: discover it."""
    timeout_ms: Annotated[int, msgspec.Meta(ge=50, le=300_000)] = 30_000
    """Per request (connect, send, read); whole milliseconds, as config options once had to be."""
    max_concurrent: Annotated[int, msgspec.Meta(ge=1, le=3)] = 3
    """Requests in flight at once per endpoint (Autotask's thread limit is 3 per endpoint and integration)."""
    requests_per_hour: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 10_000
    """Our share of the database's 10,000 requests per rolling hour."""

    @property
    def request_timeout_s(self) -> float:
        return self.timeout_ms / 1000


def parse_options(instance: InstanceConfig) -> Options:
    """Decode the instance's options, or raise OptionsError naming the instance and the bad key."""
    return decode_options(Options, instance)
