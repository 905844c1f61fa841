"""Errors that end the check of one file, each with a Chinese message for the user."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

# Exit codes (documented in README): 0 clean, 1 warnings only, 2 errors, 3 could not check.
EXIT_CLEAN = 0
EXIT_WARNINGS = 1
EXIT_ERRORS = 2
EXIT_UNCHECKABLE = 3


class CannotCheck(Exception):
    """The file cannot be checked. `code` is a stable ASCII id, `message` is Chinese."""

    code = "UNREADABLE"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # keeps a per-instance `code` when the error crosses a process boundary (batch workers)
        return (_rebuild, (type(self), self.message, self.code))


def _rebuild(cls: type[CannotCheck], message: str, code: str) -> CannotCheck:
    return cls(message, code=code)


class NotAWorkbook(CannotCheck):
    code = "NOT_A_WORKBOOK"


class EncryptedWorkbook(CannotCheck):
    code = "ENCRYPTED"


class CorruptWorkbook(CannotCheck):
    code = "CORRUPT"


class UnsafeWorkbook(CannotCheck):
    code = "UNSAFE"


class TooLarge(CannotCheck):
    code = "TOO_LARGE"


class NoAnnexFound(CannotCheck):
    code = "NO_ANNEX"


class EmptyWorkbook(NoAnnexFound):
    """No sheet holds any cell. A NoAnnexFound too: callers handling that need no change."""

    code = "EMPTY"


class TimedOut(CannotCheck):
    """The per-file time limit of a batch worker ran out (see `jixiao.safety`)."""

    code = "TIMEOUT"


class OutputError(CannotCheck):
    """An output (annotated copy, roll-up, per-file JSON, drop-folder state) could not be
    written: a problem of the output folder, not of the workbook checked."""

    code = "OUTPUT"


# why an output could not be written, by errno (what an accountant can do something about)
_OUTPUT_REASONS = {
    errno.ENOTDIR: "路径中有一段是文件而不是文件夹",
    errno.EEXIST: "已有同名的文件，不是文件夹",
    errno.EISDIR: "已有同名的文件夹",
    errno.EACCES: "没有写入权限，或文件正被其他程序（如 Excel、WPS）打开",
    errno.EPERM: "没有写入权限，或文件正被其他程序（如 Excel、WPS）打开",
    errno.ENOSPC: "磁盘空间不足",
    getattr(errno, "EDQUOT", -1): "磁盘配额已满",  # not on every platform
    errno.EROFS: "磁盘或共享文件夹是只读的",
    errno.ENAMETOOLONG: "路径或文件名太长",
    errno.ENOENT: "所在的文件夹不存在或已被删除",
    errno.EFBIG: "文件超过了磁盘或系统允许的大小",
}


def output_error(target: object, exc: OSError, *, folder: bool = False) -> OutputError:
    """The Chinese message for an OSError met while writing output `target` (a file, or with
    `folder` the folder to create). Something in the way is told from the file system, not the
    errno, which differs by platform (Windows reports both as a permission or exists error)."""
    why = _in_the_way(Path(str(target)), folder) or _OUTPUT_REASONS.get(exc.errno or 0)
    if why is None:
        why = f"系统报告“{exc.strerror or type(exc).__name__}”"
    return OutputError(f"无法写入 {target}：{why}")


def _in_the_way(target: Path, folder: bool) -> str | None:
    """A folder where the file `target` should be, or a file where a folder should be."""
    try:
        if not folder and target.is_dir():
            return "已有同名的文件夹"
        if folder and target.exists() and not target.is_dir():
            return "已有同名的文件，不是文件夹"
        for parent in target.parents:
            if parent.exists():
                return None if parent.is_dir() else "路径中有一段是文件而不是文件夹"
    except OSError:
        pass
    return None


class InternalError(CannotCheck):
    """A bug in this tool, not a problem of the file. The file still gets exit code 3 and a
    message; the batch goes on."""

    code = "INTERNAL"


def internal_error(exc: BaseException) -> InternalError:
    """Wrap an unexpected exception. The traceback goes to stderr only when JIXIAO_DEBUG is
    set: users see one Chinese line, maintainers can still get the details."""
    detail = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:200] if str(exc) else type(exc).__name__
    if os.environ.get("JIXIAO_DEBUG"):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return InternalError(f"内部错误：{detail}（请将文件发送给维护人员）")


def quiet_unraisable() -> None:
    """Errors Python can only ignore (in `__del__`, in a generator closed by the garbage
    collector: openpyxl's temporary files on a full disk) print "Exception ignored" and a
    traceback; the user has already been told what failed. Shown with JIXIAO_DEBUG."""
    if not os.environ.get("JIXIAO_DEBUG"):
        sys.unraisablehook = lambda unraisable: None


@contextlib.contextmanager
def unraisable_quieted() -> Iterator[None]:
    """`quiet_unraisable` for the duration of a call (`cli.main` run in-process)."""
    previous = sys.unraisablehook
    quiet_unraisable()
    try:
        yield
    finally:
        sys.unraisablehook = previous


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Let `CannotCheck` through and turn any other exception into `InternalError`.

    Wrap the per-file work with it so one broken file never stops a batch::

        try:
            with guard():
                model = load_model(path)
                ...
        except CannotCheck as exc:
            ...  # exc.message, exc.code, exit code 3
    """
    try:
        yield
    except CannotCheck:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except MemoryError:
        raise TooLarge("检查该文件时内存不足，已停止") from None
    except BaseException as exc:  # includes pyo3 PanicException from native readers
        raise internal_error(exc) from exc
