"""Where the time goes: per-stage milliseconds per workbook, in one process.

Run from the repository root::

    .venv/bin/python bench/stages.py [N] [--chunk 64] [--dir /tmp/jixiao-bench]

Stages as the batch worker runs them (`jixiao.batch.process_chunk`): calamine alone (the
floor), read (pre-scan + calamine + grid), explanations (审核说明 of resubmitted copies and
dropping our own sheets), locate, model, rules (`check_models` per chunk; pandera once per
chunk), pandera alone (its share of the rules), score review, summary (the roll-up row).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))


def main(argv: list[str] | None = None) -> int:
    from run_bench import _workbooks, corpus_parser

    ap = corpus_parser(__doc__, n=500, corpus="clones")
    ap.add_argument("--chunk", type=int, default=128)
    a = ap.parse_args(argv)

    import python_calamine as pc

    from jixiao.batch import _tune_gc, worker_pack
    from jixiao.check import check_models
    from jixiao.check import schemas as sc
    from jixiao.errors import CannotCheck
    from jixiao.explanations import read_explanations, without_report_sheets
    from jixiao.locate import locate
    from jixiao.model import build
    from jixiao.read import read_path
    from jixiao.report.rollup import summarize
    from jixiao.result import FileResult
    from jixiao.score import score_file_model
    paths = [str(p) for p in _workbooks(a.n, a.dir, a.corpus)]
    pack = worker_pack(None)
    _tune_gc()  # as the batch workers do
    t: dict[str, float] = defaultdict(float)

    def clock(name: str, t0: float) -> float:
        now = time.perf_counter()
        t[name] += now - t0
        return now

    for warm in (True, False):
        t.clear()
        todo = paths[:50] if warm else paths
        for i in range(0, len(todo), a.chunk):
            models = []
            for p in todo[i:i + a.chunk]:
                t0 = time.perf_counter()
                wb = pc.CalamineWorkbook.from_path(p)
                for name in wb.sheet_names:
                    s = wb.get_sheet_by_name(name)
                    s.to_python(skip_empty_area=False)
                    _ = s.merged_cell_ranges
                t0 = clock("calamine alone (floor)", t0)
                try:
                    grid = read_path(p)
                    t0 = clock("read", t0)
                    read_explanations(grid)
                    grid = without_report_sheets(grid)
                    t0 = clock("explanations", t0)
                    located = locate(grid)
                    t0 = clock("locate", t0)
                    model = build(located)
                    t0 = clock("model", t0)
                    models.append(model)
                except CannotCheck:
                    pass
            t0 = time.perf_counter()
            sc.validate(list(enumerate(models)), pack)
            t0 = clock("(pandera alone, inside rules)", t0)
            found = check_models(models, pack)
            t0 = clock("rules (check_models)", t0)
            for model, findings in zip(models, found, strict=True):
                review, scored = score_file_model(model, pack=pack)
                t0 = clock("score", t0)
                summarize(FileResult(path="x", model=model, findings=findings + scored, review=review), "x")
                t0 = clock("summary", t0)
    n = len(paths)
    total = sum(v for k, v in t.items() if not k.startswith(("(", "calamine")))
    print(f"{n} workbooks, chunk {a.chunk}: ms per workbook")
    for k, v in t.items():
        print(f"  {k:<32} {v / n * 1000:7.3f}")
    print(f"  {'total (without the floor)':<32} {total / n * 1000:7.3f}")
    print(f"  ratio total / calamine floor      {total / t['calamine alone (floor)']:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
