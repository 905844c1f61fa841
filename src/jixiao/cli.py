"""`check-workbook`: the command line. Imports of heavy stages are deferred so that
`--help` and `--version` stay fast."""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from . import __version__
from .errors import EXIT_CLEAN, EXIT_UNCHECKABLE, CannotCheck, guard, quiet_unraisable, unraisable_quieted

EPILOG = """退出码：0 无问题；1 仅有提示；2 有强制性错误；3 无法检查（文件损坏、加密、不是自评表、命令行参数有误等）。"""


class UsageError(Exception):
    """A command line argparse refuses: exit code 3, not argparse's 2, which means "errors found"."""


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):  # type: ignore[no-untyped-def]
        super().add_usage(usage, actions, groups, "用法: " if prefix is None else prefix)  # ":" as argparse's headings


# argparse's own messages (Python 3.11 wording) in Chinese; anything else is shown as is.
_ARGPARSE_MESSAGES = (
    (re.compile(r"the following arguments are required: (.*)"), r"缺少参数：\1"),
    (re.compile(r"unrecognized arguments: (.*)"), r"无法识别的参数：\1"),
    (re.compile(r"argument (.*?): invalid int value: (.*)"), r"参数 \1 的值 \2 不是整数"),
    (re.compile(r"argument (.*?): invalid float value: (.*)"), r"参数 \1 的值 \2 不是数字"),
    (re.compile(r"argument (.*?): invalid choice: (.*?) \(choose from (.*)\)"), r"参数 \1 的值 \2 无效，可选：\3"),
    (re.compile(r"argument (.*?): expected (?:one|at least one) argument"), r"参数 \1 缺少取值"),
    (re.compile(r"ambiguous option: (.*?) could match (.*)"), r"参数 \1 有歧义，可能是：\2"),
    (re.compile(r"argument (.*?): (的值 .*)"), r"参数 \1 \2"),  # our own `type=` checks (batch._at_least)
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        for pattern, chinese in _ARGPARSE_MESSAGES:
            if pattern.fullmatch(message):
                message = pattern.sub(chinese, message)
                break
        raise UsageError(f"命令行参数有误：{message}（用法见 check-workbook -h）")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="check-workbook",
        description="预算绩效自评工作簿（附件一/二/三）校验与评分",
        epilog=EPILOG,
        formatter_class=_Formatter,
        add_help=False,
    )
    p._positionals.title, p._optionals.title = "参数", "选项"
    p.add_argument("-h", "--help", action="help", help="显示本帮助并退出")
    p.add_argument("paths", nargs="+", metavar="FILE", help="要检查的工作簿（.xlsx/.xlsm/.xls/.ods）")
    p.add_argument("--dump", action="store_true", help="以 JSON 输出识别出的表格模型（不做检查）")
    p.add_argument("--rules", action="append", metavar="PACK_OR_PATH",
                   help="规则包：内置名称（默认 hunan-county-2023）、规则包目录或 YAML 文件；可重复，后者在前者基础上扩展或覆盖")
    p.add_argument("--format", choices=("console", "json"), default="console", help="报告格式（默认 console）")
    p.add_argument("--profile", metavar="NAME",
                   help="评分配置（评分复核所用的权重与分档）：hunan-county-2023（默认）、national、hubei、sichuan")
    p.add_argument("--version", action="version", version=f"check-workbook {__version__}", help="显示版本号并退出")
    # The annotated copy (issue 5). --no-annotate shares its dest with the batch's --annotate MODE.
    p.add_argument("--out", metavar="DIR", help="输出文件夹（审核副本 <文件名>.审核.xlsx、汇总表）；默认与被检查的文件放在一起")
    p.add_argument("--no-annotate", dest="annotate", action="store_const", const="never",
                   help="不生成审核副本（同 --annotate never）")
    from .batch import add_arguments as add_batch_arguments  # folders and the drop folder (issue 6)

    add_batch_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _utf8_stdout()
    # one --rules stays a plain string (what the batch stage expects); several become a tuple
    if args.rules:
        args.rules = args.rules[0] if len(args.rules) == 1 else tuple(args.rules)
    from .batch import cli_main as batch_main
    from .batch import wants_batch

    if not args.dump and wants_batch(args):  # a folder, or --watch INBOX
        return batch_main(args)
    if args.dump:
        return _dump(args.paths)
    return _check(args)


def _check(args: argparse.Namespace) -> int:
    """Check each file, print the report, return the worst exit code over the files."""
    from .check import PackError, load_pack
    from .pipeline import check_file

    try:
        pack = load_pack(args.rules)
    except PackError as exc:
        print(f"规则包错误：{exc}", file=sys.stderr)
        return EXIT_UNCHECKABLE
    if args.profile:  # refuse an unknown profile once, before any file (issue 4)
        from .score import rubric_from_pack

        try:
            rubric_from_pack(pack.rubric, args.profile)
        except ValueError as exc:
            print(f"评分配置错误：{exc}", file=sys.stderr)
            return EXIT_UNCHECKABLE
    if args.out:
        from .batch import out_dir_problem

        if (problem := out_dir_problem(args.out)) is not None:
            print(problem, file=sys.stderr)
            return EXIT_UNCHECKABLE
    from .batch import carried_note
    from .report.annotate import annotated_path, write_copies

    # 审核说明 typed into an earlier copy (where the new one goes, or beside the file) count and are kept.
    results = [check_file(path, pack=pack, profile=args.profile,
                          copies=(annotated_path(path, args.out), annotated_path(path))) for path in args.paths]
    # The annotated copy comes before the report, so the report can show where it went (issue 5).
    for line in write_copies(results, out_dir=args.out, mode=args.annotate or "always"):
        print(line, file=sys.stderr)
    for r in results:
        if r.carried:
            print(f"{os.path.basename(r.path)}：{carried_note(r.carried)}", file=sys.stderr)
    if args.format == "json":
        from .report.json_report import write_json

        write_json(results, sys.stdout, rules=pack)
    else:
        from .report.console import make_console, render_results

        render_results(results, make_console(), rules_label=pack.label)
        for r in results:  # where the annotated copies went
            for out in r.outputs:
                print(f"审核副本：{out}")
    return max((r.exit_code for r in results), default=EXIT_CLEAN)


def _dump(paths: Sequence[str]) -> int:
    from .pipeline import load_model

    worst = EXIT_CLEAN
    for path in paths:
        try:
            with guard():  # a bug becomes this file's "内部错误", the other files still run
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



def _no_traceback(entry: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Whatever happens, the user sees Chinese lines, never a traceback (issue 7).

    A closed stdout (``check-workbook … | head``) ends the run quietly with 141, the code a
    shell reports for SIGPIPE; the head already has what it asked for.
    """

    @functools.wraps(entry)
    def run(argv: Sequence[str] | None = None) -> int:
        try:
            with unraisable_quieted():  # for this call only: a library caller keeps its own hook
                code = entry(argv)
                sys.stdout.flush()
            return code
        except UsageError as exc:
            print(exc, file=sys.stderr)
            return EXIT_UNCHECKABLE
        except BrokenPipeError:
            _silence_stdout()
            return 141
        except KeyboardInterrupt:
            print("\n已中断", file=sys.stderr)
            return 130
        except CannotCheck as exc:
            print(f"无法检查：{exc.message}", file=sys.stderr)
            return EXIT_UNCHECKABLE
        except Exception as exc:  # last resort: the per-file guard should have caught it
            from .errors import internal_error

            try:
                print(internal_error(exc).message, file=sys.stderr)
            except BrokenPipeError:
                _silence_stdout()
            return EXIT_UNCHECKABLE

    return run


def _silence_stdout() -> None:
    # Point stdout at devnull so the interpreter's final flush cannot raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


main = _no_traceback(main)


def program() -> int:
    """The `check-workbook` command: quiet for good, including the garbage collection at exit."""
    quiet_unraisable()
    return main()


if __name__ == "__main__":
    sys.exit(main())
