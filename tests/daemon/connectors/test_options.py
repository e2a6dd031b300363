"""Connector options: checked when the config file loads, old option names kept, connect and read timeouts apart."""

from __future__ import annotations

import httpx
import pytest

from daemon.connectors.options import check_config, decode_options, options_type
from daemon.settings import ConfigError, InstanceConfig, parse_config

SOURCE = "/home/tech/.config/ticketclock/config.toml"


def config_with(kind: str, options: str) -> str:
    instance = f'name = "acme"\nkind = "{kind}"\napi_url = "https://psa.example"\noptions = {{ {options} }}\n'
    return "[[instances]]\n" + instance


@pytest.mark.parametrize(
    ("kind", "options", "named"),
    [
        ("autotask", "timout_ms = 5000", "unknown option `timout_ms`"),
        ("autotask", "max_concurrent = 4", "`max_concurrent`"),
        ("autotask", 'timeout_ms = "5000"', "`timeout_ms`"),  # Autotask's numbers were always strict
        ("connectwise", 'membr = "jdoe"', "unknown option `membr`"),
        ("connectwise", "", "missing required field `member`"),
        ("connectwise", 'member = "jdoe", timeout_s = "fast"', "`timeout_s`"),
        ("halopsa", 'outcom = "Time Logged"', "unknown option `outcom`"),
        ("halopsa", "read_timeout_s = 0", "`read_timeout_s`"),
        ("halopsa", "connect_timeout_s = 301", "`connect_timeout_s`"),
    ],
)
def test_a_bad_option_is_a_load_error_naming_the_file_the_instance_and_the_key(
    kind: str, options: str, named: str
) -> None:
    config = parse_config(config_with(kind, options), SOURCE)
    with pytest.raises(ConfigError) as caught:
        check_config(config, SOURCE)
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: PSA instance 'acme' ({kind}) options: ")
    assert named in message


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        # The old per-request names still work, for every phase.
        ("autotask", "timeout_ms = 5000", httpx.Timeout(5.0)),
        ("connectwise", 'member = "jdoe", timeout_s = "0.5"', httpx.Timeout(0.5)),
        ("halopsa", "timeout_s = 7", httpx.Timeout(7.0)),
        ("halopsa", "", httpx.Timeout(30.0)),
        # Connect and read refine them, each on its own.
        ("autotask", "timeout_ms = 5000, read_timeout_s = 1.5", httpx.Timeout(5.0, read=1.5)),
        ("connectwise", 'member = "jdoe", connect_timeout_s = 3', httpx.Timeout(30.0, connect=3.0)),
        (
            "halopsa",
            'timeout_s = "9", connect_timeout_s = 2, read_timeout_s = "0.25"',
            httpx.Timeout(9.0, connect=2.0, read=0.25),
        ),
    ],
)
def test_connect_and_read_timeouts_are_set_apart(kind: str, options: str, expected: httpx.Timeout) -> None:
    config = parse_config(config_with(kind, options), SOURCE)
    check_config(config, SOURCE)
    (instance,) = config.instances
    assert decode_options(options_type(kind), instance).timeout() == expected


def test_a_config_without_instances_or_with_good_options_loads() -> None:
    check_config(parse_config("", SOURCE), SOURCE)
    text = config_with("connectwise", 'member = "jdoe", codebase = "v4_6_release/"') + config_with(
        "halopsa", 'outcome = "Remote", outcome_id = 3'
    ).replace('"acme"', '"halo"')
    config = parse_config(text, SOURCE)
    check_config(config, SOURCE)
    assert [i.name for i in config.instances] == ["acme", "halo"]


def test_the_options_struct_of_every_kind_is_a_connector_options() -> None:
    for kind in ("connectwise", "autotask", "halopsa"):
        instance = InstanceConfig(name="x", kind=kind, options={"member": "jdoe"} if kind == "connectwise" else {})
        assert decode_options(options_type(kind), instance).timeout() == httpx.Timeout(30.0)
