"""Safety helpers for writing outputs and for running one file under limits.

Output names and printed text
    `safe_filename(name)` turns text taken from a cell (a unit or project name) into one
    harmless file-name component; `safe_output_path(folder, name, suffix)` joins it to the
    output folder and proves the result stays inside. Never put cell text into a path any
    other way. `printable(text)` makes cell or sheet text safe to print on a terminal.

Per-file limits for batch workers (POSIX; on Windows only the time limit applies)
    Pick one of:

    * a pool whose workers are limited for their whole life — pass
      ``initializer=limit_current_process, initargs=(mem_bytes,)`` to
      ``concurrent.futures.ProcessPoolExecutor`` and wrap each file's work in
      ``with time_limit(seconds):``. A worker that hits the memory cap raises MemoryError
      (Python) or dies (native code); the pool then reports ``BrokenProcessPool`` for that
      future, which the caller maps to `TooLarge` for that file.
    * one fresh child per file — ``run_isolated(fn, *args, timeout_s=60, mem_bytes=2 << 30)``
      runs ``fn(*args)`` in a child process and returns its result, re-raises its
      `CannotCheck`, and turns a timeout, a crash or running out of memory into a
      `CannotCheck` with a Chinese message. ``fn`` and its result must be picklable
      (``jixiao.pipeline.load_model`` and a ``WorkbookModel`` are).

    ``mem_bytes`` caps the address space (RLIMIT_AS), which counts reserved, not only used,
    memory: with pandas/pyarrow imported, stay at 1 GiB or more.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import re
import signal
import threading
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import CannotCheck, TimedOut, TooLarge, internal_error

try:  # POSIX only
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

# --- file names -------------------------------------------------------------------------------

# Characters that are path separators or invalid on Windows; replaced, never passed through.
_BAD_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
# Names Windows reserves for devices, with or without an extension ("CON", "con.txt", "COM1").
_RESERVED = re.compile(r"^(con|prn|aux|nul|clock\$|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.I)
MAX_NAME_BYTES = 120  # of the 255 most file systems allow: room for suffixes and a numbering


def safe_filename(name: object, *, default: str = "未命名", max_bytes: int = MAX_NAME_BYTES) -> str:
    """A single, harmless file-name component made from untrusted text.

    - path separators, characters Windows forbids and control characters become "_";
      invisible format characters (bidi overrides such as U+202E, zero-width spaces) go;
    - no runs of dots, no leading/trailing dots, spaces or "_": "..", "." and "name." cannot occur;
    - Windows device names (CON, NUL, COM1, ...) get a "_" prefix;
    - at most `max_bytes` bytes of UTF-8, cut on a character boundary;
    - empty results become `default`.
    """
    text = unicodedata.normalize("NFC", "" if name is None else str(name))
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cf", "Cs", "Co", "Cn"):
            continue  # invisible or unassigned: could disguise the name ("exe.xlsx" reversed)
        if cat.startswith("Z") and ch != " ":
            ch = " "  # line/paragraph separators, ideographic space
        kept.append(ch)
    text = _BAD_CHARS.sub("_", "".join(kept))
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\.{2,}", "_", text)  # ".." carries no meaning in a name, only suspicion
    text = re.sub(r"_{2,}", "_", text)
    text = text.strip(" ._")
    text = _truncate_utf8(text, max_bytes).strip(" ._")
    if not text:
        text = default
    if _RESERVED.match(text):
        text = "_" + text
    return text


_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: object, limit: int | None = None) -> str:
    """Text from a workbook made safe to print on a terminal: control characters (ESC
    sequences could clear the screen or retitle the window) and bidi overrides (which can make
    text read backwards) are shown as escapes; line breaks become spaces. `limit` cuts long
    text with "…"."""
    out = []
    for ch in "" if text is None else str(text):
        if ch in "\r\n\t":
            out.append(" ")
        elif unicodedata.category(ch) == "Cc" or ch in _BIDI:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    result = "".join(out)
    if limit is not None and len(result) > limit:
        result = result[: max(limit - 1, 0)] + "…"
    return result


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore")


def safe_output_path(folder: str | Path, name: object, suffix: str = "") -> Path:
    """`folder / (safe_filename(name) + suffix)`, checked to stay directly inside `folder`.

    `suffix` is ours (e.g. "_批注.xlsx") and must not contain a path separator.
    """
    if "/" in suffix or "\\" in suffix or "\x00" in suffix:
        raise ValueError(f"suffix must be a plain file-name ending: {suffix!r}")
    base = Path(folder).resolve()
    target = (base / (safe_filename(name) + suffix)).resolve()
    if target.parent != base:  # belt and braces: safe_filename already made this impossible
        raise ValueError(f"output path escapes {base}: {target}")
    return target


# --- limits for one file ----------------------------------------------------------------------


def limit_current_process(mem_bytes: int | None = None, cpu_seconds: int | None = None) -> None:
    """Cap this process's address space and CPU time (POSIX; silently nothing elsewhere).

    Meant for a worker process before it takes work (a pool initializer). The limits last for
    the rest of the process, and can only be lowered again.
    """
    if resource is None:
        return
    if mem_bytes:
        _lower(resource.RLIMIT_AS, int(mem_bytes))
    if cpu_seconds:
        _lower(resource.RLIMIT_CPU, int(cpu_seconds))


def _lower(which: int, value: int) -> None:
    assert resource is not None
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(which, (value, hard))


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise `TimedOut` in the block after `seconds` of wall time.

    Uses SIGALRM, so it works in the main thread of a POSIX process (a pool worker is one);
    elsewhere it does nothing. Native code (the workbook reader) is interrupted only when it
    returns to Python; the read stage's size limits keep that short.
    """
    usable = (seconds and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def _alarm(signum: int, frame: Any) -> None:
        raise TimedOut(f"检查超时（超过 {seconds:g} 秒），已停止；文件可能异常庞大或结构异常")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_isolated(fn: Callable[..., Any], *args: Any, timeout_s: float = 120, mem_bytes: int | None = 2 << 30,
                 start_method: str | None = None, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in a child process with a time and memory limit.

    Returns fn's result. A `CannotCheck` raised by fn is re-raised here unchanged; any other
    exception becomes `InternalError`; a timeout becomes `TimedOut`; a child killed by the
    memory cap or crashing in native code becomes `TooLarge`. Nothing leaks: the child is
    killed and reaped in every case.

    `start_method` defaults to "fork" on Linux (cheap, imports shared) and the platform
    default elsewhere; pass "spawn" from a process that runs other threads.
    """
    method = start_method or ("fork" if "fork" in mp.get_all_start_methods() and os.name == "posix"
                              and not _is_macos() else None)
    ctx = mp.get_context(method)
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, fn, args, kwargs, mem_bytes), daemon=True)
    child.start()
    send.close()
    try:
        if not recv.poll(timeout_s):
            raise TimedOut(f"检查超时（超过 {timeout_s:g} 秒），已停止；文件可能异常庞大或结构异常")
        try:
            status, payload = recv.recv()
        except (EOFError, OSError):
            child.join(5)
            raise TooLarge(_crash_message(child.exitcode)) from None
    finally:
        recv.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    if status == "ok":
        return payload
    if status == "cannot":
        raise payload
    if status == "memory":
        raise TooLarge("检查该文件时超出内存上限，已停止；文件可能异常庞大")
    raise internal_error(RuntimeError(payload))


def _child(send: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
           mem_bytes: int | None) -> None:
    import faulthandler

    faulthandler.disable()  # a crash is reported by the parent in Chinese, not as a C-level dump
    limit_current_process(mem_bytes)
    try:
        result: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except CannotCheck as exc:
        result = ("cannot", exc)
    except MemoryError:
        result = ("memory", None)
    except BaseException as exc:  # includes pyo3 PanicException from native readers
        result = ("error", f"{type(exc).__name__}: {exc}"[:300])
    try:
        send.send(result)
    except MemoryError:
        send.send(("memory", None))
    except Exception as exc:  # an unpicklable result is a bug in the caller's fn
        send.send(("error", f"result not transferable: {type(exc).__name__}: {exc}"[:300]))
    finally:
        send.close()


def _crash_message(exitcode: int | None) -> str:
    sig = -exitcode if exitcode is not None and exitcode < 0 else None
    name = signal.Signals(sig).name if sig and sig in signal.Signals._value2member_map_ else str(exitcode)
    return f"读取该文件时处理进程异常退出（{name}），多半是超出内存上限；文件可能异常庞大或结构异常"


def _is_macos() -> bool:
    return os.uname().sysname == "Darwin" if hasattr(os, "uname") else False
