"""The extension ships with the package: the wheel holds it, `ticketclock extension path` finds it (source checkout
and installed), `ticketclock extension pack` writes a store-ready zip that a real Chromium loads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from daemon import __version__
from daemon.cli.extension import packed_files
from tests.daemon.cli.conftest import cli_env, run_cli

ROOT = Path(__file__).resolve().parents[3]
EXTENSION = ROOT / "extension"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def test_the_checked_in_manifest_has_the_package_version() -> None:
    """One version: daemon.__version__ (pyproject.toml reads it); the unpacked extension says the same."""
    manifest = json.loads((EXTENSION / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == __version__
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and 'attr = "daemon.__version__"' in pyproject


def test_extension_path_in_a_source_checkout(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "extension", "path")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == EXTENSION


def test_pack_writes_a_versioned_zip_with_icons_name_description_and_privacy(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "extension", "pack", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    target = tmp_path / "out" / f"ticketclock-extension-{__version__}.zip"
    assert str(target) in result.stdout
    with zipfile.ZipFile(target) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        privacy = zf.read("PRIVACY.md").decode()
    assert manifest["version"] == __version__
    assert manifest["name"] == "TicketClock" and manifest["description"]
    assert {f"icons/icon{n}.png" for n in (16, 32, 48, 128)} <= names
    assert set(manifest["icons"].values()) <= names
    assert "127.0.0.1" in privacy and "For every other tab: nothing" in privacy
    assert not any(n.startswith("tests/") for n in names)
    assert names == {p.as_posix() for p in packed_files(EXTENSION)}
    again = run_cli(tmp_path, "extension", "pack", "--out", str(tmp_path / "again"))
    assert again.returncode == 0
    assert (tmp_path / "again" / target.name).read_bytes() == target.read_bytes()  # reproducible


@pytest.mark.slow
def test_the_wheel_holds_the_extension_and_the_installed_command_finds_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "node_modules")
    shutil.copytree(ROOT / "daemon", src / "daemon", ignore=ignore)
    shutil.copytree(EXTENSION, src / "extension", ignore=ignore)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("ticketclock-*.whl")
    assert wheel.name.startswith(f"ticketclock-{__version__}-")
    with zipfile.ZipFile(wheel) as zf:
        inside = {n.removeprefix("daemon/extension/") for n in zf.namelist() if n.startswith("daemon/extension/")}
        zf.extractall(tmp_path / "site")  # what an installer puts in site-packages
    assert inside == {p.as_posix() for p in packed_files(EXTENSION)}
    # the installed package, run from its own folder (the source checkout is not on the path)
    env = cli_env(tmp_path / "home")
    env["PYTHONPATH"] = str(tmp_path / "site")
    found = subprocess.run(
        [sys.executable, "-m", "daemon", "extension", "path"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == tmp_path / "site" / "daemon" / "extension"


@pytest.mark.e2e
async def test_the_packed_zip_loads_in_chromium_and_its_worker_runs(tmp_path: Path) -> None:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"chromium not found at {CHROMIUM}")
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.async_api import async_playwright

    assert run_cli(tmp_path, "extension", "pack", "--out", str(tmp_path)).returncode == 0
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(tmp_path / f"ticketclock-extension-{__version__}.zip") as zf:
        zf.extractall(unpacked)
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        f"--disable-extensions-except={unpacked}",
        f"--load-extension={unpacked}",
    ]
    async with async_playwright() as p:
        ctx = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=args
        )
        try:
            sw = ctx.service_workers[0] if ctx.service_workers else await ctx.wait_for_event("serviceworker")
            manifest: dict[str, Any] = await sw.evaluate("() => chrome.runtime.getManifest()")
            assert sw.url.endswith("/background.js")
        finally:
            await ctx.close()
    assert manifest["version"] == __version__ and manifest["name"] == "TicketClock"
