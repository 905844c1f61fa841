"""The finding model shared by the check, score and report stages.

Modelled on frictionless's typed errors: a stable rule code, a severity, the exact cell to
fix first plus the other cells involved, and a Chinese message with expected vs actual.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from functools import lru_cache
from typing import Any


class Severity(str, Enum):
    ERROR = "error"  # 强制: must be fixed before submitting
    WARNING = "warning"  # 提示: plausible, needs an explanation (审核说明)
    INFO = "info"  # 信息: worth knowing, no action needed

    @property
    def label(self) -> str:
        return {"error": "强制", "warning": "提示", "info": "信息"}[self.value]

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]

    @classmethod
    def parse(cls, text: str) -> Severity:
        t = str(text).strip().lower()
        aliases = {"强制": "error", "错误": "error", "提示": "warning", "警告": "warning", "信息": "info"}
        return cls(aliases.get(t, t))


ANNEX_LABELS = {"annex1": "附件一", "annex2": "附件二", "annex3": "附件三", "workbook": "工作簿"}


@dataclass(slots=True)
class Finding:
    rule: str  # stable ASCII id, e.g. "BDT-3"
    severity: Severity
    annex: str  # "附件一" / "附件二" / "附件三" / "工作簿"
    sheet: str
    cell: str  # the cell to fix first ("" when the finding is about the whole table)
    message: str  # Chinese, says what is wrong and what was expected
    title: str = ""  # the rule's short Chinese title
    cells: list[str] = field(default_factory=list)  # other cells involved
    expected: str | None = None
    actual: str | None = None
    diff: str | None = None
    interval: str | None = None  # the rounding interval used, e.g. "[1438.45, 1438.47]"
    project: str | None = None  # 附件三 project name, to tell several 附件三 apart
    explained: bool = False  # a 审核说明 / 偏差原因 was given for this warning
    explanation: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity across runs: what an explanation (审核说明) is attached to."""
        return (self.rule, self.sheet, self.cell)

    def to_json(self) -> dict[str, Any]:
        # what dataclasses.asdict gives, without its deep copy of every field (a few dozen
        # findings per file go through here for each JSON report)
        d = {name: getattr(self, name) for name in _FINDING_FIELDS}
        d["severity"] = self.severity.value
        d["severity_label"] = self.severity.label
        d["cells"] = list(self.cells)
        return {k: v for k, v in d.items() if v not in (None, "", [])}


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


_ANNEX_ORDER = {"附件一": 0, "附件二": 1, "附件三": 2}
_NEG_RANK = {s: -s.rank for s in Severity}


def sort_key(f: Finding) -> tuple[Any, ...]:
    return (_ANNEX_ORDER.get(f.annex, 9), f.sheet, _NEG_RANK[f.severity], _cell_order(f.cell), f.rule)


@lru_cache(maxsize=4096)  # a batch sorts the same few hundred cell addresses over and over
def _cell_order(cell: str) -> tuple[int, int]:
    letters = "".join(ch for ch in cell if ch.isalpha())
    digits = "".join(ch for ch in cell if ch.isdigit())
    col = 0
    for ch in letters:
        col = col * 26 + ord(ch.upper()) - 64
    return (int(digits) if digits else 0, col)
