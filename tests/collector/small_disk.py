"""A real, small filesystem for full-disk tests: a tmpfs mounted for the test, and a filler file.

Mounting needs root; without it (or if the mount fails) the test is skipped with the reason.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MiB = 1024 * 1024


@contextmanager
def small_disk(directory: Path, size_mib: int = 24) -> Iterator[Path]:
    """Mount a ``size_mib`` MiB tmpfs on ``directory`` for the duration of the block."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(directory)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "--lazy", str(directory)], check=True)


def free_bytes(directory: Path) -> int:
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def fill(directory: Path, leave: int) -> Path:
    """Write a filler file into ``directory`` until about ``leave`` bytes are free; delete it to give them back."""
    path = directory / "filler"
    todo = free_bytes(directory) - leave
    chunk = b"\xff" * MiB
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while todo > 0:
            try:
                todo -= os.write(fd, chunk[: min(todo, len(chunk))])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    return path
