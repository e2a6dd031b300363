"""Connector options: the non-secret `options` table of an `[[instances]]` entry in the config file.

Each connector declares its options as a subclass of `ConnectorOptions` in its own `config.py`; this module decodes
them, in one way for all: `check_config` runs when the config file loads (the CLI calls it, so a typo stops the
daemon with an error naming the file and the key), and each connector decodes its options again when it is built.

Every connector takes `connect_timeout_s` and `read_timeout_s`, which override its per-request timeout (the older
`timeout_s` / `timeout_ms`, still honoured) for the connect and for each read of the answer.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, TypeVar

import msgspec

from daemon.invalid import describe
from daemon.settings import Config, ConfigError, InstanceConfig

if TYPE_CHECKING:
    import httpx  # imported where a timeout is built: the CLI checks options without loading an HTTP client

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TASK_TARGETS",
    "ConnectorOptions",
    "OptionsError",
    "check_config",
    "decode_options",
    "options_type",
]

DEFAULT_TIMEOUT_S = 30.0
"""Per request (connect, send, read), unless an option says otherwise."""

Seconds = Annotated[float, msgspec.Meta(gt=0, le=300)]


class OptionsError(ValueError):
    """An instance's options cannot be used; the message names the instance and the key."""


class ConnectorOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Options every connector takes; a connector's `Options` subclasses this."""

    strict: ClassVar[bool] = False
    """True: numbers must be numbers. False: they may also be strings ("0.5"), as older config files give them."""

    connect_timeout_s: Seconds | None = None
    """How long to wait for a connection to the PSA; unset: the per-request timeout."""
    read_timeout_s: Seconds | None = None
    """How long to wait for each read of the PSA's answer; unset: the per-request timeout."""

    @property
    def request_timeout_s(self) -> float:
        """The per-request timeout (connect, send, read, pool) that the two above refine."""
        return DEFAULT_TIMEOUT_S

    def timeout(self) -> httpx.Timeout:
        import httpx

        whole = self.request_timeout_s
        return httpx.Timeout(
            whole,
            connect=self.connect_timeout_s if self.connect_timeout_s is not None else whole,
            read=self.read_timeout_s if self.read_timeout_s is not None else whole,
        )


Opts = TypeVar("Opts", bound=ConnectorOptions)


def decode_options(cls: type[Opts], instance: InstanceConfig) -> Opts:
    """Decode `instance.options` as `cls`, or raise OptionsError naming the instance and the bad key."""
    try:
        return msgspec.convert(instance.options, cls, strict=cls.strict)
    except msgspec.ValidationError as exc:
        msg = describe(exc, key="option")
        raise OptionsError(f"PSA instance {instance.name!r} ({instance.kind}) options: {msg}") from None


def options_type(kind: str) -> type[ConnectorOptions]:
    """The options struct of a connector kind; its module is imported only when a configured instance needs it."""
    cls = importlib.import_module(f"daemon.connectors.{kind}.config").Options
    if not (isinstance(cls, type) and issubclass(cls, ConnectorOptions)):
        raise TypeError(f"daemon.connectors.{kind}.config.Options is not a ConnectorOptions")
    return cls


TASK_TARGETS: dict[str, tuple[str, frozenset[str]]] = {
    "connectwise": ("charge_code", frozenset({"charge_code"})),
    "autotask": ("billing_code", frozenset({"billing_code", "time_entry_type"})),
}
"""PSA kind → (the `[[tasks]].post` key it needs, every key it takes) for non-ticket time: ConnectWise charges a
charge code, Autotask logs regular time with an internal billing code. HaloPSA is absent: its non-ticket time
(`/TimesheetEvent` without a ticket) is UNVERIFIED in the API extract, so Halo tasks stay local."""


def check_config(config: Config, source: Path | str) -> None:
    """Decode every instance's options, so that a bad one stops the config from loading (ConfigError naming the
    file, the instance and the key) instead of surfacing at the first request; and check that each task posts with
    the key its PSA kind takes (`TASK_TARGETS`)."""
    for instance in config.instances:
        try:
            decode_options(options_type(instance.kind), instance)
        except OptionsError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    kinds = {i.name: i.kind for i in config.instances}
    for n, task in enumerate(config.tasks):
        if task.post is None:
            continue
        where = f"{source}: tasks[{n}].post"
        kind = kinds.get(task.post.instance)
        if kind is None:
            raise ConfigError(f"{where}.instance: no PSA instance named {task.post.instance!r}")
        target = TASK_TARGETS.get(kind)
        if target is None:
            raise ConfigError(
                f"{where}: task {task.name!r} cannot post to {task.post.instance!r}: TicketClock does not post "
                f"non-ticket time to {kind} (unverified in its API); remove `post` to keep the task local"
            )
        needed, allowed = target
        given = {k for k, v in msgspec.structs.asdict(task.post).items() if k != "instance" and v is not None}
        wrong = sorted(given - allowed)
        if wrong:
            raise ConfigError(
                f"{where}.{wrong[0]}: not an option for {kind} (task {task.name!r}); {kind} takes {needed}"
            )
        if needed not in given:
            raise ConfigError(f"{where}.{needed}: required to post task {task.name!r} to {kind}")
