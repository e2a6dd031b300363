"""Rules and company tags in the config file: decoded with the rest of it, checked when it loads (a mistake names
its key and the file), and today's `rounding` / `timing.min_seconds` / `billable_default` keep working."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.cli.common import CliError
from daemon.cli.config import load_config
from daemon.settings import ConfigError, parse_config

INSTANCE = '[[instances]]\nname = "cw"\nkind = "connectwise"\noptions = { member = "jdoe" }\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_config_with_rules_and_companies_loads(tmp_path: Path) -> None:
    text = (
        INSTANCE
        + '[rules]\nmin_seconds = 90\n[[rules.scoped]]\nmatch = { instance = "cw", company = "Contoso" }\n'
        + 'rounding = { increment_s = 900 }\nnote_template = "{ticket}: {summary}"\n'
        + '[[companies]]\nname = "Contoso"\ntags = ["managed"]\n'
    )
    config = load_config(write(tmp_path, text), explicit=True)
    assert config.rules.min_seconds == 90
    assert config.rules.scoped[0].match.company == "Contoso"
    assert config.rules.scoped[0].rounding.increment_s == 900
    assert config.companies[0].tags == ["managed"]


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        ('[[rules.scoped]]\nmatch = { instance = "at" }\n', "rules.scoped[0].match.instance"),
        ("[[rules.scoped]]\nmatch = {}\nmin_seconds = 5\n", "rules.scoped[0].match"),
        ('[rules]\nnote_template = "{tikcet}"\n', "rules.note_template"),
        (
            '[[company_tags.map]]\ninstance = "at"\nattribute = "companyType"\nvalue = "1"\ntags = ["customer"]\n',
            "company_tags.map[0].instance",
        ),
    ],
)
def test_rules_are_checked_when_the_config_loads(tmp_path: Path, rules: str, named: str) -> None:
    path = write(tmp_path, INSTANCE + rules)
    with pytest.raises(CliError) as caught:
        load_config(path, explicit=True)
    assert str(caught.value).startswith(f"{path}: {named}: ")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[[rules.scoped]]\nmatch = { company = "X" }\nrounding = { direction = "sideways" }\n', "rules.scoped[0]"),
        ('[[rules.scoped]]\nmatch = { customer = "X" }\n', "customer"),
        ("[rules]\nmin_seconds = -5\n", "rules.min_seconds"),
        ('[[companies]]\nname = "X"\ntags = "managed"\n', "companies[0].tags"),
        ('[[companies]]\ntags = ["a"]\n', "name"),
    ],
)
def test_rule_types_are_named_by_key(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.toml")
    assert named in str(caught.value)


def test_todays_keys_stay_the_global_block() -> None:
    config = parse_config('billable_default = "yes"\n[timing]\nmin_seconds = 30\n[rounding]\nincrement_s = 600\n')
    assert config.rules.scoped == []
    assert (config.rounding.increment_s, config.timing.min_seconds, config.billable_default) == (600, 30, "yes")
