"""Issue 2: the bundled example yields the reference report's three tables exactly, and
layout variants of it yield the identical model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jixiao.errors import NoAnnexFound
from jixiao.model import Value, WorkbookModel
from jixiao.pipeline import load_model
from jixiao.text import fold

from workbooks import EXAMPLE, as_text, build_templates, full_width, variant, write_xls

A1 = build_templates.SEED_ANNEX1
A2 = build_templates.SEED_ANNEX2
A3 = build_templates.SEED_ANNEX3


@pytest.fixture(scope="module")
def model() -> WorkbookModel:
    return load_model(EXAMPLE)


def _same(v: Value, expected: Any) -> bool:
    """A model value equals a seed constant: numbers by value, texts as written."""
    if expected is None:
        return v.blank
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return v.number == pytest.approx(float(expected))
    return v.text == str(expected).strip()


def test_annex1_staffing_and_expenses(model: WorkbookModel) -> None:
    a1 = model.annex1
    assert a1 is not None and a1.year == 2023 and a1.sheet == "附件一"
    assert a1.title.text == A1["title"] and a1.title.cell == "A2"
    assert a1.staffing["编制数"].number == 68 and a1.staffing["编制数"].cell == "B4"
    assert a1.staffing["实际在职人数"].number == 62 and a1.staffing["实际在职人数"].cell == "D4"
    rate = a1.staffing["控制率"]
    assert (rate.number, rate.decimals, rate.unit, rate.cell) == (pytest.approx(0.9117), 4, "%", "F4")
    labels = [r for r in A1["expense_rows"] if r[0] != "……"]
    assert [r.label.text for r in a1.expenses] == [r[0] for r in labels]
    for row, seed in zip(a1.expenses, labels):
        for col, expected in zip(("上年决算数", "本年预算数", "本年决算数"), seed[1:]):
            assert _same(row.values[col], expected), (row.key, col)
    assert a1.expense("三公经费").values["上年决算数"].cell == "B6"
    assert a1.expense("会议费、培训费").values["本年决算数"].cell == "F21"
    na = a1.expense("政府采购金额").values["上年决算数"]
    assert na.na and na.number is None and na.text == "——"
    assert a1.expense("公车购置").parent == "公务用车购置和维护经费"
    assert {r.key for r in a1.children("三公经费")} == {"公务用车购置和维护经费", "出国经费", "公务接待"}
    assert [r.key for r in a1.children("项目支出")] == ["业务工作经费", "运行维护经费", "省级专项资金(每个专项一行)"]
    assert {r.key for r in a1.children("公用经费")} == {"办公经费", "水费、电费、差旅费", "会议费、培训费"}


def test_annex1_buildings_measures_footer(model: WorkbookModel) -> None:
    a1 = model.annex1
    assert a1 is not None
    names = ("批复规模", "实际规模", "规模控制率", "预算投资", "实际投资", "投资概算控制率")
    for name, expected in zip(names, A1["building_values"]):
        assert _same(a1.buildings[name], expected), name
    assert a1.buildings["批复规模"].cell == "B25"
    assert a1.saving_measures.text == A1["saving_text"] and a1.saving_measures.cell == "B26"
    assert set(a1.footer) == {"填表人", "填报日期", "联系电话", "单位负责人签字"}
    assert all(v.blank and v.cell == "A28" for v in a1.footer.values())


def test_annex2_budget_block(model: WorkbookModel) -> None:
    a2 = model.annex2
    assert a2 is not None and a2.unit_name.text == A2["unit"] and a2.unit_name.cell == "C3"
    assert a2.funds is not None
    cols = ("年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "自评得分")
    for col, expected in zip(cols, A2["budget_total"][1:]):
        assert _same(a2.funds.values[col], expected), col
    assert a2.funds.values["执行率"].number == 1.0 and a2.funds.values["执行率"].cell == "G5"
    assert a2.funds.values["自评得分"].cell == "H5"
    assert a2.income_split["一般公共预算"].number == 872.71 and a2.income_split["一般公共预算"].cell == "B7"
    assert a2.income_split["政府性基金拨款"].blank
    assert a2.expense_split["基本支出"].number == 842.21 and a2.expense_split["基本支出"].cell == "E7"
    assert a2.expense_split["项目支出"].number == 30.5 and a2.expense_split["项目支出"].cell == "E8"
    assert a2.goal.expected.text == A2["goal"][0] and a2.goal.actual.text == A2["goal"][1]


def _check_indicators(table: Any, seed_rows: list[list[Any]], first_row: int) -> None:
    assert len(table.rows) == len(seed_rows)
    for i, (row, seed) in enumerate(zip(table.rows, seed_rows)):
        assert row.row == first_row + i
        assert row.level1.text == seed[0]
        got = (row.level2, row.level3, row.target, row.actual, row.weight, row.score, row.explanation)
        for v, expected in zip(got, seed[1:]):
            assert _same(v, expected), (row.row, v.cell, expected)


def test_annex2_indicators(model: WorkbookModel) -> None:
    t = model.annex2.indicators  # type: ignore[union-attr]
    _check_indicators(t, A2["indicators"], 14)
    assert [r.level1_name for r in t.rows] == ["产出指标"] * 4 + ["效益指标"] * 4 + ["满意度指标"]
    assert [r.level1_weight for r in t.rows] == [50.0] * 4 + [30.0] * 4 + [10.0]
    first = t.rows[0]
    assert (first.target.op, first.target.number, first.target.unit) == (">=", 2000, "次")
    assert (first.actual.number, first.actual.unit, first.actual.cell) == (2642, "次", "F14")
    cost = t.rows[3]
    assert cost.target.op == "<=" and cost.target.number is None and cost.target.cell == "E17"
    copied = t.rows[1].actual
    assert (copied.op, copied.number, copied.text) == (">=", 0.95, "≥95%")
    assert t.rows[4].level3.na and t.rows[4].target.na
    assert t.total_weight.number == 100 and t.total_weight.cell == "G23"
    assert t.total_score.number == 90 and t.total_score.cell == "H23"


def test_annex3_project(model: WorkbookModel) -> None:
    assert len(model.annex3) == 1
    a3 = model.annex3[0]
    assert a3.project_name.text == "业务经费" and a3.implementer.text == A3["impl"] and a3.department.blank
    assert [f.key for f in a3.funds] == ["年度资金总额", "当年财政拨款", "上年结转资金", "其他资金"]
    cols = ("年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "自评得分")
    for fund, seed in zip(a3.funds, A3["funds"]):
        for col, expected in zip(cols, seed[1:]):
            assert _same(fund.values[col], expected), (fund.key, col)
    assert a3.fund("当年财政拨款").values["全年执行数"].cell == "E7"
    _check_indicators(a3.indicators, A3["indicators"], 13)
    timely = a3.indicators.rows[2]
    assert timely.target.number == 2024 and timely.target.unit == "年"
    assert a3.indicators.rows[0].actual.number == 159 and a3.indicators.rows[0].actual.unit is None
    assert a3.indicators.total_weight.number == 100 and a3.indicators.total_weight.raw == " 100"
    assert model.unit_name == "衡山县人民政府办公室" and model.year == 2023


# ---- layout variants: each must yield the identical model --------------------------------


def canonical(model: WorkbookModel, labels: bool = True) -> Any:
    """The model without positions: what a variant must reproduce exactly."""
    skip = {"sheet", "source", "row", "total_row"} | (set() if labels else {"label"})

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict) and "cell" in obj and "sheet" in obj:
            if obj.get("number") is not None:
                return ("num", obj["number"], obj.get("decimals"), obj.get("unit"), obj.get("op"))
            return ("text", fold(obj.get("text", "")), obj.get("op"), obj.get("na", False))
        if isinstance(obj, dict):
            return {k: walk(v) for k, v in obj.items() if k not in skip}
        if isinstance(obj, list):
            return [walk(x) for x in obj]
        return obj

    return walk(model.to_json())


@pytest.fixture(scope="module")
def reference(model: WorkbookModel) -> Any:
    return canonical(model)


def _inside(r: int, c: int) -> tuple[int, int]:
    # Empty rows inside every table: below row 8 (附件一 公车购置 / 附件二 splits / 附件三 funds)
    # and below row 16 (inside the expense and indicator tables).
    return (r + (r > 8) + (r > 16), c)


VARIANTS = {
    "rows_above": dict(where=lambda r, c: (r + 4, c)),
    "rows_inside": dict(where=_inside),
    "shifted_down_right": dict(where=lambda r, c: (r + 7, c + 3)),
    "renamed_reordered": dict(sheet_names={"附件一": "基础数据", "附件二": "Sheet1", "附件三": "项目1"},
                              order=["附件三", "附件一", "附件二"]),
    "one_sheet": dict(one_sheet=True),
    "one_sheet_shifted": dict(one_sheet=True, where=lambda r, c: (r + 2, c + 1)),
    "numbers_as_text": dict(value=as_text),
    "full_width_digits": dict(value=full_width),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_layout_variant_yields_identical_model(name: str, tmp_path: Path, reference: Any) -> None:
    path = variant(tmp_path, f"{name}.xlsx", **VARIANTS[name])  # type: ignore[arg-type]
    assert canonical(load_model(path)) == reference


def test_xls_copy_yields_identical_model(tmp_path: Path, reference: Any) -> None:
    xls = write_xls(EXAMPLE, tmp_path / "example.xls")
    assert xls.read_bytes()[:4] == b"\xd0\xcf\x11\xe0"
    assert canonical(load_model(xls)) == reference


def test_two_projects_stacked_in_one_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    second = dict(build_templates.SEED_PROJECT, name="政务信息化运维", impl="衡山县人民政府办公室",
                  funds=[["年度资金总额", 20, 25, 24, 10, "96%", 9.6],
                         ["其中：当年财政拨款", 20, 25, 24, None, None, None],
                         ["上年结转资金", *[None] * 6], ["其他资金", *[None] * 6]])
    wb = Workbook()
    ws = wb.active
    nxt = build_templates.write_annex3(ws, top=3, left=2)
    build_templates.write_annex3(ws, top=nxt + 2, left=2, project=second)
    out = tmp_path / "two.xlsx"
    wb.save(out)
    m = load_model(out)
    assert [p.project_name.text for p in m.annex3] == ["业务经费", "政务信息化运维"]
    total = m.annex3[1].fund("年度资金总额")
    assert total is not None and total.values["全年执行数"].number == 24
    assert total.values["执行率"].number == pytest.approx(0.96)
    assert len(m.annex3[1].indicators.rows) == 9 and m.annex1 is None and m.annex2 is None


def test_percent_stored_as_fraction_and_money_in_yuan(tmp_path: Path) -> None:
    from workbooks import set_cells

    path = set_cells(EXAMPLE, {("附件一", "F4"): 0.9117, ("附件二", "G5"): 1, ("附件一", "B11"): "62900元"},
                     tmp_path / "edited.xlsx")
    m = load_model(path)
    assert m.annex1 is not None and m.annex2 is not None and m.annex2.funds is not None
    assert (m.annex1.staffing["控制率"].number, m.annex1.staffing["控制率"].decimals) == (0.9117, 4)
    assert (m.annex2.funds.values["执行率"].number, m.annex2.funds.values["执行率"].decimals) == (1.0, 2)
    yuan = m.annex1.expense("公务接待").values["上年决算数"]  # type: ignore[union-attr]
    assert (yuan.number, yuan.unit, yuan.decimals) == (6.29, "万元", 4)


def test_formula_without_cached_value_is_reported(tmp_path: Path) -> None:
    from workbooks import set_cells

    path = set_cells(EXAMPLE, {("附件一", "B6"): "=B9+B11"}, tmp_path / "formula.xlsx")
    m = load_model(path)
    assert [(n.code, n.sheet, n.cell) for n in m.notices] == [("FORMULA_NO_VALUE", "附件一", "B6")]
    v = m.annex1.expense("三公经费").values["上年决算数"]  # type: ignore[union-attr]
    assert v.formula_without_value and v.blank


def test_workbook_without_annexes_is_refused(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active["A1"] = "工资表"
    path = tmp_path / "other.xlsx"
    wb.save(path)
    with pytest.raises(NoAnnexFound):
        load_model(path)
    proc = subprocess.run([sys.executable, "-m", "jixiao", "--dump", str(path)], capture_output=True, text=True)
    assert proc.returncode == 3
    assert "未在工作簿中找到附件" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_dump_prints_the_model(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "jixiao", "--dump", str(EXAMPLE)], capture_output=True,
                          text=True, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["annex1"]["staffing"]["控制率"]["cell"] == "F4"
    assert data["annex2"]["indicators"]["rows"][0]["actual"]["text"] == "2642次"
    assert data["annex3"][0]["indicators"]["total_weight"]["raw"] == " 100"


SYNONYMS = {"全年预算数": "调整后预算数", "全年执行数": "预算执行数", "自评得分": "得分", "年度指标值": "指标值",
            "年度\n指标值": "年初目标值", "实际完成值": "完成值", "实际\n完成值": "全年实际值",
            "偏差原因分析\n及改进措施": "未完成原因分析", "2022 年决算数": "上年决算数",
            "2023 年预算数": "本年预算数", "2023 年决算数": "当年决算数", "其中：当年财政拨款": "其中：本年财政拨款",
            "执行率": "预算执行率", "分值": "权重"}


def test_header_synonyms_yield_identical_model(tmp_path: Path) -> None:
    path = variant(tmp_path, "synonyms.xlsx", value=lambda v: SYNONYMS.get(v, v) if isinstance(v, str) else v)
    assert canonical(load_model(path), labels=False) == canonical(load_model(EXAMPLE), labels=False)


def test_blank_templates_are_recognised() -> None:
    for name, kind in (("附件一_部门整体支出绩效评价基础数据表_模板.xlsx", "annex1"),
                       ("附件二_部门整体支出绩效自评表_模板.xlsx", "annex2"),
                       ("附件三_项目支出绩效自评表_模板.xlsx", "annex3")):
        m = load_model(EXAMPLE.parent / name)
        found = {"annex1": m.annex1 is not None, "annex2": m.annex2 is not None, "annex3": bool(m.annex3)}
        assert [k for k, v in found.items() if v] == [kind]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is needed to make an .ods")
def test_ods_copy_yields_identical_model(tmp_path: Path, reference: Any) -> None:
    """calamine reports no merged ranges for .ods: the read stage takes them from content.xml,
    so the merged 一级指标 labels reach every row."""
    env = {**os.environ, "HOME": str(tmp_path)}  # a private LibreOffice profile
    subprocess.run(["soffice", "--headless", "--convert-to", "ods", "--outdir", str(tmp_path), str(EXAMPLE)],
                   check=True, capture_output=True, timeout=180, env=env)
    ods = tmp_path / EXAMPLE.with_suffix(".ods").name
    assert canonical(load_model(ods)) == reference
