"""Drop folder: `check-workbook --watch INBOX --out OUTBOX`.

Accountants drop workbooks into INBOX; each is checked once it has stopped changing, and its
results (`<stem>.结果.json`, plus `<stem>.审核.xlsx` when it has findings) appear in OUTBOX,
mirroring INBOX's sub-folders. The roll-up (汇总.xlsx/.csv/.json) in OUTBOX is kept current:
rewritten as soon as the files at hand are done, and every `SAVE_EVERY` seconds while a long
run of files goes on.

- watchdog tells us *that* something changed; readiness is decided by polling: a file is
  ready once its (size, mtime) has stayed the same for `settle` seconds, so a copy still in
  progress (or an upload written in pieces) is never checked half-written.
- Restart-safe: OUTBOX/.jixiao-state.json maps each input's relative path to the sha256 of
  the bytes that were checked plus its roll-up row. A file whose hash is unchanged is not
  checked again (a `touch` or a re-copy of the same bytes costs nothing) unless its annotated
  copy changed since (a unit typed 审核说明 into it, in OUTBOX or beside the file in INBOX),
  and at start-up INBOX is scanned for files that arrived while the watcher was stopped.
- The roll-up lists what INBOX holds: a file deleted (or moved away) leaves it and the state,
  at once or, when it went while the watcher was stopped, at start-up. Its outputs in OUTBOX
  stay: an annotated copy may hold the 审核说明 a unit typed.
- SIGINT/SIGTERM stop it cleanly: the file being checked is finished, state is saved; the
  files not begun yet are checked at the next start.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import prepare_dir, write_text_atomic
from .batch import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    STATE_FILE,
    STATE_VERSION,
    Options,
    Task,
    WorkerPool,
    discover,
    earlier_copies,
    in_output_dir,
    is_candidate,
    originals_beside,
    relative_name,
    sha256_file,
    state_files,
)
from .errors import CannotCheck
from .report.rollup import Rollup, Summary

SAVE_EVERY = 2.0  # seconds between saves of the state and the roll-up while files keep coming
WATCH_CHUNK = 32  # files per worker message at most
_CHANGE_EVENTS = frozenset({"created", "modified", "moved", "closed"})


@dataclass(slots=True)
class WatchResult:
    checked: int = 0  # files checked in this run
    skipped: int = 0  # ready files whose content was already checked (same sha256)
    results: list[Summary] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # outputs that could not be written, as told


class _Outputs:
    """The state file and the roll-up in OUTBOX.

    Rewriting them costs time in proportion to the files known, so a catch-up of thousands of
    files that rewrote them after each file spent most of its time there. After a file they are
    saved at most every `SAVE_EVERY` seconds (a long catch-up still shows its progress), and
    always once the files at hand are done and when the watcher stops. A write OUTBOX refuses
    (汇总.xlsx open in Excel on Windows, a full disk) does not stop the watcher: it is told once,
    through `on_problem`, and tried again every `SAVE_EVERY` seconds until it succeeds."""

    def __init__(self, state: State, rollup: Rollup, outbox: Path, result: WatchResult,
                 on_problem: Callable[[str], None] | None) -> None:
        self.state, self.rollup, self.outbox, self.result = state, rollup, outbox, result
        self.on_problem = on_problem
        self.told: list[str] = []
        self.dirty = False  # something is not saved yet (or its save failed)
        self.last = -math.inf  # time.monotonic() of the last save

    def changed(self) -> None:
        """A file was recorded."""
        self.dirty = True
        self.flush(throttled=True)

    def flush(self, *, throttled: bool = False) -> None:
        """Save what is not saved yet; `throttled`: not within `SAVE_EVERY` of the last save."""
        if not self.dirty or (throttled and time.monotonic() - self.last < SAVE_EVERY):
            return
        self.last = time.monotonic()
        problems: list[str] = []
        try:
            self.state.save()
        except CannotCheck as exc:
            problems.append(f"处理记录未能保存：{exc.message}（重启后这些文件会再检查一次）")
        self.rollup.write(self.outbox, problems)
        self.dirty = bool(problems)
        for p in problems:  # tell a problem once, not at every retry
            if p not in self.told:
                self.result.problems.append(p)
                if self.on_problem is not None:
                    self.on_problem(p)
        self.told = problems


class State:
    """OUTBOX/.jixiao-state.json: relative path -> {sha256, size, mtime_ns, summary}."""

    def __init__(self, outbox: Path) -> None:
        self.path = outbox / STATE_FILE
        self.files: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if (files := state_files(data)) is not None:
                self.files = files
                if data["version"] == 1:
                    _unexplained_warnings(self.files)
        except (OSError, ValueError, RecursionError):
            pass  # no state yet, or a damaged one: everything is checked again

    def sha256(self, rel: str) -> str | None:
        entry = self.files.get(rel)
        return entry.get("sha256") if entry else None

    def copies_unchanged(self, rel: str, marks: list[list[int] | None]) -> bool:
        """The annotated copies are as the last check left them (a state without marks: yes)."""
        return self.files.get(rel, {}).get("copies", marks) == marks

    def record(self, rel: str, summary: Summary, size: int, mtime_ns: int, copies: list[list[int] | None]) -> None:
        self.files[rel] = {"sha256": summary.sha256, "size": size, "mtime_ns": mtime_ns, "copies": copies,
                           "summary": summary.to_json()}

    def forget(self, rels: list[str]) -> None:
        for rel in rels:
            self.files.pop(rel, None)

    def summaries(self) -> list[Summary]:
        out = []
        for entry in self.files.values():
            with contextlib.suppress(TypeError, KeyError, ValueError):
                out.append(Summary.from_json(entry["summary"]))
        return out

    def save(self) -> None:
        write_text_atomic(self.path, json.dumps({"version": STATE_VERSION, "files": self.files},
                                                ensure_ascii=False, indent=0))


def _unexplained_warnings(files: dict[str, Any]) -> None:
    """A version 1 state's rows counted explained warnings in `warnings`: take them out, so the
    files it knows need not be checked again for the roll-up to count as the report does."""
    for entry in files.values():
        with contextlib.suppress(TypeError, KeyError, AttributeError):
            summary = entry["summary"]
            if summary["warnings"] and summary["explained"]:
                summary["warnings"] = max(0, summary["warnings"] - summary["explained"])


class _Pending:
    """Files seen changing, with the moment their (size, mtime) last changed; and the paths
    seen going away (deleted, moved), with whether each was a folder."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.items: dict[str, tuple[tuple[int, int] | None, float]] = {}
        self.gone: list[tuple[str, bool]] = []

    def add(self, path: str) -> None:
        with self.lock:
            self.items.setdefault(path, (None, time.monotonic()))
        self.wake.set()

    def drop(self, path: str, folder: bool) -> None:
        with self.lock:
            self.gone.append((path, folder))
        self.wake.set()

    def take_gone(self) -> list[tuple[str, bool]]:
        with self.lock:
            gone, self.gone = self.gone, []
        return gone

    def ready(self, settle: float) -> list[tuple[str, os.stat_result]]:
        """Pop the files that have stayed unchanged for `settle` seconds."""
        now = time.monotonic()
        out = []
        with self.lock:
            for path, (sig, since) in list(self.items.items()):
                try:
                    st = os.stat(path)
                except OSError:
                    del self.items[path]  # deleted or renamed away before it settled
                    continue
                new = (st.st_size, st.st_mtime_ns)
                if new != sig:
                    self.items[path] = (new, now)
                elif now - since >= settle:
                    del self.items[path]
                    out.append((path, st))
        return out

    def __contains__(self, path: str) -> bool:
        with self.lock:
            return path in self.items

    def __len__(self) -> int:
        return len(self.items)


def _inputs(ready: list[tuple[str, os.stat_result]], pending: _Pending) -> Iterator[tuple[str, os.stat_result, bool]]:
    """(path, stat, triggered by a copy) of the files to check among those that settled: a unit's
    annotated copy beside its original stands for the original (whose check counts its 审核说明),
    unless the original is still settling itself."""
    for path, st in ready:
        originals = originals_beside(path)
        if not originals:
            yield path, st, False
        for original in map(str, originals):
            if original not in pending:
                with contextlib.suppress(OSError):
                    yield original, os.stat(original), True


def _copy_marks(path: str, rel: str, opts: Options) -> list[list[int] | None]:
    """(size, mtime_ns) of each place an earlier annotated copy of the file may be: a unit who
    typed 审核说明 there wants the unchanged file checked again."""
    marks: list[list[int] | None] = []
    for copy in earlier_copies(path, rel, opts):
        try:
            st = os.stat(copy)
            marks.append([st.st_size, st.st_mtime_ns])
        except OSError:
            marks.append(None)
    return marks


def _make_handler(pending: _Pending, inbox: Path, outbox: Path) -> Any:
    from watchdog.events import FileSystemEventHandler

    out_real = os.path.realpath(outbox)
    in_real = os.path.realpath(inbox)

    class Handler(FileSystemEventHandler):  # type: ignore[misc]
        def on_any_event(self, event: Any) -> None:
            if event.event_type in ("deleted", "moved"):  # gone from where it was
                pending.drop(os.fsdecode(event.src_path), event.is_directory)
            if event.is_directory:
                if event.event_type in ("created", "moved"):
                    # A folder moved in whole: its files may raise no events of their own.
                    target = getattr(event, "dest_path", "") or event.src_path
                    for p in discover(target, skip_dirs=[outbox] if out_real != in_real else []):
                        pending.add(str(p))
                return
            path = getattr(event, "dest_path", "") or event.src_path
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if event.event_type not in _CHANGE_EVENTS:
                return  # opened / closed_no_write fire when *we* read the file: ignore them
            if not is_candidate(os.path.basename(path), os.path.dirname(path)) and not originals_beside(path):
                return  # not a workbook to check, nor a unit's annotated copy beside its original
            real = os.path.realpath(path)
            if out_real != in_real and real.startswith(out_real + os.sep):
                return  # our own outputs (when OUTBOX is inside INBOX)
            if any(part.startswith(".") for part in Path(os.path.relpath(path, inbox)).parts[:-1]):
                return  # hidden folders are skipped, as in batch discovery
            if in_output_dir(path, inbox):
                return  # an earlier run's output folder (a batch's --out), as in batch discovery
            pending.add(path)

    return Handler()


def watch(inbox: str | Path, outbox: str | Path, *, settle: float = 2.0, jobs: int = 1,
          rules: str | tuple[str, ...] | None = None, profile: str | None = None,
          annotate: str = "auto", timeout: float = DEFAULT_TIMEOUT,
          memory_mb: int | None = DEFAULT_MEMORY_MB, stop: threading.Event | None = None,
          max_results: int | None = None, max_seconds: float | None = None,
          on_result: Callable[[Summary], None] | None = None,
          on_problem: Callable[[str], None] | None = None,
          on_stop: Callable[[], None] | None = None,
          install_signals: bool = True) -> WatchResult:
    """Watch `inbox` until `stop` is set, SIGINT/SIGTERM, `max_results` files were checked or
    `max_seconds` passed. Returns what this run checked. `on_stop` is called once, within a
    quarter of a second of a stop request, while the files at hand are being finished."""
    from watchdog.observers import Observer

    inbox = Path(inbox).resolve()
    outbox = Path(outbox).resolve()
    prepare_dir(outbox)
    stop = stop or threading.Event()
    state = State(outbox)
    rollup = Rollup()
    result = WatchResult()
    outputs = _Outputs(state, rollup, outbox, result, on_problem)
    opts = Options(root=str(inbox), out_dir=str(outbox), rules=rules, profile=profile, annotate=annotate,
                   timeout=timeout, memory_mb=memory_mb, result_json=True, sha256=True)
    pending = _Pending()
    stopping = _Announce(stop, on_stop)
    restore = _install_signal_handlers(stop, pending) if install_signals else None
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    # guided chunks: a file dropped alone is checked alone, a catch-up in chunks (pandera once
    # each), small enough that the roll-up follows a catch-up closely
    pool = WorkerPool(opts, jobs, max_chunk=WATCH_CHUNK)
    observer = None
    try:
        pool.start()  # before the observer thread: workers come from the forkserver anyway
        observer = Observer()
        observer.schedule(_make_handler(pending, inbox, outbox), str(inbox), recursive=True)
        observer.start()
        skip = [outbox] if outbox != inbox else []
        found = discover(inbox, skip_dirs=skip)
        here = {relative_name(p, inbox) for p in found}
        # went while we were stopped (an INBOX not mounted looks the same: its files are checked
        # again once it is back, which costs time only)
        left = [rel for rel in state.files if rel not in here]
        state.forget(left)
        for s in state.summaries():
            rollup.add(s)
        # the roll-up as the state knows it: it may be missing, or older than the state (deleted by
        # hand, or open in Excel when the watcher last stopped)
        outputs.dirty = bool(len(rollup) or left)
        outputs.flush()
        for p in found:  # what arrived while we were stopped
            pending.add(str(p))

        def forget_gone() -> None:
            """Files deleted or moved away leave the state and the roll-up (their outputs stay)."""
            gone: list[str] = []
            for path, folder in pending.take_gone():
                rel = relative_name(Path(path), inbox)
                keys = [k for k in state.files if k.startswith(rel + "/")] if folder else [rel]
                gone += [k for k in keys if k in state.files and not (inbox / k).is_file()]
            if gone:
                state.forget(gone)
                for rel in gone:
                    rollup.remove(rel)
                outputs.changed()

        def on_tick() -> None:
            stopping.check()
            forget_gone()
            outputs.flush(throttled=True)  # saves postponed by the throttle, while a slow file is checked

        tick = max(0.05, min(0.5, settle / 4))
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            forget_gone()
            ready = pending.ready(settle)
            tasks = []
            stats: dict[str, os.stat_result] = {}
            for path, st, by_copy in _inputs(ready, pending):
                rel = relative_name(Path(path), inbox)
                if rel in stats:  # the file and its copy settled together
                    continue
                known = state.sha256(rel)
                if known is not None:
                    try:
                        if sha256_file(path) == known and state.copies_unchanged(rel, _copy_marks(path, rel, opts)):
                            if not by_copy:  # else our own copy, written into INBOX: not news
                                result.skipped += 1
                            continue
                    except OSError:
                        continue
                stats[rel] = st
                tasks.append(Task(len(tasks), path, rel))
            if max_results is not None:
                tasks = tasks[: max(0, max_results - result.checked)]
            if tasks:
                def done(task: Task, s: Summary, stats: dict[str, os.stat_result] = stats) -> None:
                    st = stats[task.rel]
                    if os.path.isfile(task.path):  # not deleted while it was being checked
                        state.record(task.rel, s, st.st_size, st.st_mtime_ns, _copy_marks(task.path, task.rel, opts))
                        rollup.add(s)
                        outputs.changed()
                    result.checked += 1
                    result.results.append(s)
                    if on_result is not None:
                        on_result(s)

                pool.run(tasks, done, stop=stop, on_tick=on_tick)
                outputs.flush()  # the files at hand are done
            if max_results is not None and result.checked >= max_results:
                break
            pending.wake.wait(tick)
            pending.wake.clear()
            outputs.flush(throttled=True)  # a save that failed, again
        stopping.check()
    finally:
        try:
            outputs.flush()  # first: nothing below may cost what was checked
        finally:
            if observer is not None:
                observer.stop()
                observer.join(5)
            pool.close(graceful=sys.exc_info()[0] is None)  # a second Ctrl-C: no waiting
            if restore is not None:
                restore()
    return result


class _Announce:
    """Calls `on_stop` once, when a stop request is first seen (not from the signal handler:
    printing there could land in the middle of another print)."""

    def __init__(self, stop: threading.Event, on_stop: Callable[[], None] | None) -> None:
        self.stop, self.on_stop = stop, on_stop

    def check(self) -> None:
        if self.on_stop is not None and self.stop.is_set():
            on_stop, self.on_stop = self.on_stop, None
            on_stop()


def _install_signal_handlers(stop: threading.Event, pending: _Pending) -> Callable[[], None] | None:
    if threading.current_thread() is not threading.main_thread():
        return None
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        pending.wake.set()
        with contextlib.suppress(ValueError, OSError):  # a second Ctrl-C: out at once
            signal.signal(signal.SIGINT, signal.default_int_handler)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, h in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, h)

    return restore


def print_result(s: Summary, out: Any = None) -> None:
    out = out or sys.stdout
    if s.failure_code:
        print(f"无法检查 {s.file}：{s.failure_message or ''}", file=out, flush=True)
    else:
        explained = f"，已说明提示 {s.explained}" if s.explained else ""
        print(f"已检查 {s.file}：{s.status}（强制 {s.errors}，提示 {s.warnings}{explained}，信息 {s.infos}）",
              file=out, flush=True)
    for note in s.notes:  # an output not written, or an earlier check's copy still in OUTBOX
        print(f"  {note}", file=out, flush=True)
