"""PSA connections: one connector per configured instance, its credentials, and its health.

Credentials are checked against the PSA before they are saved, kept by `CredentialStore`, and never returned.

Errors::

    PsaError(code, message)
      not_found             no such instance in the config
      no_credentials        the instance has no stored credentials yet
      invalid_credentials   the credentials do not fit the connector (names the field)
      connection_failed     the PSA refused or could not be reached (its message included)
      not_supported         the connector cannot do that for this PSA (yet)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from daemon.clock import Clock
from daemon.connectors import CONNECTORS, Connector, ConnectorAuthError, ConnectorError, Identity, TicketInfo
from daemon.connectors.base import WorkItem, WorkTypeSource
from daemon.connectors.credentials import CredentialSource
from daemon.settings import Config, InstanceConfig
from daemon.timers.model import TicketRef

if TYPE_CHECKING:
    import httpx  # built on first use by `ticketclock serve` (daemon/cli/serving.py)

__all__ = ["PsaError", "PsaService", "PsaStatus", "WorkTypes"]


class PsaError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PsaStatus(msgspec.Struct, kw_only=True):
    name: str
    kind: str
    origins: list[str]
    api_url: str
    credentials: bool
    credentials_store: str
    health: str
    """never | ok | error"""
    identity: str = ""
    message: str = ""
    checked_at: float | None = None


class WorkTypes(msgspec.Struct, kw_only=True):
    """`GET /api/v1/psa/{name}/work-types`: what entries and rules may name as work type (`value`) and role."""

    instance: str
    work_types: list[WorkItem]
    roles: list[WorkItem]
    fetched_at: float


class PsaService:
    def __init__(self, config: Config, credentials: CredentialSource, http: httpx.AsyncClient, clock: Clock) -> None:
        self._instances = {i.name: i for i in config.instances}
        self._credentials = credentials
        self._http = http
        self._clock = clock
        self._connectors: dict[str, Connector] = {}
        self._building: dict[str, asyncio.Lock] = {}
        """One connector per instance: its look-ups, thread limit and hourly budget are that instance's, so callers
        that ask at once (the outbox claims several entries together) wait for the one being built."""
        self._health: dict[str, tuple[str, str, str, float]] = {}
        self._work_types: dict[str, WorkTypes] = {}
        self.on_company: Callable[[str, str, dict[str, str]], None] = lambda instance, company, attributes: None
        """Called with (instance, company, its PSA attributes) after each ticket look-up (company tags)."""

    def instance(self, name: str) -> InstanceConfig:
        try:
            return self._instances[name]
        except KeyError:
            raise PsaError("not_found", f"no PSA instance named {name!r} in the config") from None

    def names(self) -> list[str]:
        return list(self._instances)

    async def connector(self, name: str) -> Connector:
        """The instance's connector, built on first use from its stored credentials."""
        found = self._connectors.get(name)
        if found is not None:
            return found
        async with self._building.setdefault(name, asyncio.Lock()):
            found = self._connectors.get(name)
            if found is not None:
                return found
            instance = self.instance(name)
            raw = await self._credentials.get(name)
            if raw is None:
                raise PsaError("no_credentials", f"no credentials for {name}: run `ticketclock connect {name}`")
            connector = self._build(instance, raw)
            self._connectors[name] = connector
            return connector

    async def has_credentials(self, name: str) -> bool:
        return name in self._connectors or await self._credentials.get(name) is not None

    def _build(self, instance: InstanceConfig, raw: dict[str, Any]) -> Connector:
        cls: Any = CONNECTORS[instance.kind]
        try:
            creds = msgspec.convert(raw, cls.Credentials)
        except msgspec.ValidationError as exc:
            raise PsaError("invalid_credentials", f"credentials for {instance.kind}: {exc}") from None
        try:
            connector: Connector = cls(instance, creds, http=self._http, clock=self._clock)
        except (msgspec.ValidationError, ValueError) as exc:
            raise PsaError("invalid_credentials", f"{instance.name}: {exc}") from None
        return connector

    async def test(self, name: str, raw: dict[str, Any] | None = None) -> Identity:
        """Check stored (or given) credentials against the PSA.

        Only a test of the stored credentials is the instance's health: new ones that fail leave it as it was.
        """
        if raw is not None:
            connector = self._build(self.instance(name), raw)
            try:
                return await self._check(name, connector, stored=False)
            finally:
                await connector.aclose()
        identity = await self._check(name, await self.connector(name), stored=True)
        self._health[name] = ("ok", identity.name or identity.id, "", self._clock.now())
        return identity

    async def _check(self, name: str, connector: Connector, *, stored: bool) -> Identity:
        try:
            return await connector.test()
        except ConnectorAuthError as exc:
            if stored:
                self._health[name] = ("error", "", f"credentials refused: {exc.message}", self._clock.now())
            raise PsaError("connection_failed", f"{name}: the PSA refused the credentials: {exc.message}") from None
        except ConnectorError as exc:
            if stored:
                self._health[name] = ("error", "", exc.message, self._clock.now())
            raise PsaError("connection_failed", f"{name}: {exc.message}") from None

    async def save_credentials(self, name: str, raw: dict[str, Any]) -> Identity:
        """Check new credentials, store them, and keep the connector that checked them as the instance's: it has
        already found what the first post needs (Autotask's zone and API user, for one), so the outbox does not ask
        the PSA again."""
        connector = self._build(self.instance(name), raw)
        try:
            identity = await self._check(name, connector, stored=False)
            async with self._building.setdefault(name, asyncio.Lock()):
                await self._credentials.put(name, raw)
                old = self._connectors.pop(name, None)
                self._connectors[name] = connector
        except BaseException:
            await connector.aclose()
            raise
        self._health[name] = ("ok", identity.name or identity.id, "", self._clock.now())
        if old is not None:
            await old.aclose()
        return identity

    async def ticket_info(self, ref: TicketRef) -> TicketInfo:
        """The ticket as its PSA describes it now (company attributes go to `on_company`, for company tags).

        Raises PsaError (no such instance, no credentials) or the connector's ConnectorError."""
        connector = await self.connector(ref.instance)
        info = await connector.ticket(ref)
        if info.company:
            self.on_company(ref.instance, info.company, info.company_attributes)
        return info

    async def ticket_summary(self, ref: TicketRef) -> tuple[str, str, str] | None:
        """(summary, company, board) of a ticket, or None without credentials or when the PSA cannot say now."""
        if ref.instance not in self._instances:
            return None
        try:
            connector = await self.connector(ref.instance)
            info = await connector.ticket(ref)
        except (PsaError, ConnectorError):
            return None
        if info.company:
            self.on_company(ref.instance, info.company, info.company_attributes)
        return info.summary, info.company, info.board

    async def work_types(self, name: str) -> WorkTypes:
        """The instance's work types and roles, fetched from the PSA now (and remembered for `known_work_types`)."""
        instance = self.instance(name)
        if not issubclass(CONNECTORS[instance.kind], WorkTypeSource):
            raise PsaError("not_supported", f"{name}: TicketClock cannot list {instance.kind} work types yet")
        connector = await self.connector(name)
        assert isinstance(connector, WorkTypeSource)
        try:
            found = WorkTypes(
                instance=name,
                work_types=await connector.work_types(),
                roles=await connector.work_roles(),
                fetched_at=self._clock.now(),
            )
        except ConnectorError as exc:
            raise PsaError("connection_failed", f"{name}: {exc.message}") from None
        self._work_types[name] = found
        return found

    def known_work_types(self) -> dict[str, list[str]]:
        """instance → the work types (as entries name them) its PSA listed, for the instances fetched so far."""
        return {name: [w.value for w in found.work_types] for name, found in self._work_types.items()}

    def known_roles(self) -> dict[str, list[str]]:
        """instance → the roles (as entries name them: ConnectWise by name, Autotask by id) its PSA listed."""
        return {name: [r.value for r in found.roles] for name, found in self._work_types.items()}

    def note(self, name: str, health: str, message: str) -> None:
        previous = self._health.get(name)
        self._health[name] = (health, previous[1] if previous else "", message, self._clock.now())

    async def status(self) -> list[PsaStatus]:
        out = []
        for name, inst in self._instances.items():
            health, identity, message, at = self._health.get(name, ("never", "", "", None))
            out.append(
                PsaStatus(
                    name=name,
                    kind=inst.kind,
                    origins=list(inst.origins),
                    api_url=inst.api_url,
                    credentials=await self._credentials.get(name) is not None,
                    credentials_store=self._credentials.describe(),
                    health=health,
                    identity=identity,
                    message=message,
                    checked_at=at,
                )
            )
        return out

    async def aclose(self) -> None:
        for connector in self._connectors.values():
            await connector.aclose()
        self._connectors.clear()
