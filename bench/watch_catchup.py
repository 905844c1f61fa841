"""Drop-folder catch-up: N workbooks already waiting in INBOX when the watcher starts (the first
run on a shared folder, or a restart after a day's uploads), against a batch over the same files.

Run from the repository root::

    .venv/bin/python bench/watch_catchup.py [N] [--corpus distinct] [--jobs 2]

Both sides, in this one run and on the same files: the batch is `run_batch` with the drop
folder's outputs (a per-file result JSON, no annotated copies) and its roll-up; the watcher is
`watch(INBOX, OUTBOX)` until it has checked all N (per-file JSON and sha256 state, the roll-up
kept current). The forkserver is started before either clock. The ratio watcher / batch is
what the drop folder's bookkeeping costs on top of the checking.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))


def main(argv: list[str] | None = None) -> int:
    from run_bench import _workbooks, corpus_parser

    ap = corpus_parser(__doc__, n=1000, corpus="distinct")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)

    from jixiao.batch import Options, WorkerPool, prestart
    from jixiao.watch import watch

    src = _workbooks(a.n, a.dir, a.corpus)
    prestart()
    with WorkerPool(Options(root="/", out_dir=tempfile.gettempdir(), annotate="never"), 1):
        pass  # the forkserver is up and has its imports: neither clock pays for them
    work = Path(tempfile.mkdtemp(prefix="jixiao-watch-"))
    try:
        inbox = work / "in"
        inbox.mkdir()
        for p in src:
            shutil.copy(p, inbox / p.name)
        settled = time.time() - 60  # already settled: the watcher need not wait for them
        for p in inbox.iterdir():
            os.utime(p, (settled, settled))

        t0 = time.perf_counter()
        batch = _batch_like_watch(sorted(inbox.iterdir()), inbox, work / "batch-out", a.jobs)
        t_batch = time.perf_counter() - t0

        t0 = time.perf_counter()
        res = watch(inbox, work / "watch-out", settle=0.1, jobs=a.jobs, annotate="never", max_results=a.n,
                    max_seconds=3600, install_signals=False)
        t_watch = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{a.n} {a.corpus} workbooks, --jobs {a.jobs}")
    print(f"  batch   {batch} files  {t_batch:6.2f} s  {a.n / t_batch:6.0f} wb/s")
    print(f"  watcher {res.checked} files  {t_watch:6.2f} s  {a.n / t_watch:6.0f} wb/s")
    print(f"  watcher / batch  {t_watch / t_batch:.2f}x")
    return 0


def _batch_like_watch(paths: list[Path], root: Path, out: Path, jobs: int) -> int:
    """`run_batch` with the drop folder's per-file outputs (result JSON, sha256)."""
    from jixiao.batch import Options, Task, WorkerPool, relative_name
    from jixiao.report.rollup import Rollup

    opts = Options(root=str(root), out_dir=str(out), annotate="never", result_json=True, sha256=True)
    rollup = Rollup()
    with WorkerPool(opts, jobs) as pool:
        pool.run([Task(i, str(p), relative_name(p, root)) for i, p in enumerate(paths)],
                 lambda task, s: rollup.add(s))
    rollup.write(out)
    return len(rollup)


if __name__ == "__main__":
    raise SystemExit(main())
