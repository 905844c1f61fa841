"""An output folder that refuses a write (a file where a folder should be, a folder where a file
should be, no permission, 汇总.xlsx open in Excel on Windows, a full disk) is told in Chinese as an
output problem, never as an internal error, and never costs the check itself (issue 6: the batch,
the drop folder; the single-file CLI)."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from jixiao.atomic import prepare_dir, write_atomic, write_text_atomic
from jixiao.batch import run_batch
from jixiao.errors import EXIT_ERRORS, EXIT_UNCHECKABLE, OutputError, output_error
from jixiao.watch import STATE_FILE, print_result, watch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "jixiao", *args], capture_output=True, text=True,
                          encoding="utf-8", env=env, timeout=300)


def _inbox(tmp_path: Path, names: tuple[str, ...] = ("单位A.xlsx",)) -> Path:
    inbox = tmp_path / "in"
    inbox.mkdir()
    for name in names:
        shutil.copy(EXAMPLE, inbox / name)
    return inbox


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob(".~tmp-*")]


# --- the atomic writer ------------------------------------------------------------------------


def test_a_file_where_a_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "out" / "汇总.json"
    with pytest.raises(OutputError) as err:
        write_text_atomic(target, "{}")
    assert err.value.code == "OUTPUT"
    assert err.value.message == f"无法写入 {target}：路径中有一段是文件而不是文件夹"
    with pytest.raises(OutputError, match="已有同名的文件，不是文件夹"):
        prepare_dir(tmp_path / "afile")


def test_a_folder_where_the_file_should_be(tmp_path: Path) -> None:
    (tmp_path / "汇总.xlsx").mkdir()
    with pytest.raises(OutputError, match="已有同名的文件夹"):
        write_text_atomic(tmp_path / "汇总.xlsx", "x")
    assert _no_temp_files(tmp_path)


def test_reasons_come_from_the_file_system_where_the_errno_differs_by_platform(tmp_path: Path) -> None:
    """Windows reports a folder in the way as "access denied" and a file in the way as "exists"."""
    (tmp_path / "汇总.xlsx").mkdir()
    (tmp_path / "afile").write_text("x")
    denied = PermissionError(errno.EACCES, "Access is denied")
    assert output_error(tmp_path / "汇总.xlsx", denied).message.endswith("：已有同名的文件夹")
    exists = FileExistsError(errno.EEXIST, "Cannot create a file when that file already exists")
    assert output_error(tmp_path / "afile" / "out", exists).message.endswith("：路径中有一段是文件而不是文件夹")
    assert output_error(tmp_path / "x.xlsx", denied).message.endswith("：没有写入权限，或文件正被其他程序（如 Excel、WPS）打开")
    odd = OSError(errno.EIO, "Input/output error")
    assert output_error(tmp_path / "x.xlsx", odd).message == f"无法写入 {tmp_path / 'x.xlsx'}：系统报告“Input/output error”"


def test_an_existing_output_file_gets_the_errno_reason(tmp_path: Path) -> None:
    """汇总.xlsx already there (every re-run): open in Excel, or a full disk, is what is told."""
    target = tmp_path / "汇总.xlsx"
    target.write_bytes(b"old")
    assert output_error(target, PermissionError(errno.EACCES, "denied")).message.endswith(
        "：没有写入权限，或文件正被其他程序（如 Excel、WPS）打开")
    assert output_error(target, OSError(errno.ENOSPC, "No space")).message.endswith("：磁盘空间不足")


def test_a_failure_reading_something_else_stays_what_it_is(tmp_path: Path) -> None:
    """The writer callback may read other files (the annotation reads the input again): their
    errors are not the output folder's."""
    missing = tmp_path / "gone.xlsx"
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "copy.xlsx", lambda p: p.write_bytes(missing.read_bytes()))
    assert _no_temp_files(tmp_path) and not (tmp_path / "copy.xlsx").exists()


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize("folder_mode", [True, False], ids=["folder", "file"])
def test_an_unusable_out_is_refused_before_any_check(tmp_path: Path, folder_mode: bool) -> None:
    inbox = _inbox(tmp_path)
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "审核"
    target = str(inbox) if folder_mode else str(inbox / "单位A.xlsx")
    proc = _cli(target, "--out", str(out), "--jobs", "1")
    assert proc.returncode == EXIT_UNCHECKABLE
    assert proc.stderr.strip() == f"输出文件夹不可用：无法写入 {out}：路径中有一段是文件而不是文件夹"
    assert "共检查" not in proc.stdout and "Traceback" not in proc.stderr


def test_batch_writes_what_it_can_when_the_rollup_xlsx_is_blocked(tmp_path: Path) -> None:
    """汇总.xlsx cannot be replaced (here a folder of that name; on Windows, the file open in
    Excel): the CSV and JSON still come, the summary says what is missing, and the exit code
    is 3 so that a script notices."""
    inbox = _inbox(tmp_path)
    out = tmp_path / "out"
    (out / "汇总.xlsx").mkdir(parents=True)
    proc = _cli(str(inbox), "--out", str(out), "--jobs", "1")
    assert proc.returncode == EXIT_UNCHECKABLE, proc.stderr
    assert "共检查 1 个文件：通过 0，有提示 0，有错误 1" in proc.stdout
    assert f"汇总未能写入：无法写入 {out / '汇总.xlsx'}：已有同名的文件夹" in proc.stdout
    assert (out / "汇总.csv").is_file() and (out / "汇总.json").is_file()
    assert (out / "单位A.审核.xlsx").is_file() and _no_temp_files(out)

    as_json = _cli(str(inbox), "--out", str(out), "--jobs", "1", "--format", "json")
    assert as_json.returncode == EXIT_UNCHECKABLE
    doc = json.loads(as_json.stdout)
    assert doc["problems"] == [f"汇总未能写入：无法写入 {out / '汇总.xlsx'}：已有同名的文件夹"]
    assert doc["exit_code"] == EXIT_UNCHECKABLE  # as the process says
    assert "汇总未能写入" in as_json.stderr

    res = run_batch([inbox / "单位A.xlsx"], root=inbox, out_dir=out, jobs=1, annotate="never")
    assert res.outputs == [out / "汇总.csv", out / "汇总.json"]
    assert res.problems == [f"汇总未能写入：无法写入 {out / '汇总.xlsx'}：已有同名的文件夹"]
    assert res.rollup.exit_code == EXIT_ERRORS and res.exit_code == EXIT_UNCHECKABLE


def test_a_blocked_annotated_copy_is_an_output_problem_not_an_internal_error(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    out = tmp_path / "out"
    (out / "单位A.审核.xlsx").mkdir(parents=True)
    message = f"无法写入 {out / '单位A.审核.xlsx'}：已有同名的文件夹"

    one = _cli(str(inbox / "单位A.xlsx"), "--out", str(out))
    assert one.returncode == EXIT_ERRORS  # the check stands
    assert f"审核副本未能生成（单位A.xlsx）：{message}" in one.stderr
    assert "内部错误" not in one.stderr + one.stdout

    batch = _cli(str(inbox), "--out", str(out), "--jobs", "1")
    assert batch.returncode == EXIT_ERRORS
    assert f"  单位A.xlsx：审核副本未能生成：{message}" in batch.stdout
    assert "内部错误" not in batch.stderr + batch.stdout
    with open(out / "汇总.csv", encoding="utf-8-sig", newline="") as f:
        [header, row] = list(csv.reader(f))
    assert row[header.index("备注")] == f"审核副本未能生成：{message}"  # where the county looks
    sheet = load_workbook(out / "汇总.xlsx", read_only=True)["汇总"]
    assert [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))][-1] == f"审核副本未能生成：{message}"


# --- the drop folder --------------------------------------------------------------------------


def test_drop_folder_goes_on_when_the_rollup_cannot_be_written(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path, ("单位A.xlsx", "单位B.xlsx"))
    outbox = tmp_path / "out"
    (outbox / "汇总.xlsx").mkdir(parents=True)
    told: list[str] = []
    res = watch(inbox, outbox, settle=0.2, jobs=1, annotate="never", max_results=2, max_seconds=120,
                on_problem=told.append, install_signals=False)
    assert res.checked == 2
    assert told == res.problems == [f"汇总未能写入：无法写入 {outbox / '汇总.xlsx'}：已有同名的文件夹"]  # once
    assert (outbox / "单位A.结果.json").is_file() and (outbox / "单位B.结果.json").is_file()
    assert (outbox / STATE_FILE).is_file() and (outbox / "汇总.csv").is_file()


def test_drop_folder_rewrites_a_stale_rollup_once_it_can(tmp_path: Path) -> None:
    """The roll-up could not be written while a file was checked (open in Excel); once it can, a
    restart brings it up to date even with nothing new to check."""
    inbox = _inbox(tmp_path)
    outbox = tmp_path / "out"
    (outbox / "汇总.xlsx").mkdir(parents=True)
    first = watch(inbox, outbox, settle=0.2, jobs=1, annotate="never", max_results=1, max_seconds=120,
                  install_signals=False)
    assert first.checked == 1 and len(first.problems) == 1
    (outbox / "汇总.xlsx").rmdir()
    again = watch(inbox, outbox, settle=0.2, jobs=1, annotate="never", max_seconds=1.5, install_signals=False)
    assert again.checked == 0 and again.skipped == 1 and again.problems == []
    with zipfile.ZipFile(outbox / "汇总.xlsx") as z:  # a real workbook now, holding the unit
        assert any("单位A.xlsx".encode() in z.read(n) for n in z.namelist())


def test_drop_folder_keeps_the_result_json_when_the_copy_is_blocked(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    outbox = tmp_path / "out"
    (outbox / "单位A.审核.xlsx").mkdir(parents=True)
    res = watch(inbox, outbox, settle=0.2, jobs=1, annotate="always", max_results=1, max_seconds=120,
                install_signals=False)
    [s] = res.results
    assert s.notes == [f"审核副本未能生成：无法写入 {outbox / '单位A.审核.xlsx'}：已有同名的文件夹"]
    doc = json.loads((outbox / "单位A.结果.json").read_text(encoding="utf-8"))
    assert doc["file"] == "单位A.xlsx" and doc["exit_code"] == EXIT_ERRORS
    out = io.StringIO()
    print_result(s, out)
    assert out.getvalue().splitlines()[1] == f"  审核副本未能生成：无法写入 {outbox / '单位A.审核.xlsx'}：已有同名的文件夹"


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="POSIX file size limit")
def test_a_full_disk_is_told_once_without_tracebacks_or_leftovers(tmp_path: Path) -> None:
    """A file size limit makes every write past 10 KB fail the way a full disk does: openpyxl's
    own temporary files fail too, and Python would print "Exception ignored" tracebacks."""
    import resource

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    inbox = _inbox(tmp_path)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("JIXIAO_DEBUG", None)
    for args, code in (([str(inbox / "单位A.xlsx"), "--out", str(tmp_path / "one")], EXIT_ERRORS),
                       ([str(inbox), "--out", str(tmp_path / "all"), "--jobs", "1"], EXIT_UNCHECKABLE)):
        proc = subprocess.run([sys.executable, "-m", "jixiao", *args], capture_output=True, text=True,
                              encoding="utf-8", env=env, timeout=300, preexec_fn=small_disk)
        assert proc.returncode == code, proc.stderr
        told = proc.stderr + proc.stdout
        assert "审核副本未能生成" in told and "文件超过了磁盘或系统允许的大小" in told
        assert "Traceback" not in told and "Exception ignored" not in told
    assert not (tmp_path / "one" / "单位A.审核.xlsx").exists() and _no_temp_files(tmp_path)
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["汇总.csv", "汇总.json"]


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="POSIX file size limit")
def test_an_earlier_copy_that_could_not_be_replaced_is_called_out_of_date(tmp_path: Path) -> None:
    import resource

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    inbox = _inbox(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "单位A.审核.xlsx").write_bytes(b"an earlier copy")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    for args in ([str(inbox / "单位A.xlsx")], [str(inbox), "--jobs", "1"]):
        proc = subprocess.run([sys.executable, "-m", "jixiao", *args, "--out", str(out)], capture_output=True,
                              text=True, encoding="utf-8", env=env, timeout=300, preexec_fn=small_disk)
        assert "审核副本未能生成" in proc.stderr + proc.stdout
        assert "该位置现有的审核副本是以前检查的结果，已过时" in proc.stderr + proc.stdout
    assert (out / "单位A.审核.xlsx").read_bytes() == b"an earlier copy"  # never half-replaced
