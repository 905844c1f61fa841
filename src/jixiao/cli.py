"""`check-workbook`: the command line. Imports of heavy stages are deferred so that
`--help` and `--version` stay fast."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__
from .errors import EXIT_CLEAN, EXIT_UNCHECKABLE, CannotCheck

EPILOG = """退出码：0 无问题；1 仅有提示；2 有强制性错误；3 无法检查（文件损坏、加密、不是自评表等）。"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="check-workbook",
        description="预算绩效自评工作簿（附件一/二/三）校验与评分",
        epilog=EPILOG,
    )
    p.add_argument("paths", nargs="+", metavar="FILE", help="要检查的工作簿（.xlsx/.xlsm/.xls/.ods）")
    p.add_argument("--dump", action="store_true", help="以 JSON 输出识别出的表格模型（不做检查）")
    p.add_argument("--version", action="version", version=f"check-workbook {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _utf8_stdout()
    if args.dump:
        return _dump(args.paths)
    return _dump(args.paths)


def _dump(paths: Sequence[str]) -> int:
    from .pipeline import load_model

    worst = EXIT_CLEAN
    for path in paths:
        try:
            model = load_model(path)
        except CannotCheck as exc:
            print(f"无法检查 {path}：{exc.message}", file=sys.stderr)
            worst = max(worst, EXIT_UNCHECKABLE)
            continue
        json.dump(model.to_json(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    return worst


def _utf8_stdout() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(encoding="utf-8", errors="replace")
            except (ValueError, OSError):
                pass


if __name__ == "__main__":
    sys.exit(main())
