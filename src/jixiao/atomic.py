"""Atomic output: write to a temporary file in the target folder, then rename over.

A crash or a failed run never leaves a half-written file under the final name. A write the
output folder refuses (a file where a folder should be, no permission, the target open in
Excel on Windows, a full disk) raises `OutputError`, with a Chinese message naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import OutputError, output_error

# errors of writing the data itself that are the output folder's (a full or read-only disk)
_DISK_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EROFS, errno.EFBIG})


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success it is renamed to `target`."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".~tmp-", suffix=target.suffix, dir=target.parent)
    except OSError as exc:
        raise output_error(target, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            os.replace(tmp_path, target)
        except OSError as exc:
            raise output_error(target, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def write_atomic(target: str | Path, write: Callable[[Path], None]) -> Path:
    with atomic_path(target) as tmp:
        try:
            write(tmp)
        except OSError as exc:
            # only the output's own failures: `write` may read other files (the input) too
            if exc.errno in _DISK_ERRNOS or exc.filename in (str(tmp), tmp):
                raise output_error(target, exc) from exc
            raise
    return Path(target)


def prepare_dir(path: str | Path) -> Path:
    """Create the output folder `path` if need be; `OutputError` when it cannot hold outputs
    (checked before any work, so a long batch does not fail at its very end)."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(p, exc, folder=True) from exc
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputError(f"无法写入 {p}：没有写入权限")
    return p


def write_bytes_atomic(target: str | Path, data: bytes) -> Path:
    return write_atomic(target, lambda p: p.write_bytes(data))


def write_text_atomic(target: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return write_atomic(target, lambda p: p.write_text(text, encoding=encoding))
