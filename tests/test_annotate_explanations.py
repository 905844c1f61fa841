"""审核说明 (issue #5, part 3): explain a warning in the annotated copy, check the copy again,
and the warning counts as explained; an error does not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from jixiao import pipeline
from jixiao.explanations import (
    RESULT_COLUMNS,
    RESULT_SHEET,
    apply_explanations,
    parse_target,
    read_explanations,
    report_sheet_kind,
    rule_id,
    without_report_sheets,
)
from jixiao.findings import Finding, Severity
from jixiao.read import Grid, Sheet, read_path
from jixiao.report.annotate import annotate
from jixiao.result import FileResult

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402


def check(path: Path) -> FileResult:
    return pipeline.check_file(path)


def _fill_note(path: Path, key: tuple[str, str, str], text: str) -> None:
    wb = load_workbook(path)
    ws = wb[RESULT_SHEET]
    hr = next(r for r in range(1, 40) if ws.cell(r, 1).value == "序号")
    cols = {ws.cell(hr, c).value: c for c in range(1, 12)}
    for r in range(hr + 1, ws.max_row + 1):
        rule = str(ws.cell(r, cols["规则"]).value or "").split()
        target = f"{key[1]}!{key[2]}"
        if rule and rule[0] == key[0] and ws.cell(r, cols["单元格"]).value == target:
            ws.cell(r, cols["审核说明"]).value = text
            wb.save(path)
            return
    raise AssertionError(f"no row for {key}")


@pytest.fixture()
def annotated(tmp_path) -> Path:
    example = bt.build_example(tmp_path / "示例.xlsx")
    done = annotate(check(example))
    assert done is not None
    return done.path


def test_round_trip(annotated):
    result = check(annotated)
    warnings = [f for f in result.findings if f.severity is Severity.WARNING]
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    assert warnings and errors and not any(f.explained for f in result.findings)
    warn_key, error_key = warnings[0].key, errors[0].key
    other_key = next(f.key for f in warnings if f.key != warn_key)
    _fill_note(annotated, warn_key, "指标口径为达标率，实际完成即达标，已核实")
    _fill_note(annotated, error_key, "我们认为得分合理")

    again = check(annotated)
    assert len(again.findings) == len(result.findings)  # our sheets were not read as annexes
    warn = next(f for f in again.findings if f.key == warn_key)
    assert warn.explained and warn.explanation.startswith("指标口径")
    err = next(f for f in again.findings if f.key == error_key)
    assert not err.explained  # errors cannot be explained away
    assert not next(f for f in again.findings if f.key == other_key).explained  # only the matching cell
    n_warn = sum(1 for f in again.findings if f.severity is Severity.WARNING and f.key == warn_key)
    assert again.count(Severity.WARNING, explained=True) == n_warn
    assert again.count(Severity.WARNING, explained=False) == len(warnings) - n_warn
    assert again.exit_code == result.exit_code  # the error still stands

    # The next copy carries the explanation forward and shows it as explained.
    second = annotate(again, annotated.with_name("second.xlsx"))
    ws = load_workbook(second.path)[RESULT_SHEET]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    target = f"{warn_key[1]}!{warn_key[2]}"
    row = next(r for r in rows if r[4] == target and str(r[2]).split()[0] == warn_key[0])
    assert row[1] == "提示\n（已说明）" and row[8].startswith("指标口径")
    assert any(f"已说明 {n_warn} 项" in str(v) for r in rows for v in r)
    assert load_workbook(second.path).sheetnames.count(RESULT_SHEET) == 1
    third = check(second.path)  # and a resubmission of that copy still counts it explained
    assert next(f for f in third.findings if f.key == warn_key).explained


def test_annotated_sheets_are_not_annexes(annotated):
    grid = read_path(annotated)
    kinds = {s.name: report_sheet_kind(s) for s in grid.sheets}
    assert kinds.pop("审核结果") == "审核结果"
    assert kinds.pop("评分复核", "评分复核") == "评分复核"  # present once scoring runs in check_file
    assert kinds == {"附件一": None, "附件二": None, "附件三": None}
    model = pipeline.load_model(annotated)
    assert model.annex1.sheet == "附件一" and model.annex2.sheet == "附件二"
    assert [a.sheet for a in model.annex3] == ["附件三"]
    assert [s.name for s in without_report_sheets(grid).sheets] == ["附件一", "附件二", "附件三"]


def test_read_explanations_by_labels_not_position():
    # A hand-made table in another sheet, shifted right and down, columns reordered.
    rows = [["" for _ in range(12)] for _ in range(8)]
    rows[3][2:8] = ["审核说明", "规则", "单元格", "序号", "严重程度", "说明"]
    rows[4][2:8] = ["已核实", "IND-7 照抄", "附件二!F15", 1, "提示", "……"]
    rows[5][2:8] = ["", "IND-8", "附件二!F16", 2, "提示", "……"]  # not filled
    rows[6][2:8] = ["无", "IND-9", "附件二!F17", 3, "提示", "……"]  # "无" explains nothing
    rows[7][2:8] = ["口径不同", "TOT-1", "'附件 二'!$b$7", 4, "提示", "……"]
    grid = Grid("x.xlsx", "xlsx", [Sheet("随便", rows)])
    assert read_explanations(grid) == {("IND-7", "附件二", "F15"): "已核实", ("TOT-1", "附件 二", "B7"): "口径不同"}


def test_apply_explanations_only_warnings():
    fs = [Finding("A", Severity.WARNING, "附件二", "附件二", "F15", "m"),
          Finding("B", Severity.ERROR, "附件二", "F15", "F15", "m"),
          Finding("C", Severity.INFO, "附件二", "附件二", "F15", "m")]
    apply_explanations(fs, {("A", "附件二", "F15"): "说明", ("B", "F15", "F15"): "x", ("C", "附件二", "F15"): "y"})
    assert [f.explained for f in fs] == [True, False, False]
    assert fs[0].explanation == "说明" and fs[1].explanation == "x"  # kept, shown in the next copy


def test_parse_helpers():
    assert parse_target("附件二!H14") == ("附件二", "H14")
    assert parse_target("附件二") == ("附件二", "")
    assert parse_target("a!b!C3") == ("a!b", "C3")
    assert parse_target("") is None
    assert rule_id("BDT-3 执行率") == "BDT-3" and rule_id(None) == ""
    assert RESULT_COLUMNS[-1] == "审核说明"


def test_a_units_own_table_is_not_ours():
    rows = [["规则", "单元格", "审核说明"], ["某规则", "A1", "说明"]]  # no 序号/严重程度: not our header
    sheet = Sheet("审核结果", rows)
    assert report_sheet_kind(sheet) is None
    assert read_explanations(Grid("x.xlsx", "xlsx", [sheet])) == {}


def test_round_trip_through_a_folder_batch(annotated, tmp_path):
    """A unit sends back only its annotated copy with a 审核说明: the folder batch checks it and
    counts the warning as explained."""
    import json
    import subprocess

    result = check(annotated)
    warn_key = next(f.key for f in result.findings if f.severity is Severity.WARNING)
    inbox = tmp_path / "回收"
    inbox.mkdir()
    resubmitted = inbox / annotated.name
    resubmitted.write_bytes(annotated.read_bytes())
    _fill_note(resubmitted, warn_key, "已核实，情况属实")
    out = tmp_path / "结果"
    proc = subprocess.run([sys.executable, "-m", "jixiao", str(inbox), "--out", str(out), "--jobs", "1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    rows = json.loads((out / "汇总.json").read_text(encoding="utf-8"))["files"]
    assert len(rows) == 1 and rows[0]["file"].endswith(".审核.xlsx")
    assert rows[0]["explained"] == 1
