"""Settings: the config file's shape and the resolved paths.

The config file is TOML. Every table forbids unknown keys, so a typo is an error that names the key.
Reading files, argv and the environment happens only in `daemon.cli`; this module only decodes.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from daemon.invalid import describe

__all__ = [
    "AUTOMATION_PLACEHOLDERS",
    "DEFAULT_PORT",
    "AutomationConfig",
    "CompanyConfig",
    "CompanyTagRule",
    "CompanyTagsConfig",
    "Config",
    "ConfigError",
    "InstanceConfig",
    "Match",
    "OutboxConfig",
    "RoundingConfig",
    "RoundingRule",
    "RuleSet",
    "RuleSettings",
    "ScopedRule",
    "Settings",
    "TaskConfig",
    "TaskPost",
    "TeamConfig",
    "TimesheetConfig",
    "TimingConfig",
    "check_automations",
    "parse_config",
    "team_server_problem",
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


class TaskPost(_Strict, frozen=True):
    """Where an admin task's time goes: a PSA instance and that PSA's non-ticket target. Which key each PSA kind
    needs is checked when the config loads (`daemon.connectors.options.check_config`)."""

    instance: Name
    charge_code: PosInt | None = None
    """ConnectWise: the charge code id (a time entry with chargeToType "ChargeCode")."""
    billing_code: PosInt | None = None
    """Autotask: the internal billing code of regular (non-ticket) time (internalBillingCodeID)."""
    time_entry_type: PosInt | None = None
    """Autotask: timeEntryType to send with regular time (the tenant's picklist value; UNVERIFIED, so unset by
    default)."""


class TaskConfig(_Strict, frozen=True):
    """One admin task of the managed list (`[[tasks]]`): without `post` it stays local (timesheet and exports)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80, pattern=r"^\S(.*\S)?$")]
    post: TaskPost | None = None


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


# -- rules as data (`[rules]`, `[[rules.scoped]]`; resolved by daemon.rules.model) and company tags ----------------

RuleText = Annotated[str, msgspec.Meta(max_length=200)]
RuleSeconds = Annotated[int, msgspec.Meta(ge=0, le=7 * 86_400)]


class _Rule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True, omit_defaults=True):
    """Rule structs: unset (None) means "inherit"; encoded without the unset keys."""


class RoundingRule(_Rule, frozen=True):
    increment_s: RuleSeconds | None = None
    direction: Literal["up", "nearest", "down"] | None = None
    minimum_billed_s: RuleSeconds | None = None


class RuleSettings(_Rule, frozen=True):
    """The settings a rule may make; None: not set here (inherit)."""

    rounding: RoundingRule = RoundingRule()
    min_seconds: RuleSeconds | None = None
    billable_default: Literal["agreement", "yes", "no"] | None = None
    work_type: RuleText | None = None
    role: RuleText | None = None
    note_template: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    long_run_s: Annotated[int, msgspec.Meta(ge=60, le=7 * 86_400)] | None = None


class Match(_Rule, frozen=True):
    """When a scoped rule applies: every key given must match the entry's context."""

    instance: RuleText | None = None
    company: RuleText | None = None
    tag: RuleText | None = None
    board: RuleText | None = None
    """ConnectWise board / Autotask queue / Halo team."""
    automation: RuleText | None = None


class ScopedRule(RuleSettings, frozen=True, kw_only=True):
    match: Match
    name: RuleText = ""


class RuleSet(RuleSettings, frozen=True, kw_only=True):
    """The global block (this struct's own settings) and the scoped overrides."""

    scoped: Annotated[list[ScopedRule], msgspec.Meta(max_length=500)] = []


class CompanyConfig(_Strict, frozen=True):
    """`[[companies]]`: tags for a PSA company (matched by name, without regard to case), for `match = {tag = …}`."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    tags: list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]] = []


class CompanyTagRule(_Strict, frozen=True):
    """`[[company_tags.map]]`: a company whose PSA attribute `attribute` is `value` gets `tags` (e.g. Autotask
    `companyType` 1 → "customer"). The connector names the attributes it reads (Autotask: companyType,
    classification)."""

    instance: Name
    attribute: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    value: Annotated[str, msgspec.Meta(max_length=200)]
    tags: list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]]


class CompanyTagsConfig(_Strict, frozen=True):
    refresh_s: Annotated[int, msgspec.Meta(ge=60, le=30 * 86_400)] = 86_400
    """Tags mapped from a PSA attribute are forgotten after this long unless a ticket look-up renews them."""
    map: list[CompanyTagRule] = []


# -- automations (`[[automations]]`; used by daemon.automation) ---------------------------------------------------

AutomationName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")
]


class AutomationConfig(_Strict, frozen=True):
    """`[[automations]]`: how the runs of one automation (a script, a workflow) become time entries."""

    name: AutomationName
    enabled: bool = True
    apply_to: Annotated[str, msgspec.Meta(pattern=r"^(none|all|tag:\S.{0,99})$")] = "all"
    """"none", "all" clients, or "tag:X": clients (companies) with tag X (`[[companies]]`, `[[company_tags.map]]`)."""
    log_as: Annotated[str, msgspec.Meta(pattern=r"^(starter|assignee|user:\S.{0,199})$")] = "starter"
    """"starter" (the run's started_by), "assignee" (the ticket's, through the connector), "user:NAME"."""
    minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] | None = None
    """Log this many minutes (ending at the run's end) instead of the run's measured span."""
    notes: Annotated[str, msgspec.Meta(max_length=2000)] = "{automation}: {outcome}. {notes}"
    """Template: {automation}, {outcome}, {started_by}, {notes} (the run's own notes)."""
    work_type: Annotated[str, msgspec.Meta(max_length=200)] = ""
    billable: Literal["default", "agreement", "yes", "no"] = "default"
    overlap: Literal["add", "absorb"] = "add"
    """A run on a ticket while the technician's own timer runs on it: "add" logs both, "absorb" records the run's
    time as absorbed by the timer (never posted)."""


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class TimesheetConfig(_Strict, frozen=True):
    """`[timesheet]`: how time is cut into periods (daemon/entries/periods.py)."""

    period: Literal["weekly", "biweekly", "semimonthly", "monthly"] = "weekly"
    first_weekday: Weekday = "monday"
    """Weekly and biweekly periods begin on this day."""
    anchor: date | None = None
    """Biweekly: the first day of some period (a `first_weekday`); default: the first such day of 2001."""


class PairingConfig(_Strict, frozen=True):
    managed_secret: Annotated[str, msgspec.Meta(pattern=r"^(|[\x21-\x7e]{24,256})$")] = ""
    """Pre-approved pairing for a managed (force-installed) extension: the same secret in the browser's policy lets
    it pair without a code, after this daemon proved it holds the secret. Empty: off. At least 24 printable
    characters; see docs/security.md "Managed pairing" for who can read a policy."""


class TeamConfig(_Strict, frozen=True):
    """`[team]`: the team server this daemon syncs with (`ticketclock team join`); empty: not joined."""

    server: str = ""
    """https://… (http only for 127.0.0.1 / localhost). The device token is kept like PSA credentials."""
    sync_interval_s: Annotated[float, msgspec.Meta(ge=0.2, le=3600)] = 60.0
    """How often the daemon asks for decisions when nothing changed locally (changes are sent at once)."""


def team_server_problem(url: str) -> str | None:
    """Why `url` cannot be a team server address (https required but on this machine), or None."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an https:// address"
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return "must be https:// (plain http only for 127.0.0.1 or localhost)"
    if parts.query or parts.fragment or parts.username or parts.password:
        return "must be a plain address (no user, query or fragment)"
    return None


class Config(_Strict, frozen=True):
    port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = DEFAULT_PORT
    bind: str = "127.0.0.1"
    approval: Literal["none", "one", "two"] = "none"
    billable_default: Literal["agreement", "yes", "no"] = "agreement"
    credentials: Literal["auto", "keyring", "file"] = "auto"
    """Where PSA credentials are kept: the OS keyring when one works (auto), or a user-only file."""
    timezone: str = ""
    """IANA zone of the technician (Autotask's dateWorked, midnight splits); empty: this machine's zone."""
    user_name: str = ""
    """The name the audit trail gives this machine's user; empty: the OS login name."""
    timing: TimingConfig = TimingConfig()
    timesheet: TimesheetConfig = TimesheetConfig()
    outbox: OutboxConfig = OutboxConfig()
    rounding: RoundingConfig = RoundingConfig()
    limits: LimitsConfig = LimitsConfig()
    pairing: PairingConfig = PairingConfig()
    instances: list[InstanceConfig] = []
    tasks: list[TaskConfig] = []
    """The managed list of admin tasks (meetings, training…) and where each one's time is posted, if anywhere."""
    extension_origins: list[str] = []
    """Extra extension origins allowed besides paired ones (chrome-extension://ID)."""
    rules: RuleSet = RuleSet()
    """Rules as data: a global block plus `[[rules.scoped]]` overrides (daemon.rules.model)."""
    companies: list[CompanyConfig] = []
    company_tags: CompanyTagsConfig = CompanyTagsConfig()
    automations: list[AutomationConfig] = []
    """Per-automation settings for `POST /api/v1/automation-runs` (daemon.automation)."""
    team: TeamConfig = TeamConfig()
    """The team server this daemon has joined (daemon.sync); joined, approvals and posting are the server's."""

    @property
    def team_mode(self) -> bool:
        """Joined to a team server: entries wait for the technician to submit, the server decides and posts."""
        return bool(self.team.server)

    def task(self, name: str) -> TaskConfig | None:
        """The managed task of this name (case-insensitive), or None."""
        folded = name.casefold()
        return next((t for t in self.tasks if t.name.casefold() == folded), None)


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
    problem = check_automations(config.automations)
    if problem is not None:
        raise ConfigError(f"{source}: {problem[0]}: {problem[1]}")
    _check_tasks(config, source)
    if config.team.server and (problem_text := team_server_problem(config.team.server)) is not None:
        raise ConfigError(f"{source}: team.server: {problem_text}")
    sheet = config.timesheet
    if sheet.anchor is not None and WEEKDAYS[sheet.anchor.weekday()] != sheet.first_weekday:
        raise ConfigError(
            f"{source}: timesheet.anchor {sheet.anchor.isoformat()} is a {WEEKDAYS[sheet.anchor.weekday()]}, "
            f"but timesheet.first_weekday is {sheet.first_weekday}"
        )
    return config


def _check_tasks(config: Config, source: Path | str) -> None:
    """Task names are unique (case-insensitively: they name timesheet rows) and post to configured instances."""
    seen: set[str] = set()
    instances = {i.name for i in config.instances}
    for n, task in enumerate(config.tasks):
        folded = task.name.casefold()
        if folded in seen:
            raise ConfigError(f"{source}: tasks[{n}].name: task {task.name!r} is listed twice")
        seen.add(folded)
        if task.post is not None and task.post.instance not in instances:
            raise ConfigError(
                f"{source}: tasks[{n}].post.instance: no PSA instance named {task.post.instance!r} (task {task.name!r})"
            )


AUTOMATION_PLACEHOLDERS: frozenset[str] = frozenset({"automation", "outcome", "started_by", "notes"})
"""What an automation's notes template may name, as `{name}`."""


def check_automations(automations: list[AutomationConfig], where: str = "automations") -> tuple[str, str] | None:
    """What the types cannot say about `[[automations]]`: (field, problem) or None. Names are unique (without regard
    to case) and notes templates name only `AUTOMATION_PLACEHOLDERS`."""
    seen: set[str] = set()
    for i, automation in enumerate(automations):
        key = automation.name.strip().casefold()
        if key in seen:
            return f"{where}[{i}].name", f"automation {automation.name!r} is configured twice"
        seen.add(key)
        for name in re.findall(r"\{([^{}]*)\}", automation.notes):
            if name not in AUTOMATION_PLACEHOLDERS:
                allowed = ", ".join(sorted(AUTOMATION_PLACEHOLDERS))
                return f"{where}[{i}].notes", f"unknown placeholder {{{name}}}; use {allowed}"
    return None


def _explain(exc: msgspec.ValidationError) -> str:
    return describe(exc)
