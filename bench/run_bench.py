"""Batch benchmark: raw calamine read vs check-only vs annotation, at --jobs 1 and 2, plus peak memory.

Run from the repository root::

    .venv/bin/python bench/run_bench.py                 # 2,000 workbooks, memory at 100 and 10,000
    .venv/bin/python bench/run_bench.py --n 500 --memory 100,1000 --annotate 50

What is measured, all in this one run and on the same files:

* read     raw python-calamine read of every sheet (``to_python`` + merged ranges), in a
           ``multiprocessing`` fork pool of the same size: the floor any checker pays.
* check    ``jixiao.batch.run_batch`` with annotation off: read, locate, model, every rule, the
           score review, the per-file summary, and writing 汇总.xlsx/.csv/.json.
           The pool's forkserver is started (imports done) before the clock starts, as in a
           long-running drop folder; the cold CLI start is reported separately.
* annotate the same on a subset with ``annotate="always"``; the time above check-only is the
           annotation cost.
* memory   a fresh process per size runs check-only and reports the peak RSS of the parent,
           of every worker (their own ru_maxrss) and of the forkserver; the sum is the peak.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))


CORPORA = ("clones", "distinct")
BENCH_DIR = Path(tempfile.gettempdir()) / "jixiao-bench"  # generated corpora, reused across runs


def corpus_parser(doc: str | None, *, n: int, corpus: str) -> argparse.ArgumentParser:
    """The command line of a script that times one corpus (stages.py, watch_catchup.py): N,
    --corpus and --dir; the script adds its own options."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, nargs="?", default=n)
    ap.add_argument("--corpus", choices=CORPORA, default=corpus, help="see run_bench._workbooks")
    ap.add_argument("--dir", type=Path, default=BENCH_DIR)
    return ap


def _workbooks(n: int, base: Path, corpus: str = "clones") -> list[Path]:
    """n generated workbooks in base/wb{n} (reused when already there).

    clones:   the default generator: 48 openpyxl-built templates, each file a clone of one with
              its own unit name and, now and then, one changed number (fast to make; files of one
              template share most cells, which flatters any cache keyed on cell content).
    distinct: every file built by openpyxl from its own random data (no two files share their
              numbers; label texts and the indicator wording still recur, as across a county).
    """
    import make_workbooks

    d = base / (f"wb{n}" if corpus == "clones" else f"wb{n}-{corpus}")
    paths = sorted(d.glob("*.xlsx")) if d.is_dir() else []
    if len(paths) != n:
        shutil.rmtree(d, ignore_errors=True)
        t0 = time.perf_counter()
        templates = n if corpus == "distinct" else 48
        paths = make_workbooks.generate(n, d, seed=n, templates=templates, jobs=os.cpu_count() or 2)
        print(f"  generated {n} workbooks in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return sorted(paths)


# ------------------------------------------------------------------------------------------------
# Raw read baseline
# ------------------------------------------------------------------------------------------------


def _read_one(path: str) -> int:
    import python_calamine as pc

    wb = pc.CalamineWorkbook.from_path(path)
    cells = 0
    for name in wb.sheet_names:
        sheet = wb.get_sheet_by_name(name)
        rows = sheet.to_python(skip_empty_area=False)
        _ = sheet.merged_cell_ranges
        cells += sum(len(r) for r in rows)
    return cells


def time_read(paths: list[Path], jobs: int) -> float:
    names = [str(p) for p in paths]
    ctx = mp.get_context("fork")
    t0 = time.perf_counter()
    if jobs == 1:
        for n in names:
            _read_one(n)
    else:
        with ctx.Pool(jobs) as pool:
            for _ in pool.imap_unordered(_read_one, names, chunksize=max(1, len(names) // (jobs * 16))):
                pass
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------
# Check and annotate through the real batch
# ------------------------------------------------------------------------------------------------


def time_batch(paths: list[Path], jobs: int, annotate: str, out: Path,
               check: str | None = None) -> tuple[float, dict[str, int]]:
    from jixiao.batch import run_batch

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    res = run_batch(paths, root=paths[0].parent, out_dir=out, jobs=jobs, annotate=annotate, check=check)
    return time.perf_counter() - t0, res.rollup.counts()


def empty_check(path: str, opts: object) -> object:
    """Runs in the workers in place of the check: what is left is the batch machinery itself
    (dispatch, per-file messages, summaries, the roll-up)."""
    from jixiao.result import FileResult

    return FileResult(path=path)


def warm_up(paths: list[Path], out: Path) -> None:
    """Start the forkserver (its imports) and the parent's roll-up imports."""
    time_batch(paths[:4], 1, "never", out)


def cold_cli(paths_dir: Path, out: Path, jobs: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jixiao", str(paths_dir), "--out", str(out), "--jobs", str(jobs),
                    "--annotate", "never"], capture_output=True, check=False)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------
# Memory (one fresh process per size)
# ------------------------------------------------------------------------------------------------


def _forkserver_hwm_kib() -> int:
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if not pid:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_probe(n: int, jobs: int, base: Path) -> dict[str, float]:
    from jixiao.batch import run_batch

    paths = _workbooks(n, base)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_batch(paths, root=paths[0].parent, out_dir=tmp, jobs=jobs, annotate="never")
        secs = time.perf_counter() - t0
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = res.stats.worker_peak_rss_kib
    server = _forkserver_hwm_kib()
    return {"n": n, "seconds": secs, "parent_kib": parent, "workers_kib": workers, "forkserver_kib": server,
            "total_mib": (parent + sum(workers) + server) / 1024}


def run_memory(n: int, jobs: int, base: Path) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--memory-probe", str(n), "--jobs-probe", str(jobs),
                           "--dir", str(base)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------------


def _print_targets(corpus: str, report: dict[str, object]) -> None:
    """Issue 6's throughput targets against this run: the best jobs setting of the run."""
    runs = [v for k, v in report.items() if k.startswith("jobs") and isinstance(v, dict)]
    if not runs:
        return
    best = max(runs, key=lambda r: r["check_wb_s"])
    ratio = min(r["ratio"] for r in runs)
    print(f"targets ({corpus}): check-only >= 1000 wb/s: {best['check_wb_s']:.0f} wb/s "
          f"({'met' if best['check_wb_s'] >= 1000 else 'NOT met'}); "
          f"check/read <= 4x: {ratio:.2f}x ({'met' if ratio <= 4 else 'NOT met'})")


def time_corpus(paths: list[Path], corpus: str, a: argparse.Namespace, out: Path) -> dict[str, object]:
    """Read, check and annotate timings of one corpus at each --jobs setting."""
    warm_up(paths, out)
    report: dict[str, object] = {}
    print(f"corpus {corpus} ({paths[0].parent})")
    print(f"{'jobs':>4} {'read wb/s':>10} {'check wb/s':>11} {'check/read':>10} {'annotate wb/s':>14}")
    for jobs in (int(j) for j in a.jobs.split(",")):
        # Alternated, so that a slow spell of the machine hits both the read and the check.
        reads, checks = [], []
        for _ in range(a.repeat):
            reads.append(time_read(paths, jobs))
            checks.append(time_batch(paths, jobs, "never", out))
        read = min(reads)
        check = min(t for t, _ in checks)
        subset = paths[: a.annotate]
        sub_check = min(time_batch(subset, jobs, "never", out)[0] for _ in range(a.repeat))
        sub_ann = time_batch(subset, jobs, "always", out)[0]  # slow: once is enough
        ann_rate = len(subset) / max(sub_ann - sub_check, 1e-9)
        print(f"{jobs:>4} {a.n / read:>10.0f} {a.n / check:>11.0f} {check / read:>10.2f} {ann_rate:>14.1f}"
              f"   (read {read:.2f} s, check {check:.2f} s; subset of {len(subset)}: check {sub_check:.2f} s,"
              f" with annotation {sub_ann:.2f} s)")
        machinery = min(time_batch(paths, jobs, "never", out, check="run_bench:empty_check")[0]
                        for _ in range(a.repeat))
        print(f"       batch machinery alone (empty check): {a.n / machinery:.0f} wb/s, "
              f"{machinery / a.n * 1000:.3f} ms per workbook")
        report[f"jobs{jobs}"] = {"read_s": read, "check_s": check, "read_wb_s": a.n / read,
                                 "check_wb_s": a.n / check, "ratio": check / read,
                                 "annotate_wb_s": ann_rate, "statuses": checks[0][1],
                                 "machinery_wb_s": a.n / machinery}
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="workbooks for the timing runs")
    ap.add_argument("--annotate", type=int, default=50, help="workbooks in the annotation subset")
    ap.add_argument("--memory", default="100,10000", help="sizes for the memory comparison ('' to skip)")
    ap.add_argument("--jobs", default="1,2")
    ap.add_argument("--corpus", default=",".join(CORPORA), help="clones, distinct or both (see _workbooks)")
    ap.add_argument("--repeat", type=int, default=3, help="best of R for the timings")
    ap.add_argument("--dir", type=Path, default=BENCH_DIR)
    ap.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--jobs-probe", type=int, default=2, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.dir.mkdir(parents=True, exist_ok=True)

    if a.memory_probe:
        print(json.dumps(memory_probe(a.memory_probe, a.jobs_probe, a.dir)))
        return 0

    report: dict[str, object] = {"n": a.n, "cpus": os.cpu_count()}
    print(f"{a.n} workbooks, {os.cpu_count()} CPUs, best of {a.repeat}")
    out = a.dir / "out"
    for corpus in a.corpus.split(","):
        paths = _workbooks(a.n, a.dir, corpus)
        report[corpus] = time_corpus(paths, corpus, a, out)
        _print_targets(corpus, report[corpus])  # type: ignore[arg-type]
    paths = _workbooks(a.n, a.dir)
    cold = cold_cli(paths[0].parent, out, 2)
    print(f"cold CLI (`python -m jixiao DIR --jobs 2 --annotate never`, imports included): {cold:.2f} s"
          f" = {a.n / cold:.0f} wb/s")
    report["cold_cli_s"] = cold
    if a.memory:
        sizes = [int(x) for x in a.memory.split(",") if x]
        mem = [run_memory(n, 2, a.dir) for n in sizes]
        for m in mem:
            print(f"memory, {m['n']:>6} workbooks, jobs 2: peak {m['total_mib']:.0f} MiB "
                  f"(parent {m['parent_kib'] / 1024:.0f}, workers {[round(w / 1024) for w in m['workers_kib']]}, "
                  f"forkserver {m['forkserver_kib'] / 1024:.0f}) in {m['seconds']:.1f} s")
        if len(mem) >= 2:
            print(f"memory ratio {mem[-1]['n']} / {mem[0]['n']}: {mem[-1]['total_mib'] / mem[0]['total_mib']:.2f}")
        report["memory"] = mem
    (a.dir / "bench.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
