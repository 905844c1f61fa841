"""County batch: check a whole folder with a pool of worker processes, then one roll-up.

Design (measurements: bench/README.md):
- Workers are long-lived processes forked from a *forkserver* that has already imported the
  pipeline (pandas, pandera, calamine), so a worker starts in milliseconds and forking never
  happens from a parent that runs threads (rich's progress bar, watchdog's observer).
- Files go to workers in chunks, with a second chunk queued ahead so a worker never idles.
  A worker reads and models each file of a chunk on its own, then runs the rule pack once
  for the whole chunk: pandera validates all the chunk's tables in ONE call, which is what
  makes its fixed per-call cost affordable (`check.check_models`).
- Each file is isolated. A worker marks each file as read ("L") on a small shared-memory
  board, with the time of its last sign of life, and when it does not annotate it sends the
  results ("R") in one message per chunk: a message per file woke the parent thousands of
  times a second, on the cores the workers need. From the board the parent knows which file
  a worker is on and when it last moved. If a file takes
  longer than `timeout` (the worker's own SIGALRM normally ends it first) or the worker
  dies (segfault, out of memory under RLIMIT_AS), the worker is replaced and that file is
  recorded as a failure; the other files go back to the queue. If the shared step of a
  chunk is what failed, the chunk's files are checked again one by one, so only the
  culprit is blamed.
- Workers send back a compact `Summary` per file, never the model, and write the annotated
  copy themselves; the parent only streams rows into the roll-up.
- On spawn/forkserver platforms the main module must be import-safe
  (`if __name__ == "__main__":`), as multiprocessing requires; the CLI and pytest are.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import remove_leftovers
from .errors import EXIT_CLEAN, EXIT_UNCHECKABLE, CannotCheck, guard, quiet_unraisable
from .report.rollup import ROLLUP_STEM, Rollup, Summary, summarize

if TYPE_CHECKING:
    from .findings import Finding
    from .model import WorkbookModel
    from .result import FileResult

SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
ANNOTATED_SUFFIX = ".审核.xlsx"
RESULT_JSON_SUFFIX = ".结果.json"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MEMORY_MB = 2048
ANNOTATE_MODES = ("auto", "always", "never")
CHUNK = 128  # files per worker message at most (see WorkerPool.run)
STATE_FILE = ".jixiao-state.json"  # the drop folder's record in OUTBOX (jixiao.watch)
STATE_VERSION = 2  # 2: a row's `warnings` are the unexplained ones (1 counted the explained too)
_MARKER_MAX_BYTES = 64 << 20  # a roll-up of ~40,000 units: a larger file is not taken for ours
STOP_GRACE = 1.0  # seconds a stopped worker has to end in order before it is killed


# ----------------------------------------------------------------------------------------------
# Discovery
# ----------------------------------------------------------------------------------------------


def is_candidate(name: str, folder: str | Path | None = None) -> bool:
    """A workbook the batch should check, judged by its file name (and, for an annotated copy,
    by whether its original sits beside it in `folder`)."""
    lower = name.lower()
    if os.path.splitext(lower)[1] not in SUFFIXES:
        return False
    if name.startswith(("~$", ".~lock.", ".~tmp-", ".")):  # Excel/WPS/LibreOffice locks, our temps, hidden
        return False
    if lower.endswith(".tmp") or name == f"{ROLLUP_STEM}.xlsx":
        return False  # our own outputs must never be checked as inputs
    if name.endswith(ANNOTATED_SUFFIX):
        # Beside its original it is our output; alone, it is a unit's resubmitted copy carrying
        # 审核说明, which must be checked (the explanation round trip).
        return folder is not None and not _has_original(Path(folder), name[: -len(ANNOTATED_SUFFIX)])
    return True


_ORIGINAL_EXTS = (".xlsx", ".xlsm", ".xls", ".ods", ".XLSX", ".XLS")


def _has_original(folder: Path, stem: str) -> bool:
    return any((folder / f"{stem}{ext}").exists() for ext in _ORIGINAL_EXTS)


def originals_beside(path: str | Path) -> list[Path]:
    """The originals an annotated copy `<stem>.审核.xlsx` sits beside; empty for any other file.
    审核说明 typed into such a copy count when its original is checked (`earlier_copies`)."""
    p = Path(path)
    stem = p.name[: -len(ANNOTATED_SUFFIX)]
    if not p.name.endswith(ANNOTATED_SUFFIX) or not is_candidate(f"{stem}.xlsx"):  # a lock file, ...
        return []
    return [q for ext in _ORIGINAL_EXTS if (q := p.with_name(stem + ext)).is_file()]


def is_output_dir(folder: str | Path, names: Collection[str] | None = None) -> bool:
    """A folder this tool wrote its outputs into, apart from their inputs (a batch's `--out`, a
    drop folder's OUTBOX): it holds our roll-up (汇总.json) or drop-folder record, and no workbook
    but our own outputs. Its annotated copies have no original beside them, yet they are ours, not
    units' resubmitted copies, so it is no place to look for inputs. A folder checked in place
    (outputs beside its inputs) still holds its inputs, and is searched. `names`: its file names,
    when the caller has listed it already."""
    folder = Path(folder)
    if names is None:
        if not any((folder / m).is_file() for m in _MARKERS):  # most folders: two stats
            return False
        try:
            names = os.listdir(folder)
        except OSError:
            return False
    if not any(m in names for m in _MARKERS) or any(is_candidate(n) for n in names):
        return False
    for marker, listed in _MARKERS.items():
        if marker in names and (inputs := listed(_read_json(folder / marker))) is not None:
            # a folder checked in place whose workbooks all sit in sub-folders lists inputs that
            # are there (relative to it); an output folder's roll-up lists inputs elsewhere
            return not any(os.path.isfile(os.path.join(folder, rel)) for rel in inputs if _inside(rel))
    return False


def in_output_dir(path: str | Path, root: str | Path) -> bool:
    """Whether file `path` lies in an output folder (`is_output_dir`) below `root`, where
    `discover(root)` does not look."""
    root, folder = Path(root), Path(path).parent
    while folder != root and root in folder.parents:
        if is_output_dir(folder):
            return True
        folder = folder.parent
    return False


def _inside(rel: str) -> bool:
    """A relative path that stays inside its folder (ours always do; a crafted one must not make
    us look elsewhere)."""
    return not os.path.isabs(rel) and ".." not in rel.replace("\\", "/").split("/")


def _rollup_inputs(doc: Any) -> list[str] | None:
    """The input files 汇总.json lists, when it is one `Rollup.write` makes; else None."""
    if (isinstance(doc, dict) and {"files", "status_counts", "grade_counts", "exit_code"} <= doc.keys()
            and isinstance(doc["files"], list)
            and all(isinstance(r, dict) and isinstance(r.get("file"), str) for r in doc["files"])):
        return [r["file"] for r in doc["files"]]
    return None


def state_files(doc: Any) -> dict[str, Any] | None:
    """The files of a drop-folder record as `jixiao.watch.State` saves it (any version it
    reads); else None."""
    if isinstance(doc, dict) and doc.get("version") in (1, STATE_VERSION) and isinstance(doc.get("files"), dict):
        return doc["files"]
    return None


_MARKERS: dict[str, Callable[[Any], Collection[str] | None]] = {f"{ROLLUP_STEM}.json": _rollup_inputs,
                                                                 STATE_FILE: state_files}


def _read_json(path: Path) -> Any:
    """The JSON document in `path`, or None when it is not one we could have written."""
    import json

    try:
        if path.stat().st_size > _MARKER_MAX_BYTES:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def discover(root: str | Path, *, skip_dirs: Iterable[str | Path] = ()) -> list[Path]:
    """Every candidate workbook under `root`, sorted; hidden folders, `skip_dirs` and output
    folders of earlier runs below `root` (`is_output_dir`) pruned."""
    root = Path(root)
    skip = {os.path.realpath(p) for p in skip_dirs}
    found: list[Path] = []
    for index, (dirpath, dirnames, filenames) in enumerate(os.walk(root)):
        if index and is_output_dir(dirpath, filenames):  # `root` itself is searched: it was named
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and os.path.realpath(os.path.join(dirpath, d)) not in skip)
        for name in filenames:
            if is_candidate(name, dirpath):
                p = Path(dirpath, name)
                if p.is_file():
                    found.append(p)
    found.sort(key=lambda p: p.relative_to(root).parts)
    return found


def relative_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


# ----------------------------------------------------------------------------------------------
# Checking one file (runs inside a worker)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """What every worker needs to check, annotate and report one file."""

    root: str  # inputs' common root: relative names and the layout under out_dir
    out_dir: str  # annotated copies (and per-file JSON) go here, mirroring the input folders
    rules: str | tuple[str, ...] | None = None
    profile: str | None = None  # scoring profile (--profile)
    annotate: str = "auto"  # auto: only files with findings; always; never
    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int | None = DEFAULT_MEMORY_MB
    result_json: bool = False  # write <stem>.结果.json per file (drop folder)
    sha256: bool = False  # hash the input (drop folder state)
    flat: bool = False  # outputs directly in out_dir, not mirrored
    check: str | None = None  # "module:function" replacing check_path (tests, benchmarks)


@dataclass(slots=True)
class Task:
    index: int
    path: str
    rel: str
    chunk: int = 0  # which message to the worker carried it
    loaded: bool = False  # the worker has read and modelled it (from its board, on failure)
    solo: bool = False  # re-checked on its own after its chunk's shared step failed


@functools.lru_cache(maxsize=8)
def worker_pack(rules: str | tuple[str, ...] | None) -> Any:
    """The rule pack for `--rules`, loaded once per worker (or once in the forkserver)."""
    from .check import load_pack

    return load_pack(rules)


def check_loaded(models: Sequence[WorkbookModel], explanations: Sequence[dict[tuple[str, str, str], str]],
                 opts: Options) -> list[tuple[list[Finding], Any]]:
    """Stages check -> score for a chunk of models, with this worker's cached pack."""
    from .pipeline import judge

    return judge(models, explanations, worker_pack(opts.rules), opts.profile)


def check_path(path: str, opts: Options) -> FileResult:
    """The whole check of one file (the batch does the same per chunk). Raises `CannotCheck`."""
    from .pipeline import carried_count, load_with_copies
    from .result import FileResult

    rel = relative_name(Path(path), Path(opts.root))
    model, notes, carried = load_with_copies(path, earlier_copies(path, rel, opts))
    [(findings, review)] = check_loaded([model], [notes], opts)
    return FileResult(path=path, model=model, findings=findings, review=review,
                      carried=carried_count(findings, carried))


def earlier_copies(path: str, rel: str, opts: Options) -> list[str]:
    """Where an earlier annotated copy of the file may hold 审核说明 the unit typed: where its new
    copy goes (which replaces it), and beside the file."""
    target = str(output_path(rel, opts, ANNOTATED_SUFFIX))
    folder, name = os.path.split(path)
    beside = os.path.join(folder, os.path.splitext(name)[0] + ANNOTATED_SUFFIX)
    return [target] if beside == target else [target, beside]


@functools.lru_cache(maxsize=4)
def _check_function(spec: str | None) -> Callable[[str, Options], FileResult]:
    if not spec:
        return check_path
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def output_path(rel: str, opts: Options, suffix: str) -> Path:
    """Where an output for input `rel` goes: out_dir/<same sub-folder>/<stem><suffix>."""
    sub, name = os.path.split(rel)  # os.path, not Path: this runs for every file (earlier_copies)
    stem = os.path.splitext(name)[0]
    with contextlib.suppress(Exception):  # the hostile-input helper, when present
        from .safety import safe_filename  # type: ignore[attr-defined]

        stem = safe_filename(stem)
    return Path(opts.out_dir, "" if opts.flat else sub, f"{stem}{suffix}")


def process_file(path: str, rel: str, opts: Options) -> Summary:
    """Check one file, write its outputs and return its roll-up row. Never raises."""
    from .result import FileResult
    from .safety import time_limit

    t0 = time.perf_counter()
    digest = _digest(path, opts)
    try:
        # The in-process alarm ends a slow file cleanly; the parent's kill is the backstop
        # for native code that never returns to Python.
        with time_limit(opts.timeout), guard():
            result = _check_function(opts.check)(path, opts)
    except CannotCheck as exc:
        result = FileResult(path=path, failure_code=exc.code, failure_message=exc.message)
    s = _finish(result, rel, opts)
    s.seconds = round(time.perf_counter() - t0, 4)
    s.sha256 = digest
    return s


def _write_outputs(result: FileResult, rel: str, opts: Options) -> list[str]:
    """The annotated copy, then the per-file JSON (which lists the copy), each on its own: a
    copy that cannot be written does not cost the JSON. Returns a Chinese note per failure."""
    notes: list[str] = []
    if result.checked and (opts.annotate == "always" or (opts.annotate == "auto" and result.findings)):
        try:
            with guard():
                annotate_copy(result, output_path(rel, opts, ANNOTATED_SUFFIX))
        except CannotCheck as exc:
            notes.append(f"审核副本未能生成：{exc.message}")
    elif opts.annotate != "never" and output_path(rel, opts, ANNOTATED_SUFFIX).is_file():
        # an earlier version's copy stays (it may hold a unit's 审核说明): it must not pass for this check's
        why = "本次无法检查" if not result.checked else "本次未发现问题"
        notes.append(f"现有的审核副本是以前检查的结果，已过时（{why}，未生成新副本）")
    if opts.result_json:
        target = output_path(rel, opts, RESULT_JSON_SUFFIX)
        try:
            with guard():
                from .atomic import write_text_atomic

                write_text_atomic(target, result_json_text(result, rel, opts))
                result.outputs.append(str(target))
        except CannotCheck as exc:
            notes.append(f"结果文件未能生成：{exc.message}")
    return notes


def annotate_copy(result: FileResult, target: Path) -> bool:
    """Seam to the annotation stage (jixiao.report.annotate); False while it does not exist.
    The stage records the copy in `result.outputs`."""
    try:
        from .report.annotate import annotate
    except ImportError:
        return False
    return annotate(result, target=target) is not None


def result_json_text(result: FileResult, rel: str, opts: Options) -> str:
    """The drop folder's per-file JSON: the `--format json` document for this one file, plus
    `file`, its path relative to INBOX. Compact, for the programs that read it (the annotated
    copy is the human's): json's C encoder takes no indent, and indenting cost more than the
    rest of writing the file."""
    import json

    from .report.json_report import report_json

    doc = {"file": rel, **report_json([result], rules=worker_pack(opts.rules))}
    return json.dumps(doc, ensure_ascii=False, default=str) + "\n"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def failure_summary(rel: str, code: str, message: str) -> Summary:
    return Summary(file=rel, unit=Path(rel).stem, exit_code=EXIT_UNCHECKABLE,
                   failure_code=code, failure_message=message)


# ----------------------------------------------------------------------------------------------
# The worker process
# ----------------------------------------------------------------------------------------------


class _Terminated(SystemExit):  # a SystemExit: `guard` and the readers let it through
    """SIGTERM in a worker: unwinds the stack, so the `finally` blocks run (an output being
    written removes its temporary file)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: nothing may interrupt the unwinding
    raise _Terminated


def _worker_main(conn: Connection, opts: Options, board: Any) -> None:
    """Receive chunks of tasks and answer them (see `_serve`). SIGTERM (the parent's stop, see
    `WorkerPool.close`) ends it in order, then by the signal itself as before."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _serve(conn, opts, board)
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        os._exit(128 + signal.SIGTERM)  # cannot happen: the signal ends the process first


def _serve(conn: Connection, opts: Options, board: Any) -> None:
    """Loop: receive a chunk of tasks, answer it (see `process_chunk` and `_Outbox`)."""
    _limit_memory(opts.memory_mb)
    _tune_gc()
    quiet_unraisable()  # the worker shares the user's terminal
    # Results are held to the chunk's end only when finishing a file is quick: an annotated copy
    # takes a while per file, and a replacement check runs (and may hang) file by file.
    out = _Outbox(conn, board, hold=opts.annotate == "never" and not opts.check)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            conn.send(("bye", _peak_rss_kib()))
            return
        process_chunk(msg, opts, out.put, out.stopped)
        out.flush()  # before waiting for the next chunk


# board slots: the last file read ("L"), time.monotonic_ns() of the last sign of life (a
# system-wide clock: the parent compares it with its own), and the parent's stop request
BOARD_LOADED, BOARD_ALIVE, BOARD_STOP = 0, 1, 2


class _Outbox:
    """A worker's side of the protocol of `process_chunk`: "L" and "H" go to the shared board
    (no message: the parent reads it when it needs to); "R" is sent, or held and sent in one
    message at the chunk's end, as "S" always is."""

    __slots__ = ("board", "conn", "held", "hold")

    def __init__(self, conn: Connection, board: Any, *, hold: bool) -> None:
        self.conn, self.board, self.hold = conn, board, hold
        self.held: list[Any] = []

    def put(self, msg: Any) -> None:
        self.board[BOARD_ALIVE] = time.monotonic_ns()
        if msg[0] == "L":
            self.board[BOARD_LOADED] = msg[1]
        elif msg[0] == "R":
            if self.hold:
                self.held.append(msg)
            else:
                self.conn.send(("RS", [msg]))
        elif msg[0] == "S":
            self.held.append(msg)

    def stopped(self) -> bool:
        """The parent asked to stop (`WorkerPool.run`)."""
        return bool(self.board[BOARD_STOP])

    def flush(self) -> None:
        if self.held:
            self.conn.send(("RS", self.held))
            self.held = []


def process_chunk(tasks: Sequence[tuple[int, str, str]], opts: Options, send: Callable[[Any], None],
                  stopped: Callable[[], bool] | None = None) -> None:
    """Check a chunk of files; progress goes to `send`, in this order (in a worker, `_Outbox`
    puts "L" and "H" on the shared board and sends the "R"s to the parent):

    ("L", index)           file `index` is read and modelled (or failed doing so)
    ("H", index)           heartbeat: file `index` is being checked on its own
    ("R", index, Summary)  file `index` is done, outputs written
    ("S", index)           file `index` is left undone: `stopped()` said stop (after the "R"s)

    A stop leaves every file whose outputs are not written yet, so it waits for one file, not
    for a chunk of them (the drop folder checks them again at its next start).
    Reading and modelling are per file, each under the time limit. The rules then run once
    for the whole chunk, so pandera's per-call cost is paid once per chunk, not per file. If
    that shared step fails, each file is checked on its own, so a bad file cannot take the
    others' results with it.
    """
    from .pipeline import carried_count, load_with_copies
    from .result import FileResult
    from .safety import time_limit

    stopped = stopped or _never
    if opts.check:  # a replacement check function: strictly one file at a time
        for n, (index, path, rel) in enumerate(tasks):
            if stopped():
                _leave(tasks[n:], send)
                return
            send(("R", index, process_file(path, rel, opts)))
        return
    loaded: list[tuple[int, str, str, FileResult, dict[tuple[str, str, str], str], float, str | None]] = []
    carried: dict[int, dict[tuple[str, str, str], str]] = {}  # index -> explanations of an earlier copy
    for index, path, rel in tasks:
        if stopped():
            _leave(tasks, send)
            return
        t0 = time.perf_counter()
        digest = _digest(path, opts)
        notes: dict[tuple[str, str, str], str] = {}
        try:
            with time_limit(opts.timeout), guard():
                model, notes, earlier = load_with_copies(path, earlier_copies(path, rel, opts))
            if earlier:
                carried[index] = earlier
            result = FileResult(path=path, model=model)
        except CannotCheck as exc:
            result = FileResult(path=path, failure_code=exc.code, failure_message=exc.message)
        loaded.append((index, path, rel, result, notes, time.perf_counter() - t0, digest))
        send(("L", index))

    ok = [x for x in loaded if x[3].checked]
    t0 = time.perf_counter()
    try:
        with time_limit(opts.timeout), guard():
            checked = check_loaded([x[3].model for x in ok], [x[4] for x in ok], opts)  # type: ignore[misc]
        share = (time.perf_counter() - t0) / max(1, len(ok))
        for x, (findings, review) in zip(ok, checked, strict=True):
            x[3].findings, x[3].review = findings, review
    except CannotCheck:
        share = 0.0
        for index, _path, _rel, result, notes, _t, _d in ok:  # one by one: find the culprit
            if stopped():
                _leave(loaded, send)
                return
            send(("H", index))
            try:
                with time_limit(opts.timeout), guard():
                    [(result.findings, result.review)] = check_loaded([result.model], [notes], opts)  # type: ignore[list-item]
            except CannotCheck as exc:
                result.model, result.failure_code, result.failure_message = None, exc.code, exc.message
    for n, (index, _path, rel, result, _notes, elapsed, digest) in enumerate(loaded):
        if stopped():
            _leave(loaded[n:], send)
            return
        t1 = time.perf_counter()
        if index in carried:
            result.carried = carried_count(result.findings, carried[index])
        s = _finish(result, rel, opts)
        s.seconds = round(elapsed + (share if result.checked else 0.0) + time.perf_counter() - t1, 4)
        s.sha256 = digest
        send(("R", index, s))


def _never() -> bool:
    return False


def _leave(tasks: Sequence[tuple[Any, ...]], send: Callable[[Any], None]) -> None:
    """Tell the parent these files (their index first) are left undone."""
    for t in tasks:
        send(("S", t[0]))


def _digest(path: str, opts: Options) -> str | None:
    if not opts.sha256:
        return None
    try:
        return sha256_file(path)
    except OSError:
        return None


def _finish(result: FileResult, rel: str, opts: Options) -> Summary:
    """Outputs (annotated copy, per-file JSON) and the roll-up row of one checked file; an output
    that cannot be written is a note on the row, the check stands."""
    notes = _write_outputs(result, rel, opts)
    if result.carried:
        notes.insert(0, carried_note(result.carried))
    s = summarize(result, rel)
    s.notes = notes
    return s


def carried_note(n: int) -> str:
    """Tells that the 审核说明 of an earlier annotated copy were counted (and kept in the new one)."""
    return f"已沿用此前审核副本中填写的 {n} 条审核说明"


def _tune_gc() -> None:
    """A worker allocates hundreds of thousands of short-lived, acyclic objects per chunk (cells,
    values, findings): reference counting frees them, so frequent cycle collections only walk
    the live models over and over (~5% of a worker's time). The imported modules, preloaded by
    the forkserver, are frozen out of every collection."""
    import gc

    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _limit_memory(memory_mb: int | None) -> None:
    if memory_mb:
        from .safety import limit_current_process

        limit_current_process(memory_mb * 1024 * 1024)


def _peak_rss_kib() -> int:
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak // 1024 if sys.platform == "darwin" else peak)  # macOS reports bytes
    except ImportError:
        return 0


# ----------------------------------------------------------------------------------------------
# The pool
# ----------------------------------------------------------------------------------------------

_PRELOAD = ["jixiao.batch", "jixiao.pipeline"]


def _context() -> Any:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # Heavy imports happen once, in the server; each worker is a cheap fork of it.
        ctx.set_forkserver_preload(_PRELOAD + _optional_modules())
        return ctx
    return mp.get_context("spawn")


def _optional_modules() -> list[str]:
    import importlib.util

    # pandera is imported lazily by the check stage: preloading it saves each worker ~0.5 s.
    names = ["jixiao.check", "jixiao.score", "jixiao.report.annotate", "jixiao.report.json_report",
             "jixiao.safety", "pandera.pandas", "jixiao.worker_preload"]
    out = []
    for n in names:
        # find_spec of "a.b" imports package "a": probe only the top level of third-party names
        probe = n if n.startswith("jixiao.") else n.split(".")[0]
        with contextlib.suppress(ImportError, ValueError):
            if importlib.util.find_spec(probe) is not None:
                out.append(n)
    return out


def prestart() -> None:
    """Start the forkserver now: it imports the pipeline (~1 s) while the caller does other work."""
    _quiet_blas()
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with contextlib.suppress(OSError, ValueError):
            forkserver.ensure_running()


def _quiet_blas() -> None:
    """One BLAS thread per worker: workers are the parallelism; set before numpy loads."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


@dataclass(slots=True)
class _Slot:
    proc: Any
    conn: Connection
    board: Any  # the worker's shared board (see _Outbox)
    pending: deque[Task] = field(default_factory=deque)
    started: float = 0.0  # when the oldest pending task began, or the last message

    def last_alive(self) -> float:
        """When the worker last showed a sign of life, on the board (time.monotonic seconds)."""
        return float(self.board[BOARD_ALIVE]) / 1e9

    def mark_loaded(self, chunk: list[Task]) -> None:
        """Mark the tasks of `chunk` (the oldest) read, up to the board's last read file."""
        last = self.board[BOARD_LOADED]
        if any(t.index == last for t in chunk):
            for t in chunk:
                t.loaded = True
                if t.index == last:
                    break


@dataclass(slots=True)
class PoolStats:
    worker_peak_rss_kib: list[int] = field(default_factory=list)  # one per worker that ended cleanly
    restarts: int = 0


class WorkerPool:
    """A fixed set of worker processes with per-file timeouts and crash isolation."""

    def __init__(self, opts: Options, jobs: int | None = None, *, chunk: int | None = None,
                 max_chunk: int = CHUNK) -> None:
        self.opts = opts
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.chunk = chunk  # fixed; None: guided, at most max_chunk
        self.max_chunk = max_chunk
        self.stats = PoolStats()
        self._ctx: Any = None
        self._slots: list[_Slot] = []
        self._chunks = 0

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(graceful=exc[0] is None)

    def start(self) -> None:
        _quiet_blas()
        self._ctx = _context()
        self._slots = [self._spawn() for _ in range(self.jobs)]

    def _spawn(self) -> _Slot:
        parent, child = self._ctx.Pipe(duplex=True)
        board = self._ctx.RawArray("q", [-1, time.monotonic_ns(), 0])
        proc = self._ctx.Process(target=_worker_main, args=(child, self.opts, board), daemon=True,
                                 name="jixiao-worker")
        proc.start()
        child.close()
        return _Slot(proc=proc, conn=parent, board=board)

    def close(self, *, graceful: bool = True) -> None:
        """Graceful: the workers finish and say goodbye. Otherwise (Ctrl-C, an error) they are
        stopped at once; whatever way, a worker still alive at the end is killed."""
        try:
            if graceful:
                self._say_goodbye()
            else:
                self._terminate()
        finally:  # a second Ctrl-C during the above must not leave workers behind
            for slot in self._slots:
                if slot.proc.is_alive():
                    slot.proc.kill()
                    slot.proc.join(5)
                self._remove_leftovers(slot, slot.pending)
                slot.conn.close()
            self._slots = []

    def _say_goodbye(self) -> None:
        for slot in self._slots:
            if slot.proc.is_alive():
                with contextlib.suppress(OSError, BrokenPipeError):
                    slot.conn.send(None)
        for slot in self._slots:
            with contextlib.suppress(EOFError, OSError):
                while slot.conn.poll(5):
                    msg = slot.conn.recv()
                    if isinstance(msg, tuple) and msg[0] == "bye":
                        self.stats.worker_peak_rss_kib.append(int(msg[1]))
                        break
            slot.proc.join(5)

    def _terminate(self) -> None:
        """SIGTERM to every worker, an orderly exit (an output being written removes its
        temporary file); the kill in `close` is the backstop after `STOP_GRACE` seconds for a
        worker in native code that does not return to Python. (On Windows terminate kills.)"""
        live = [s.proc for s in self._slots if s.proc.is_alive()]
        for proc in live:
            with contextlib.suppress(OSError):
                proc.terminate()
        sentinels = [proc.sentinel for proc in live]
        deadline = time.monotonic() + STOP_GRACE
        while sentinels and (left := deadline - time.monotonic()) > 0:
            for ready in wait(sentinels, timeout=left):
                sentinels.remove(ready)

    def _remove_leftovers(self, slot: _Slot, tasks: Iterable[Task]) -> None:
        """The temporary outputs a worker killed mid-write left beside its files' outputs (a
        hung or crashed one, or one that did not stop in time): named by its pid, so only its own."""
        folders = {output_path(t.rel, self.opts, ANNOTATED_SUFFIX).parent for t in tasks}
        if folders and slot.proc.pid is not None:
            remove_leftovers(folders, slot.proc.pid)

    def _replace(self, slot: _Slot) -> _Slot:
        with contextlib.suppress(OSError):
            slot.proc.kill()
        slot.proc.join(5)
        self._remove_leftovers(slot, slot.pending)  # before the new worker starts: it may get the same pid
        slot.conn.close()
        self.stats.restarts += 1
        new = self._spawn()
        self._slots[self._slots.index(slot)] = new
        return new

    def run(self, tasks: Sequence[Task], on_result: Callable[[Task, Summary], None],
            stop: threading.Event | None = None, on_tick: Callable[[], None] | None = None) -> None:
        """Check every task; call `on_result` once per task, in completion order. When `stop`
        is set, the workers finish the file at hand and leave the others, which get no
        `on_result`. With `stop` or `on_tick`, the pool wakes at least every 0.25 s; `on_tick`
        is called then."""
        queue: deque[Task] = deque(tasks)
        # Big enough to amortise pandera's per-call cost (~7 ms a call), small enough to
        # balance the workers.
        chunk = self.chunk or max(1, min(self.max_chunk, len(tasks) // (self.jobs * 4)))
        timeout = self.opts.timeout if self.opts.timeout and self.opts.timeout > 0 else None
        if timeout is not None:  # the worker's own alarm goes first; the kill is the backstop
            timeout += min(5.0, max(1.0, timeout / 4))
        for slot in self._slots:
            slot.board[BOARD_STOP] = 0
        while queue or any(s.pending for s in self._slots):
            if stop is not None and stop.is_set():
                queue.clear()
                for slot in self._slots:  # read by each worker before each file
                    slot.board[BOARD_STOP] = 1
            now = time.monotonic()
            for slot in self._slots:  # keep a second chunk queued: no idle gap between chunks
                while queue and len(slot.pending) < 2 * chunk:
                    part = self._next_chunk(queue, chunk)
                    if not slot.pending:
                        slot.started = now
                        slot.board[BOARD_LOADED] = -1  # a file of an earlier run may share an index
                    try:
                        slot.conn.send([(t.index, t.path, t.rel) for t in part])
                    except (OSError, BrokenPipeError):
                        queue.extendleft(reversed(part))  # the death is handled below
                        break
                    slot.pending.extend(part)
            busy = [s for s in self._slots if s.pending]
            if not busy:
                continue
            wait_for: float | None = None
            if timeout is not None:
                wait_for = max(0.0, min(s.started for s in busy) + timeout - now)
            if stop is not None or on_tick is not None:  # look at the stop flag now and then
                wait_for = 0.25 if wait_for is None else min(wait_for, 0.25)
            handles: list[Any] = [s.conn for s in busy] + [s.proc.sentinel for s in busy]
            ready = set(wait(handles, timeout=wait_for))
            now = time.monotonic()
            for slot in busy:
                dead = slot.proc.sentinel in ready
                if slot.conn in ready or dead:
                    dead = self._drain(slot, on_result) or dead
                if dead and slot.pending:
                    self._fail(slot, queue, on_result, "CRASH", _crash_message(slot.proc))
                elif dead:
                    self._replace(slot)
                elif timeout is not None and slot.pending and now - slot.started > timeout:
                    alive = slot.last_alive()
                    if now - alive <= timeout:  # a long chunk of slow files, still moving
                        slot.started = alive
                        continue
                    self._fail(slot, queue, on_result, "TIMEOUT",
                               f"检查超时（超过 {self.opts.timeout:g} 秒），已跳过该文件")
            if on_tick is not None:
                on_tick()

    def _next_chunk(self, queue: deque[Task], size: int) -> list[Task]:
        self._chunks += 1
        if queue[0].solo:  # under suspicion: checked alone so a failure has one culprit
            part = [queue.popleft()]
        else:
            if self.chunk is None:  # guided: smaller chunks near the end keep both workers busy
                size = max(min(8, size), min(size, len(queue) // (2 * self.jobs)))
            part = []
            while queue and len(part) < size and not queue[0].solo:
                part.append(queue.popleft())
        for t in part:
            t.chunk, t.loaded = self._chunks, False
        return part

    def _drain(self, slot: _Slot, on_result: Callable[[Task, Summary], None]) -> bool:
        """Read every message waiting (the workers' results, `_Outbox`); True if the worker's
        pipe is closed."""
        try:
            while slot.conn.poll():
                kind, results = slot.conn.recv()
                slot.started = time.monotonic()  # any sign of life restarts the clock
                if kind != "RS":  # cannot happen: "bye" only answers close()
                    raise RuntimeError(f"unexpected worker message {kind!r}")
                for msg in results:  # ("R", index, Summary) or ("S", index): left, on a stop
                    task = slot.pending.popleft()
                    if task.index != msg[1]:  # cannot happen: the worker answers in order
                        raise RuntimeError(f"worker answered task {msg[1]}, expected {task.index}")
                    if msg[0] == "R":
                        on_result(task, msg[2])
        except (EOFError, OSError):
            return True
        return False

    def _fail(self, slot: _Slot, queue: deque[Task], on_result: Callable[[Task, Summary], None],
              code: str, message: str) -> None:
        """A worker died or hung: blame the file it was on, or re-check its chunk file by file."""
        pending = list(slot.pending)
        head = pending[0]
        same_chunk = [t for t in pending if t.chunk == head.chunk]
        slot.mark_loaded(same_chunk)
        self._replace(slot)  # with its pending tasks: where it may have left a temporary file
        slot.pending.clear()
        reading = next((t for t in same_chunk if not t.loaded), None)
        culprit: Task | None = None
        if reading is not None:  # it was reading this file
            culprit = reading
        elif len(same_chunk) == 1:  # the shared step, but only one file was in it
            culprit = head
        else:  # the shared step of a whole chunk: each file again on its own
            for t in same_chunk:
                t.solo = True
        queue.extendleft(reversed([t for t in pending if t is not culprit]))  # the others: again
        if culprit is not None:
            on_result(culprit, failure_summary(culprit.rel, code, message))


def _crash_message(proc: Any) -> str:
    proc.join(1)
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        if -code == signal.SIGKILL:
            return "检查进程被系统终止（可能内存不足），已跳过该文件"
        return f"检查进程异常退出（信号 {name}），已跳过该文件"
    return f"检查进程异常退出（退出码 {code}），已跳过该文件"


# ----------------------------------------------------------------------------------------------
# The batch
# ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class BatchResult:
    rollup: Rollup
    outputs: list[Path]
    seconds: float
    stats: PoolStats
    problems: list[str] = field(default_factory=list)  # roll-up files that could not be written

    @property
    def exit_code(self) -> int:
        """The worst file's; 3 when the roll-up could not be written (the county needs it)."""
        return max(self.rollup.exit_code, EXIT_UNCHECKABLE if self.problems else EXIT_CLEAN)


def run_batch(paths: Sequence[str | Path], *, root: str | Path, out_dir: str | Path | None = None,
              jobs: int | None = None, rules: str | tuple[str, ...] | None = None,
              profile: str | None = None, annotate: str = "auto",
              timeout: float = DEFAULT_TIMEOUT, memory_mb: int | None = DEFAULT_MEMORY_MB,
              write_rollup: bool = True, progress: bool = False, chunk: int | None = None,
              on_result: Callable[[Summary], None] | None = None, check: str | None = None) -> BatchResult:
    """Check `paths` (found under `root`) in a process pool and write the roll-up."""
    t0 = time.perf_counter()
    root = Path(root)
    out = Path(out_dir) if out_dir is not None else root
    opts = Options(root=str(root), out_dir=str(out), rules=rules, profile=profile, annotate=annotate,
                   timeout=timeout, memory_mb=memory_mb, check=check)
    tasks = [Task(i, str(p), relative_name(Path(p), root)) for i, p in enumerate(paths)]
    rollup = Rollup()
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(tasks) or 1))
    bar = _Progress(len(tasks)) if progress else None

    def done(task: Task, s: Summary) -> None:
        rollup.add(s)
        if bar is not None:
            bar.advance(s)
        if on_result is not None:
            on_result(s)

    pool = WorkerPool(opts, jobs, chunk=chunk)
    try:
        if tasks:
            pool.start()
            if bar is not None:
                bar.start()  # after the workers exist: they were forked from a thread-free server
            pool.run(tasks, done)
    finally:
        if bar is not None:
            bar.stop()
        pool.close(graceful=sys.exc_info()[0] is None)
    problems: list[str] = []
    written = rollup.write(out, problems) if write_rollup else []
    return BatchResult(rollup=rollup, outputs=written, seconds=time.perf_counter() - t0, stats=pool.stats,
                       problems=problems)


class _Progress:
    """rich progress on stderr: files done/total, errors so far, rate, ETA."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.errors = 0
        self.failed = 0
        self.progress = Progress(
            TextColumn("检查中"), BarColumn(), MofNCompleteColumn(),
            TextColumn("有错误 {task.fields[errors]} · 无法检查 {task.fields[failed]}"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("剩余"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False, refresh_per_second=5,
        )
        self.task = self.progress.add_task("check", total=total, errors=0, failed=0, rate="")
        self.t0 = time.perf_counter()
        self.done = 0

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.progress.start()

    def advance(self, s: Summary) -> None:
        self.done += 1
        if s.exit_code == EXIT_UNCHECKABLE:
            self.failed += 1
        elif s.errors:
            self.errors += 1
        elapsed = time.perf_counter() - self.t0
        rate = f"{self.done / elapsed:.0f} 个/秒" if elapsed > 0 else ""
        self.progress.update(self.task, advance=1, errors=self.errors, failed=self.failed, rate=rate)

    def stop(self) -> None:
        self.progress.stop()


def print_summary(result: BatchResult, out: Any = None) -> None:
    """A few lines for the console after a batch."""
    out = out or sys.stdout
    c = result.rollup.counts()
    n = len(result.rollup)
    print(f"共检查 {n} 个文件：通过 {c['通过']}，有提示 {c['有提示']}，有错误 {c['有错误']}，"
          f"无法检查 {c['无法检查']}（用时 {result.seconds:.1f} 秒）", file=out)
    for s in result.rollup.sorted_rows():
        if s.exit_code == EXIT_UNCHECKABLE:
            print(f"  无法检查 {s.file}：{s.failure_message or ''}", file=out)
        for note in s.notes:  # checked: 审核说明 carried over, or an output (annotated copy, JSON) missing
            print(f"  {s.file}：{note}", file=out)
    for unit, files in result.rollup.same_unit().items():  # a unit that submitted twice
        print(f"  同一单位有 {len(files)} 个文件：{unit}（{'、'.join(files)}）", file=out)
    if result.outputs:
        print("汇总已写入：" + "、".join(str(p) for p in result.outputs), file=out)
    for problem in result.problems:
        print(problem, file=out)


# ----------------------------------------------------------------------------------------------
# Command line (wired in from cli.py)
# ----------------------------------------------------------------------------------------------


def add_arguments(p: Any) -> None:
    """Batch and drop-folder options of `check-workbook` (an argparse parser)."""
    import argparse

    g = p.add_argument_group("文件夹批量检查与收件箱")
    if "--out" not in p._option_string_actions:  # the annotation stage may define --out already
        g.add_argument("--out", metavar="DIR", help="输出文件夹（审核副本、汇总表）；默认写在被检查的文件夹中")
    g.add_argument("--jobs", "-j", type=_at_least(1, int, "正整数"), default=None, metavar="N",
                   help="并行进程数（默认：全部 CPU 核）")
    g.add_argument("--timeout", type=_at_least(0, float, "不小于 0 的秒数（0 为不限）"),
                   default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"单个文件的检查时限，超时记为无法检查（默认 {DEFAULT_TIMEOUT:g} 秒，0 为不限）")
    g.add_argument("--memory-limit", type=_at_least(0, int, "不小于 0 的整数（0 为不限）"),
                   default=DEFAULT_MEMORY_MB, metavar="MB",
                   help=f"每个检查进程的内存上限（默认 {DEFAULT_MEMORY_MB} MB，0 为不限）")
    if "--annotate" not in p._option_string_actions:
        g.add_argument("--annotate", choices=ANNOTATE_MODES, default="auto",
                       help="审核副本（<文件名>.审核.xlsx）：auto 仅为有问题的文件生成；always 全部生成；never 不生成")
    g.add_argument("--watch", action="store_true",
                   help="收件箱模式：监视文件夹 INBOX，文件放入并写完后自动检查，结果写入 --out 指定的文件夹")
    g.add_argument("--settle", type=_at_least(0, float, "不小于 0 的秒数"), default=2.0, metavar="SECONDS",
                   help="收件箱模式：文件大小和修改时间保持不变多少秒后才检查（默认 2 秒）")
    g.add_argument("--watch-exit-after", type=int, default=None, help=argparse.SUPPRESS)
    g.add_argument("--watch-seconds", type=float, default=None, help=argparse.SUPPRESS)


def _at_least(low: int, kind: type[int] | type[float], need: str) -> Callable[[str], Any]:
    """An argparse `type`: a finite number of `kind` not below `low`, else a Chinese refusal
    saying what is needed (cli._Parser turns "argument X: 的值 …" into "参数 X 的值 …")."""
    import argparse

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"的值 {text!r} 不是{'整数' if kind is int else '数字'}") from None
        if not math.isfinite(value) or value < low:
            raise argparse.ArgumentTypeError(f"的值 {text!r} 无效，须为{need}")
        return value

    return parse


def wants_batch(args: Any) -> bool:
    return bool(getattr(args, "watch", False)) or any(Path(p).is_dir() for p in args.paths)


def cli_main(args: Any) -> int:
    """`check-workbook DIR ...` and `check-workbook --watch INBOX --out OUTBOX`."""
    rules = getattr(args, "rules", None)
    profile = getattr(args, "profile", None)
    annotate = getattr(args, "annotate", "auto") or "auto"
    memory = getattr(args, "memory_limit", DEFAULT_MEMORY_MB) or None
    prestart()  # the workers' imports overlap with what follows
    problem = _pack_problem(rules, profile)  # refuse a bad pack once, not once per file
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_UNCHECKABLE
    if args.watch:
        from .watch import print_result, watch

        if len(args.paths) != 1 or not Path(args.paths[0]).is_dir():
            print("收件箱模式需要且只需要一个文件夹：check-workbook --watch INBOX --out OUTBOX", file=sys.stderr)
            return EXIT_UNCHECKABLE
        inbox = Path(args.paths[0])
        outbox = Path(args.out) if getattr(args, "out", None) else inbox / "审核结果"
        if (problem := out_dir_problem(outbox)) is not None:
            print(problem, file=sys.stderr)
            return EXIT_UNCHECKABLE
        print(f"正在监视 {inbox}，结果写入 {outbox}（按 Ctrl-C 停止）", file=sys.stderr, flush=True)
        res = watch(inbox, outbox, settle=args.settle, jobs=args.jobs or 1, rules=rules, profile=profile,
                    annotate=annotate,
                    timeout=args.timeout, memory_mb=memory, max_results=args.watch_exit_after,
                    max_seconds=args.watch_seconds, on_result=print_result,
                    on_problem=lambda msg: print(msg, file=sys.stderr, flush=True),
                    on_stop=lambda: print("正在停止：等待正在检查的文件完成并保存结果…（再按一次 Ctrl-C 立即退出）",
                                          file=sys.stderr, flush=True))
        print(f"已停止：本次检查 {res.checked} 个文件，内容未变而跳过 {res.skipped} 个", file=sys.stderr)
        return EXIT_CLEAN

    dirs = [Path(p) for p in args.paths if Path(p).is_dir()]
    out = Path(args.out) if getattr(args, "out", None) else None
    paths: list[Path] = []
    for raw in args.paths:
        p = Path(raw)
        if p.is_dir():
            paths.extend(discover(p, skip_dirs=[out] if out else []))
        else:
            paths.append(p)
    if len(args.paths) == 1:
        root = dirs[0]
    else:  # one absolute spelling for the files and their common root, or `relative_name` falls back
        # to bare names and two units' 报表.xlsx collide
        paths = [Path(os.path.abspath(p)) for p in paths]
        root = Path(os.path.commonpath([os.path.dirname(a) if os.path.isfile(a) else a
                                         for a in map(os.path.abspath, args.paths)]))
    if not paths:
        print(f"在 {', '.join(map(str, args.paths))} 中没有找到工作簿（.xlsx/.xlsm/.xls/.ods）", file=sys.stderr)
        return EXIT_UNCHECKABLE  # nothing checked is not "no problems found"
    if (problem := out_dir_problem(out or root)) is not None:  # before the work, not at its end
        print(problem, file=sys.stderr)
        return EXIT_UNCHECKABLE
    progress = sys.stderr.isatty()
    res = run_batch(paths, root=root, out_dir=out or root, jobs=args.jobs, rules=rules, profile=profile,
                    annotate=annotate,
                    timeout=args.timeout, memory_mb=memory, progress=progress)
    if getattr(args, "format", None) == "json":
        import json

        doc = res.rollup.to_json()
        if res.problems:
            doc["problems"], doc["exit_code"] = res.problems, res.exit_code
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        for problem in res.problems:
            print(problem, file=sys.stderr)
    else:
        print_summary(res)
    return res.exit_code


def out_dir_problem(path: str | Path) -> str | None:
    """The Chinese error for an output folder that cannot hold outputs (creating it if need
    be), or None."""
    from .atomic import prepare_dir

    try:
        prepare_dir(path)
    except CannotCheck as exc:
        return f"输出文件夹不可用：{exc.message}"
    return None


def _pack_problem(rules: Any, profile: str | None) -> str | None:
    """The Chinese error for an unusable --rules / --profile, or None."""
    try:
        from .check import PackError, load_pack
    except ImportError:
        return None
    try:
        pack = load_pack(rules)
    except (PackError, FileNotFoundError, ValueError) as exc:
        return f"规则包错误：{exc}"
    if profile:
        from .score import rubric_from_pack

        try:
            rubric_from_pack(pack.rubric, profile)
        except ValueError as exc:
            return f"评分配置错误：{exc}"
    return None
