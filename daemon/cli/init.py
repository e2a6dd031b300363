"""`ticketclock init`: the first run. Asks (or takes flags) for the PSA, writes the config file with comments, tests
and stores the credentials with the code `connect` runs, and says what to do next.

Re-running edits: the `[[instances]]` table with the same name is replaced, everything else in the file (other
instances, settings init knows nothing of, the user's comments) is kept as it was. The edit is line-based on our own
format (TOML tables start at a `[` line), and the result is parsed and checked before it replaces the file.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from daemon.cli.common import CliError, Command, read_token
from daemon.cli.output import say
from daemon.settings import DEFAULT_PORT, ConfigError, InstanceConfig, Settings, parse_config

__all__ = ["COMMANDS", "edit_config", "instance_block"]

KIND_NAMES = {"connectwise": "ConnectWise PSA", "autotask": "Autotask (Datto)", "halopsa": "HaloPSA"}
WEB_EXAMPLES = {
    "connectwise": "https://na.myconnectwise.net",
    "autotask": "https://ww5.autotask.net",
    "halopsa": "https://yourcompany.halopsa.com",
}
SANDBOX_PORT_BASE = 47700
"""The port `ticketclock sandbox` serves its first PSA on by default (the others follow, one port each)."""

_TABLE = re.compile(r"^\s*\[")
_INSTANCES = re.compile(r"^\s*\[\[\s*instances\s*\]\]\s*(#.*)?$")
_NAME = re.compile(r"^\s*name\s*=\s*(\"[^\"]*\"|'[^']*')")

HEADER = """\
# TicketClock configuration (TOML). Written by `ticketclock init`; edit freely: re-running init replaces only the
# [[instances]] table of the PSA it sets up and keeps everything else. Every key: README.md "Configuration".
"""


def _toml(value: object) -> str:
    return msgspec.json.encode(value).decode()  # a JSON string, number, bool or list of strings is TOML too


def instance_block(instance: InstanceConfig, *, note: str = "") -> list[str]:
    """The `[[instances]]` table for one PSA, with comments saying what each line is."""
    lines = [
        f"# {KIND_NAMES[instance.kind]}{f': {note}' if note else ''}",
        "[[instances]]",
        f"name = {_toml(instance.name)}  # what `ticketclock connect` and the API call it",
        f"kind = {_toml(instance.kind)}",
        f"origins = {_toml(instance.origins).replace(',', ', ')}  # the web address(es) technicians open tickets at",
    ]
    where = "where its API is" if instance.api_url else "empty: derived from the web address by the connector"
    lines.append(f"api_url = {_toml(instance.api_url)}  # {where}")
    if instance.options:
        options = ", ".join(f"{k} = {_toml(v)}" for k, v in instance.options.items())
        lines.append(f"options = {{ {options} }}")
    return lines


def edit_config(text: str, instances: Sequence[InstanceConfig], *, notes: dict[str, str] | None = None) -> str:
    """`text` with each instance's table replaced (same name) or appended; every other line kept."""
    lines = text.splitlines()
    if not text.strip():
        lines = HEADER.splitlines()
    for instance in instances:
        block = instance_block(instance, note=(notes or {}).get(instance.name, ""))
        span = _instance_span(lines, instance.name)
        if span is None:
            while lines and not lines[-1].strip():
                lines.pop()
            lines += ["", *block]
        else:
            start, end = span
            lines[start:end] = block[1:]  # the comment line above a table the user had is theirs: keep it
    return "\n".join(lines).rstrip("\n") + "\n"


def _instance_span(lines: list[str], name: str) -> tuple[int, int] | None:
    """[start, end) of the `[[instances]]` table named `name`: its header to the line before the next table (less
    the blank and comment lines just above that next table, which belong to it)."""
    starts = [i for i, line in enumerate(lines) if _TABLE.match(line)]
    for n, start in enumerate(starts):
        if not _INSTANCES.match(lines[start]):
            continue
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        for line in lines[start + 1 : end]:
            m = _NAME.match(line)
            if m and m.group(1)[1:-1] == name:
                return start, end
    return None


def _write_config(path: Path, text: str) -> None:
    """Check the new text as the daemon will load it, then replace the file in one step."""
    from daemon.connectors.options import check_config

    try:
        check_config(parse_config(text, path), path)
    except ConfigError as exc:
        raise CliError(f"the edited config would not load, so {path} was left as it was: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Asker:
    """Answers from the flags, else from the terminal; without a terminal a missing answer is an error naming the
    flag."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def ask(
        self, given: str | None, flag: str, prompt: str, default: str = "", check: Callable[[str], str] = str
    ) -> str:
        if given is not None:
            try:
                return check(given)
            except ValueError as exc:
                raise CliError(f"{flag} {given!r}: {exc}") from None
        if not self.interactive:
            if default:
                return default
            raise CliError(f"{flag} is needed when init is not run in a terminal")
        while True:
            try:
                answer = input(f"{prompt}{f' [{default}]' if default else ''}: ").strip() or default
            except EOFError:
                raise CliError("the input ended; nothing was written") from None
            try:
                return check(answer)
            except ValueError as exc:
                print(f"  {exc}")

    def confirm(self, prompt: str, yes: bool) -> bool:
        if yes or not self.interactive:
            return True
        try:
            return input(f"{prompt} [Y/n]: ").strip().lower() in ("", "y", "yes")
        except EOFError:
            return False


def _kind(value: str) -> str:
    value = value.strip().lower()
    if value not in KIND_NAMES:
        raise ValueError(f"one of {', '.join(KIND_NAMES)}")
    return value


def web_origin(value: str) -> str:
    """The origin (scheme://host[:port]) of a pasted PSA address: a ticket page's URL will do."""
    import httpx

    text = value.strip()
    if "://" not in text:
        text = f"https://{text}"
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a web address: {exc}") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise ValueError("not a web address (https://…)")
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


def _name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", value):
        raise ValueError("lower-case letters, digits, - and _ (up to 40), starting with a letter or digit")
    return value


def api_address(instance: InstanceConfig) -> str:
    """Where the instance's API is, by the connector's own rule (ConnectWise cloud: the `api-` host)."""
    if instance.api_url:
        return instance.api_url
    if instance.kind == "connectwise":
        from daemon.connectors.connectwise.client import api_site

        return api_site(instance)
    if instance.kind == "autotask":
        from daemon.connectors.autotask.config import DEFAULT_API_URL

        return DEFAULT_API_URL  # the zone is discovered from the API user's name
    return instance.origins[0]


def reachable(url: str) -> str:
    """'' when something answers HTTP at `url`, else why not."""
    import httpx

    try:
        httpx.get(url, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return ""


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    interactive = not args.yes and sys.stdin is not None and sys.stdin.isatty()
    asker = Asker(interactive)
    path = settings.config_file
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if args.sandbox:
        chosen = _sandbox_instances(args)
        notes = {inst.name: "the local look-alike `ticketclock sandbox` serves" for inst, _ in chosen}
    else:
        chosen = [_ask_instance(asker, args, settings)]
        notes = {}
    existing = {i.name for i in settings.config.instances}
    for inst, _ in chosen:
        if inst.name in existing and not asker.confirm(f"{path} already has {inst.name!r}: replace it?", args.yes):
            say("nothing changed")
            return 1
    _write_config(path, edit_config(text, [inst for inst, _ in chosen], notes=notes))
    _private_data_dir(settings)
    say(f"wrote {path} ({', '.join(inst.name for inst, _ in chosen)})")
    if args.sandbox:
        return _store_sandbox(settings, chosen, args)
    inst, _ = chosen[0]
    where = api_address(inst)
    problem = reachable(where)
    if problem:
        say(f"{inst.name}: cannot reach {where}: {problem}")
        say(f"check the address and the network, then run `ticketclock init --name {inst.name}` again")
        return 1
    say(f"{inst.name}: {where} answers")
    identity = _connect(settings, inst, _credentials(inst, interactive))
    say(f"{inst.name}: connected as {identity}; credentials stored")
    _next_step(settings, sandbox=False)
    return 0


def _ask_instance(asker: Asker, args: argparse.Namespace, settings: Settings) -> tuple[InstanceConfig, dict[str, Any]]:
    given = args.kind_list[-1] if args.kind_list else None
    kind = asker.ask(given, "--kind", f"PSA ({', '.join(KIND_NAMES)})", check=_kind)
    origin = asker.ask(args.url, "--url", f"its web address (e.g. {WEB_EXAMPLES[kind]})", check=web_origin)
    name = asker.ask(args.name, "--name", "a name for it", default=kind, check=_name)
    options: dict[str, str | int | float | bool] = {}
    if kind == "connectwise":
        options["member"] = asker.ask(args.member, "--member", "your ConnectWise member id (login)")
    api_url = args.api_url or ""
    instance = InstanceConfig(name=name, kind=kind, origins=[origin], api_url=api_url, options=options)  # type: ignore[arg-type]
    return instance, {}


def _sandbox_instances(args: argparse.Namespace) -> list[tuple[InstanceConfig, dict[str, Any]]]:
    """The look-alikes `ticketclock sandbox --port-base N` serves: the i-th kind chosen on port N + i."""
    from daemon.sandbox import KINDS, sandbox_module

    kinds = tuple(k for k in KINDS if k in args.kind_list) if args.kind_list else KINDS
    chosen = []
    for i, kind in enumerate(kinds):
        instance, creds = sandbox_module(kind).demo_instance(f"http://127.0.0.1:{args.port_base + i}")
        chosen.append((instance, msgspec.to_builtins(creds)))
    return chosen


def _store_sandbox(
    settings: Settings, chosen: list[tuple[InstanceConfig, dict[str, Any]]], args: argparse.Namespace
) -> int:
    """Store the look-alikes' credentials: tested when the sandbox already runs, else stored as they are (they are
    the sandbox's fixed ones) — init starts nothing."""
    import asyncio

    from daemon.connectors.credentials import CredentialStore

    for inst, creds in chosen:
        if reachable(api_address(inst)):  # not running: nothing to test against
            asyncio.run(CredentialStore(settings.data_dir, settings.config.credentials).put(inst.name, creds))
            say(f"{inst.name}: credentials stored (not tested: the sandbox is not running yet)")
        else:
            say(f"{inst.name}: connected as {_connect(settings, inst, creds)}; credentials stored")
    kinds = " ".join(f"--kind {inst.kind}" for inst, _ in chosen) if len(chosen) < 3 else ""
    port_base = f" --port-base {args.port_base}" if args.port_base != SANDBOX_PORT_BASE else ""
    say(f"next: in another terminal run `ticketclock sandbox{port_base}{' ' + kinds if kinds else ''}`")
    _next_step(settings, sandbox=True)
    return 0


def _private_data_dir(settings: Settings) -> None:
    """The credentials file may land in the data folder: make it user-only before anything is stored there."""
    from daemon.private import private_dir

    try:
        private_dir(settings.data_dir)
    except OSError as exc:
        raise CliError(f"cannot create a private data folder {settings.data_dir}: {exc}") from None


def _credentials(instance: InstanceConfig, interactive: bool) -> dict[str, object]:
    """Prompts on a terminal (secrets unseen), FIELD=VALUE lines on standard input otherwise: as `connect` asks."""
    from daemon.cli.remote import _prompt_credentials, _read_credentials
    from daemon.connectors import CONNECTORS

    fields = msgspec.structs.fields(CONNECTORS[instance.kind].Credentials)
    if interactive:
        say(f'the {KIND_NAMES[instance.kind]} API credentials (README.md "Connecting a PSA" says where to get them):')
        return _prompt_credentials(instance.name, fields)
    return _read_credentials(fields, instance.kind)


def _connect(settings: Settings, instance: InstanceConfig, creds: dict[str, Any]) -> str:
    """What `connect` has the daemon do (PsaService.save_credentials: test against the PSA, then store), run here:
    a daemon already running read its config before init changed it."""
    import asyncio

    import httpx

    from daemon.clock import SystemClock
    from daemon.connectors.credentials import CredentialStore
    from daemon.psa import PsaError, PsaService

    config = msgspec.structs.replace(settings.config, instances=[instance])

    async def run() -> str:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
            service = PsaService(config, CredentialStore(settings.data_dir, config.credentials), http, SystemClock())
            try:
                identity = await service.save_credentials(instance.name, creds)
            finally:
                await service.aclose()
        return identity.name or identity.id

    try:
        return asyncio.run(run())
    except PsaError as exc:
        raise CliError(
            f"{exc.message}; nothing was stored (run `ticketclock connect {instance.name}` to retry)"
        ) from None


def _next_step(settings: Settings, *, sandbox: bool) -> None:
    from daemon.client import ApiClient, DaemonNotRunning

    try:
        ApiClient(settings.port, read_token(settings), timeout=3).get("/api/v1/health")
        running = True
    except DaemonNotRunning:
        running = False
    except Exception:
        running = True
    port = f" --port {settings.port}" if settings.port != DEFAULT_PORT and settings.port != settings.config.port else ""
    if running:
        say(f"next: restart the daemon (it runs on port {settings.port}) so it reads the new config")
    else:
        say(f"next: start the daemon: `ticketclock serve{port}` (or `ticketclock autostart enable`, at every login)")
    say(
        "then load the extension (`ticketclock extension path` prints its folder; chrome://extensions → Developer mode "
        "→ Load unpacked) and pair it: `ticketclock pair` prints the code to type in its options page"
    )
    if sandbox:
        say("then open a ticket page the sandbox prints: the timer starts; close the ticket and its entry is posted")


def _args_init(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sandbox", action="store_true", help="set up the local look-alike PSAs (`ticketclock sandbox`)")
    p.add_argument(
        "--kind",
        help="connectwise, autotask or halopsa (with --sandbox: repeatable, default all)",
        action="append",
        dest="kind_list",
    )
    p.add_argument("--url", help="the PSA's web address, e.g. https://na.myconnectwise.net")
    p.add_argument("--api-url", help="the API's address, where it cannot be derived from --url")
    p.add_argument("--name", help="a name for the PSA instance (default: its kind)")
    p.add_argument("--member", help="ConnectWise: the member id (login) time is logged as")
    p.add_argument("--port-base", type=int, default=SANDBOX_PORT_BASE, help="with --sandbox: its first port")
    p.add_argument("--yes", action="store_true", help="ask nothing: take the flags (and credentials on stdin)")


COMMANDS = {
    "init": Command(cmd_init, "first run: set up a PSA (or the sandbox), test and store its credentials", _args_init),
}
