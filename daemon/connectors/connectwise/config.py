"""What a ConnectWise PSA connection needs: secret credentials and non-secret options.

`Credentials` live in the OS keyring; `Options` come from the instance's `options` table in the config file. Both
forbid unknown fields, so a typo is an error that names the key.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from daemon.connectors.options import DEFAULT_TIMEOUT_S, ConnectorOptions, decode_options
from daemon.settings import InstanceConfig

__all__ = ["Credentials", "Options", "parse_options"]

API_VERSION = "2025.8"
"""The API version pinned with the Accept header (the version of the contract extract in tests/contracts)."""


class Credentials(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """API keys of a ConnectWise member, plus the integration's clientId (developer.connectwise.com)."""

    company: str
    """The company id typed at the ConnectWise login screen."""
    public_key: str
    private_key: str
    client_id: str

    def __repr__(self) -> str:
        return f"Credentials(company={self.company!r}, public_key=***, private_key=***, client_id=***)"

    __str__ = __repr__


class Options(ConnectorOptions, frozen=True, kw_only=True):
    member: Annotated[str, msgspec.Meta(min_length=1, max_length=15)]
    """Identifier (login) of the member time is logged as when an entry names nobody; normally the owner of the
    API keys. ConnectWise has no "who am I" call for API keys, so the connection names its member."""
    codebase: str = ""
    """Pin the codebase (e.g. "v4_6_release/") instead of asking /login/companyinfo/{company}."""
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = DEFAULT_TIMEOUT_S
    """Per-request timeout; `connect_timeout_s` and `read_timeout_s` refine it."""

    @property
    def request_timeout_s(self) -> float:
        return self.timeout_s


def parse_options(instance: InstanceConfig) -> Options:
    """Decode the instance's options, or raise OptionsError (a ValueError) naming the instance and the bad key."""
    return decode_options(Options, instance)
