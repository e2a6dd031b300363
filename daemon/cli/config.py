"""Settings for every command: the config file, the environment's TICKETCLOCK_HOME and the command-line flags,
read into one `Settings` (with `daemon.cli.main`, the only code that reads argv, the environment and config files)."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

import platformdirs

from daemon.cli.common import APP, CliError
from daemon.settings import Config, ConfigError, Settings, parse_config

__all__ = ["LISTENERS", "check_loopback", "load_config", "resolve_settings"]

LISTENERS = ("serve", "demo")
"""The commands that run the daemon: only they take --port 0 (any free port)."""


def resolve_settings(args: argparse.Namespace, env: dict[str, str]) -> Settings:
    home = env.get("TICKETCLOCK_HOME")
    if home:
        base = Path(home).expanduser()
        config_dir, data_dir, log_dir = base / "config", base / "data", base / "logs"
    else:
        config_dir = Path(platformdirs.user_config_dir(APP, appauthor=False))
        data_dir = Path(platformdirs.user_data_dir(APP, appauthor=False))
        log_dir = Path(platformdirs.user_log_dir(APP, appauthor=False))
    config_file = Path(args.config).expanduser() if args.config else config_dir / "config.toml"
    if args.data_dir:
        data_dir = Path(args.data_dir).expanduser()
    # init writes the file it is given; every other command needs an explicit one to exist
    config = load_config(config_file, explicit=bool(args.config) and getattr(args, "command", None) != "init")
    port = args.port if args.port is not None else config.port
    if not 0 <= port < 65536:
        raise CliError(f"--port {port}: not a TCP port")
    if port == 0 and getattr(args, "command", None) not in LISTENERS:
        raise CliError(f"--port 0 (any free port) is only for {' and '.join(LISTENERS)}")
    check_loopback(config.bind)
    return Settings(config=config, config_file=config_file, data_dir=data_dir, log_dir=log_dir, port=port)


def load_config(path: Path, *, explicit: bool) -> Config:
    if not path.exists():
        if explicit:
            raise CliError(f"config file {path} does not exist")
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read config file {path}: {exc.strerror}") from None
    from daemon.connectors.options import check_config
    from daemon.rules import RulesError, check_rules

    try:
        config = parse_config(text, path)
        check_config(config, path)  # each connector's options, so a typo stops here and not at the first request
        names = {i.name for i in config.instances}
        check_rules(config.rules, where="rules", instances=names)
        for n, mapping in enumerate(config.company_tags.map):
            if mapping.instance not in names:
                field = f"company_tags.map[{n}].instance"
                raise RulesError(field, f"no PSA instance named {mapping.instance!r} is configured")
    except RulesError as exc:
        raise CliError(f"{path}: {exc}") from None
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    return config


def check_loopback(bind: str) -> None:
    if bind == "localhost":
        return
    try:
        ok = ipaddress.ip_address(bind).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise CliError(
            f"bind = {bind!r}: TicketClock listens on the loopback interface only (127.0.0.1); "
            "it must never be reachable from the network"
        )
