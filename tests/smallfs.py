"""A small real file system for the store's hostile-disk tests: a tmpfs of a few
MB (the tests run as root), filled up with a filler file, remounted read-only
and back. The context manager always unmounts, even after a failed test."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def tmpfs(directory: Path, size: str = "4m") -> Iterator[Path]:
    """``directory`` as a fresh tmpfs of ``size``, unmounted at the end."""
    directory.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0750", "tmpfs", str(directory))
    try:
        yield directory
    finally:
        # Lazy: a process the test left behind must not keep the mount alive.
        subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)


def remount(directory: Path, *, readonly: bool) -> None:
    _mount("-o", "remount," + ("ro" if readonly else "rw"), str(directory))


def fill_up(directory: Path, name: str = "filler") -> Path:
    """Write a filler file until the file system is full; return it."""
    filler = directory / name
    chunk = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError:
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)
    return filler


def free_bytes(directory: Path) -> int:
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize
