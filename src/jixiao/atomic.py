"""Atomic output: write to a temporary file in the target folder, then rename over.

A crash or a failed run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success it is renamed to `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".~tmp-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def write_atomic(target: str | Path, write: Callable[[Path], None]) -> Path:
    with atomic_path(target) as tmp:
        write(tmp)
    return Path(target)


def write_bytes_atomic(target: str | Path, data: bytes) -> Path:
    return write_atomic(target, lambda p: p.write_bytes(data))


def write_text_atomic(target: str | Path, text: str, encoding: str = "utf-8") -> Path:
    return write_atomic(target, lambda p: p.write_text(text, encoding=encoding))
