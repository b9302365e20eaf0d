"""Whole-file writes that readers never see half done: a temporary sibling, fsync, rename.

Files and folders made here follow the process umask like any ``open()``: ``mkstemp`` and
``mkdtemp`` create 0600 / 0700 for privacy, which would hide manifests, revisions, evaluations
and exports from the other users (or the Label Studio / CVAT service) sharing the storage, so
:func:`follow_umask` gives them the mode a plain ``open()`` / ``mkdir()`` would.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from autolabel.names import json_line


def current_umask() -> int:
    """The process umask, read without changing it where the system says it (Linux
    ``/proc/self/status``), else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: str | os.PathLike[str], folder: bool = False) -> None:
    """Give ``path`` the mode ``open()`` (0666) or ``mkdir()`` (0777) would under the umask."""
    os.chmod(path, (0o777 if folder else 0o666) & ~current_umask())


def make_temp_dir(parent: str | os.PathLike[str], prefix: str) -> Path:
    """``tempfile.mkdtemp(prefix=prefix, dir=parent)`` with the umask's mode (not 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    follow_umask(path, folder=True)
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success it is fsynced and renamed
    onto ``path``, on any error removed. Readers never see a half-written file. The file gets
    the umask's mode, like a plain ``open()``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        follow_umask(tmp)
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` through a temporary sibling and a rename."""
    with atomic_write(path) as f:
        f.write(json_line(obj, indent=2, sort_keys=False) + "\n")
