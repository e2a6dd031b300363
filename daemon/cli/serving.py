"""The commands that run servers: `serve` (the daemon), `sandbox` (the sandbox PSAs) and `demo` (both, wired)."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import msgspec

from daemon import __version__
from daemon.cli.common import EXIT_USAGE, CliError, Command, read_token
from daemon.runtime import DAEMON_FILE, DaemonFile, listen_socket, remove_daemon_file, write_daemon_file
from daemon.settings import Settings

if TYPE_CHECKING:
    import asyncio

    import httpx

    from daemon.sandbox.control import FaultSwitches
    from daemon.sandbox.runner import RunningSandbox

__all__ = ["COMMANDS", "serve"]

# asyncio is imported by the commands that run a loop: the CLI's other commands do not need it (~10 ms of start-up).


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from daemon.logs import setup_logging

    _private_at_start(settings)
    setup_logging(settings.log_dir, verbose=args.verbose)
    return asyncio.run(serve(settings, ready=_listening))


def _listening(port: int) -> None:
    """The daemon listens: the cyclic garbage collector, off while it started (`daemon.cli.main`), is on again."""
    gc.enable()


def _private_at_start(settings: Settings) -> None:
    """umask 077 for everything created from now on; folders and files left readable by older versions fixed."""
    from daemon.private import private_dir, restrict_umask, secure_tree

    restrict_umask()
    for folder in (settings.data_dir, settings.log_dir):
        try:
            private_dir(folder)
            secure_tree(folder)
        except OSError as exc:  # the database and logging set-up report what is really wrong
            print(f"ticketclock: cannot make {folder} private: {exc}", file=sys.stderr)


async def serve(settings: Settings, *, ready: Callable[[int], None] | None = None) -> int:
    import asyncio

    from aiohttp import web

    from daemon.api.connections import LIMITS, GuardedRunner
    from daemon.app import create_app
    from daemon.clock import SystemClock
    from daemon.store import StoreError

    try:  # bound before the app is built: with --port 0 the app (Host check) must know the port it got
        sock = listen_socket(settings.config.bind, settings.port)
    except OSError as exc:
        print(
            f"ticketclock: cannot listen on {settings.config.bind}:{settings.port}: {exc.strerror} "
            "(is another TicketClock running? try `ticketclock status`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    settings = msgspec.structs.replace(settings, port=sock.getsockname()[1])
    shared = SharedHttp()
    http = cast("httpx.AsyncClient", shared)  # the connectors only call `request`
    try:
        app = create_app(settings, clock=SystemClock(), http=http)
        runner = GuardedRunner(app, access_log=None, handle_signals=False)
        try:
            await runner.setup()
        except StoreError as exc:
            print(f"ticketclock: cannot start: {exc}", file=sys.stderr)
            sock.close()
            await runner.cleanup()
            return EXIT_USAGE
        except OSError as exc:
            print(f"ticketclock: cannot start: {exc}", file=sys.stderr)
            sock.close()
            await runner.cleanup()
            return EXIT_USAGE
        await web.SockSite(runner, sock, backlog=app[LIMITS].backlog).start()
        stop = asyncio.Event()
        install_stop_handlers(stop)
        report = DaemonFile(pid=os.getpid(), port=settings.port, version=__version__)
        print(f"TicketClock {__version__} listening on http://127.0.0.1:{settings.port}", flush=True)
        try:  # last: whoever sees it also finds the line above
            write_daemon_file(settings.data_dir, report)
        except OSError as exc:  # the daemon still serves; only the report is missing
            print(f"ticketclock: cannot write {settings.data_dir / DAEMON_FILE}: {exc}", file=sys.stderr)
        try:
            if ready is not None:
                ready(settings.port)
            await stop.wait()
        finally:
            print("TicketClock stopping", flush=True)
            remove_daemon_file(settings.data_dir, report)
            await runner.cleanup()
    finally:
        await shared.aclose()
    return 0


class SharedHttp:
    """The PSA connectors' shared HTTP client, an `httpx.AsyncClient` built on the first request: a daemon that has
    not talked to a PSA yet has not imported httpx (~2 MiB of memory, ~40 ms of start-up with its TLS set-up)."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        return await self._client.request(method, url, **kwargs)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def install_stop_handlers(stop: asyncio.Event) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    names = ["SIGINT", "SIGTERM", "SIGBREAK"]  # SIGBREAK: Ctrl-Break on Windows
    for name in names:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: no add_signal_handler
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))


def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from daemon.sandbox import KINDS
    from daemon.sandbox.control import FaultSwitches

    switches: dict[str, str] = {}
    for item in args.fault or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--fault wants NAME=VALUE, got {item!r}")
        switches[name.strip()] = value.strip()
    try:
        faults = msgspec.convert(switches, FaultSwitches, strict=False)
    except msgspec.ValidationError as exc:
        raise CliError(f"--fault: {exc}") from None
    kinds = tuple(k for k in KINDS if k in args.kind) if args.kind else KINDS
    return asyncio.run(_sandbox(args.port_base, kinds, faults, as_json=args.json))


async def _sandbox(port_base: int, kinds: tuple[str, ...], faults: FaultSwitches, *, as_json: bool) -> int:
    """Serve the sandboxes until stopped; print what a user (or, with --json, a program) needs to use them."""
    import asyncio

    from daemon.clock import SystemClock
    from daemon.sandbox.runner import start_sandboxes, ticket_pages

    try:
        running = await start_sandboxes(SystemClock(), port_base=port_base, kinds=kinds, faults=faults)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        listing = [
            {
                "kind": sb.kind,
                "base_url": sb.base_url,
                "control_url": sb.control_url,
                "instance": msgspec.to_builtins(sb.instance),
                "credentials": sb.credentials,
                "ticket_pages": ticket_pages(sb.kind, sb.base_url),
            }
            for sb in running
        ]
        print(msgspec.json.encode({"sandboxes": listing}).decode(), flush=True)
    else:
        for sb in running:
            print(_sandbox_text(sb, ticket_pages(sb.kind, sb.base_url)), flush=True)
    stop = asyncio.Event()
    install_stop_handlers(stop)
    await stop.wait()
    for sb in running:
        await sb.runner.cleanup()
    return 0


def _sandbox_text(sb: RunningSandbox, pages: list[str]) -> str:
    """One sandbox PSA as a user reads it: URL, credentials for `ticketclock connect`, config, ticket pages."""
    inst = sb.instance
    import shlex

    pairs = " ".join(shlex.quote(f"{k}={v}") for k, v in sb.credentials.items() if v)

    def toml(value: object) -> str:
        return msgspec.json.encode(value).decode()  # a JSON string or number is a TOML one too

    config = [
        "    [[instances]]",
        f"    name = {toml(inst.name)}",
        f"    kind = {toml(inst.kind)}",
        f"    origins = {toml(inst.origins).replace(',', ', ')}",
        f"    api_url = {toml(inst.api_url)}",
    ]
    if inst.options:
        options = ", ".join(f"{k} = {toml(v)}" for k, v in inst.options.items())
        config.append(f"    options = {{ {options} }}")
    lines = [
        f"{sb.kind}: {sb.base_url}",
        f"  control:      {sb.control_url}/faults (GET, POST a JSON object of switches), {sb.control_url}/entries",
        f"  connect:      printf '%s\\n' {pairs} | ticketclock connect {inst.name}",
        f"  ticket pages: {pages[0]}",
        *(f"                {page}" for page in pages[1:]),
        "  config:",
        *config,
        "",
    ]
    return "\n".join(lines)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from daemon.logs import setup_logging

    setup_logging(None, verbose=args.verbose)
    return asyncio.run(_demo(settings, args.port_base, args.scripted))


async def _demo(settings: Settings, port_base: int, scripted: bool) -> int:
    """The daemon wired to the three sandbox PSAs, in a demo folder of its own: the whole loop, no PSA account."""
    import asyncio

    from daemon.clock import SystemClock
    from daemon.connectors.credentials import CredentialStore
    from daemon.demo import replay_morning, ticket_url
    from daemon.sandbox.runner import start_sandboxes

    clock = SystemClock()
    running = await start_sandboxes(clock, port_base=port_base)
    demo_dir = settings.data_dir / "demo"
    store = CredentialStore(demo_dir, "file")
    for sb in running:
        await store.put(sb.instance.name, sb.credentials)
    config = msgspec.structs.replace(settings.config, credentials="file", instances=[sb.instance for sb in running])
    demo = msgspec.structs.replace(settings, config=config, data_dir=demo_dir, token_path=settings.token_file)
    print("Sandbox PSAs: open these ticket pages with the extension paired to this daemon (`ticketclock pair`):")
    for sb in running:
        print(f"  {sb.kind:<12} {ticket_url(sb.kind, sb.base_url)}")

    def ready(port: int) -> None:
        if scripted:

            async def replay() -> None:
                acked = await replay_morning(port, read_token(demo) or "", clock)
                print(
                    f"demo: replayed a morning of ticket work ({acked} browser events); "
                    "watch `ticketclock entries` and `ticketclock outbox`",
                    flush=True,
                )

            asyncio.get_running_loop().create_task(replay())

    try:
        return await serve(demo, ready=ready)
    finally:
        for sb in running:
            await sb.runner.cleanup()


def _args_sandbox(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port-base",
        type=int,
        default=47700,
        help="ConnectWise on this port, Autotask +1, Halo +2 (0: free ports, printed)",
    )


def _args_sandbox_command(p: argparse.ArgumentParser) -> None:
    from daemon.sandbox import KINDS

    _args_sandbox(p)
    p.add_argument("--kind", action="append", choices=KINDS, help="run only this PSA (repeatable; default all)")
    p.add_argument(
        "--fault",
        action="append",
        metavar="NAME=VALUE",
        help="switch a fault on in every sandbox, e.g. error_after_commit_next=1 (see daemon/sandbox/control.py)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line describing the sandboxes")


def _args_demo(p: argparse.ArgumentParser) -> None:
    _args_sandbox(p)
    p.add_argument("--scripted", action="store_true", help="replay a morning of ticket work through the daemon")


COMMANDS = {
    "serve": Command(cmd_serve, "run the daemon in the foreground"),
    "sandbox": Command(cmd_sandbox, "run the three sandbox PSAs on loopback", _args_sandbox_command),
    "demo": Command(cmd_demo, "the daemon wired to the sandbox PSAs (no PSA account needed)", _args_demo),
}
