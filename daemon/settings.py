"""Settings: the config file's shape and the resolved paths.

The config file is TOML. Every table forbids unknown keys, so a typo is an error that names the key.
Reading files, argv and the environment happens only in `daemon.cli`; this module only decodes.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

import msgspec

__all__ = [
    "DEFAULT_PORT",
    "Config",
    "ConfigError",
    "InstanceConfig",
    "OutboxConfig",
    "RoundingConfig",
    "Settings",
    "TimingConfig",
    "parse_config",
]

DEFAULT_PORT = 47600

PsaKind = Literal["connectwise", "autotask", "halopsa"]
Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
PosInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and the key."""


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class TimingConfig(_Strict, frozen=True):
    mode: Literal["focus", "open"] = "focus"
    idle_s: Annotated[int, msgspec.Meta(ge=15, le=86_400)] = 300
    grace_s: Annotated[int, msgspec.Meta(ge=0, le=3600)] = 30
    merge_s: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 600
    heartbeat_s: Annotated[int, msgspec.Meta(ge=5, le=300)] = 20
    long_run_s: Annotated[int, msgspec.Meta(ge=60, le=7 * 86_400)] = 36_000
    min_seconds: NonNegInt = 60
    manual_idle: bool = True
    """Whether idleness pauses manual timers too."""


class RoundingConfig(_Strict, frozen=True):
    increment_s: NonNegInt = 0
    direction: Literal["up", "nearest", "down"] = "up"
    minimum_billed_s: NonNegInt = 0


class InstanceConfig(_Strict, frozen=True):
    name: Name
    kind: PsaKind
    origins: list[str] = []
    """Web origins of the PSA's agent UI, e.g. "https://na.myconnectwise.net"."""
    api_url: str = ""
    """Base of the PSA's API (ConnectWise site, Autotask zone, Halo resource server); empty: derived."""
    options: dict[str, str | int | float | bool] = {}
    """Connector-specific, non-secret options, checked by the connector's own config struct when the file loads
    (`daemon.connectors.options.check_config`)."""


class OutboxConfig(_Strict, frozen=True):
    backoff_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 2.0
    """First retry delay; it doubles per attempt (with jitter) up to max_backoff_s."""
    max_backoff_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 900.0
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    """After this many failed attempts (429/5xx/network), the entry is marked failed."""


class LimitsConfig(_Strict, frozen=True):
    read_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 10.0
    """A client has this long to send a request's head, and again its body; slower peers are dropped."""
    max_unauthenticated: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 64
    """Open connections that have not shown a token; beyond this the oldest of them is dropped."""


class PairingConfig(_Strict, frozen=True):
    managed_secret: Annotated[str, msgspec.Meta(pattern=r"^(|[\x21-\x7e]{24,256})$")] = ""
    """Pre-approved pairing for a managed (force-installed) extension: the same secret in the browser's policy lets
    it pair without a code, after this daemon proved it holds the secret. Empty: off. At least 24 printable
    characters; see docs/security.md "Managed pairing" for who can read a policy."""


class Config(_Strict, frozen=True):
    port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = DEFAULT_PORT
    bind: str = "127.0.0.1"
    approval: Literal["none", "one", "two"] = "none"
    billable_default: Literal["agreement", "yes", "no"] = "agreement"
    credentials: Literal["auto", "keyring", "file"] = "auto"
    """Where PSA credentials are kept: the OS keyring when one works (auto), or a user-only file."""
    timezone: str = ""
    """IANA zone of the technician (Autotask's dateWorked, midnight splits); empty: this machine's zone."""
    timing: TimingConfig = TimingConfig()
    outbox: OutboxConfig = OutboxConfig()
    rounding: RoundingConfig = RoundingConfig()
    limits: LimitsConfig = LimitsConfig()
    pairing: PairingConfig = PairingConfig()
    instances: list[InstanceConfig] = []
    extension_origins: list[str] = []
    """Extra extension origins allowed besides paired ones (chrome-extension://ID)."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Everything create_app needs: the decoded config and where things live."""

    config: Config
    config_file: Path
    data_dir: Path
    log_dir: Path
    port: int
    token_path: Path | None = None
    """Where the CLI token lives; default: in the data dir."""

    @property
    def db_path(self) -> Path:
        return self.data_dir / "ticketclock.db"

    @property
    def token_file(self) -> Path:
        return self.token_path if self.token_path is not None else self.data_dir / "token"


def parse_config(text: str, source: Path | str = "<config>") -> Config:
    """Decode TOML text into a Config, or raise ConfigError naming the file and the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc)}") from None
    names = [i.name for i in config.instances]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: PSA instance name used twice: {', '.join(dupes)}")
    return config


def _explain(exc: msgspec.ValidationError) -> str:
    msg = str(exc)
    # msgspec says "Object contains unknown field `prot` - at `$.timing`"
    if "unknown field" in msg:
        return msg.replace("Object contains unknown field", "unknown key").replace("$.", "").replace(" - at `$`", "")
    return msg.replace("$.", "")
