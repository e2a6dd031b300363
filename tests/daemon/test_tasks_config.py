"""The managed list of admin tasks (`[[tasks]]`): checked when the config loads, with errors that name the key, and
listed by `GET /api/v1/tasks` with where each task's time goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.cli.common import CliError
from daemon.cli.config import load_config
from daemon.connectors.options import check_config
from daemon.settings import ConfigError, TaskPost, parse_config
from tests.support import make_settings, start_daemon

SOURCE = Path("/home/tech/.config/ticketclock/config.toml")
INSTANCES = """
[[instances]]
name = "acme-cw"
kind = "connectwise"
origins = ["https://na.myconnectwise.net"]
options = { member = "jdoe" }

[[instances]]
name = "acme-at"
kind = "autotask"

[[instances]]
name = "acme-halo"
kind = "halopsa"
api_url = "https://acme.halopsa.com"
"""
GOOD = (
    INSTANCES
    + """
[[tasks]]
name = "Admin"
post = { instance = "acme-cw", charge_code = 12 }

[[tasks]]
name = "Training"
post = { instance = "acme-at", billing_code = 29682801 }

[[tasks]]
name = "Team meeting"
"""
)


def load(text: str) -> None:
    """Both checks the CLI runs when it reads the config file."""
    check_config(parse_config(text, SOURCE), SOURCE)


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(text)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}:"), message
    return message


def test_a_good_list_loads() -> None:
    config = parse_config(GOOD, SOURCE)
    check_config(config, SOURCE)
    assert [t.name for t in config.tasks] == ["Admin", "Training", "Team meeting"]
    assert config.tasks[0].post == TaskPost(instance="acme-cw", charge_code=12)
    assert config.tasks[1].post == TaskPost(instance="acme-at", billing_code=29682801)
    assert config.tasks[2].post is None
    found = config.task("team MEETING")
    assert found is not None and found.name == "Team meeting"
    assert config.task("Lunch") is None


@pytest.mark.parametrize(
    ("task", "names"),
    [
        ('name = "Admin"\npost = { instance = "nowhere", charge_code = 12 }', ("tasks[0].post.instance", "nowhere")),
        ('name = "Admin"\npost = { instance = "acme-cw", billing_code = 12 }', ("tasks[0].post.billing_code",)),
        ('name = "Admin"\npost = { instance = "acme-cw" }', ("tasks[0].post.charge_code", "required")),
        ('name = "Admin"\npost = { instance = "acme-at", charge_code = 12 }', ("tasks[0].post.charge_code",)),
        ('name = "Admin"\npost = { instance = "acme-at", time_entry_type = 6 }', ("tasks[0].post.billing_code",)),
        ('name = "Admin"\npost = { instance = "acme-cw", charge_code = 12, time_entry_type = 1 }', ("type",)),
        ('name = "Admin"\npost = { instance = "acme-halo", charge_code = 12 }', ("tasks[0].post", "halopsa", "local")),
        ('name = "Admin"\npost = { instance = "acme-cw", charge_code = 0 }', ("tasks[0].post.charge_code",)),
        ('name = "Admin"\npost = { instance = "acme-cw", charge_code = "12" }', ("tasks[0].post.charge_code",)),
        ('name = "Admin"\npost = { instance = "acme-cw", chargecode = 12 }', ("chargecode",)),
        ('name = "Admin"\ncolour = "red"', ("colour",)),
        ('name = ""', ("tasks[0].name",)),
        ('name = " Admin"', ("tasks[0].name",)),
        ("post = { instance = 'acme-cw', charge_code = 12 }", ("name",)),
    ],
)
def test_a_bad_task_is_refused_naming_the_key(task: str, names: tuple[str, ...]) -> None:
    message = error(f"{INSTANCES}\n[[tasks]]\n{task}\n")
    for name in names:
        assert name in message, message


def test_a_task_listed_twice_is_refused() -> None:
    message = error(f'{INSTANCES}\n[[tasks]]\nname = "Admin"\n\n[[tasks]]\nname = "admin"\n')
    assert "tasks[1].name" in message and "listed twice" in message


def test_the_cli_stops_on_a_bad_task(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'{INSTANCES}\n[[tasks]]\nname = "Admin"\npost = {{ instance = "acme-halo" }}\n', encoding="utf-8")
    with pytest.raises(CliError) as info:
        load_config(path, explicit=True)
    assert "tasks[0].post" in str(info.value)
    path.write_text(GOOD, encoding="utf-8")
    assert len(load_config(path, explicit=True).tasks) == 3


async def test_the_api_lists_the_tasks_and_where_they_post(tmp_path: Path) -> None:
    daemon = await start_daemon(make_settings(tmp_path, config_text=GOOD))
    try:
        response = await daemon.http.get("/api/v1/tasks")
        assert response.status_code == 200, response.text
        tasks = response.json()["tasks"]
    finally:
        await daemon.stop()
    assert [(t["name"], t["posts"], t["instance"], t["psa"]) for t in tasks] == [
        ("Admin", True, "acme-cw", "connectwise"),
        ("Training", True, "acme-at", "autotask"),
        ("Team meeting", False, None, None),
    ]
    assert (tasks[0]["charge_code"], tasks[1]["billing_code"]) == (12, 29682801)
    assert tasks[0]["where"] == "ConnectWise charge code 12 on acme-cw"
    assert tasks[2]["where"].startswith("local")
