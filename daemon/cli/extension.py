"""`ticketclock extension path|pack`: where the browser extension that ships with this package is, and a versioned
zip of it for the Chrome Web Store, Edge Add-ons or a force-install policy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from daemon import __version__
from daemon.cli.common import CliError, Command
from daemon.cli.output import say
from daemon.settings import Settings

__all__ = ["COMMANDS", "extension_dir", "pack", "packed_files"]

SKIPPED = frozenset({"tests", "node_modules", "__pycache__"})
"""Folders of the source checkout's extension that are not part of the extension itself."""


def extension_dir() -> Path:
    """The unpacked extension: inside the installed package (daemon/extension), else the source checkout's
    `extension/` folder."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "extension", package.parent / "extension"):
        if (folder / "manifest.json").is_file():
            return folder
    raise CliError(f"the browser extension is missing from this installation ({package / 'extension'})")


def packed_files(folder: Path) -> list[Path]:
    """The extension's own files, relative to `folder`: everything but tests, tools and hidden files."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(p in SKIPPED or p.startswith(".") for p in rel.parts):
            found.append(rel)
    return found


def pack(folder: Path, out_dir: Path) -> Path:
    """Write ticketclock-extension-<version>.zip: the extension with the package's version in its manifest,
    files in a fixed order with fixed times (the same input gives the same zip)."""
    import zipfile

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["version"] = __version__
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"ticketclock-extension-{__version__}.zip"
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in packed_files(folder):
            info = zipfile.ZipInfo(rel.as_posix(), date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            if rel.as_posix() == "manifest.json":
                data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
            else:
                data = (folder / rel).read_bytes()
            zf.writestr(info, data)
    tmp.replace(target)
    return target


def cmd_extension(settings: Settings, args: argparse.Namespace) -> int:
    folder = extension_dir()
    if args.action == "path":
        print(folder)
        return 0
    target = pack(folder, Path(args.out).expanduser() if args.out else Path.cwd())
    say(f"wrote {target} (version {__version__}): upload it to the Chrome Web Store or Edge Add-ons")
    return 0


def _args_extension(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        nargs="?",
        default="path",
        choices=("path", "pack"),
        help="path (default): print the unpacked extension's folder (Load unpacked); pack: write a versioned zip",
    )
    p.add_argument("--out", metavar="DIR", help="pack: the folder to write the zip in (default: the current one)")


COMMANDS = {
    "extension": Command(
        cmd_extension, "the browser extension: its folder (path) or a store-ready zip (pack)", _args_extension
    ),
}
