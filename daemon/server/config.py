"""The team server's settings: read from the environment (twelve-factor: one process image, its settings given by
whoever runs it), with the command line's `--database` and `--bind` over them.

    TICKETCLOCK_DATABASE_URL   postgresql://user:password@host:5432/ticketclock     (required)
    TICKETCLOCK_BIND           host:port to listen on (default 127.0.0.1:8470; behind the TLS reverse proxy)
    TICKETCLOCK_PUBLIC_URL     the address people and daemons use, e.g. https://time.example.com (default: the bind
                               address over http); its origin is the only one allowed to send cookies' unsafe
                               requests, and cookies are Secure when it is https
    TICKETCLOCK_DB_POOL        connections per process (default 10)
    TICKETCLOCK_LOG_FORMAT     json (default: one JSON object per line on stderr) or text
    TICKETCLOCK_SECRET_KEY_FILE  a file holding the Fernet key (32 url-safe base64 bytes) that encrypts the PSA
                               credentials at rest; read once at start. Else TICKETCLOCK_SECRET_KEY holds the key
                               itself. Without either the server stores no credentials, and refuses to start when the
                               database already holds some (docs/team/posting.md)
    TICKETCLOCK_POSTING        on (default) or off: whether this process posts approved entries to the PSAs
    TICKETCLOCK_OUTBOX_LEASE_S seconds a process holds an entry it is posting (default 300; longer than the
                               connectors' request timeouts): after that another process looks it up and posts it
    TICKETCLOCK_TIMEZONE       IANA zone for the PSAs' local dates (Autotask dateWorked; default UTC)
    TICKETCLOCK_OIDC_ISSUER    OIDC sign-in (optional; all three or none): the provider's issuer, e.g.
                               https://login.microsoftonline.com/<tenant id>/v2.0 (discovery at
                               <issuer>/.well-known/openid-configuration)
    TICKETCLOCK_OIDC_CLIENT_ID      the app registration's client id
    TICKETCLOCK_OIDC_CLIENT_SECRET  its client secret (never logged or returned)
    TICKETCLOCK_OIDC_LABEL     the sign-in button's label (default "Microsoft")
                               The redirect URI to register: <public url>/api/team/v1/oidc/callback
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import msgspec

__all__ = ["ConfigError", "ServerConfig", "parse_bind"]

DEFAULT_PORT = 8470


class ConfigError(ValueError):
    """A setting that cannot work; the message names it and says why."""


class ServerConfig(msgspec.Struct, kw_only=True, frozen=True):
    database_url: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_url: str = ""
    pool_size: int = 10
    log_format: Literal["json", "text"] = "json"
    secret_key: str = ""
    """The Fernet key for the PSA credentials ("" none); never logged (see `__repr__`)."""
    posting: bool = True
    outbox_lease_s: float = 300.0
    timezone: str = "UTC"

    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_label: str = "Microsoft"

    def __repr__(self) -> str:  # the database URL (its password) and the OIDC client secret stay out of any output
        return f"ServerConfig(host={self.host!r}, port={self.port}, public_url={self.public_url!r})"

    @property
    def oidc(self) -> bool:
        """Whether OIDC sign-in is configured."""
        return bool(self.oidc_issuer)

    @property
    def public_base(self) -> str:
        """The address people's browsers use, without a trailing slash."""
        return self.public_url or self.origin

    @property
    def origin(self) -> str:
        """The public origin (scheme://host[:port]), the one cookies' unsafe requests must come from."""
        if self.public_url:
            parts = urlsplit(self.public_url)
            return f"{parts.scheme}://{parts.netloc}"
        return f"http://{self.host}:{self.port}"

    @property
    def secure_cookies(self) -> bool:
        return self.origin.startswith("https://")

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, database: str | None = None, bind: str | None = None) -> ServerConfig:
        url = database or env.get("TICKETCLOCK_DATABASE_URL", "")
        if not url:
            raise ConfigError("no database: pass --database postgresql://… or set TICKETCLOCK_DATABASE_URL")
        if urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise ConfigError("the database must be a postgresql://… URL")
        host, port = parse_bind(bind or env.get("TICKETCLOCK_BIND", f"127.0.0.1:{DEFAULT_PORT}"))
        public = env.get("TICKETCLOCK_PUBLIC_URL", "").rstrip("/")
        if public and urlsplit(public).scheme not in ("http", "https"):
            raise ConfigError("TICKETCLOCK_PUBLIC_URL must be an http(s):// address")
        fmt = env.get("TICKETCLOCK_LOG_FORMAT", "json")
        if fmt not in ("json", "text"):
            raise ConfigError("TICKETCLOCK_LOG_FORMAT must be json or text")
        try:
            pool = int(env.get("TICKETCLOCK_DB_POOL", "10"))
        except ValueError:
            raise ConfigError("TICKETCLOCK_DB_POOL must be a whole number") from None
        if not 1 <= pool <= 200:
            raise ConfigError("TICKETCLOCK_DB_POOL must be between 1 and 200")
        key = env.get("TICKETCLOCK_SECRET_KEY", "")
        if env.get("TICKETCLOCK_SECRET_KEY_FILE"):
            try:
                key = Path(env["TICKETCLOCK_SECRET_KEY_FILE"]).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"TICKETCLOCK_SECRET_KEY_FILE: cannot read it ({exc.strerror})") from None
        posting = env.get("TICKETCLOCK_POSTING", "on")
        if posting not in ("on", "off"):
            raise ConfigError("TICKETCLOCK_POSTING must be on or off")
        try:
            lease = float(env.get("TICKETCLOCK_OUTBOX_LEASE_S", "300"))
        except ValueError:
            raise ConfigError("TICKETCLOCK_OUTBOX_LEASE_S must be a number of seconds") from None
        if not 1 <= lease <= 86_400:
            raise ConfigError("TICKETCLOCK_OUTBOX_LEASE_S must be between 1 and 86400")
        names = ("issuer", "client_id", "client_secret")
        oidc = {k: env.get(f"TICKETCLOCK_OIDC_{k.upper()}", "").strip() for k in names}
        if any(oidc.values()) and not all(oidc.values()):
            raise ConfigError("OIDC sign-in needs all of TICKETCLOCK_OIDC_ISSUER, _CLIENT_ID and _CLIENT_SECRET")
        if oidc["issuer"] and urlsplit(oidc["issuer"]).scheme not in ("http", "https"):
            raise ConfigError("TICKETCLOCK_OIDC_ISSUER must be an http(s):// address")
        return cls(
            oidc_issuer=oidc["issuer"].rstrip("/"),
            oidc_client_id=oidc["client_id"],
            oidc_client_secret=oidc["client_secret"],
            oidc_label=env.get("TICKETCLOCK_OIDC_LABEL", "").strip() or "Microsoft",
            secret_key=key.strip(),
            posting=posting == "on",
            outbox_lease_s=lease,
            timezone=env.get("TICKETCLOCK_TIMEZONE", "UTC") or "UTC",
            database_url=url,
            host=host,
            port=port,
            public_url=public,
            pool_size=pool,
            log_format="json" if fmt == "json" else "text",
        )


def parse_bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"bind address {value!r}: expected host:port")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"bind address {value!r}: the port is not a number") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"bind address {value!r}: the port is out of range")
    return host.strip("[]"), number
