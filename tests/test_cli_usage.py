"""A command line argparse refuses: a Chinese message and exit code 3, never argparse's 2 (which
means "errors found" and would tell a script the workbook is wrong); help in Chinese; the
"Exception ignored" silencing scoped to an in-process `main` call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jixiao import cli
from jixiao.errors import EXIT_UNCHECKABLE

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("JIXIAO_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "jixiao", *args], capture_output=True, text=True,
                          encoding="utf-8", timeout=120, env=env, cwd=ROOT)


@pytest.mark.parametrize(("args", "expected"), [
    ((), "命令行参数有误：缺少参数：FILE"),
    (("--jobs", "x", "a.xlsx"), "命令行参数有误：参数 --jobs/-j 的值 'x' 不是整数"),
    (("--timeout", "soon", "a.xlsx"), "命令行参数有误：参数 --timeout 的值 'soon' 不是数字"),
    (("--bogus", "a.xlsx"), "命令行参数有误：无法识别的参数：--bogus"),
    (("--format", "xml", "a.xlsx"), "命令行参数有误：参数 --format 的值 'xml' 无效，可选：'console', 'json'"),
    (("a.xlsx", "--out"), "命令行参数有误：参数 --out 缺少取值"),
    (("--jobs", "0", "a.xlsx"), "命令行参数有误：参数 --jobs/-j 的值 '0' 无效，须为正整数"),
    (("-j", "-1", "a.xlsx"), "命令行参数有误：参数 --jobs/-j 的值 '-1' 无效，须为正整数"),
    (("--jobs", "1.5", "a.xlsx"), "命令行参数有误：参数 --jobs/-j 的值 '1.5' 不是整数"),
    (("--timeout", "-1", "a.xlsx"), "命令行参数有误：参数 --timeout 的值 '-1' 无效，须为不小于 0 的秒数（0 为不限）"),
    (("--timeout", "nan", "a.xlsx"), "命令行参数有误：参数 --timeout 的值 'nan' 无效，须为不小于 0 的秒数（0 为不限）"),
    (("--memory-limit", "-5", "a.xlsx"),
     "命令行参数有误：参数 --memory-limit 的值 '-5' 无效，须为不小于 0 的整数（0 为不限）"),
    (("--settle", "inf", "a.xlsx"), "命令行参数有误：参数 --settle 的值 'inf' 无效，须为不小于 0 的秒数"),
])
def test_refused_command_line_exits_3_in_chinese(args: tuple[str, ...], expected: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == EXIT_UNCHECKABLE == 3
    assert proc.stderr.strip() == f"{expected}（用法见 check-workbook -h）"
    assert proc.stdout == ""


def test_zero_means_no_limit_for_timeout_and_memory() -> None:
    args = cli.build_parser().parse_args(["--timeout", "0", "--memory-limit", "0", "--jobs", "3", "a.xlsx"])
    assert (args.timeout, args.memory_limit, args.jobs) == (0.0, 0, 3)


@pytest.mark.parametrize("content", [{}, {"说明.txt": "不是工作簿", "~$锁.xlsx": ""}])
def test_folder_without_workbooks_exits_3(tmp_path: Path, content: dict[str, str]) -> None:
    for name, text in content.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    proc = run_cli(str(tmp_path))
    assert proc.returncode == EXIT_UNCHECKABLE  # nothing was checked: not 0, "no problems found"
    assert proc.stderr.strip() == f"在 {tmp_path} 中没有找到工作簿（.xlsx/.xlsm/.xls/.ods）"
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(content)  # no roll-up written


def test_unknown_argparse_wording_still_refused_with_code_3() -> None:
    parser = cli.build_parser()
    with pytest.raises(cli.UsageError, match=r"^命令行参数有误：something new（用法见 check-workbook -h）$"):
        parser.error("something new")


def test_help_is_chinese() -> None:
    proc = run_cli("-h")
    assert proc.returncode == 0
    for text in ("用法: check-workbook", "参数:", "选项:", "显示本帮助并退出", "显示版本号并退出", "退出码："):
        assert text in proc.stdout
    for english in ("usage:", "show this help", "positional arguments", "options:", "show program's"):
        assert english not in proc.stdout


def test_in_process_main_keeps_the_callers_unraisable_hook(tmp_path: Path) -> None:
    def mine(unraisable: object) -> None:
        pass

    before = sys.unraisablehook
    sys.unraisablehook = mine
    try:
        assert cli.main(["--bogus", "a.xlsx"]) == EXIT_UNCHECKABLE
        assert sys.unraisablehook is mine
        assert cli.main([str(EXAMPLE), "--out", str(tmp_path), "--no-annotate", "--format", "json"]) == 2
        assert sys.unraisablehook is mine
    finally:
        sys.unraisablehook = before


def test_the_installed_command_stays_quiet_to_the_end(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`check-workbook` (cli.program) silences "Exception ignored" for good: objects collected at
    interpreter exit come after main has returned."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'check-workbook = "jixiao.cli:program"' in text

    def mine(unraisable: object) -> None:
        pass

    before = sys.unraisablehook
    sys.unraisablehook = mine
    monkeypatch.setattr(sys, "argv", ["check-workbook", str(EXAMPLE), "--out", str(tmp_path), "--no-annotate"])
    try:
        assert cli.program() == 2
        assert sys.unraisablehook is not mine
        sys.unraisablehook(None)  # type: ignore[arg-type]  # the quiet hook: swallows anything
    finally:
        sys.unraisablehook = before
