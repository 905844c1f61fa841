"""The workbook template generator (workbook_templates/build_templates.py) and its committed outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from openpyxl import Workbook
from python_calamine import CalamineWorkbook

TEMPLATES = Path(__file__).resolve().parents[1] / "workbook_templates"
sys.path.insert(0, str(TEMPLATES))

import build_templates as bt  # noqa: E402

SHEETS = ("附件一", "附件二", "附件三")


def _grid(path: Path, sheet: str) -> list[list]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def _merges(path: Path, sheet: str) -> set:
    return set(CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).merged_cell_ranges)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return bt.build_example(tmp_path_factory.mktemp("ex") / "example.xlsx")


def test_example_sheets(example):
    assert CalamineWorkbook.from_path(str(example)).sheet_names == list(SHEETS)


def test_annex1_key_cells(example):
    g = _grid(example, "附件一")
    assert g[0][0] == "附件一"
    assert g[1][0] == "2023年度部门整体支出绩效评价基础数据表"
    assert g[2][0] == "财政供养人员情况（人）"
    assert (g[3][1], g[3][3], g[3][5]) == (68, 62, "91.17%")
    assert [g[5][i] for i in (0, 1, 3, 5)] == ["三公经费:", 10.29, 11, 10.02]
    assert g[12][1:6:2] == [478.32, 30.5, 481.27]  # 1、业务工作经费
    assert [g[21][i] for i in (0, 1, 3, 5)] == ["政府采购金额", "——", "", 24.82]
    assert g[24][1:7] == [0, 0, 0, 0, 0, ""]  # 楼堂馆所: five zeros, 投资概算控制率 blank
    assert g[27][0].startswith("填表人：")
    assert ((2, 0), (3, 0)) in _merges(example, "附件一")


def test_annex2_key_cells(example):
    g = _grid(example, "附件二")
    assert g[1][0] == "2023年度部门整体支出绩效自评表"
    assert g[4][1:8] == ["年度资金总额", 872.71, 1435.09, 1435.09, 10, "100%", 9]
    assert g[6][1] == "其中： 一般公共预算：872.71"
    assert g[6][4] == "其中：基本支出：842.21"
    assert g[16][1:8] == ["", "成本指标", "政府办公业务经费", "≤万元", 145.29, 12, 10]
    assert g[22][0] == "总分" and g[22][6:9] == [100, 90, ""]


def test_annex3_key_cells(example):
    g = _grid(example, "附件三")
    assert g[2][2] == "业务经费"
    assert g[3][5:8] == ["实施单位", "", "衡山县人民政府办公室"]
    assert g[6][1:5] == ["其中：当年财政拨款", 30.5, 482.29, ""]
    assert g[12][5] == 159
    assert g[14][4:6] == ["2024年", "2024年"]
    assert g[21][6] == " 100"


def test_indicator_rows_match_seed_constants(example):
    for sheet, seed, first in (("附件二", bt.SEED_ANNEX2, 13), ("附件三", bt.SEED_ANNEX3, 12)):
        g = _grid(example, sheet)
        last1 = None
        for k, row in enumerate(seed["indicators"]):
            want = list(row)
            if want[0] == last1:
                want[0] = None  # covered by the vertical merge
            last1 = row[0]
            got = g[first + k][1:9]
            assert got == ["" if v is None else v for v in want], (sheet, k)


def test_committed_example_matches_fresh_build(example):
    committed = TEMPLATES / bt.FILE_EXAMPLE
    assert committed.exists()
    for sheet in SHEETS:
        assert _grid(committed, sheet) == _grid(example, sheet), sheet
        assert _merges(committed, sheet) == _merges(example, sheet), sheet


def test_build_is_byte_reproducible(tmp_path):
    a = bt.build_example(tmp_path / "a.xlsx").read_bytes()
    b = bt.build_example(tmp_path / "b.xlsx").read_bytes()
    assert a == b


def test_blank_templates(tmp_path):
    paths = bt.build_templates(tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        [bt.FILE_ANNEX1, bt.FILE_ANNEX2, bt.FILE_ANNEX3, bt.FILE_EXAMPLE]
    )
    g1 = _grid(tmp_path / bt.FILE_ANNEX1, "附件一")
    assert g1[1][0] == "2023年度部门整体支出绩效评价基础数据表"
    assert g1[3][1:7] == [""] * 6
    assert g1[21][1] == "——"  # template text stays
    g2 = _grid(tmp_path / bt.FILE_ANNEX2, "附件二")
    assert g2[4][2:8] == ["", "", "", 10, "", ""]
    assert g2[13][2:5] == ["数量指标", "", ""]
    assert g2[22][6:8] == [100, ""]
    g3 = _grid(tmp_path / bt.FILE_ANNEX3, "附件三")
    assert g3[2][2] == "" and g3[3][7] == ""
    assert g3[21][6] == 100
    # committed blank templates equal a fresh build
    for name, sheet in ((bt.FILE_ANNEX1, "附件一"), (bt.FILE_ANNEX2, "附件二"), (bt.FILE_ANNEX3, "附件三")):
        assert _grid(TEMPLATES / name, sheet) == _grid(tmp_path / name, sheet)


def test_stacked_and_offset(tmp_path):
    wb = Workbook()
    ws = wb.active
    r = bt.write_annex1(ws, top=3, left=2)
    assert r == 3 + 28
    r2 = bt.write_annex2(ws, top=r + 1, left=2)
    assert r2 == r + 1 + 24
    r3 = bt.write_annex3(ws, top=r2, left=2)
    assert r3 == r2 + 23
    path = tmp_path / "stacked.xlsx"
    wb.save(path)
    g = _grid(path, ws.title)
    assert g[2][1] == "附件一" and g[5][2] == 68
    assert g[r][1] == "附件二" and g[r + 4][7] == "100%"
    assert g[r2 - 1][1] == "附件三" and g[r2 - 1 + 21][7] == " 100"
    assert ((r + 3, 1), (r + 9, 1)) in _merges(path, ws.title)  # 年度预算申请 block label


def test_custom_project(tmp_path):
    project = {
        "name": "乡村道路维护",
        "impl": "某某局",
        "funds": [["年度资金总额", 100, 120, 60, 10, "50%", 5]],
        "goal": ["目标", "完成"],
        "indicators": [
            ["产出指标", "数量指标", "道路公里数", "≥10公里", "12公里", 25, 25, None],
            ["产出指标", None, "桥梁座数", "≥2座", "2座", 25, 25, None],
            ["满意度指标", "服务对象满意度指标", "满意度", "≥90%", "95%", 40, 40, None],
        ],
        "total": [100, 95, None],
    }
    wb = Workbook()
    ws = wb.active
    end = bt.write_annex3(ws, project=project)
    # 4 header rows + fund header + 1 fund row + 2 goal rows + header + 3 rows + 总分 + footer
    assert end == 1 + 4 + 1 + 1 + 2 + 1 + 3 + 1 + 1
    path = tmp_path / "p.xlsx"
    wb.save(path)
    g = _grid(path, ws.title)
    assert g[2][2] == "乡村道路维护" and g[3][2] == ""
    assert g[5][1:8] == ["年度资金总额", 100, 120, 60, 10, "50%", 5]
    assert g[9][1:6] == ["产出指标", "数量指标", "道路公里数", "≥10公里", "12公里"]
    assert g[12][0] == "总分" and g[12][6:8] == [100, 95]
    merges = _merges(path, ws.title)
    assert ((9, 1), (10, 1)) in merges  # 一级 over two rows
    assert ((9, 2), (10, 2)) in merges  # 二级 None merges with the row above
