"""Folder discovery for `check-workbook DIR`: what counts as an input workbook."""

from __future__ import annotations

from pathlib import Path

import pytest

from jixiao.batch import discover, is_candidate


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
