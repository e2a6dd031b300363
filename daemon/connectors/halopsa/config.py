"""HaloPSA credentials and per-instance options.

`Credentials` are the secret part (kept in the keyring); `Options` come from `InstanceConfig.options` in the config
file. Both forbid unknown keys, so a typo is an error that names the key.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from daemon.connectors.options import DEFAULT_TIMEOUT_S, ConnectorOptions, decode_options
from daemon.settings import InstanceConfig

__all__ = ["Credentials", "Options", "parse_options"]


class Credentials(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """An API application of type "Client ID and Secret (Services)" (Configuration > Integrations > Halo API)."""

    client_id: str
    client_secret: str
    tenant: str = ""
    """Hosted Halo: the tenant name, sent as `?tenant=` on the token request. Empty: self-hosted."""

    def __repr__(self) -> str:
        # Never let the secret reach a log line through a repr.
        return f"Credentials(client_id={self.client_id!r}, client_secret='***', tenant={self.tenant!r})"


class Options(ConnectorOptions, frozen=True, kw_only=True):
    """Numbers may also be given as strings ("0.5"): the config file's options table holds str, int or bool."""

    auth_url: str = ""
    """The Authorisation Server; empty: `{api_url}/auth`."""
    scope: str = "all"
    outcome: str = "Time Logged"
    """The action type (Halo "Outcome") name the time is logged as; empty: leave it to Halo."""
    outcome_id: Annotated[int, msgspec.Meta(ge=0)] = 0
    """The Outcome id, where the name is ambiguous on a tenant (0: send the name only)."""
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = DEFAULT_TIMEOUT_S
    """Per-request timeout; `connect_timeout_s` and `read_timeout_s` refine it."""
    token_margin_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 60.0
    """Fetch a new token this long before the current one expires (capped at half its lifetime)."""

    @property
    def request_timeout_s(self) -> float:
        return self.timeout_s


def parse_options(instance: InstanceConfig) -> Options:
    """Decode the instance's options, or raise OptionsError (a ValueError) naming the instance and the bad key."""
    return decode_options(Options, instance)
