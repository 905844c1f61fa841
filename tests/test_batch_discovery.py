"""Folder discovery for `check-workbook DIR`: what counts as an input workbook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jixiao.batch import STATE_FILE, STATE_VERSION, discover, in_output_dir, is_candidate, is_output_dir
from jixiao.errors import EXIT_ERRORS
from jixiao.report.rollup import Rollup, Summary

from workbooks import example_copy


@pytest.mark.parametrize("name", ["a.xlsx", "B.XLSX", "c.xlsm", "d.xls", "e.ods", "单位自评表.Xlsx"])
def test_workbooks_are_candidates(name: str) -> None:
    assert is_candidate(name)


@pytest.mark.parametrize("name", [
    "~$a.xlsx",  # Excel/WPS lock file
    ".~lock.a.xlsx#",  # LibreOffice lock file
    ".~lock.a.ods#",
    ".~tmp-abc.xlsx",  # our own atomic temporary
    "a.xlsx.tmp", "b.tmp",
    "a.审核.xlsx",  # our annotated copy
    "汇总.xlsx",  # our roll-up
    ".hidden.xlsx",
    "a.csv", "a.docx", "a.xlsb", "a", "xlsx",
])
def test_non_inputs_are_skipped(name: str) -> None:
    assert not is_candidate(name)


def test_discover_recursive_sorted_and_pruned(tmp_path: Path) -> None:
    files = ["b.xlsx", "a.XLS", "sub/c.ods", "sub/deeper/d.xlsm", "sub/~$c.xlsx", ".git/x.xlsx",
             "sub/.cache/y.xlsx", "out/z.xlsx", "汇总.xlsx", "b.审核.xlsx", "notes.txt"]
    for f in files:
        p = tmp_path / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    (tmp_path / "dir.xlsx").mkdir()  # a folder named like a workbook is not a workbook
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path, skip_dirs=[tmp_path / "out"])]
    assert found == ["a.XLS", "b.xlsx", "sub/c.ods", "sub/deeper/d.xlsm"]
    assert "out/z.xlsx" in [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)]


def test_resubmitted_annotated_copy_is_checked_unless_its_original_is_beside_it(tmp_path: Path) -> None:
    for f in ("b.xlsx", "b.审核.xlsx", "c.审核.xlsx"):
        (tmp_path / f).write_bytes(b"x")
    found = [p.name for p in discover(tmp_path)]
    assert "b.审核.xlsx" not in found  # our own output next to its input
    assert "c.审核.xlsx" in found  # a unit sent back only the annotated copy, with 审核说明
    assert is_candidate("c.审核.xlsx", tmp_path) and not is_candidate("b.审核.xlsx", tmp_path)


# --- output folders of earlier runs -----------------------------------------------------------


def _rollup_of(folder: Path, *files: str) -> None:
    """汇总.json as a batch writes it, for inputs `files` (relative to that batch's root)."""
    rollup = Rollup()
    for f in files:
        rollup.add(Summary(file=f))
    rollup.write(folder)


def test_an_output_folder_is_told_by_our_rollup_or_record_and_holding_no_inputs(tmp_path: Path) -> None:
    out = tmp_path / "审核结果"
    out.mkdir()
    (out / "单位甲.审核.xlsx").write_bytes(b"x")
    assert not is_output_dir(out)  # annotated copies alone: a unit's resubmitted copies
    _rollup_of(out, "单位甲.xlsx")
    assert is_output_dir(out) and is_output_dir(out, os.listdir(out))
    (out / "新交的.xlsx").write_bytes(b"x")
    assert not is_output_dir(out)  # inputs beside our roll-up: a folder checked in place

    other = tmp_path / "别人的"
    other.mkdir()
    (other / "单位乙.审核.xlsx").write_bytes(b"x")
    for text in ('{"files": "单位乙.xlsx", "status_counts": {}, "grade_counts": {}, "exit_code": 0}',
                 '{"files": []}', "[1, 2]", "not json", "[" * 100_000):  # not our roll-up
        (other / "汇总.json").write_text(text, encoding="utf-8")
        assert not is_output_dir(other), text[:40]
    (other / "汇总.json").unlink()
    (other / STATE_FILE).write_text('{"version": 99, "files": {}}', encoding="utf-8")
    assert not is_output_dir(other)  # not a record this version wrote
    (other / STATE_FILE).write_text(f'{{"version": {STATE_VERSION}, "files": {{}}}}', encoding="utf-8")
    assert is_output_dir(other)  # a drop folder's OUTBOX


def test_discover_skips_earlier_output_folders_but_not_the_folder_named(tmp_path: Path) -> None:
    for f in ("单位甲.xlsx", "乡镇/单位乙.xlsx", "审核结果/单位甲.审核.xlsx", "审核结果/乡镇/单位乙.审核.xlsx",
              "回收/单位丙.审核.xlsx"):
        p = tmp_path / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    _rollup_of(tmp_path / "审核结果", "单位甲.xlsx", "乡镇/单位乙.xlsx")
    _rollup_of(tmp_path / "乡镇", "单位乙.xlsx")  # 乡镇 was checked in place: its inputs stay inputs
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)]
    assert found == ["乡镇/单位乙.xlsx", "单位甲.xlsx", "回收/单位丙.审核.xlsx"]  # a resubmitted copy still counts
    assert in_output_dir(tmp_path / "审核结果" / "乡镇" / "单位乙.审核.xlsx", tmp_path)
    assert not in_output_dir(tmp_path / "回收" / "单位丙.审核.xlsx", tmp_path)
    # named on the command line, the output folder is searched: its copies are then resubmitted ones
    assert [p.name for p in discover(tmp_path / "审核结果")] == ["单位乙.审核.xlsx", "单位甲.审核.xlsx"]


def test_a_folder_checked_in_place_with_its_workbooks_in_sub_folders_is_searched(tmp_path: Path) -> None:
    """`check-workbook county/乡镇A` left 汇总.json in 乡镇A, whose workbooks all sit in its
    sub-folders: a later county-wide run must still find them (its roll-up lists inputs that are
    there), while an output folder's roll-up lists inputs that are elsewhere."""
    county = tmp_path / "county"
    files = ["乡镇A/单位1/甲.xlsx", "乡镇A/单位1/乙.xlsx", "乡镇A/单位2/丙.xlsx", "乡镇B/丁.xlsx"]
    for f in files:
        (county / f).parent.mkdir(parents=True, exist_ok=True)
        (county / f).write_bytes(b"x")
    _rollup_of(county / "乡镇A", "单位1/甲.xlsx", "单位1/乙.xlsx", "单位2/丙.xlsx")
    assert not is_output_dir(county / "乡镇A")
    assert sorted(p.relative_to(county).as_posix() for p in discover(county)) == sorted(files)
    (county / "乡镇B" / "收件").mkdir()  # a drop folder INBOX=OUTBOX whose files sit one level down
    (county / "乡镇B" / "收件" / "戊.xlsx").write_bytes(b"x")
    (county / "乡镇B" / STATE_FILE).write_text(f'{{"version": {STATE_VERSION}, "files": {{"收件/戊.xlsx": {{}}}}}}',
                                              encoding="utf-8")
    assert not is_output_dir(county / "乡镇B")
    _rollup_of(county / "审核结果", "乡镇A/单位1/甲.xlsx")  # a batch's --out: its inputs are elsewhere
    assert is_output_dir(county / "审核结果")


def test_cli_second_run_does_not_check_the_first_runs_annotated_copies(tmp_path: Path) -> None:
    """`check-workbook D --out D/审核结果`, then `check-workbook D`: the same units, not twice as many."""
    d = tmp_path / "D"
    for name in ("单位甲.xlsx", "单位乙.xlsx", "乡镇/单位丙.xlsx"):
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        example_copy(d / Path(name).parent, Path(name).name)
    example_copy(d / "乡镇", "单位丁.审核.xlsx")  # a unit sent back only its annotated copy
    units = ["乡镇/单位丁.审核.xlsx", "乡镇/单位丙.xlsx", "单位乙.xlsx", "单位甲.xlsx"]
    first = _cli(str(d), "--out", str(d / "审核结果"), "--jobs", "1")
    assert first.returncode == EXIT_ERRORS, first.stderr
    assert (d / "审核结果" / "乡镇" / "单位丙.审核.xlsx").is_file()
    assert _rollup_files(d / "审核结果") == units

    second = _cli(str(d), "--jobs", "1")
    assert second.returncode == EXIT_ERRORS, second.stderr
    assert second.stdout.startswith(f"共检查 {len(units)} 个文件")
    assert _rollup_files(d) == units  # none of 审核结果/*.审核.xlsx

    # a sub-folder checked in place holds a roll-up too, yet its units are still found from above
    assert _cli(str(d / "乡镇"), "--jobs", "1").returncode == EXIT_ERRORS
    third = _cli(str(d), "--jobs", "1")
    assert _rollup_files(d) == units, third.stdout


def test_several_relative_folders_keep_their_sub_paths(tmp_path: Path) -> None:
    """`check-workbook 单位1 单位2` from their parent: two units' 报表.xlsx are two rows, each copy
    beside its own file, and the roll-up names them by sub-path (so a later run from above, which
    sees that roll-up, still searches 单位1 and 单位2)."""
    for unit in ("单位1", "单位2"):
        (tmp_path / unit).mkdir()
        example_copy(tmp_path / unit, "报表.xlsx")
    proc = subprocess.run([sys.executable, "-m", "jixiao", "单位1", "单位2", "--jobs", "1"], capture_output=True,
                          text=True, encoding="utf-8", env={**os.environ, "PYTHONIOENCODING": "utf-8"},
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == EXIT_ERRORS, proc.stderr
    assert proc.stdout.startswith("共检查 2 个文件")
    assert _rollup_files(tmp_path) == ["单位1/报表.xlsx", "单位2/报表.xlsx"]
    assert (tmp_path / "单位1" / "报表.审核.xlsx").is_file() and (tmp_path / "单位2" / "报表.审核.xlsx").is_file()
    assert not is_output_dir(tmp_path)


def test_a_crafted_rollup_cannot_point_outside_its_folder(tmp_path: Path) -> None:
    (tmp_path / "单位甲.xlsx").write_bytes(b"x")
    out = tmp_path / "审核结果"
    out.mkdir()
    (out / "单位甲.审核.xlsx").write_bytes(b"x")
    _rollup_of(out, "../单位甲.xlsx", str(tmp_path / "单位甲.xlsx"))  # both exist, but not in `out`
    assert is_output_dir(out)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "jixiao", *args], capture_output=True, text=True,
                          encoding="utf-8", env=env, timeout=300)


def _rollup_files(folder: Path) -> list[str]:
    return [f["file"] for f in json.loads((folder / "汇总.json").read_text(encoding="utf-8"))["files"]]
