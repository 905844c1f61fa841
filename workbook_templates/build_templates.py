"""Build the 2023 Hunan-county self-evaluation workbook templates and the filled seed example.

Run from the repository root::

    .venv/bin/python workbook_templates/build_templates.py [OUTPUT_DIR]

Writes (into ``workbook_templates/`` unless OUTPUT_DIR is given):

* ``附件一_部门整体支出绩效评价基础数据表_模板.xlsx`` - blank 附件一 (2023 titles, value cells empty)
* ``附件二_部门整体支出绩效自评表_模板.xlsx``       - blank 附件二
* ``附件三_项目支出绩效自评表_模板.xlsx``           - blank 附件三
* ``示例_衡山县人民政府办公室_2023.xlsx``            - the seed report's three tables, verbatim
  (sheets "附件一", "附件二", "附件三"), including the seed's own mistakes.

The seed is ``2023 年度衡山县人民政府办公室部门整体支出绩效自评报告`` (附件一/二/三).  Its data is kept in
the module constants ``SEED_ANNEX1``, ``SEED_ANNEX2`` and ``SEED_ANNEX3`` so tests can compare against them.

Each ``write_annexN(ws, top, left, filled, ...)`` writes one annex into an existing worksheet with its
top-left corner at (``top``, ``left``) (1-based row/column) and returns the first free row below it, so
annexes can be stacked in one sheet or shifted down/right.  Cell layout relative to the corner (row offset
``r`` = row - top, column letters relative to ``left`` = A) is documented on each writer.

Only openpyxl is used.  Output is byte-reproducible: document properties carry a fixed timestamp and the
zip members a fixed date.
"""

from __future__ import annotations

import copy
import datetime as _dt
import io
import sys
import zipfile
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

YEAR = 2023
FIXED_TIMESTAMP = _dt.datetime(2024, 1, 1, 0, 0, 0)
_ZIP_DATE = (2024, 1, 1, 0, 0, 0)

FILE_ANNEX1 = "附件一_部门整体支出绩效评价基础数据表_模板.xlsx"
FILE_ANNEX2 = "附件二_部门整体支出绩效自评表_模板.xlsx"
FILE_ANNEX3 = "附件三_项目支出绩效自评表_模板.xlsx"
FILE_EXAMPLE = "示例_衡山县人民政府办公室_2023.xlsx"

FOOTER_SIGN = "填表人：           填报日期：          联系电话：             单位负责人签字："
NOT_APPLICABLE = "——"

# ---------------------------------------------------------------------------------------------------------
# Seed data.  ``None`` = the seed cell is blank.  Numbers are int when integral, float otherwise; every
# text (percentages, "≥95%", "2024年", " 100" ...) is kept exactly as printed in the seed.
# ---------------------------------------------------------------------------------------------------------

SEED_ANNEX1: dict[str, Any] = {
    "label": "附件一",
    "title": "2023年度部门整体支出绩效评价基础数据表",
    # 财政供养人员情况: header row (label + 3 column heads) and the values row (3 values)
    "staff_header": ["财政供养人员情况（人）", "编制数", "2023 年实际在职人数", "控制率"],
    "staff_values": [68, 62, "91.17%"],
    # 经费控制情况: header row, then [label, 上年决算数, 当年预算数, 当年决算数] per row
    "expense_header": ["经费控制情况（万元）", "2022 年决算数", "2023 年预算数", "2023 年决算数"],
    "expense_rows": [
        ["三公经费:", 10.29, 11, 10.02],
        ["1、公务用车购置和维护经费", None, None, None],
        ["其中：公车购置", None, None, None],
        ["公车运行维护", 4, 4, 4],
        ["2、出国经费", None, None, None],
        ["3、公务接待", 6.29, 7, 6.02],
        ["项目支出：", 478.32, None, None],
        ["1、业务工作经费", 478.32, 30.5, 481.27],
        ["2、运行维护经费", None, None, None],
        ["……", None, None, None],
        ["3、省级专项资金（每个专项一行）", None, None, None],
        ["……", None, None, None],
        ["公用经费", 168.36, 143.8, 145.29],
        ["其中：办公经费", 21.64, 97.8, 22.42],
        ["水费、电费、差旅费", 18.41, 2, 15.05],
        ["会议费、培训费", 0.47, 2, 2.11],
        ["政府采购金额", NOT_APPLICABLE, None, 24.82],
        ["部门基本支出预算调整", NOT_APPLICABLE, None, None],
    ],
    # 楼堂馆所: header (label + 6 column heads) and 6 values (the seed prints five zeros; 投资概算控制率 blank)
    "building_header": [
        "楼堂馆所控制情况\n（2023 年完工项目）",
        "批复规模（㎡）",
        "实际规模（㎡）",
        "规模控制率",
        "预算投资\n（万元）",
        "实际投资\n（万元）",
        "投资概算控制率",
    ],
    "building_values": [0, 0, 0, 0, 0, None],
    "saving_label": "厉行节约保障措施",
    "saving_text": "严格控制楼堂馆所建设及三公经费支出，合理控制公务考察等活动费用，避免不必要的浪费。",
    "note": "说明：“项目支出”需要填报基本支出以外的所有项目支出情况，“公用经费”填报基本支出中的一般商品和服务支出。",
    "footer": FOOTER_SIGN,
}

# Header of the fund block (附件二 年度预算申请 / 附件三 项目资金): B blank, C..G, 自评得分 in H:I.
FUND_HEADER = ["年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "自评得分"]

SEED_ANNEX2: dict[str, Any] = {
    "label": "附件二",
    "title": "2023年度部门整体支出绩效自评表",
    "unit_label": "预算部门、单位名称",
    "unit": "衡山县人民政府办公室",
    "budget_label": "年度预算申请\n（万元）",
    "budget_header": FUND_HEADER,
    # [label, 年初预算数, 全年预算数, 全年执行数, 分值, 执行率, 自评得分]
    "budget_total": ["年度资金总额", 872.71, 1435.09, 1435.09, 10, "100%", 9],
    # [按收入性质 cell, 按支出性质 cell]; label and amount share ONE cell, exactly as in the seed
    "split_header": ["按收入性质分：", "按支出性质分："],
    "split_rows": [
        ["其中： 一般公共预算：872.71", "其中：基本支出：842.21"],
        ["政府性基金拨款：", "项目支出：30.5"],
        ["纳入专户管理的非税收入拨款：", None],
        ["其他资金：", None],
    ],
    "goal_label": "年度总体目标",
    "goal_header": ["预期目标", "实际完成情况"],
    "goal": [
        "推进机关事务管理工作，提升党建工作 保证政务信息工作有序进行，推进防范和处置非法集资工作，"
        "加强综治维稳工作，有效开展政研工作，负责政府后勤保障工作.",
        "根据年度设定的总体目标和2023年度资金实际执行情况及目标完成情况，综合评价达到预期目标。",
    ],
    "indicator_label": "绩效指标",
    "indicator_header": [
        "一级指标",
        "二级指标",
        "三级指标",
        "年度指标值",
        "实际完成值",
        "分值",
        "自评得分",
        "偏差原因分析\n及改进措施",
    ],
    # [一级, 二级, 三级, 年度指标值, 实际完成值, 分值, 自评得分, 偏差原因分析及改进措施]
    # 一级 is repeated on every row here; the writer merges consecutive equal 一级 cells vertically.
    "indicators": [
        ["产出指标\n(50 分)", "数量指标", "办文办会", "≥2000次", "2642次", 13, 12, None],
        ["产出指标\n(50 分)", "质量指标", "达标率", "≥95%", "≥95%", 12, 10, None],
        ["产出指标\n(50 分)", "时效指标", "资金在规定时间内下达率", "≥98%", "100%", 13, 13, None],
        ["产出指标\n(50 分)", "成本指标", "政府办公业务经费", "≤万元", 145.29, 12, 10, None],
        ["效益指标\n（30 分）", "经济效益指标", "无", "无", "无", 7, 5, None],
        [
            "效益指标\n（30 分）",
            "社会效益指标",
            "助力营商环境不断优化，起到示范作用",
            "≥98%",
            "≥98%",
            7,
            6,
            None,
        ],
        ["效益指标\n（30 分）", "生态效益指标", "不间断加强节能管理", "≥98%", "≥98%", 8, 7, None],
        ["效益指标\n（30 分）", "可持续影响指标", "营商环境持续优化", "≥98%", "≥98%", 8, 8, None],
        ["满意度指标\n（10 分）", "服务对象满意度指标", "满意度", "≥95%", "≥95%", 10, 10, None],
    ],
    "total_label": "总分",
    # [分值, 自评得分, 偏差原因分析]
    "total": [100, 90, None],
    "footer": FOOTER_SIGN,
}

SEED_ANNEX3: dict[str, Any] = {
    "label": "附件三",
    "title": "2023年度项目支出绩效自评表",
    "name_label": "项目支出名称",
    "name": "业务经费",
    "dept_label": "主管部门",
    "dept": None,
    "impl_label": "实施单位",
    "impl": "衡山县人民政府办公室",
    "fund_label": "项目资金\n（万元）",
    "fund_header": FUND_HEADER,
    # [label, 年初预算数, 全年预算数, 全年执行数, 分值, 执行率, 自评得分]
    "funds": [
        ["年度资金总额", 30.5, 482.29, 481.27, 10, "100%", 10],
        ["其中：当年财政拨款", 30.5, 482.29, None, None, None, None],
        ["上年结转资金", None, None, None, None, None, None],
        ["其他资金", None, None, None, None, None, None],
    ],
    "goal_label": "年度总体目标",
    "goal_header": ["预期目标", "实际完成情况"],
    "goal": [
        "推进机关事务管理工作，提升党建工作 保证政务信息工作有序进行，推进防范和处置非法集资工作，"
        "加强综治维稳工作，有效开展政研工作，负责政府后勤保障工作.",
        "根据年度设定的总体目标和2023年度资金实际执行情况及目标完成情况，综合评价达到预期目标.",
    ],
    "indicator_label": "绩效指标",
    "indicator_header": [
        "一级指标",
        "二级指\n标",
        "三级指标",
        "年度\n指标值",
        "实际\n完成值",
        "分值",
        "自评得分",
        "偏差原因分析\n及改进措施",
    ],
    "indicators": [
        ["产出指标\n(50 分)", "数量指标", "政府政策研究的组织和服务工作", "≥10次", 159, 13, 12, None],
        ["产出指标\n(50 分)", "质量指标", "组织成功率", "≥95%", "≥95%", 12, 12, None],
        ["产出指标\n(50 分)", "时效指标", "组织培训时间", "2024年", "2024年", 13, 12, None],
        ["产出指标\n(50 分)", "成本指标", "组织和服务成本", "≤482.29万元", "481.27万元", 12, 10, None],
        ["效益指标\n（30 分）", "经济效益指标", "无", None, None, 8, 6, None],
        [
            "效益指标\n（30 分）",
            "社会效益指标",
            "助力营商环境不断优化",
            "起到示范作用",
            "达到年度目标",
            8,
            7,
            None,
        ],
        ["效益指标\n（30 分）", "生态效益指标", "持续开展公共机构节能率", "≥95%", "≥95%", 7, 6, None],
        ["效益指标\n（30 分）", "可持续\n影响指标", "无", None, None, 7, 6, None],
        ["满意度指标\n（10 分）", "服务对\n象满意度指标", "满意度", "≥95%", "≥95%", 10, 9, None],
    ],
    "total_label": "总分",
    "total": [" 100", 90, None],
    "footer": FOOTER_SIGN,
}

# Project shape accepted by write_annex3(project=...): the project-specific subset of SEED_ANNEX3.
SEED_PROJECT: dict[str, Any] = {
    k: copy.deepcopy(SEED_ANNEX3[k]) for k in ("name", "dept", "impl", "funds", "goal", "indicators", "total")
}

# ---------------------------------------------------------------------------------------------------------
# Styling helpers
# ---------------------------------------------------------------------------------------------------------

FONT_NAME = "宋体"
_FONT = Font(name=FONT_NAME, size=11)
_FONT_BOLD = Font(name=FONT_NAME, size=11, bold=True)
_FONT_TITLE = Font(name=FONT_NAME, size=16, bold=True)
_FONT_LABEL = Font(name=FONT_NAME, size=12, bold=True)
_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_LEFT = Alignment(horizontal="left", vertical="center", wrap_text=True)

# Column widths (characters) for 7-column 附件一 and 9-column 附件二/三 (label column wider).
_WIDTHS_7 = [34, 9, 9, 10, 10, 10, 10]
_WIDTHS_9 = [12, 14, 14, 22, 14, 14, 8, 9, 16]


class _Grid:
    """Writes into ``ws`` relative to a (top, left) corner; r and c are 0-based offsets."""

    def __init__(self, ws, top: int, left: int, width: int):
        self.ws = ws
        self.top = top
        self.left = left
        self.width = width

    def cell(self, r: int, c: int):
        return self.ws.cell(row=self.top + r, column=self.left + c)

    def put(self, r: int, c: int, value=None, *, r2: int | None = None, c2: int | None = None, align=None):
        """Write ``value`` at (r, c); merge to (r2, c2) if given; style the whole area as a table cell."""
        r2 = r if r2 is None else r2
        c2 = c if c2 is None else c2
        if r2 != r or c2 != c:
            self.ws.merge_cells(
                start_row=self.top + r,
                start_column=self.left + c,
                end_row=self.top + r2,
                end_column=self.left + c2,
            )
        for rr in range(r, r2 + 1):
            for cc in range(c, c2 + 1):
                x = self.cell(rr, cc)
                x.border = _BORDER
                x.font = _FONT
                x.alignment = align or _CENTER
        if value is not None:
            self.cell(r, c).value = value

    def label(self, r: int, text: str) -> None:
        """The "附件X" marker in the left cell (no border)."""
        x = self.cell(r, 0)
        x.value = text
        x.font = _FONT_LABEL
        x.alignment = Alignment(horizontal="left", vertical="center")

    def title(self, r: int, text: str) -> None:
        self._across(r, text, _FONT_TITLE, Alignment(horizontal="center", vertical="center"))
        self.ws.row_dimensions[self.top + r].height = 30

    def line(self, r: int, text: str) -> None:
        """A footer line merged across the table width, no border."""
        self._across(r, text, _FONT, Alignment(horizontal="left", vertical="center", wrap_text=True))

    def _across(self, r: int, text: str, font: Font, alignment: Alignment) -> None:
        """`text` in row r, merged across the table width."""
        self.ws.merge_cells(
            start_row=self.top + r,
            start_column=self.left,
            end_row=self.top + r,
            end_column=self.left + self.width - 1,
        )
        x = self.cell(r, 0)
        x.value = text
        x.font = font
        x.alignment = alignment

    def height(self, r: int, points: float) -> None:
        self.ws.row_dimensions[self.top + r].height = points

    def widths(self, widths: list[float]) -> None:
        for i, w in enumerate(widths):
            self.ws.column_dimensions[get_column_letter(self.left + i)].width = w


def _v(value, filled: bool):
    """Value for a value cell: the data when filled, blank otherwise."""
    return value if filled else None


# ---------------------------------------------------------------------------------------------------------
# 附件一
# ---------------------------------------------------------------------------------------------------------


def write_annex1(ws, top: int = 1, left: int = 1, filled: bool = True, data: dict | None = None) -> int:
    """Write 附件一 (部门整体支出绩效评价基础数据表), 7 columns A..G; return the next free row.

    Layout (r = row offset from ``top``; columns relative to ``left``)::

        r0      A "附件一"
        r1      A:G title
        r2      A(r2:r3) 财政供养人员情况（人） | B:C 编制数 | D:E 实际在职人数 | F:G 控制率
        r3      (A merged)                    | B:C 68     | D:E 62           | F:G "91.17%"
        r4      A 经费控制情况（万元） | B:C 上年决算数 | D:E 当年预算数 | F:G 当年决算数
        r5..r22 the 18 expense rows (A label, values in B:C, D:E, F:G)
        r23     A(r23:r24) 楼堂馆所控制情况… | B..G six column heads (single cells)
        r24     (A merged) | B..G values (seed: 0 0 0 0 0 and G blank)
        r25     A 厉行节约保障措施 | B:G text
        r26     A:G 说明 line
        r27     A:G 填表人 line
        return  top + 28

    ``data`` defaults to ``SEED_ANNEX1`` (same shape).  With ``filled=False`` every value cell is blank
    except the template's own "——" marks.
    """
    d = SEED_ANNEX1 if data is None else data
    g = _Grid(ws, top, left, 7)
    g.widths(_WIDTHS_7)
    pairs = [(1, 2), (3, 4), (5, 6)]  # B:C, D:E, F:G

    g.label(0, d["label"])
    g.title(1, d["title"])

    r = 2
    head = d["staff_header"]
    g.put(r, 0, head[0], r2=r + 1)
    for (c1, c2), text in zip(pairs, head[1:], strict=True):
        g.put(r, c1, text, c2=c2)
    for (c1, c2), value in zip(pairs, d["staff_values"], strict=True):
        g.put(r + 1, c1, _v(value, filled), c2=c2)
    r += 2

    head = d["expense_header"]
    g.put(r, 0, head[0])
    for (c1, c2), text in zip(pairs, head[1:], strict=True):
        g.put(r, c1, text, c2=c2)
    r += 1
    for row in d["expense_rows"]:
        g.put(r, 0, row[0], align=_LEFT)
        for (c1, c2), value in zip(pairs, row[1:], strict=True):
            keep = value == NOT_APPLICABLE
            g.put(r, c1, value if (filled or keep) else None, c2=c2)
        r += 1

    head = d["building_header"]
    g.put(r, 0, head[0], r2=r + 1)
    for c, text in enumerate(head[1:], start=1):
        g.put(r, c, text)
    for c, value in enumerate(d["building_values"], start=1):
        g.put(r + 1, c, _v(value, filled))
    g.height(r, 45)
    r += 2

    g.put(r, 0, d["saving_label"])
    g.put(r, 1, _v(d["saving_text"], filled), c2=6, align=_LEFT)
    g.height(r, 45)
    r += 1

    g.line(r, d["note"])
    g.height(r, 30)
    r += 1
    g.line(r, d["footer"])
    r += 1
    return top + r


# ---------------------------------------------------------------------------------------------------------
# Shared pieces of 附件二 / 附件三
# ---------------------------------------------------------------------------------------------------------


def _fund_header(g: _Grid, r: int, header: list[str]) -> None:
    g.put(r, 1, None)
    for c, text in enumerate(header[:5], start=2):
        g.put(r, c, text)
    g.put(r, 7, header[5], c2=8)


def _fund_row(g: _Grid, r: int, row: list, filled: bool, keep_score: bool) -> None:
    """[label, 年初, 全年, 执行, 分值, 执行率, 得分] into B, C..G, H:I.

    With ``filled=False`` the 分值 of 年度资金总额 (``keep_score``) stays: it is printed in the template.
    """
    g.put(r, 1, row[0])
    for c, value in enumerate(row[1:6], start=2):
        keep = keep_score and c == 5
        g.put(r, c, value if (filled or keep) else None)
    g.put(r, 7, _v(row[6], filled), c2=8)


def _goal(g: _Grid, r: int, label: str, header: list[str], goal: list, filled: bool) -> None:
    g.put(r, 0, label, r2=r + 1)
    g.put(r, 1, header[0], c2=4)
    g.put(r, 5, header[1], c2=8)
    g.put(r + 1, 1, _v(goal[0], filled), c2=4, align=_LEFT)
    g.put(r + 1, 5, _v(goal[1], filled), c2=8, align=_LEFT)
    g.height(r + 1, 75)


def _runs(values: list) -> list[tuple[int, int]]:
    """Half-open index runs of consecutive equal values; ``None`` continues the previous run."""
    runs: list[tuple[int, int]] = []
    start = 0
    current = values[0] if values else None
    for i in range(1, len(values)):
        if values[i] is None or values[i] == current:
            continue
        runs.append((start, i))
        start, current = i, values[i]
    if values:
        runs.append((start, len(values)))
    return runs


def _indicators(
    g: _Grid,
    r: int,
    label: str,
    header: list[str],
    rows: list[list],
    total_label: str,
    total: list,
    filled: bool,
    template_total: Any,
) -> int:
    """Indicator table from row r (header), then the rows, then 总分.  Returns the row after 总分."""
    n = len(rows)
    g.put(r, 0, label, r2=r + n)
    for c, text in enumerate(header, start=1):
        g.put(r, c, text)
    g.height(r, 30)
    first = r + 1

    level1 = [row[0] for row in rows]
    for a, b in _runs(level1):
        g.put(first + a, 1, level1[a], r2=first + b - 1)
    # 二级: None means "same as the row above" -> merged vertically; otherwise one cell per row.
    level2 = [row[1] for row in rows]
    i = 0
    while i < n:
        j = i + 1
        while j < n and level2[j] is None:
            j += 1
        g.put(first + i, 2, level2[i], r2=first + j - 1)
        i = j
    for k, row in enumerate(rows):
        for c, value in enumerate(row[2:8], start=3):
            g.put(first + k, c, _v(value, filled))
    r = first + n

    g.put(r, 0, total_label, c2=5)
    g.put(r, 6, total[0] if filled else template_total)
    g.put(r, 7, _v(total[1], filled))
    g.put(r, 8, _v(total[2], filled))
    return r + 1


# ---------------------------------------------------------------------------------------------------------
# 附件二
# ---------------------------------------------------------------------------------------------------------


def write_annex2(ws, top: int = 1, left: int = 1, filled: bool = True, data: dict | None = None) -> int:
    """Write 附件二 (部门整体支出绩效自评表), 9 columns A..I; return the next free row.

    Layout (r = row offset from ``top``)::

        r0       A "附件二"
        r1       A:I title
        r2       A:B 预算部门、单位名称 | C:I unit name
        r3..r9   A(r3:r9) 年度预算申请（万元）
        r3         B blank | C 年初预算数 | D 全年预算数 | E 全年执行数 | F 分值 | G 执行率 | H:I 自评得分
        r4         B 年度资金总额 | C..G values | H:I score
        r5         B:D 按收入性质分： | E:I 按支出性质分：
        r6..r9     B:D income cell ("其中： 一般公共预算：872.71" ...) | E:I expenditure cell
        r10..r11 A(r10:r11) 年度总体目标 | r10: B:E 预期目标, F:I 实际完成情况 | r11: the two texts
        r12..r21 A(r12:r21) 绩效指标; r12 header B..I; r13..r21 the 9 indicator rows
                   (B = 一级, merged over r13:r16, r17:r20, r21; C 二级 ... I 偏差原因)
        r22      A:F 总分 | G 100 | H 90 | I blank
        r23      A:I 填表人 line
        return   top + 24   (with the seed's 9 indicator rows)

    ``data`` defaults to ``SEED_ANNEX2``.  With ``filled=False`` the template text stays (headers, split
    labels "按收入性质分：" etc., the 一级/二级 indicator labels, 分值 10 of 年度资金总额 and 总分 100) and every
    value cell is blank; the income/expenditure cells keep only their label text, e.g. "其中：基本支出：".
    """
    d = SEED_ANNEX2 if data is None else data
    g = _Grid(ws, top, left, 9)
    g.widths(_WIDTHS_9)

    g.label(0, d["label"])
    g.title(1, d["title"])
    g.put(2, 0, d["unit_label"], c2=1)
    g.put(2, 2, _v(d["unit"], filled), c2=8)

    r = 3
    splits = d["split_rows"]
    g.put(r, 0, d["budget_label"], r2=r + 2 + len(splits))
    _fund_header(g, r, d["budget_header"])
    _fund_row(g, r + 1, d["budget_total"], filled, keep_score=True)
    g.put(r + 2, 1, d["split_header"][0], c2=3)
    g.put(r + 2, 4, d["split_header"][1], c2=8)
    for k, (income, expense) in enumerate(splits):
        rr = r + 3 + k
        g.put(rr, 1, income if filled else _split_label(income), c2=3, align=_LEFT)
        g.put(rr, 4, expense if filled else _split_label(expense), c2=8, align=_LEFT)
    r += 3 + len(splits)

    _goal(g, r, d["goal_label"], d["goal_header"], d["goal"], filled)
    r += 2

    rows = d["indicators"] if filled else _blank_indicators(d["indicators"])
    r = _indicators(
        g, r, d["indicator_label"], d["indicator_header"], rows, d["total_label"], d["total"], filled, 100
    )
    g.line(r, d["footer"])
    return top + r + 1


def _split_label(text: str | None) -> str | None:
    """'其中：基本支出：842.21' -> '其中：基本支出：' (the template text without the amount)."""
    if not text:
        return None
    i = text.rfind("：")
    return text[: i + 1] if i >= 0 else text


def _blank_indicators(rows: list[list]) -> list[list]:
    """Keep 一级/二级 labels (template text), blank everything else."""
    return [[row[0], row[1]] + [None] * 6 for row in rows]


# ---------------------------------------------------------------------------------------------------------
# 附件三
# ---------------------------------------------------------------------------------------------------------


def write_annex3(
    ws,
    top: int = 1,
    left: int = 1,
    filled: bool = True,
    project: dict | None = None,
) -> int:
    """Write 附件三 (项目支出绩效自评表), 9 columns A..I; return the next free row.

    Layout (r = row offset from ``top``), for the seed's 4 fund rows and 9 indicator rows::

        r0       A "附件三"
        r1       A:I title
        r2       A:B 项目支出名称 | C:I project name
        r3       A:B 主管部门 | C:E (blank in seed) | F:G 实施单位 | H:I 衡山县人民政府办公室
        r4..r8   A(r4:r8) 项目资金（万元）; r4 header (B blank | C..G | H:I 自评得分);
                 r5 年度资金总额, r6 其中：当年财政拨款, r7 上年结转资金, r8 其他资金
        r9..r10  A(r9:r10) 年度总体目标 | r9: B:E 预期目标, F:I 实际完成情况 | r10: the two texts
        r11..r20 A(r11:r20) 绩效指标; r11 header; r12..r20 indicator rows (B 一级 merged per group)
        r21      A:F 总分 | G " 100" | H 90 | I blank
        r22      A:I 填表人 line
        return   top + 23

    ``project`` (default ``SEED_PROJECT``, the seed's 业务经费) is a dict::

        {
          "name": "业务经费",                    # 项目支出名称 (C:I)
          "dept": None,                          # 主管部门 (C:E), None = blank
          "impl": "衡山县人民政府办公室",          # 实施单位 (H:I)
          "funds": [                             # any number of rows, written in order into B..I
            [label, 年初预算数, 全年预算数, 全年执行数, 分值, 执行率, 自评得分], ...
          ],
          "goal": [预期目标, 实际完成情况],
          "indicators": [                        # any number of rows
            [一级, 二级, 三级, 年度指标值, 实际完成值, 分值, 自评得分, 偏差原因分析及改进措施], ...
          ],
          "total": [总分 分值, 总分 自评得分, 总分 偏差原因],
        }

    Every key is optional: a missing "funds" writes the four standard fund rows with blank values, any
    other missing key leaves its cells blank.  Consecutive equal 一级 values are
    merged vertically (``None`` continues the group); an 二级 of ``None`` merges with the 二级 cell above.
    Values: None = blank cell; numbers and text are written as given.

    With ``filled=False`` the project is ignored for values: the seed's structure is written with template
    text only (fund labels, 一级/二级 labels, 分值 10 of 年度资金总额, 总分 100).
    """
    d = SEED_ANNEX3
    p = SEED_PROJECT if project is None else project
    if not filled:
        p = SEED_PROJECT
    funds = p.get("funds") or [[row[0]] + [None] * 6 for row in SEED_ANNEX3["funds"]]

    g = _Grid(ws, top, left, 9)
    g.widths(_WIDTHS_9)
    g.label(0, d["label"])
    g.title(1, d["title"])
    g.put(2, 0, d["name_label"], c2=1)
    g.put(2, 2, _v(p.get("name"), filled), c2=8)
    g.put(3, 0, d["dept_label"], c2=1)
    g.put(3, 2, _v(p.get("dept"), filled), c2=4)
    g.put(3, 5, d["impl_label"], c2=6)
    g.put(3, 7, _v(p.get("impl"), filled), c2=8)

    r = 4
    g.put(r, 0, d["fund_label"], r2=r + len(funds))
    _fund_header(g, r, d["fund_header"])
    for k, row in enumerate(funds):
        _fund_row(g, r + 1 + k, row, filled, keep_score=(k == 0))
    r += 1 + len(funds)

    _goal(g, r, d["goal_label"], d["goal_header"], p.get("goal") or [None, None], filled)
    r += 2

    rows = p.get("indicators") or []
    if not filled:
        rows = _blank_indicators(rows)
    r = _indicators(
        g,
        r,
        d["indicator_label"],
        d["indicator_header"],
        rows,
        d["total_label"],
        p.get("total") or [None, None, None],
        filled,
        100,
    )
    g.line(r, d["footer"])
    return top + r + 1


# ---------------------------------------------------------------------------------------------------------
# Workbooks
# ---------------------------------------------------------------------------------------------------------


def _new_workbook() -> Workbook:
    wb = Workbook()
    props = wb.properties
    props.creator = "jixiao build_templates.py"
    props.lastModifiedBy = "jixiao build_templates.py"
    props.created = FIXED_TIMESTAMP
    props.modified = FIXED_TIMESTAMP
    return wb


def _setup_sheet(ws, title: str) -> None:
    ws.title = title
    ws.sheet_view.showGridLines = False
    ws.page_setup.orientation = "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def fit_row_heights(ws, line_points: float = 14.5) -> None:
    """Give wrapped text the row height it needs, as a filled template has.

    Excel and LibreOffice do not grow rows when opening a file, so long texts would overlap.
    CJK characters count as two width units; merged cells share their height over their rows.
    """
    spans = {(m.min_row, m.min_col): m for m in ws.merged_cells.ranges}
    need: dict[int, float] = {}
    for row in ws.iter_rows():
        for cell in row:
            if not isinstance(cell.value, str) or type(cell).__name__ == "MergedCell":
                continue
            m = spans.get((cell.row, cell.column))
            c0, c1, r0, r1 = (m.min_col, m.max_col, m.min_row, m.max_row) if m else (
                cell.column, cell.column, cell.row, cell.row)
            width = sum(ws.column_dimensions[get_column_letter(c)].width or 8.43 for c in range(c0, c1 + 1))
            lines = sum(max(1, -(-_display_width(part) // max(int(width) - 1, 1)))
                        for part in cell.value.split("\n"))
            per_row = lines * line_points / (r1 - r0 + 1)
            if r0 == r1 or per_row > line_points:
                for r in range(r0, r1 + 1):
                    need[r] = max(need.get(r, 0.0), per_row)
    for r, points in need.items():
        current = ws.row_dimensions[r].height
        if points > (current or 15):
            ws.row_dimensions[r].height = round(points, 1)


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def save_deterministic(wb: Workbook, path: str | Path) -> Path:
    """Save ``wb`` so that rebuilding gives identical bytes.

    openpyxl stamps ``dcterms:modified`` with the current time and zip members with the current date;
    both are replaced by fixed values.
    """
    buf = io.BytesIO()
    wb.save(buf)
    stamp = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                start = text.find("<dcterms:modified")
                end = text.find("</dcterms:modified>")
                if start >= 0 and end >= 0:
                    head = text[start : text.index(">", start) + 1]
                    text = text[:start] + head + stamp + text[end:]
                data = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, data)
    path = Path(path)
    path.write_bytes(out.getvalue())
    return path


def build_example(path: str | Path) -> Path:
    """The filled seed example: sheets "附件一", "附件二", "附件三", each table at A1."""
    wb = _new_workbook()
    ws = wb.active
    _setup_sheet(ws, "附件一")
    write_annex1(ws)
    ws = wb.create_sheet()
    _setup_sheet(ws, "附件二")
    write_annex2(ws)
    ws = wb.create_sheet()
    _setup_sheet(ws, "附件三")
    write_annex3(ws)
    for sheet in wb.worksheets:
        fit_row_heights(sheet)
    return save_deterministic(wb, path)


def build_templates(dirpath: str | Path) -> list[Path]:
    """Write the three blank templates and the filled example into ``dirpath``; return the paths."""
    dirpath = Path(dirpath)
    dirpath.mkdir(parents=True, exist_ok=True)
    out = []
    for name, sheet, writer in (
        (FILE_ANNEX1, "附件一", write_annex1),
        (FILE_ANNEX2, "附件二", write_annex2),
        (FILE_ANNEX3, "附件三", write_annex3),
    ):
        wb = _new_workbook()
        ws = wb.active
        _setup_sheet(ws, sheet)
        writer(ws, filled=False)
        fit_row_heights(ws)
        out.append(save_deterministic(wb, dirpath / name))
    out.append(build_example(dirpath / FILE_EXAMPLE))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0]) if argv else Path(__file__).resolve().parent
    for p in build_templates(target):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
