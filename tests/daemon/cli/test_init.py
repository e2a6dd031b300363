"""`ticketclock init` run non-interactively, as a script or an RMM would: real subprocesses, a real sandbox PSA."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

from daemon.cli.init import edit_config
from daemon.sandbox.halopsa import CLIENT_ID, CLIENT_SECRET
from daemon.settings import InstanceConfig, parse_config
from tests.daemon.cli.conftest import Sandbox, run_cli

HALO_CREDS = f"client_id={CLIENT_ID}\nclient_secret={CLIENT_SECRET}\n"


def config_of(home: Path) -> dict[str, object]:
    return tomllib.loads((home / "config" / "config.toml").read_text(encoding="utf-8"))


def stored(home: Path) -> dict[str, object]:
    path = home / "data" / "credentials.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def test_init_sandbox_writes_the_look_alikes_and_stores_their_credentials(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "init", "--sandbox", "--yes")
    assert result.returncode == 0, result.stderr
    config = config_of(tmp_path)
    instances = {i["name"]: i for i in config["instances"]}  # type: ignore[attr-defined]
    assert set(instances) == {"connectwise-sandbox", "autotask-sandbox", "halopsa-sandbox"}
    assert instances["connectwise-sandbox"]["api_url"] == "http://127.0.0.1:47700"  # `ticketclock sandbox` defaults
    assert instances["halopsa-sandbox"]["api_url"] == "http://127.0.0.1:47702"
    assert set(stored(tmp_path)) == set(instances)
    assert "not tested: the sandbox is not running yet" in result.stdout
    assert "`ticketclock sandbox`" in result.stdout and "ticketclock serve" in result.stdout
    assert "ticketclock pair" in result.stdout
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    doctor = run_cli(tmp_path, "doctor")
    assert "data dir" in doctor.stdout and "others can read" not in doctor.stdout


def test_init_against_a_running_psa_tests_then_stores_the_credentials(tmp_path: Path, halo_sandbox: Sandbox) -> None:
    base = halo_sandbox.of("halopsa")["base_url"]
    home = tmp_path / "home"
    result = run_cli(
        home, "init", "--kind", "halopsa", "--url", f"{base}/ticket?id=1", "--name", "halo", stdin=HALO_CREDS
    )
    assert result.returncode == 0, result.stderr
    assert f"{base} answers" in result.stdout
    assert "halo: connected as" in result.stdout
    (instance,) = config_of(home)["instances"]  # type: ignore[misc]
    assert instance == {"name": "halo", "kind": "halopsa", "origins": [base], "api_url": ""}
    assert stored(home)["halo"] == {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert CLIENT_SECRET not in result.stdout + result.stderr


def test_init_with_refused_credentials_stores_nothing(tmp_path: Path, halo_sandbox: Sandbox) -> None:
    base = halo_sandbox.of("halopsa")["base_url"]
    home = tmp_path / "home"
    wrong = f"client_id={CLIENT_ID}\nclient_secret=not-the-secret\n"
    result = run_cli(home, "init", "--kind", "halopsa", "--url", base, "--name", "halo", stdin=wrong)
    assert result.returncode == 2
    assert "refused the credentials" in result.stderr and "nothing was stored" in result.stderr
    assert "not-the-secret" not in result.stdout + result.stderr
    assert stored(home) == {}
    # the config is written, so running init again (with the right secret) completes the same instance
    again = run_cli(home, "init", "--kind", "halopsa", "--url", base, "--name", "halo", stdin=HALO_CREDS)
    assert again.returncode == 0, again.stderr
    assert len(config_of(home)["instances"]) == 1  # type: ignore[arg-type]
    assert "halo" in stored(home)


def test_init_with_an_unreachable_psa_says_so_and_stores_nothing(tmp_path: Path) -> None:
    from tests.support import vacant_port

    with vacant_port() as port:
        result = run_cli(tmp_path, "init", "--kind", "halopsa", "--url", f"http://127.0.0.1:{port}", stdin=HALO_CREDS)
    assert result.returncode == 1
    assert f"cannot reach http://127.0.0.1:{port}" in result.stdout
    assert "check the address and the network" in result.stdout
    assert stored(tmp_path) == {}


def test_init_without_a_terminal_names_the_missing_flag(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "init", "--url", "https://na.myconnectwise.net")
    assert result.returncode == 2
    assert "--kind is needed when init is not run in a terminal" in result.stderr
    assert not (tmp_path / "config" / "config.toml").exists()


def test_rerunning_init_edits_the_file_and_keeps_what_init_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    mine = (
        "# my own notes about this machine\n"
        "port = 47611\n"
        'credentials = "file"\n'
        "\n"
        "[timing]\n"
        "idle_s = 600  # longer coffee breaks\n"
        "\n"
        "# the production Halo\n"
        "[[instances]]\n"
        'name = "prod"\n'
        'kind = "halopsa"\n'
        'origins = ["https://prod.halopsa.com"]\n'
        "\n"
        "# the sandbox, configured by hand before\n"
        "[[instances]]\n"
        'name = "halopsa-sandbox"\n'
        'kind = "halopsa"\n'
        'origins = ["http://127.0.0.1:1"]\n'
        "\n"
        "[rounding]\n"
        "increment_s = 360\n"
    )
    path.write_text(mine, encoding="utf-8")
    for _ in range(2):
        result = run_cli(tmp_path, "init", "--sandbox", "--kind", "halopsa", "--port-base", "47800", "--yes")
        assert result.returncode == 0, result.stderr
    text = path.read_text(encoding="utf-8")
    config = parse_config(text)
    assert config.port == 47611 and config.timing.idle_s == 600 and config.rounding.increment_s == 360
    assert [i.name for i in config.instances] == ["prod", "halopsa-sandbox"]
    assert config.instances[1].api_url == "http://127.0.0.1:47800"
    for kept in (
        "# my own notes about this machine",
        "idle_s = 600  # longer coffee breaks",
        "# the production Halo",
        "# the sandbox, configured by hand before",
    ):
        assert kept in text
    assert "`ticketclock sandbox --port-base 47800 --kind halopsa`" in result.stdout


def test_edit_config_replaces_the_named_table_only() -> None:
    before = '[[instances]]\nname = "a"\nkind = "halopsa"\n\n# b\n[[instances]]\nname = "b"\nkind = "halopsa"\n'
    new = InstanceConfig(name="a", kind="halopsa", origins=["https://x.halopsa.com"])
    after = edit_config(before, [new])
    config = parse_config(after)
    assert [(i.name, i.origins) for i in config.instances] == [("a", ["https://x.halopsa.com"]), ("b", [])]
    assert after.count("[[instances]]") == 2 and "# b\n[[instances]]" in after
    assert edit_config(after, [new]) == after  # idempotent


def test_init_writes_the_config_file_it_is_given(tmp_path: Path) -> None:
    """An RMM script names the file: init creates it (every other command wants it to exist)."""
    target = tmp_path / "deploy" / "ticketclock.toml"
    result = run_cli(tmp_path, "init", "--sandbox", "--kind", "halopsa", "--config", str(target), "--yes")
    assert result.returncode == 0, result.stderr
    assert [i.name for i in parse_config(target.read_text(encoding="utf-8")).instances] == ["halopsa-sandbox"]
    assert not (tmp_path / "config" / "config.toml").exists()
