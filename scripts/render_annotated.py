"""Write the annotated copy of a workbook (default: the bundled example) into a folder.

Used by render_annotated.sh; prints the path of the copy. Runs the real pipeline
(`pipeline.check_file`) so the picture shows what a user gets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("workbook", nargs="?", default=str(EXAMPLE))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    from jixiao.pipeline import check_file
    from jixiao.report.annotate import annotate

    result = check_file(args.workbook)
    if not result.checked:
        print(f"无法检查：{result.failure_message}", file=sys.stderr)
        return 3
    done = annotate(result, out_dir=args.out, source=args.workbook)
    assert done is not None
    if done.loss:
        print(done.loss, file=sys.stderr)
    print(done.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
