"""The config file: strict decoding whose errors name the file and the key, and the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.settings import DEFAULT_PORT, Config, ConfigError, InstanceConfig, Settings, parse_config

SOURCE = Path("/home/tech/.config/ticketclock/config.toml")


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}:"), message
    return message


@pytest.mark.parametrize(
    ("text", "key", "where"),
    [
        ("prot = 1\n", "prot", None),
        ('Bind = "127.0.0.1"\n', "Bind", None),
        ('[timing]\nmod = "focus"\n', "mod", "timing"),
        ("[timing]\nidle = 300\n", "idle", "timing"),
        ('[rounding]\nincrement = "6m"\n', "increment", "rounding"),
        ("[rounding.extra]\nx = 1\n", "extra", "rounding"),
        ("[psa]\nx = 1\n", "psa", None),
        ('[[instances]]\nname = "cw"\nkind = "connectwise"\napi_ur = "https://x"\n', "api_ur", "instances[0]"),
        (
            '[[instances]]\nname = "a"\nkind = "halopsa"\n\n'
            '[[instances]]\nname = "b"\nkind = "autotask"\npassword = "x"\n',
            "password",
            "instances[1]",
        ),
    ],
)
def test_an_unknown_key_is_named_with_its_table(text: str, key: str, where: str | None) -> None:
    message = error(text)
    assert f"`{key}`" in message
    assert "unknown key" in message
    if where is not None:
        assert where in message


@pytest.mark.parametrize(
    ("text", "value", "path"),
    [
        ('[timing]\nmode = "fcus"\n', "fcus", "timing.mode"),
        ('approval = "three"\n', "three", "approval"),
        ('billable_default = "maybe"\n', "maybe", "billable_default"),
        ('[rounding]\ndirection = "sideways"\n', "sideways", "rounding.direction"),
        ('[[instances]]\nname = "x"\nkind = "servicenow"\n', "servicenow", "instances[0].kind"),
    ],
)
def test_a_wrong_enum_value_is_named_with_its_key(text: str, value: str, path: str) -> None:
    message = error(text)
    assert value in message
    assert path in message


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("port = 0\n", "port"),
        ("port = 70000\n", "port"),
        ('port = "47600"\n', "port"),
        ("[timing]\nidle_s = 5\n", "timing.idle_s"),
        ("[timing]\nheartbeat_s = 0\n", "timing.heartbeat_s"),
        ("[rounding]\nincrement_s = -60\n", "rounding.increment_s"),
        ('[timing]\nmanual_idle = "yes"\n', "timing.manual_idle"),
        ("timing = 5\n", "timing"),
        ('[[instances]]\nname = "Main CW"\nkind = "connectwise"\n', "instances[0].name"),
        ('[[instances]]\nkind = "connectwise"\n', "instances[0]"),
        ('extension_origins = "chrome-extension://x"\n', "extension_origins"),
    ],
)
def test_a_wrong_value_is_named_with_its_key(text: str, path: str) -> None:
    assert path in error(text)


def test_a_missing_required_key_is_named() -> None:
    assert "name" in error('[[instances]]\nkind = "connectwise"\n')


def test_duplicate_instance_names_are_refused_by_name() -> None:
    text = (
        '[[instances]]\nname = "main"\nkind = "connectwise"\n\n'
        '[[instances]]\nname = "other"\nkind = "halopsa"\n\n'
        '[[instances]]\nname = "main"\nkind = "autotask"\n'
    )
    message = error(text)
    assert "main" in message
    assert "other" not in message
    assert "twice" in message


@pytest.mark.parametrize("text", ["port = \n", "[timing\n", 'bind = "127.0.0.1\n', "port = 1\nport = 2\n"])
def test_invalid_toml_names_the_file(text: str) -> None:
    assert "TOML" in error(text)


def test_the_source_defaults_to_a_placeholder() -> None:
    with pytest.raises(ConfigError, match=r"^<config>: unknown key `prot`"):
        parse_config("prot = 1\n")


def test_an_empty_file_gives_the_defaults() -> None:
    config = parse_config("", SOURCE)
    assert config == Config()
    assert config.port == DEFAULT_PORT == 47600
    assert config.bind == "127.0.0.1"
    assert config.approval == "none"
    assert config.billable_default == "agreement"
    assert config.timing.mode == "focus"
    assert config.timing.idle_s == 300
    assert config.timing.grace_s == 30
    assert config.timing.merge_s == 600
    assert config.timing.heartbeat_s == 20
    assert config.timing.long_run_s == 36_000
    assert config.timing.min_seconds == 60
    assert config.timing.manual_idle is True
    assert config.rounding.increment_s == 0
    assert config.rounding.direction == "up"
    assert config.rounding.minimum_billed_s == 0
    assert config.instances == []
    assert config.extension_origins == []


def test_a_full_config_decodes() -> None:
    text = """
port = 47601
approval = "two"
extension_origins = ["chrome-extension://abcdefghijklmnopabcdefghijklmnop"]

[timing]
mode = "open"
idle_s = 600

[rounding]
increment_s = 360
direction = "nearest"

[[instances]]
name = "cw"
kind = "connectwise"
origins = ["https://na.myconnectwise.net"]
api_url = "https://api-na.myconnectwise.net"
options = { company_id = "acme", timeout = 30, verify = true }

[[instances]]
name = "halo-2"
kind = "halopsa"
"""
    config = parse_config(text, SOURCE)
    assert config.port == 47601
    assert config.approval == "two"
    assert config.timing.mode == "open" and config.timing.idle_s == 600
    assert config.timing.grace_s == 30  # an untouched key keeps its default
    assert config.rounding.increment_s == 360 and config.rounding.direction == "nearest"
    assert config.instances == [
        InstanceConfig(
            name="cw",
            kind="connectwise",
            origins=["https://na.myconnectwise.net"],
            api_url="https://api-na.myconnectwise.net",
            options={"company_id": "acme", "timeout": 30, "verify": True},
        ),
        InstanceConfig(name="halo-2", kind="halopsa"),
    ]


def test_settings_put_the_database_and_token_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(
        config=Config(), config_file=tmp_path / "c.toml", data_dir=tmp_path / "d", log_dir=tmp_path / "l", port=1
    )
    assert settings.db_path.parent == tmp_path / "d"
    assert settings.token_file.parent == tmp_path / "d"
    assert settings.db_path != settings.token_file
