"""Per-row recomputation: what the rubric (catalogue §2) gives a row, from its target and actual.

Pure functions first (`execution_score`, `quantitative_score`, `qualitative_range`: these are what
the property tests exercise), then `recompute_indicator` / `recompute_execution`, which read model
rows and return a `Recomputed` (an exact number, a [lo, hi] range, plus how it was obtained).

Kinds of indicator rows and what they earn (decisions, see also review.py):
- 无指标: 三级指标 "无", or neither target nor actual given -> 0 (no indicator, no points).
- 无实际值: a target but no 实际完成值 -> 0 (nothing shows the target was reached).
- 照抄: 实际完成值 repeats the target expression ("≥95%" under "≥95%") -> [0, 分值], 无法复核. Such a row
  cannot earn a *verified* score; the point estimate keeps the reported score. Any other actual with
  a comparator ("≥97%") is a bound, not a measured value: also 无法复核.
- 定量: comparator + number; B/A or A/B × 分值, full marks when met (NAT-Q1..Q4).
- 时效: a date target ("2023年12月底前", "2024年") -> full marks when the actual date is not later,
  the 未达成 band when it is; a coarser actual date than the target cannot be verified.
- 定性: a text target -> the band of the grade the actual states (NAT-QL1); a range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..findings import Severity
from ..model import IndicatorRow, LabeledRow, Value
from ..text import fold
from .rubric import Band, Rubric

_EPS = 1e-9
_MONEY = {"元": 1e-4, "万元": 1.0, "亿元": 1e4}
_COUNT_UNITS = frozenset({"次", "个", "项", "件", "人", "人次", "户", "家", "篇", "场", "期", "份", "台", "辆"})
_DAY_UNITS = frozenset({"天", "日"})
_DATE_YMD = re.compile(r"((?:19|20)\d{2})\s*(?:年|[-./])\s*(?:(\d{1,2})\s*(?:月|[-./])?\s*(?:(\d{1,2})\s*[日号]?)?)?")
_DATE_MD = re.compile(r"(?<!\d)(\d{1,2})\s*月\s*(?:(\d{1,2})\s*[日号]|底|末|份|中旬|上旬|下旬)?")
_YEAR = re.compile(r"((?:19|20)\d{2})\s*年")


# --- pure rubric arithmetic (property-tested) ---------------------------------------------------


def execution_score(rate: float, weight: float) -> float:
    """执行率得分 = min(执行率, 100%) × 分值 (NAT-E2); never below 0 or above 分值."""
    return max(0.0, min(rate, 1.0)) * weight


def quantitative_score(op: str, target: float, actual: float, weight: float, rate: bool = False
                       ) -> tuple[float, bool]:
    """(score, met) for a quantitative row.

    ">="/">": met when B ≥ A, else B/A × 分值 (NAT-Q2). "<="/"<": met when B ≤ A, else A/B × 分值
    (NAT-Q3). Strict comparators are scored like their inclusive form (B = A gives B/A = 1 anyway).
    "=": met when B = A; a rate (%) counts as positive (toward the target), any other quantity
    scores min(A, B)/max(A, B) × 分值 (NAT-Q4, inferred). Always within [0, 分值].
    """
    if op == "=" and rate:
        op = ">="  # a rate toward its target counts as a positive indicator (NAT-Q4)
    size = abs(target)
    tol = _EPS * (size if size > 1.0 else 1.0)  # max(1.0, |target|)
    if op in (">=", ">"):
        if actual >= target - tol:
            return weight, True
        return (_clamp(actual / target, weight) if target > 0 else 0.0), False
    if op in ("<=", "<"):
        if actual <= target + tol:
            return weight, True
        return (_clamp(target / actual, weight) if target > 0 else 0.0), False
    # "=" (anything unknown is treated as an equality target)
    if abs(actual - target) <= tol:
        return weight, True
    if actual <= 0 or target <= 0:
        return 0.0, False
    return _clamp(min(actual, target) / max(actual, target), weight), False


def qualitative_range(band: Band, weight: float) -> tuple[float, float]:
    return band.lo * weight, band.hi * weight


def _clamp(share: float, weight: float) -> float:
    return max(0.0, min(share, 1.0)) * weight


# --- recomputation of model rows -----------------------------------------------------------------


@dataclass(slots=True)
class Note:
    """A finding the recomputation itself raises (unit or time problems), placed by the reviewer."""

    rule: str
    cell: str
    message: str
    cells: list[str] = field(default_factory=list)
    severity: Severity = Severity.WARNING


@dataclass(slots=True)
class Recomputed:
    lo: float | None  # None: no score can be computed (分值 missing)
    hi: float | None
    kind: str  # 执行率 / 定量 / 时效 / 定性 / 无指标 / 无实际值 / 照抄 / 无法复核
    basis: str  # Chinese: how the value was obtained
    verifiable: bool = True  # False: 无法复核 whatever the reported score
    met: bool | None = None  # target met (None when unknown)
    ratio: float | None = None  # B/A for positive targets (over-achievement)
    grade: str | None = None  # qualitative grade read from 实际完成值
    rule: str = ""  # the rubric rule that applies (NAT-E2, NAT-Q2, NAT-QL1 ...)
    inferred: bool = False  # computed by an inferred rule (NAT-Q4, missing comparator, time)
    notes: list[Note] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.lo is not None and self.hi is not None and abs(self.hi - self.lo) <= _EPS


def number_text_uncached(x: float) -> str:
    """A number as shown in basis texts and messages: at most four decimals, no trailing zeros.
    `number_text` is the same, cached; this one is for values that rarely recur (differences)."""
    i = int(x)
    if x == i:
        return str(i)
    return f"{x:.4f}".rstrip("0").rstrip(".")


# the same weights and scores recur in every workbook of a batch
number_text = lru_cache(maxsize=4096)(number_text_uncached)


def _pct(x: float) -> str:
    return f"{x * 100:.2f}".rstrip("0").rstrip(".") + "%"


def recompute_execution(funds: LabeledRow, rubric: Rubric) -> Recomputed:
    """年度资金总额 row: 执行率 from 全年执行数/全年预算数 when both are there, else as reported."""
    w = funds.get("分值").number
    weight = w if w is not None else rubric.execution_weight
    budget, spent, stated = funds.get("全年预算数").number, funds.get("全年执行数").number, funds.get("执行率").number
    if budget is not None and spent is not None and budget > 0:
        rate = spent / budget
        basis = f"执行率 = {number_text_uncached(spent)}/{number_text_uncached(budget)} = {_pct(rate)}"
    elif stated is not None:
        rate = stated
        basis = f"执行率取填报值 {_pct(rate)}（缺全年预算数或全年执行数）"
    else:
        return Recomputed(0.0, weight, "执行率", "缺全年预算数、全年执行数和执行率，无法计算", verifiable=False,
                          rule="NAT-E2")
    score = execution_score(rate, weight)
    basis += f"；得分 = min(执行率, 100%) × {number_text(weight)} = {number_text_uncached(round(score, 4))}"
    return Recomputed(score, score, "执行率", basis, True, rate >= 1 - _EPS, rate, None, "NAT-E2")


_SPACE = re.compile(r"\s+")
_UNCLEAN = re.compile(r"[\s\uff01-\uff5e\u3000]")  # what _clean changes: whitespace and fold()'s characters


@lru_cache(maxsize=8192)  # a row's target and actual are compared several times; wordings recur
def _clean(text: str) -> str:
    return _SPACE.sub("", fold(text)) if text else ""


def recompute_indicator(r: IndicatorRow, rubric: Rubric, year: int | None) -> Recomputed:
    w = r.weight.number
    weight = w if w is not None and w >= 0 else None
    if year is None or ("年" not in r.target.text and "年" not in r.actual.text):
        return _indicator(r, rubric, weight, year)  # no year written: no WARN-10 (see _year_notes)
    notes = _year_notes(r, year)
    rec = _indicator(r, rubric, weight, year)
    if notes:
        rec.notes[:0] = notes
    return rec


def _indicator(r: IndicatorRow, rubric: Rubric, weight: float | None, year: int | None) -> Recomputed:
    wt = weight if weight is not None else 0.0
    t, a = r.target, r.actual
    a_empty = a.blank or a.na  # blank or "not applicable"
    if r.level3.na or (a_empty and (t.blank or t.na)):
        return Recomputed(0.0, 0.0, "无指标", "无三级指标或未填写指标值和实际完成值，不应计分", rule="WARN-04")
    tn = t.number
    if a_empty and not (a.na and tn is not None and abs(tn) <= _EPS and t.op in ("<=", "=", "<", None)):
        return Recomputed(0.0, 0.0, "无实际值", "未填写实际完成值，不能证明指标已完成，不应计分", rule="WARN-03")
    if weight is None:
        return Recomputed(None, None, "无法复核", "分值缺失，无法计算", verifiable=False)
    if _copied(t, a):
        return Recomputed(0.0, wt, "照抄", f"实际完成值“{a.text}”照抄年度指标值，不是实际数据，无法复核",
                          verifiable=False)
    if a.op is not None and a.number is not None:  # "≥97%": a bound, not a measured value
        return Recomputed(0.0, wt, "无法复核", f"实际完成值“{a.text}”带比较符，不是实际完成的确数，无法复核",
                          verifiable=False)
    if tn is None:
        if _is_date(t):
            return _time(r, rubric, wt, year)
        if t.op is not None:  # "≤万元": a comparator without a number (WARN-01 of the check stage)
            return Recomputed(0.0, wt, "无法复核", f"年度指标值“{t.text}”缺少数值，无法复核", verifiable=False)
        return _qualitative(r, rubric, wt)
    if t.unit == "年" and 1900 <= tn <= 2100:  # _is_date of a number
        return _time(r, rubric, wt, year)
    if a.number is None and not a.na:
        band = rubric.grade_of_text(_clean(a.text))
        if band is not None:
            return _band(band, wt, f"实际完成值“{a.text}”为定性表述（{band.grade}）")
        return Recomputed(0.0, wt, "无法复核", f"实际完成值“{a.text}”不是数值，无法与指标值比较", verifiable=False)
    return _quantitative(r, rubric, wt)


def _copied(t: Value, a: Value) -> bool:
    """实际完成值 repeats the target expression ("≥95%" / "≥95%"). Equal texts are a copy only when the
    target has a comparator: "2次" against "2次" is a met target."""
    if t.op is None or t.number is None:
        return False
    at = a.text
    # An actual without whitespace or full-width characters is its own _clean(): measured values
    # rarely recur, so they skip the cache (a miss costs more than this search).
    return _clean(t.text) == (_clean(at) if _UNCLEAN.search(at) else at)


def _band(band: Band, weight: float, basis: str, *, rule: str = "NAT-QL1", inferred: bool = False,
          kind: str = "定性") -> Recomputed:
    lo, hi = qualitative_range(band, weight)
    return Recomputed(lo, hi, kind, f"{basis}，得分区间 {_pct(band.lo)}–{_pct(band.hi)} × {number_text(weight)} = "
                      f"[{number_text(round(lo, 4))}, {number_text(round(hi, 4))}]",
                      met=band.hi >= 1.0 - _EPS, grade=band.grade, rule=rule, inferred=inferred)


def _qualitative(r: IndicatorRow, rubric: Rubric, weight: float) -> Recomputed:
    a, t = r.actual, r.target
    band = rubric.grade_of_text(_clean(a.text))
    if band is not None:
        return _band(band, weight, f"定性指标，实际完成值“{a.text}”为{band.grade}")
    if _clean(a.text) == _clean(t.text):
        top = rubric.band("达成")
        if top is not None:
            return _band(top, weight, "定性指标，实际完成值与年度指标值表述相同，按达成计", inferred=True)
    rec = Recomputed(0.0, weight, "定性", f"定性指标，实际完成值“{a.text}”未写明达成等级，无法复核",
                     verifiable=False, rule="NAT-QL1")
    rec.notes.append(Note("NAT-QL1", r.score.cell,
                          f"定性指标“{r.level3.text}”的实际完成值“{a.text}”未写明完成等级"
                          "（达成预期指标/部分达成预期指标并具有一定效果/未达成预期指标且效果较差），无法按分档复核得分",
                          [r.actual.cell]))
    return rec


# --- quantitative ---------------------------------------------------------------------------------


_RULE_OF_OP = {">=": "NAT-Q2", ">": "NAT-Q2", "<=": "NAT-Q3", "<": "NAT-Q3"}
_SYMBOL_OF_OP = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "=": "="}


def _quantitative(r: IndicatorRow, rubric: Rubric, weight: float) -> Recomputed:
    t, a = r.target, r.actual
    assert t.number is not None
    actual = 0.0 if a.number is None else a.number  # a.na with a zero target: "无" means none happened
    target = t.number
    op, inferred = t.op, False
    if op is None:
        # No comparator written: a cost row is a ceiling, anything else a floor (inferred).
        op, inferred = ("<=" if "成本" in r.level2.text else ">="), True
    notes: list[Note] = []
    unit = t.unit
    if unit != a.unit and not a.na:  # else nothing to reconcile (_reconcile_units' first case)
        actual, target, ok = _reconcile_units(r, actual, target, notes)
        if not ok:
            rec = Recomputed(0.0, weight, "无法复核", f"年度指标值“{t.text}”与实际完成值“{a.text}”单位不同，无法比较",
                             verifiable=False)
            rec.notes = notes
            return rec
    rate = (unit == "%")
    score, met = quantitative_score(op, target, actual, weight, rate)
    rule = _RULE_OF_OP.get(op, "NAT-Q4")
    if rule == "NAT-Q4":
        inferred = True
    sym = _SYMBOL_OF_OP.get(op, op)
    if rate:
        fa, ft = _pct(actual), _pct(target)
    else:  # row values rarely recur: formatted without number_text's cache
        if unit is None:
            unit = ""
        fa, ft = number_text_uncached(actual) + unit, number_text_uncached(target) + unit
    if met:
        basis = f"实际 {fa} 满足 {sym}{ft}，达标，记满分 {number_text(weight)}"
    elif op in ("<=", "<"):
        basis = f"实际 {fa} 未满足 {sym}{ft}，得分 = 指标值/实际值 × {number_text(weight)}"
    elif op == "=" and not rate:
        basis = f"实际 {fa} ≠ {ft}，得分 = 较小值/较大值 × {number_text(weight)}"
    else:
        basis = f"实际 {fa} 未满足 {sym}{ft}，得分 = 实际值/指标值 × {number_text(weight)}"
    if not met:
        basis += f" = {number_text_uncached(round(score, 4))}"
    if inferred and t.op is None:
        basis += f"（指标值未写比较符，按“{sym}”理解）"
    ratio = actual / target if op in (">=", ">", "=") and target > 0 else None
    # positional, in field order (verifiable, met, ratio, grade, rule, inferred, notes): the common row
    return Recomputed(score, score, "定量", basis, True, met, ratio, None, rule, inferred, notes)


def _reconcile_units(r: IndicatorRow, actual: float, target: float, notes: list[Note]
                     ) -> tuple[float, float, bool]:
    """Bring actual and target to one unit; note WARN-09 when a unit is missing or differs."""
    t, a = r.target, r.actual
    tu, au = t.unit, a.unit
    if tu == au or a.na:
        return actual, target, True
    if tu in _MONEY and au in _MONEY:
        # Convertible money units: worth showing, nothing to fix.
        notes.append(Note("WARN-09", a.cell, f"实际完成值单位“{au}”与年度指标值单位“{tu}”不一致，已换算后比较",
                          [t.cell], Severity.INFO))
        return actual * _MONEY[au] / _MONEY[tu], target, True
    if tu == "%" and au is None:
        if not isinstance(a.raw, str) and abs(actual) <= 1.5:
            return actual, target, True  # a percent-formatted cell: Excel stores 0.98 for 98%
        notes.append(Note("WARN-09", a.cell, f"实际完成值“{a.text}”缺少单位“%”（年度指标值为“{t.text}”），按百分数理解",
                          [t.cell]))
        return (actual / 100 if abs(actual) > 1.5 else actual), target, True
    if au == "%" and tu is None:
        notes.append(Note("WARN-09", t.cell, f"年度指标值“{t.text}”缺少单位“%”（实际完成值为“{a.text}”），按百分数理解",
                          [a.cell]))
        return actual, (target / 100 if abs(target) > 1.5 else target), True
    if au is None:
        notes.append(Note("WARN-09", a.cell, f"实际完成值“{a.text}”缺少计量单位（年度指标值为“{t.text}”），"
                          f"按“{tu}”理解", [t.cell]))
        return actual, target, True
    if tu is None:
        notes.append(Note("WARN-09", t.cell, f"年度指标值“{t.text}”缺少计量单位（实际完成值为“{a.text}”）", [a.cell]))
        return actual, target, True
    same_kind = ({tu, au} <= _COUNT_UNITS) or ({tu, au} <= _DAY_UNITS)
    notes.append(Note("WARN-09", a.cell, f"实际完成值单位“{au}”与年度指标值单位“{tu}”不一致"
                      + ("，按数值直接比较" if same_kind else "，无法比较"), [t.cell]))
    return actual, target, same_kind


# --- time targets -----------------------------------------------------------------------------------


def _is_date(v: Value) -> bool:
    if v.unit == "年" and v.number is not None and 1900 <= v.number <= 2100:
        return True
    if v.number is not None:
        return False
    text = fold(v.text)
    return bool(_DATE_YMD.search(text) or _DATE_MD.search(text))


def _date_end(text: str, default_year: int | None) -> tuple[tuple[int, int, int], int] | None:
    """Latest day a date expression covers, and its granularity (1 year, 2 month, 3 day)."""
    t = fold(text)
    m = _DATE_YMD.search(t)
    if m:
        y, mo, d = int(m.group(1)), m.group(2), m.group(3)
    else:
        m = _DATE_MD.search(t)
        if not m or default_year is None:
            return None
        y, mo, d = default_year, m.group(1), m.group(2)
    if mo is None:
        return (y, 12, 31), 1
    if d is None:
        return (y, int(mo), 31), 2
    return (y, int(mo), int(d)), 3


def _time(r: IndicatorRow, rubric: Rubric, weight: float, eval_year: int | None) -> Recomputed:
    t, a = r.target, r.actual
    year = _first_year(t.text) or eval_year
    target = _date_end(t.text, year)
    actual = _date_end(a.text, target[0][0] if target else year) if a.text else None
    if target is None:
        return Recomputed(0.0, weight, "无法复核", f"时效指标“{t.text}”无法解析", verifiable=False)
    if actual is not None and eval_year is not None and actual[0][0] > eval_year and actual[0] <= target[0]:
        # A completion dated after the evaluated year is not a result of that year (WARN-10 says why).
        return Recomputed(0.0, weight, "无法复核", f"实际完成时间“{a.text}”在评价年度 {eval_year} 年之后，无法复核",
                          verifiable=False)
    if actual is None:
        band = rubric.grade_of_text(_clean(a.text))
        if band is not None:
            return _band(band, weight, f"时效指标，实际完成值“{a.text}”为{band.grade}")
        return Recomputed(0.0, weight, "无法复核", f"时效指标“{t.text}”的实际完成值“{a.text}”不是日期，无法复核",
                          verifiable=False)
    if actual[1] < target[1] and actual[0] > target[0]:
        return Recomputed(0.0, weight, "无法复核", f"实际完成时间“{a.text}”不如指标值“{t.text}”精确，无法判断是否按时",
                          verifiable=False)
    if actual[0] <= target[0]:
        return Recomputed(weight, weight, "时效", f"实际完成时间“{a.text}”不晚于“{t.text}”，达标，记满分 {number_text(weight)}",
                          met=True, rule="NAT-Q3", inferred=True)
    band = rubric.band("未达成")
    if band is None:
        return Recomputed(0.0, 0.0, "时效", "逾期完成，不计分", met=False, rule="NAT-Q3", inferred=True)
    return _band(band, weight, f"实际完成时间“{a.text}”晚于“{t.text}”，逾期按未达成计", rule="NAT-Q3",
                 inferred=True, kind="时效")


def _first_year(text: str) -> int | None:
    m = _YEAR.search(fold(text))
    return int(m.group(1)) if m else None


def _year_notes(r: IndicatorRow, year: int | None) -> list[Note]:
    """WARN-10: a target or actual that names a year after the evaluation year."""
    if year is None:
        return []
    for v, other in ((r.target, r.actual), (r.actual, r.target)):
        if "年" not in v.text:
            continue
        years = [int(y) for y in _YEAR.findall(fold(v.text))]
        late = [y for y in years if y > year]
        if late:
            which = "年度指标值" if v is r.target else "实际完成值"
            return [Note("WARN-10", v.cell, f"{which}“{v.text}”写的是 {late[0]} 年，晚于评价年度 {year} 年"
                         f"（{r.level3.text or r.level2.text}）：{year} 年度的自评不能以 {late[0]} 年为完成时限",
                         [other.cell] if other.text else [])]
    return []
