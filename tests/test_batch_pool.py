"""Worker isolation: a file that hangs or kills its worker is that file's failure only."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from jixiao.atomic import atomic_path
from jixiao.batch import (
    ANNOTATED_SUFFIX,
    STOP_GRACE,
    Options,
    PoolStats,
    Task,
    WorkerPool,
    check_path,
    output_path,
    run_batch,
)
from jixiao.errors import EXIT_UNCHECKABLE
from jixiao.report.rollup import Summary
from jixiao.result import FileResult


def misbehaving_check(path: str, opts: Options) -> FileResult:
    """Runs inside the workers (imported there by name, see Options.check)."""
    name = Path(path).name
    if name.startswith("hang"):
        signal.signal(signal.SIGALRM, signal.SIG_IGN)  # defeat the in-process alarm: only a kill helps
        time.sleep(3600)
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("exit"):
        os._exit(7)
    if name.startswith("slow"):
        time.sleep(30)  # ended by the in-process alarm (TimedOut), the worker survives
    return check_path(path, opts)


def _folder(tmp_path: Path, names: list[str]) -> list[Path]:
    paths = []
    for n in names:
        p = tmp_path / n
        p.write_bytes(b"not a workbook")
        paths.append(p)
    return paths


def _run_pool(tmp_path: Path, names: list[str], check: str, *, timeout: float, jobs: int,
              chunk: int) -> tuple[dict[str, Summary], float, PoolStats]:
    """Files `names` through a real pool whose workers run `check` (a function of this module):
    each file's summary, the seconds it all took, the pool's stats."""
    paths = _folder(tmp_path, names)
    opts = Options(root=str(tmp_path), out_dir=str(tmp_path / "out"), timeout=timeout, annotate="never",
                   check=f"test_batch_pool:{check}")
    got: dict[str, Summary] = {}
    t0 = time.monotonic()
    with WorkerPool(opts, jobs, chunk=chunk) as pool:
        pool.run([Task(i, str(p), p.name) for i, p in enumerate(paths)], lambda t, s: got.setdefault(t.rel, s))
    return got, time.monotonic() - t0, pool.stats


def test_hang_and_crash_are_isolated(tmp_path: Path) -> None:
    names = ["a1.xlsx", "hang.xlsx", "a2.xlsx", "crash.xlsx", "a3.xlsx", "exit.xlsx", "slow.xlsx"]
    names += [f"b{i}.xlsx" for i in range(12)]
    got, elapsed, stats = _run_pool(tmp_path, names, "misbehaving_check", timeout=1.5, jobs=2, chunk=3)
    assert stats.restarts >= 3  # hang, crash, exit
    assert elapsed < 60
    assert sorted(got) == sorted(names)  # every file answered exactly once
    assert got["hang.xlsx"].failure_code == "TIMEOUT" and "超时" in (got["hang.xlsx"].failure_message or "")
    assert got["slow.xlsx"].failure_code == "TIMEOUT"
    assert got["crash.xlsx"].failure_code == "CRASH" and "SIGSEGV" in (got["crash.xlsx"].failure_message or "")
    assert got["exit.xlsx"].failure_code == "CRASH" and "7" in (got["exit.xlsx"].failure_message or "")
    for n in names:
        if n.startswith(("a", "b")):  # the innocent files were checked (and found not to be workbooks)
            assert got[n].failure_code == "NOT_A_WORKBOOK", n
        assert got[n].exit_code == EXIT_UNCHECKABLE


def test_stop_finishes_started_files(tmp_path: Path) -> None:
    import threading

    paths = _folder(tmp_path, [f"c{i}.xlsx" for i in range(50)])
    stop = threading.Event()
    seen: list[str] = []

    def on_result(t: Task, s: Summary) -> None:
        seen.append(t.rel)
        if len(seen) == 3:
            stop.set()

    opts = Options(root=str(tmp_path), out_dir=str(tmp_path), annotate="never")
    with WorkerPool(opts, 2, chunk=1) as pool:
        pool.run([Task(i, str(p), p.name) for i, p in enumerate(paths)], on_result, stop=stop)
    assert 3 <= len(seen) < 50 and len(seen) == len(set(seen))


def test_empty_batch_writes_empty_rollup(tmp_path: Path) -> None:
    res = run_batch([], root=tmp_path)
    assert res.exit_code == 0 and len(res.rollup) == 0
    assert (tmp_path / "汇总.xlsx").is_file()


def test_blame_when_a_worker_dies() -> None:
    """Who is blamed depends on how far the worker got with its chunk."""
    from collections import deque

    pool = WorkerPool(Options(root=".", out_dir="."), 1)
    pool._replace = lambda slot: slot  # type: ignore[method-assign]  # no real processes here

    class Slot:
        pending: deque[Task]

        def mark_loaded(self, chunk: list[Task]) -> None:  # the tasks below say what was read
            pass

    def run(pending: list[Task]) -> tuple[list[str], list[tuple[str, bool]]]:
        slot = Slot()
        slot.pending = deque(pending)
        queue: deque[Task] = deque()
        blamed: list[str] = []
        pool._fail(slot, queue, lambda t, s: blamed.append(t.rel), "CRASH", "x")  # type: ignore[arg-type]
        return blamed, [(t.rel, t.solo) for t in queue]

    def tasks(spec: str) -> list[Task]:  # "a1L": file a, chunk 1, loaded
        return [Task(i, s[0], s[0], chunk=int(s[1]), loaded=s.endswith("L")) for i, s in enumerate(spec.split())]

    # Reading c: c is blamed, a and b (read, not yet answered) and the next chunk go back.
    assert run(tasks("a1L b1L c1 d1 e2")) == (["c"], [("a", False), ("b", False), ("d", False), ("e", False)])
    # All read: the shared step failed, so each file of the chunk is checked alone; nobody blamed yet.
    assert run(tasks("a1L b1L e2")) == ([], [("a", True), ("b", True), ("e", False)])
    # A file alone in its chunk (solo) is the culprit.
    assert run(tasks("a3L e4")) == (["a"], [("e", False)])


def test_worker_preload_prepares_the_default_pack() -> None:
    """The forkserver's preload leaves the default pack with its pandera schemas built, through
    public names only (a renamed private helper would otherwise fail silently there)."""
    import importlib

    import jixiao.worker_preload as preload
    from jixiao.batch import worker_pack

    worker_pack(None).cache.pop("schemas", None)
    importlib.reload(preload)
    assert worker_pack(None).cache.get("schemas")


def test_warm_up_examples_leave_out_annotated_copies(tmp_path: Path) -> None:
    from jixiao.worker_preload import example_workbooks, examples_in

    for name in ("示例_甲.xlsx", "示例_甲.审核.xlsx", "示例_乙.审核.xlsx", "附件一_模板.xlsx"):
        (tmp_path / name).write_bytes(b"")
    # 示例_乙.审核.xlsx has no original beside it: a resubmitted copy, checked like any workbook
    assert [p.name for p in examples_in(tmp_path)] == ["示例_乙.审核.xlsx", "示例_甲.xlsx"]
    assert example_workbooks() and all(".审核." not in p.name for p in example_workbooks())


def test_outbox_holds_results_and_marks_the_board() -> None:
    """A worker's "L" messages go to the shared board (with the time of that sign of life); its
    results travel in one message when held, one by one otherwise (annotation: slow per file)."""
    import multiprocessing as mp

    from jixiao.batch import BOARD_ALIVE, BOARD_LOADED, _Outbox

    parent, child = mp.Pipe()
    board = mp.get_context("fork").RawArray("q", [-1, 0])
    out = _Outbox(child, board, hold=True)
    t0 = time.monotonic_ns()
    for msg in (("L", 5), ("L", 6), ("R", 5, "s5"), ("R", 6, "s6")):
        out.put(msg)
    assert board[BOARD_LOADED] == 6 and t0 <= board[BOARD_ALIVE] <= time.monotonic_ns()
    assert not parent.poll()  # nothing sent yet
    out.flush()
    assert parent.recv() == ("RS", [("R", 5, "s5"), ("R", 6, "s6")])
    out.flush()  # nothing held: nothing sent
    assert not parent.poll()
    at_once = _Outbox(child, board, hold=False)
    at_once.put(("R", 7, "s7"))
    assert parent.recv() == ("RS", [("R", 7, "s7")])


def test_board_tells_what_was_read_and_when_the_worker_last_moved() -> None:
    import multiprocessing as mp
    from collections import deque

    from jixiao.batch import _Slot

    board = mp.get_context("fork").RawArray("q", [2, 0])
    slot = _Slot(proc=None, conn=None, board=board)  # type: ignore[arg-type]
    slot.pending = deque(Task(i, f"f{i}", f"f{i}", chunk=1 if i < 4 else 2) for i in range(1, 6))
    oldest = [t for t in slot.pending if t.chunk == 1]
    slot.mark_loaded(oldest)
    assert [t.loaded for t in slot.pending] == [True, True, False, False, False]
    for t in slot.pending:
        t.loaded = False
    board[0] = 4  # a file of the next chunk (or of an earlier run): nothing of the oldest chunk is read
    slot.mark_loaded(oldest)
    assert not any(t.loaded for t in slot.pending)
    board[1] = time.monotonic_ns()
    assert abs(slot.last_alive() - time.monotonic()) < 1


def test_a_hung_worker_is_killed_one_timeout_after_its_last_sign_of_life(tmp_path: Path) -> None:
    """Slow files (each under the timeout, together over it) are not killed; a worker that stops
    moving is, once `timeout` (plus its margin) has passed since its last sign of life."""
    names = [f"slow{i}.xlsx" for i in range(4)] + ["hang.xlsx", "late.xlsx"]
    got, elapsed, _stats = _run_pool(tmp_path, names, "paced_check", timeout=1.0, jobs=1, chunk=6)
    assert sorted(got) == sorted(names)
    assert [n for n, s in got.items() if s.failure_code == "TIMEOUT"] == ["hang.xlsx"]
    # 4 × 0.6 s of slow files, then the kill 1 s (+ the 1 s margin) after the last of them
    assert elapsed < 2.4 + 2.0 + 1.5


def paced_check(path: str, opts: Options) -> FileResult:
    """Runs inside the workers: slow files under the timeout, then one that never returns."""
    name = Path(path).name
    if name.startswith("slow"):
        time.sleep(0.6)
    if name.startswith("hang"):
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(3600)
    return check_path(path, opts)


def test_worker_killed_while_reading_blames_one_file(tmp_path: Path) -> None:
    """The real protocol (no replacement check): a worker killed in the middle of reading its
    chunk gets the file it was reading blamed; every other file is still answered once."""
    import threading

    from workbooks import example_copy

    paths = [example_copy(tmp_path, f"u{i:02d}.xlsx") for i in range(40)]
    opts = Options(root=str(tmp_path), out_dir=str(tmp_path / "out"), annotate="never")
    got: dict[str, Summary] = {}
    seen_before_kill: list[int] = []
    with WorkerPool(opts, 1, chunk=40) as pool:
        def kill_while_reading() -> None:
            board = pool._slots[0].board
            while board[0] < 5:
                time.sleep(0.0005)
            seen_before_kill.append(board[0])
            os.kill(pool._slots[0].proc.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_while_reading)
        killer.start()
        pool.run([Task(i, str(p), p.name) for i, p in enumerate(paths)], lambda t, s: got.setdefault(t.rel, s))
        killer.join()
    assert sorted(got) == sorted(p.name for p in paths)
    crashed = [n for n, s in got.items() if s.failure_code == "CRASH"]
    assert len(crashed) == 1
    # a file after the last one marked read (the worker may read on until the signal lands),
    # not the first file of the chunk, which is what a blind guess would blame
    assert int(crashed[0][1:3]) > seen_before_kill[0] >= 5
    assert all(s.failure_code is None for n, s in got.items() if n not in crashed)


def test_guided_chunks_stay_under_max_chunk_and_ticks_come(tmp_path: Path) -> None:
    """The drop folder caps its chunks (a stop waits for two per worker) and saves on ticks."""
    paths = _folder(tmp_path, [f"f{i}.xlsx" for i in range(200)])
    opts = Options(root=str(tmp_path), out_dir=str(tmp_path / "out"), annotate="never")
    got: list[str] = []
    ticks: list[float] = []
    with WorkerPool(opts, 1, max_chunk=8) as pool:
        pool.run([Task(i, str(p), p.name) for i, p in enumerate(paths)], lambda t, s: got.append(t.rel),
                 on_tick=lambda: ticks.append(time.monotonic()))
    assert sorted(got) == sorted(p.name for p in paths)
    assert pool._chunks >= 200 // 8  # guided alone would have sent 200 // 4 = 50 per chunk
    assert ticks  # called on every wake


def test_a_stop_leaves_the_files_not_finished_in_order(tmp_path: Path) -> None:
    """process_chunk asks `stopped()` before each file: the files it has not finished are told
    left ("S"), in order, after the results it did finish."""
    from jixiao.batch import process_chunk

    from workbooks import example_copy

    tasks = [(i, str(example_copy(tmp_path, f"u{i}.xlsx")), f"u{i}.xlsx") for i in range(4)]
    opts = Options(root=str(tmp_path), out_dir=str(tmp_path / "out"), annotate="never")
    for stop_after, read, expected in ((("R", 1), 4, [("R", 0), ("S", 1), ("S", 2), ("S", 3)]),  # finishing
                                       (("L", 2), 2, [("S", 0), ("S", 1), ("S", 2), ("S", 3)])):  # reading
        msgs: list[tuple] = []  # type: ignore[type-arg]
        process_chunk(tasks, opts, msgs.append,
                      stopped=lambda k=stop_after, m=msgs: sum(x[0] == k[0] for x in m) >= k[1])
        assert [(m[0], m[1]) for m in msgs if m[0] in "RS"] == expected
        assert [m[0] for m in msgs].count("L") == read


def test_a_stop_is_heard_while_a_failed_chunk_is_checked_file_by_file(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """When the chunk's shared step fails, each file is checked alone: a stop then leaves the
    files not finished at once instead of checking them all first."""
    from jixiao import batch
    from jixiao.errors import InternalError

    from workbooks import example_copy

    real = batch.check_loaded

    def shared_step_fails(models, notes, opts):  # type: ignore[no-untyped-def]
        if len(models) > 1:
            raise InternalError("内部错误：测试")
        return real(models, notes, opts)

    monkeypatch.setattr(batch, "check_loaded", shared_step_fails)
    tasks = [(i, str(example_copy(tmp_path, f"u{i}.xlsx")), f"u{i}.xlsx") for i in range(3)]
    opts = Options(root=str(tmp_path), out_dir=str(tmp_path / "out"), annotate="never")
    msgs: list[tuple] = []  # type: ignore[type-arg]
    batch.process_chunk(tasks, opts, msgs.append, stopped=lambda: any(m[0] == "H" for m in msgs))
    assert [(m[0], m[1]) for m in msgs if m[0] in "HRS"] == [("H", 0), ("S", 0), ("S", 1), ("S", 2)]


def test_a_stop_waits_for_the_file_at_hand_not_for_the_queued_chunks(tmp_path: Path) -> None:
    """The drop folder's Ctrl-C: with two chunks of 20 queued for one worker, a stop after the
    first result ends the run after a file or two, not forty; the next run checks everything."""
    import threading

    from workbooks import example_copy

    paths = [example_copy(tmp_path, f"u{i:02d}.xlsx") for i in range(40)]
    opts = Options(root=str(tmp_path), out_dir=str(tmp_path / "out"), annotate="always")
    stop = threading.Event()
    got: list[str] = []

    def first_stops(t: Task, s: Summary) -> None:
        got.append(t.rel)
        stop.set()

    with WorkerPool(opts, 1, chunk=20) as pool:
        pool.run([Task(i, str(p), p.name) for i, p in enumerate(paths)], first_stops, stop=stop)
        assert 1 <= len(got) <= 3, got
        assert not any(s.pending for s in pool._slots)
        again: list[str] = []
        pool.run([Task(i, str(p), p.name) for i, p in enumerate(paths[:3])], lambda t, s: again.append(t.rel))
    assert sorted(again) == ["u00.xlsx", "u01.xlsx", "u02.xlsx"]  # the stop request does not outlive its run


def findings_cleared_check(path: str, opts: Options) -> FileResult:
    """A real check whose findings were all fixed (runs where process_file runs)."""
    result = check_path(path, opts)
    result.findings = []
    return result


def test_an_annotated_copy_left_from_an_earlier_check_is_said_out_of_date(tmp_path: Path) -> None:
    """A newer version that gets no copy (nothing found, or cannot be checked) leaves the earlier
    copy where it was: the row's note says it is out of date (--annotate never: no copies, no note)."""
    from dataclasses import replace

    from jixiao.batch import process_file

    from workbooks import example_copy

    src = example_copy(tmp_path, "甲.xlsx")
    opts = Options(root=str(tmp_path), out_dir=str(tmp_path / "out"))
    assert process_file(str(src), "甲.xlsx", opts).notes == []
    assert (tmp_path / "out" / "甲.审核.xlsx").is_file()
    clean = replace(opts, check="test_batch_pool:findings_cleared_check")
    assert process_file(str(src), "甲.xlsx", clean).notes == [
        "现有的审核副本是以前检查的结果，已过时（本次未发现问题，未生成新副本）"]
    assert process_file(str(src), "甲.xlsx", replace(clean, annotate="never")).notes == []
    src.write_bytes(b"PK\x03\x04 broken now")
    broken = process_file(str(src), "甲.xlsx", opts)
    assert broken.failure_code and broken.notes == [
        "现有的审核副本是以前检查的结果，已过时（本次无法检查，未生成新副本）"]
    assert (tmp_path / "out" / "甲.审核.xlsx").is_file()  # kept: it may hold a unit's 审核说明
def writing_check(path: str, opts: Options) -> FileResult:
    """Runs inside the workers: stuck or killed while writing an output (a temporary file)."""
    name = Path(path).name
    if name.startswith(("crash", "hang", "pause", "deaf")):
        with atomic_path(output_path(name, opts, ANNOTATED_SUFFIX)) as tmp:
            tmp.write_bytes(b"PK\x03\x04 half a copy")
            if name.startswith("crash"):
                os.kill(os.getpid(), signal.SIGKILL)
            if name.startswith("deaf"):  # like native code that never returns to Python
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
            try:
                time.sleep(3600)
            finally:  # reached when the worker ends in order
                Path(opts.root, f"finally-{name}").touch()
    return check_path(path, opts)


def test_a_worker_killed_while_writing_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A worker killed for a timeout or dead mid-write: the parent removes its temporary file
    (named by its pid), and only its own."""
    out = tmp_path / "out"
    out.mkdir()
    foreign = out / ".~tmp-1-0123456789ab.xlsx"  # another process's write in progress
    foreign.write_bytes(b"")
    names = ["a1.xlsx", "hang.xlsx", "crash.xlsx", "a2.xlsx"]
    got, _elapsed, stats = _run_pool(tmp_path, names, "writing_check", timeout=1.0, jobs=2, chunk=1)
    assert got["hang.xlsx"].failure_code == "TIMEOUT"
    assert got["crash.xlsx"].failure_code == "CRASH"
    assert stats.restarts == 2
    assert [p.name for p in out.iterdir()] == [foreign.name]


class _Interrupted(Exception):
    pass


def test_a_stopped_pool_removes_the_outputs_being_written(tmp_path: Path) -> None:
    """close(graceful=False), as after Ctrl-C: a worker ends in order at SIGTERM (removing its
    temporary file itself); one that cannot is killed after STOP_GRACE and its file removed."""
    paths = _folder(tmp_path, ["pause1.xlsx", "pause2.xlsx", "deaf1.xlsx", "deaf2.xlsx"])  # two per worker
    out = tmp_path / "out"
    opts = Options(root=str(tmp_path), out_dir=str(out), annotate="never", check="test_batch_pool:writing_check")
    stopped: list[float] = []

    def interrupt() -> None:
        if len(list(out.glob(".~tmp-*"))) == 2:
            stopped.append(time.monotonic())
            raise _Interrupted

    with pytest.raises(_Interrupted), WorkerPool(opts, 2, chunk=1) as pool:
        procs = [s.proc for s in pool._slots]
        pool.run([Task(i, str(p), p.name) for i, p in enumerate(paths)], lambda t, s: None, on_tick=interrupt)
    assert time.monotonic() - stopped[0] < STOP_GRACE + 1.0
    assert [p.exitcode for p in procs] == [-signal.SIGTERM, -signal.SIGKILL]
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.glob("finally-*")) == ["finally-pause1.xlsx"]
