"""Writing a file the way a command given a path from outside should: into a folder that exists
(none is created), never through a symbolic link at the target (a link planted there is refused,
not followed), with the permissions asked for."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class UnsafePath(OSError):
    """A target that is a symbolic link, not a regular file, or in a folder that is missing."""


def write_file(path: Path, data: bytes, *, mode: int = 0o644, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` (replacing a regular file unless ``exclusive``); refuse a
    symbolic link at ``path`` and a missing parent folder. A new file gets ``mode``."""
    parent = path.parent
    if not parent.is_dir():
        raise UnsafePath(f"{path}: folder {parent} does not exist (it is not created)")
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    if os.path.islink(path):
        raise UnsafePath(f"{path}: is a symbolic link; not followed, not replaced")
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise UnsafePath(f"{path}: exists already; not replaced") from None
    except OSError as exc:
        if os.path.islink(path):  # planted between the check and the open
            raise UnsafePath(f"{path}: is a symbolic link; not followed, not replaced") from None
        raise UnsafePath(f"{path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise UnsafePath(f"{path}: not a regular file")
        fh.write(data)
    return path
