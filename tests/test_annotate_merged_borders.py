"""The memoised binding of merged ranges (report/merged_borders.py) loads exactly what openpyxl
loads: the same border list, the same style of every cell, the same merged ranges, and the
annotated copy saved from it is the same bytes."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Border, Protection, Side

from jixiao.batch import Options, check_path
from jixiao.report import merged_borders
from jixiao.report.annotate import annotate

from workbooks import EXAMPLE, TEMPLATES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import make_workbooks  # noqa: E402


def _tricky(path: Path) -> Path:
    """Merges whose corners and covered cells carry different borders, protection, ranges
    one row or one column wide, and a covered cell that already holds a border of its own."""
    wb = Workbook()
    ws = wb.active
    thin, thick, dashed = Side(style="thin"), Side(style="thick", color="FF0000"), Side(style="dashed")
    specs = [("B2:D4", Border(top=thin, left=thick), Border(right=dashed, bottom=thin)),
             ("F2:F6", Border(top=dashed, left=thin, right=thick, bottom=thick), None),
             ("B8:H8", Border(top=thin, bottom=thin), Border(right=thick)),
             ("J2:L3", None, Border(right=thin, bottom=dashed)),
             ("B10:C11", Border(top=thick, left=thick, right=thick, bottom=thick), Border(bottom=thin)),
             # the same top-left border, different bottom-right ones: the memo must tell them apart
             ("N2:O3", Border(top=thin), Border(right=thick)),
             ("N5:O6", Border(top=thin), Border(bottom=dashed)),
             ("N8:O9", None, None)]
    for ref, top_left, bottom_right in specs:
        ws.merge_cells(ref)  # first: merging already copies corner borders, and the file should hold them raw
        first, last = ref.split(":")
        ws[first] = ref
        if top_left is not None:
            ws[first].border = top_left
        if bottom_right is not None:
            ws[last].border = bottom_right
    ws["C3"].border = Border(left=dashed)  # a covered cell with its own border
    ws["B10"].protection = Protection(locked=False, hidden=True)
    wb.save(path)
    return path


def _workbooks(tmp_path: Path) -> list[Path]:
    made = make_workbooks.generate(4, tmp_path / "made", seed=7, templates=4, jobs=1)
    return [EXAMPLE, *sorted(TEMPLATES.glob("附件*_模板.xlsx")), *made, _tricky(tmp_path / "tricky.xlsx")]


def _snapshot(data: bytes, fast: bool) -> tuple[Any, ...]:
    if fast:
        with merged_borders.fast_merged_borders():
            wb = load_workbook(io.BytesIO(data), rich_text=True)
    else:
        wb = load_workbook(io.BytesIO(data), rich_text=True)
    sheets = []
    for ws in wb.worksheets:
        cells = sorted((k, type(c).__name__, tuple(c._style)) for k, c in ws._cells.items())
        sheets.append((ws.title, cells, sorted(str(r) for r in ws.merged_cells.ranges)))
    return (list(wb._borders), list(wb._protections), list(wb._cell_styles), sheets)


def test_the_memo_is_in_use_on_this_openpyxl() -> None:
    import openpyxl

    if openpyxl.__version__ not in merged_borders.CHECKED_VERSIONS:
        pytest.skip(f"openpyxl {openpyxl.__version__} not compared: the memo is off and the tests below "
                    "compare openpyxl with itself; compare its merge binding and add it to CHECKED_VERSIONS")


def test_ranges_are_openpyxls_own_and_copy(tmp_path: Path) -> None:
    import copy

    from openpyxl.worksheet.merge import MergedCellRange

    with merged_borders.fast_merged_borders():
        wb = load_workbook(_tricky(tmp_path / "t.xlsx"))
    ws = wb.active
    assert {type(r) for r in ws.merged_cells.ranges} == {MergedCellRange}
    assert [str(r) for r in copy.copy(ws.merged_cells).ranges] == [str(r) for r in ws.merged_cells.ranges]
    assert wb.copy_worksheet(ws).merged_cells.ranges


def test_a_failing_memo_falls_back_to_openpyxls_own_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not to the lower-fidelity rebuild from the grid."""
    result = check_path(str(EXAMPLE), Options(root=str(EXAMPLE.parent), out_dir=str(tmp_path)))
    monkeypatch.setattr(merged_borders, "CHECKED_VERSIONS", ("no such version",))
    annotate(result, target=tmp_path / "plain.xlsx")
    monkeypatch.undo()

    def broken(self: Any) -> None:
        raise RuntimeError("openpyxl changed")
    monkeypatch.setattr(merged_borders, "_bind_merged_cells", broken)
    annotate(result, target=tmp_path / "fallback.xlsx")
    assert _members(tmp_path / "fallback.xlsx") == _members(tmp_path / "plain.xlsx")


def test_loads_are_identical(tmp_path: Path) -> None:
    for path in _workbooks(tmp_path):
        data = path.read_bytes()
        assert _snapshot(data, fast=True) == _snapshot(data, fast=False), path.name


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.startswith("docProps/")}  # time stamps


@pytest.mark.parametrize("which", [0, 4, 7])
def test_annotated_copies_are_the_same_bytes(tmp_path: Path, which: int, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _workbooks(tmp_path)[which]
    result = check_path(str(path), Options(root=str(path.parent), out_dir=str(tmp_path)))
    annotate(result, target=tmp_path / "fast.xlsx")
    monkeypatch.setattr(merged_borders, "CHECKED_VERSIONS", ("no such version",))  # openpyxl's own code
    annotate(result, target=tmp_path / "plain.xlsx")
    assert _members(tmp_path / "fast.xlsx") == _members(tmp_path / "plain.xlsx")
