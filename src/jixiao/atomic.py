"""Atomic output: write to a temporary file in the target folder, then rename over.

A crash or a failed run never leaves a half-written file under the final name. A write the
output folder refuses (a file where a folder should be, no permission, the target open in
Excel on Windows, a full disk) raises `OutputError`, with a Chinese message naming the path.

An output gets the permissions any newly created file gets (the umask, or the folder's default
ACL), also when it replaces an earlier one: see `_new_temp`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import OutputError, output_error

# errors of writing the data itself that are the output folder's (a full or read-only disk)
_DISK_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EROFS, errno.EFBIG})
TEMP_PREFIX = ".~tmp-"  # then the writer's pid: see remove_leftovers
_TEMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)
               | getattr(os, "O_NOFOLLOW", 0))


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success it is renamed to `target`."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = _new_temp(target.parent, target.suffix)
    except OSError as exc:
        raise output_error(target, exc) from exc
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


def _new_temp(folder: Path, suffix: str) -> Path:
    """A new empty file `.~tmp-<pid>-<random><suffix>` in `folder`.

    Created with mode 0o666, as open() does, so the kernel applies the umask (or the folder's
    default ACL) exactly as for any new file: mkstemp's 0o600 left a shared OUTBOX's copies
    unreadable to the accountants. The umask is never read or changed (changing it is
    process-wide, and the drop folder runs a watcher thread). A replaced output does not keep
    the old file's mode: the rename makes a new file owned by whoever ran the check, and in a
    shared folder the umask or default ACL is how the county sets who may read the outputs (an
    old file may also carry the 0o600 of earlier versions, which keeping would never mend)."""
    for _ in range(100):
        path = folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(path, _TEMP_FLAGS, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "没有可用的临时文件名", str(folder))


def remove_leftovers(folders: Iterable[str | Path], pid: int) -> None:
    """Remove the temporary files that process `pid`, now ended (killed while writing an output),
    left in `folders`. Only that process made files with its pid in the name."""
    for folder in folders:
        with contextlib.suppress(OSError):
            for p in Path(folder).glob(f"{TEMP_PREFIX}{pid}-*"):
                with contextlib.suppress(OSError):
                    p.unlink()


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
