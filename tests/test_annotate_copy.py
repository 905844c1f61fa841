"""The annotated copy (issue #5): fills, comments, hyperlinks, the two new sheets, an
untouched input and unchanged original values/merges, read back with openpyxl and calamine."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.styles import PatternFill
from python_calamine import CalamineWorkbook

from jixiao import pipeline
from jixiao.explanations import RESULT_COLUMNS, RESULT_SHEET, REVIEW_SHEET
from jixiao.findings import Finding, Severity
from jixiao.report.annotate import AUTHOR, COLORS, annotate, annotated_path
from jixiao.result import FileResult

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402

ORIGINAL_SHEETS = ("附件一", "附件二", "附件三")


def hand_findings() -> list[Finding]:
    """Findings on real cells of the bundled example (H5 is merged H5:I5)."""
    return [
        Finding("BDT-3", Severity.ERROR, "附件二", "附件二", "I5", "自评得分与执行率不符", title="执行率得分",
                expected="10", actual="9"),
        Finding("IND-7", Severity.WARNING, "附件二", "附件二", "F15", "实际完成值照抄了年度指标值", title="照抄"),
        Finding("IND-9", Severity.INFO, "附件二", "附件二", "F15", "仅供参考"),
        Finding("SUM-1", Severity.ERROR, "附件一", "附件一", "B12", "项目支出与明细合计不符",
                expected="478.32", actual="478.33"),
        Finding("A3-1", Severity.WARNING, "附件三", "附件三", "C3", "项目名称过于笼统", project="业务经费"),
        Finding("WB-1", Severity.INFO, "工作簿", "", "", "工作簿级信息"),
    ]


def hand_result(path: Path) -> FileResult:
    from jixiao.score import load_rubric, score_model

    model = pipeline.load_model(path)
    review, _ = score_model(model, load_rubric())
    return FileResult(path=str(path), model=model, findings=hand_findings(), review=review)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def calamine(path: Path) -> dict[str, tuple[list[list], set]]:
    wb = CalamineWorkbook.from_path(str(path))
    out = {}
    for name in wb.sheet_names:
        s = wb.get_sheet_by_name(name)
        out[name] = (s.to_python(skip_empty_area=False), {tuple(map(tuple, m)) for m in s.merged_cell_ranges or []})
    return out


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return bt.build_example(tmp_path_factory.mktemp("in") / "示例.xlsx")


@pytest.fixture(scope="module")
def copy(example, tmp_path_factory) -> tuple[Path, FileResult, str]:
    before = sha(example)
    result = hand_result(example)
    done = annotate(result, out_dir=tmp_path_factory.mktemp("out"))
    assert done is not None
    return done.path, result, before


def test_copy_path_and_outputs(copy, example):
    path, result, before = copy
    assert path.name == "示例.审核.xlsx"
    assert result.outputs == [str(path)]
    assert sha(example) == before  # the input is never modified
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".~tmp-")]  # atomic: no leftovers
    assert annotated_path(example) == example.parent / "示例.审核.xlsx"


def test_new_sheets_first(copy):
    path, _, _ = copy
    names = load_workbook(path).sheetnames
    assert names[:2] == [RESULT_SHEET, REVIEW_SHEET]
    assert names[2:] == list(ORIGINAL_SHEETS)
    assert CalamineWorkbook.from_path(str(path)).sheet_names == names
    wb = load_workbook(path)
    assert wb.active.title == RESULT_SHEET
    assert [ws.sheet_view.tabSelected for ws in wb.worksheets].count(True) == 1  # no grouped tabs


def test_fills_and_comments(copy):
    path, _, _ = copy
    wb = load_workbook(path)
    a2 = wb["附件二"]
    # I5 lies in the merged H5:I5: annotated on its top-left cell.
    assert a2["H5"].fill.fgColor.rgb == COLORS[Severity.ERROR]
    assert a2["H5"].comment.author == AUTHOR and "BDT-3" in a2["H5"].comment.text
    assert "应为 10" in a2["H5"].comment.text and "实为 9" in a2["H5"].comment.text
    # Two findings on one cell: the worse colour, both messages in one comment.
    assert a2["F15"].fill.fgColor.rgb == COLORS[Severity.WARNING]
    assert "IND-7" in a2["F15"].comment.text and "IND-9" in a2["F15"].comment.text
    assert wb["附件一"]["B12"].fill.fgColor.rgb == COLORS[Severity.ERROR]
    assert wb["附件三"]["C3"].fill.fgColor.rgb == COLORS[Severity.WARNING]
    assert a2["F14"].comment is None and a2["F14"].fill.fgColor.rgb != COLORS[Severity.WARNING]


def _table(ws):
    for r in range(1, 40):
        if [ws.cell(r, c).value for c in range(1, len(RESULT_COLUMNS) + 1)] == list(RESULT_COLUMNS):
            return r
    raise AssertionError("no 审核结果 header row")


def test_result_sheet(copy):
    path, result, _ = copy
    ws = load_workbook(path)[RESULT_SHEET]
    text = " ".join(str(c.value) for row in ws.iter_rows(max_row=12) for c in row if c.value)
    assert "示例.xlsx" in text and "衡山县人民政府办公室" in text
    assert "强制 2 项" in text and "提示 2 项" in text and "信息 2 项" in text
    assert "图例" in text
    legend = {c.value: c.fill.fgColor.rgb for row in ws.iter_rows(max_row=12) for c in row
              if c.value in ("强制", "提示", "信息")}
    assert legend == {"强制": COLORS[Severity.ERROR], "提示": COLORS[Severity.WARNING], "信息": COLORS[Severity.INFO]}
    hr = _table(ws)
    rows = [[ws.cell(r, c).value for c in range(1, 10)] for r in range(hr + 1, hr + 1 + len(result.findings))]
    assert [r[0] for r in rows] == list(range(1, 7))
    by_rule = {r[2].split()[0]: (r, hr + 1 + i) for i, r in enumerate(rows)}
    row, r = by_rule["BDT-3"]
    assert row[1] == "强制" and row[3] == "附件二" and row[4] == "附件二!I5"
    assert row[6] == "10" and row[7] == "9" and row[8] is None
    link = ws.cell(r, 5).hyperlink
    assert link.location == "'附件二'!H5"  # jumps to the merged range's top-left
    assert ws.cell(r, 9).protection.locked is False and ws.protection.sheet
    assert by_rule["A3-1"][0][3] == "附件三（业务经费）"
    assert by_rule["WB-1"][0][4] is None and ws.cell(by_rule["WB-1"][1], 5).hyperlink is None
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1


def test_review_sheet(copy):
    path, result, _ = copy
    ws = load_workbook(path)[REVIEW_SHEET]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    flat = [v for row in values for v in row if v is not None]
    assert "复核总分" in flat and "复核等级" in flat and "自评总分" in flat
    header = next(row for row in values if "复核得分" in row)
    assert {"指标", "填报得分", "复核得分", "结论"} <= set(header)
    assert sum(1 for row in values if "合计" in row) == len(result.review.tables)


def test_our_sheets_recognised_on_resubmission(copy):
    from jixiao.explanations import report_sheet_kind
    from jixiao.read import read_path

    kinds = {s.name: report_sheet_kind(s) for s in read_path(copy[0]).sheets}
    assert kinds == {RESULT_SHEET: RESULT_SHEET, REVIEW_SHEET: REVIEW_SHEET, **dict.fromkeys(ORIGINAL_SHEETS)}
    model = pipeline.load_model(copy[0])
    assert [a.sheet for a in model.annex3] == ["附件三"] and model.annex2.sheet == "附件二"


def test_original_values_and_merges_unchanged(copy, example):
    path, _, _ = copy
    before, after = calamine(example), calamine(path)
    for name in ORIGINAL_SHEETS:
        assert after[name] == before[name], name


def test_reannotating_replaces(copy, tmp_path):
    path, _, _ = copy
    # The unit gives one flagged cell its own colour first: re-annotation must restore it.
    staged = tmp_path / "resubmitted.xlsx"
    shutil.copy(path, staged)
    wb = load_workbook(staged)
    wb["附件一"]["B13"].fill = PatternFill("solid", start_color="FF00B0F0", end_color="FF00B0F0")
    wb.save(staged)
    first = FileResult(path=str(staged), model=pipeline.load_model(staged), findings=[
        Finding("X-1", Severity.ERROR, "附件一", "附件一", "B13", "测试")])
    once = annotate(first, tmp_path / "once.xlsx")
    # Now nothing is flagged any more: every mark of ours disappears, the unit's colour comes back.
    second = FileResult(path=str(once.path), model=pipeline.load_model(once.path), findings=[])
    twice = annotate(second, tmp_path / "twice.xlsx")
    wb = load_workbook(twice.path)
    assert wb.sheetnames == [RESULT_SHEET, *ORIGINAL_SHEETS]  # replaced, not stacked; no review now
    assert wb["附件一"]["B13"].fill.fgColor.rgb == "FF00B0F0"
    ours = [c.coordinate for ws in wb.worksheets[1:] for row in ws.iter_rows() for c in row
            if c.comment is not None or c.fill.fgColor.rgb in COLORS.values()]
    assert ours == []
    before, after = calamine(copy[0]), calamine(twice.path)
    for name in ORIGINAL_SHEETS:
        assert after[name] == before[name]


def test_unit_comment_kept(example, tmp_path):
    from openpyxl.comments import Comment

    src = tmp_path / "with_comment.xlsx"
    wb = load_workbook(example)
    wb["附件二"]["F15"].comment = Comment("单位自己的批注", "张三")
    wb.save(src)
    res = FileResult(path=str(src), model=pipeline.load_model(src), findings=hand_findings())
    done = annotate(res, tmp_path / "a.xlsx")
    c = load_workbook(done.path)["附件二"]["F15"].comment
    assert c.text.startswith("单位自己的批注") and "IND-7" in c.text
    again = annotate(FileResult(path=str(done.path), model=pipeline.load_model(done.path)), tmp_path / "b.xlsx")
    c = load_workbook(again.path)["附件二"]["F15"].comment
    assert c.text == "单位自己的批注" and c.author == "张三"


def test_uncheckable_is_not_annotated(tmp_path):
    res = FileResult(path=str(tmp_path / "x.xlsx"), failure_code="CORRUPT", failure_message="损坏")
    assert annotate(res) is None and res.outputs == []


def test_never_overwrites_input(example):
    res = hand_result(example)
    with pytest.raises(ValueError):
        annotate(res, example)
