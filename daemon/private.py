"""Only this user may read TicketClock's folders and files: notes, companies and ticket summaries are private.

On a terminal server or jump host many technicians share one machine. POSIX: folders 0700, files 0600, and
`restrict_umask()` at start-up so that files created later (SQLite's -wal and -shm, rotated logs) are born
private. Windows: inherited ACLs removed and the current user alone granted access (icacls); files created in a
private folder inherit its user-only ACL.

Nothing here runs at import time.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

__all__ = ["exposed", "make_private", "private_dir", "restrict_umask", "secure_tree"]

DIR_MODE = 0o700
FILE_MODE = 0o600
WINDOWS = os.name == "nt"


def restrict_umask() -> None:
    """Every file and folder this process creates from now on is user-only (POSIX; Windows ignores umask)."""
    if not WINDOWS:
        os.umask(0o077)


def make_private(path: Path) -> None:
    """chmod 700 (folder) / 600 (file) on POSIX; user-only ACL on Windows. Symlinks are left alone."""
    if path.is_symlink():
        return
    folder = path.is_dir()
    if WINDOWS:  # pragma: no cover - exercised on Windows only
        user = os.environ.get("USERNAME", "")
        if user:
            grant = f"{user}:(OI)(CI)F" if folder else f"{user}:F"
            subprocess.run(["icacls", str(path), "/inheritance:r", "/grant:r", grant], check=False, capture_output=True)
        return
    os.chmod(path, DIR_MODE if folder else FILE_MODE)


def private_dir(path: Path) -> Path:
    """Create the folder (and its parents) if missing; make the folder itself private."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    make_private(path)
    return path


def exposed(root: Path) -> list[Path]:
    """The folder and everything under it that other users could read or enter (POSIX modes; [] on Windows)."""
    if WINDOWS or not root.exists():  # pragma: no cover - Windows: ACLs are re-applied by secure_tree instead
        return []
    found: list[Path] = []
    for path in [root, *sorted(root.rglob("*"))]:
        try:
            st = path.lstat()
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISLNK(st.st_mode):
            continue
        if st.st_mode & 0o077:
            found.append(path)
    return found


def secure_tree(root: Path) -> list[Path]:
    """Make the folder and everything under it private; returns what was not private before (POSIX)."""
    if not root.exists():
        return []
    if WINDOWS:  # pragma: no cover - exercised on Windows only
        for path in [root, *root.rglob("*")]:
            make_private(path)
        return []
    loose = exposed(root)
    for path in loose:
        try:
            make_private(path)
        except FileNotFoundError:
            continue
    return loose
