"""Helpers for the check tests (no tests here): real .xlsx copies of the bundled example,
with cell edits, and the corrected copy in which every defect of the example is fixed."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "workbook_templates"
if str(TEMPLATES) not in sys.path:
    sys.path.insert(0, str(TEMPLATES))

import build_templates  # noqa: E402

Edits = dict[str, Any]  # "附件一!F4" -> new value (None = blank)

FOOTER = "填表人：张三    填报日期：2024年3月1日    联系电话：0734-5812345    单位负责人签字：李四"

# Every defect of the example (catalogue §9 and what the pack reports besides) fixed, with the
# figures kept consistent across annexes: 附件二 年初 1300 = 基本 850 + 项目 450; 附件三 年初 450
# = 附件一 项目支出 本年预算数; 执行数 481.27 everywhere.
CORRECTED: Edits = {
    # 附件一
    "附件一!F4": "91.18%",
    "附件一!B7": 4, "附件一!D7": 4, "附件一!F7": 4,
    "附件一!D12": 450, "附件一!F12": 481.27, "附件一!D13": 450,
    "附件一!D18": 146,
    "附件一!A28": FOOTER,
    # 附件二
    "附件二!C5": 1300, "附件二!H5": 10, "附件二!H23": 91,
    "附件二!B7": "其中： 一般公共预算：1300",
    "附件二!E7": "其中：基本支出：850", "附件二!E8": "项目支出：450",
    "附件二!F12": "全年办文办会2642次，资金在规定时间内全部下达，政府办公业务经费145.29万元控制在预算以内，"
                  "政务信息、综治维稳和后勤保障工作有序开展。",
    "附件二!E17": "≤150万元", "附件二!F17": "145.29万元",
    "附件二!F15": "96%", "附件二!F19": "98.5%", "附件二!F20": "99%", "附件二!F21": "98%", "附件二!F22": "96%",
    "附件二!D18": "节约行政运行成本", "附件二!E18": "≥1万元", "附件二!F18": "1.2万元",
    "附件二!I14": "临时会议较多，部分会议筹备仓促，下一步加强会务统筹",
    "附件二!I15": "个别文件一次校核未通过，下一步加强审核",
    "附件二!I17": "临时任务增加，经费略有超支，下一步严格控制",
    "附件二!I18": "节约幅度有限，下一步推进无纸化办公",
    "附件二!I19": "示范效应尚待显现，下一步加强宣传",
    "附件二!I20": "部分节能设施更新滞后，下一步加快更新",
    "附件二!A24": FOOTER,
    # 附件三
    "附件三!C4": "衡山县人民政府办公室",
    "附件三!C6": 450, "附件三!C7": 450, "附件三!E7": 481.27, "附件三!G6": "99.79%",
    "附件三!F11": "完成政策研究课题159项，组织培训12期，组织和服务成本481.27万元控制在预算以内，"
                  "政策研究成果被县政府采纳率96%。",
    "附件三!E13": "≥150次", "附件三!F13": "159次",
    "附件三!F14": "96%", "附件三!F19": "96%", "附件三!F21": "96%",
    "附件三!E15": "2023年12月", "附件三!F15": "2023年11月",
    "附件三!D17": "节约财政资金", "附件三!E17": "≥1万元", "附件三!F17": "1.5万元",
    "附件三!D20": "服务长效机制", "附件三!E20": "持续发挥作用", "附件三!F20": "达成预期指标",
    "附件三!I13": "研究任务按需增加，组织工作仍有改进空间",
    "附件三!I15": "个别培训时间调整，下一步提前安排",
    "附件三!I16": "成本核算不够细，下一步细化",
    "附件三!I17": "节约幅度有限，下一步加强成本控制",
    "附件三!I18": "示范作用尚待显现，下一步总结推广",
    "附件三!I19": "节能率提升空间有限，下一步加强管理",
    "附件三!I20": "长效机制尚在完善，下一步健全制度",
    "附件三!I21": "个别服务对象提出改进意见，下一步改进",
    "附件三!A23": FOOTER,
}


@lru_cache(maxsize=1)
def example_bytes() -> bytes:
    buf = io.BytesIO()
    wb = load_workbook(TEMPLATES / build_templates.FILE_EXAMPLE)
    wb.save(buf)
    return buf.getvalue()


def edited_bytes(edits: Edits, base: bytes | None = None, drop: Iterable[str] = ()) -> bytes:
    """`drop`: sheets removed from the copy after the edits (a deleted annex)."""
    wb = load_workbook(io.BytesIO(base if base is not None else example_bytes()))
    for ref, value in edits.items():
        sheet, cell = ref.split("!")
        wb[sheet][cell].value = value
    for name in drop:
        del wb[name]
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@lru_cache(maxsize=1)
def corrected_bytes() -> bytes:
    return edited_bytes(CORRECTED)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def build_example(path: Path) -> Path:
    """The example as the template builder writes it (a fresh file, not the committed one)."""
    return build_templates.build_example(path)
