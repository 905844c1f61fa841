"""The score review (评分复核): reported vs recomputed for every scored row, totals and grades.

Rule ids this module emits, and why these (the check stage owns the rest; one defect, one id):

| id | when | severity | cell |
|---|---|---|---|
| WARN-12 (NAT-E2) | 执行率得分 ≠ min(执行率,100%) × 分值 | error if higher, warning if lower | 自评得分 of 年度资金总额 |
| WARN-06 | target unmet (or grade below 达成) but full marks | error | 自评得分 |
| NAT-Q2 / NAT-Q3 / NAT-Q4 | unmet ≥ / ≤ / = target scored above (error) or below (warning) the formula | | 自评得分 |
| WARN-07 (NAT-Q1) | target met but points deducted | warning | 自评得分 |
| WARN-16 (NAT-QL1 band) | qualitative score outside the band of the stated grade | error above, warning below | 自评得分 |
| NAT-QL1 | qualitative row whose 实际完成值 states no grade | warning | 自评得分 |
| WARN-08 (NAT-Q5) | B/A above 1 + threshold (default 30 %) | warning | 自评得分 |
| WARN-09 | target/actual unit missing or different | warning | the cell lacking the unit |
| WARN-10 | a year later than the evaluation year in target/actual | warning | that cell |
| NAT-G1 | recomputed grade differs from the reported one | info | 总分 自评得分 |
| WARN-15 | reported total ≥ 95 with over-scored or unverifiable rows (warning); every row full (info) | | 总分 自评得分 |

Deliberately *not* emitted, to avoid reporting one defect twice:
- NAT-D1 / the explanation requirement. A deduction with an empty 偏差原因 is the check stage's WARN-05
  (扣分无说明), and an unmet target without a deduction is WARN-06 here. Instead every warning above is
  marked `explained` (with the text) when 偏差原因分析及改进措施 is filled: the deduction is then accepted
  and the warning no longer counts for the exit code. Errors (over-scoring) stay errors.
- On an over-achieved row the national rule allows a deduction ("按照偏离度适度调减分值"), but only with a
  stated reason; so an unexplained deduction there is still WARN-07 (the score does not follow from the
  data) next to WARN-08 (the target looks set too low). One 偏差原因 text explains both.
- "无"/blank indicator rows and rows without 实际完成值 get recomputed 0 and verdict 多评, but the finding is
  the check stage's WARN-03/WARN-04; actual values copied from the target ("≥95%") get verdict 无法复核
  and the check stage's WARN-02; a target without a number ("≤万元") is its WARN-01; a score above 分值 on
  any scored row (indicator or 年度资金总额) is its NAT-S1. The review table still shows these verdicts.

When the pipeline passes the check stage's rule pack (`score_file_model(..., pack=pack)`), any of these
ids that the pack itself implements is left to the check stage (today WARN-09, WARN-10 and WARN-15 are
rules of the hunan-county-2023 pack), so the same id is never reported by both stages.

Verdicts (结论): 一致, 多评, 少评, 无法复核, 未自评. A qualitative row's recomputed value is a range; a row
that cannot be verified has the range [0, 分值]. The point estimate of the total (复核得分) takes each row's
exact recomputed value, or the reported score clamped into the row's range: "the reported score, corrected
wherever it can be shown wrong"; its range [lo, hi] is given beside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, Severity
from ..model import Annex2, Annex3, IndicatorRow, IndicatorTable, LabeledRow, Value, WorkbookModel
from ..safety import printable
from .indicator import (
    Note,
    Recomputed,
    number_text,
    number_text_uncached,
    recompute_execution,
    recompute_indicator,
)
from .rubric import ALL_INDICATORS, EXECUTION, Rubric

CONSISTENT, OVER, UNDER, UNVERIFIABLE, UNSCORED = "一致", "多评", "少评", "无法复核", "未自评"

TITLES = {
    "WARN-12": "执行率得分与公式不符",
    "WARN-06": "未达标满分",
    "WARN-07": "达标扣分",
    "WARN-08": "超额过多",
    "WARN-09": "单位不一致/缺失",
    "WARN-10": "时效指标跨年",
    "WARN-15": "得分普遍偏高",
    "WARN-16": "定性等级与得分不符",
    "NAT-Q2": "正向指标得分与公式不符",
    "NAT-Q3": "反向指标得分与公式不符",
    "NAT-Q4": "等值指标得分与公式不符",
    "NAT-QL1": "定性指标未写明完成等级",
    "NAT-G1": "复核等级与自评等级不同",
}

HEADERS = {  # rows() keys -> Chinese column titles (same keys as report.annotate.REVIEW_COLUMNS)
    "annex": "附件", "sheet": "工作表", "row": "行", "cell": "单元格", "level1": "一级指标", "indicator": "指标",
    "target": "年度指标值", "actual": "实际完成值", "weight": "分值", "reported": "填报得分", "recomputed": "复核得分",
    "diff": "差异", "verdict": "结论", "note": "说明",
}


@dataclass(slots=True)
class RowReview:
    annex: str  # 附件二 / 附件三
    sheet: str
    project: str | None
    row: int  # 1-based Excel row
    cell: str  # 自评得分 cell
    kind: str  # 执行率 / 定量 / 时效 / 定性 / 无指标 / 无实际值 / 照抄 / 无法复核
    level1: str
    indicator: str
    target: str
    actual: str
    weight: float | None
    reported: float | None
    lo: float | None
    hi: float | None
    verdict: str
    basis: str
    explanation: str = ""
    rules: list[str] = field(default_factory=list)  # finding ids raised on this row

    @property
    def recomputed(self) -> float | list[float] | None:
        if self.lo is None or self.hi is None:
            return None
        if abs(self.hi - self.lo) < 1e-9:
            return round(self.lo, 4)
        return [round(self.lo, 4), round(self.hi, 4)]

    @property
    def point(self) -> float:
        """This row's share of the 复核得分 point estimate."""
        if self.lo is None or self.hi is None:
            return self.reported or 0.0
        if self.reported is None:
            return self.lo
        return min(max(self.reported, self.lo), self.hi)

    @property
    def diff(self) -> float | None:
        """Reported minus recomputed; for a range, the distance outside it (0 inside)."""
        if self.reported is None or self.lo is None or self.hi is None or self.verdict == UNVERIFIABLE:
            return None
        if self.reported > self.hi:
            return round(self.reported - self.hi, 4)
        if self.reported < self.lo:
            return round(self.reported - self.lo, 4)
        return 0.0

    @property
    def recomputed_text(self) -> str:
        rc = self.recomputed
        if rc is None:
            return "—"
        if isinstance(rc, list):
            return f"{_disp(rc[0])}–{_disp(rc[1])}"
        return _disp(rc)

    def to_json(self) -> dict[str, Any]:
        return {"annex": self.annex, "sheet": self.sheet, "project": self.project, "row": self.row,
                "cell": self.cell, "kind": self.kind, "level1": self.level1, "indicator": self.indicator,
                "target": self.target, "actual": self.actual, "weight": self.weight, "reported": self.reported,
                "recomputed": self.recomputed, "diff": self.diff, "verdict": self.verdict, "basis": self.basis,
                "explanation": self.explanation or None, "rules": self.rules}


@dataclass(slots=True)
class TableReview:
    annex: str
    sheet: str
    project: str | None
    rows: list[RowReview] = field(default_factory=list)
    total_cell: str = ""
    stated_weight: float | None = None  # 总分 row, 分值 column
    stated_total: float | None = None  # 总分 row, 自评得分 column
    level1_weights: dict[str, float] = field(default_factory=dict)  # Σ 分值 per first-level indicator
    groups: list[dict[str, Any]] = field(default_factory=list)  # rubric weight groups: expected vs found
    grade_reported: str = ""
    grade_recomputed: str = ""
    grade_range: tuple[str, str] = ("", "")

    @property
    def weight_sum(self) -> float:
        return sum(r.weight or 0.0 for r in self.rows)

    @property
    def reported_sum(self) -> float:
        return _row_sums(self.rows)[0]

    @property
    def reported_total(self) -> float:
        return self.stated_total if self.stated_total is not None else self.reported_sum

    @property
    def recomputed_total(self) -> float:
        return round(_row_sums(self.rows)[1], 4)

    @property
    def recomputed_range(self) -> tuple[float, float]:
        sums = _row_sums(self.rows)
        return round(sums[2], 4), round(sums[3], 4)

    @property
    def name(self) -> str:
        return f"{self.annex} {self.project}" if self.project else self.annex

    def to_json(self) -> dict[str, Any]:
        lo, hi = self.recomputed_range
        return {
            "annex": self.annex, "sheet": self.sheet, "project": self.project,
            "rows": [r.to_json() for r in self.rows],
            "totals": {
                "cell": self.total_cell or None,
                "weight_sum": round(self.weight_sum, 4), "stated_weight": self.stated_weight,
                "level1_weights": self.level1_weights, "groups": self.groups,
                "reported_total": self.reported_total, "reported_sum": round(self.reported_sum, 4),
                "recomputed_total": self.recomputed_total, "recomputed_range": [lo, hi],
                "grade_reported": self.grade_reported, "grade_recomputed": self.grade_recomputed,
                "grade_range": list(self.grade_range),
                "verdicts": _count(r.verdict for r in self.rows),
            },
        }


def _count(items: Iterator[str] | Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


@dataclass(slots=True)
class ScoreReview:
    profile: str
    rubric_title: str
    tables: list[TableReview] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": "评分复核", "profile": self.profile, "rubric": self.rubric_title}
        h = self.headline
        if h is not None:  # the unit's score at the top level, for roll-ups and the workbook sheet
            totals = h.to_json()["totals"]
            out.update({"reported_total": totals["reported_total"], "recomputed_total": totals["recomputed_total"],
                        "reported_grade": totals["grade_reported"], "recomputed_grade": totals["grade_recomputed"],
                        "recomputed_range": totals["recomputed_range"], "totals": totals})
        out["tables"] = [t.to_json() for t in self.tables]
        return out

    @property
    def headline(self) -> TableReview | None:
        """The table whose total is the unit's self-evaluation score: 附件二, else the first 附件三."""
        return next((t for t in self.tables if t.annex == "附件二"), self.tables[0] if self.tables else None)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Plain dicts (keys of HEADERS), one per reviewed row, then one 合计 row per table."""
        for t in self.tables:
            annex = t.name
            for r in t.rows:
                rc = r.recomputed
                note = r.basis + (f"（{'、'.join(r.rules)}）" if r.rules else "")
                if r.explanation:
                    note += f"；偏差原因：{r.explanation}"
                yield {"annex": annex, "sheet": r.sheet, "row": r.row, "cell": r.cell, "level1": r.level1,
                       "indicator": r.indicator, "target": r.target, "actual": r.actual, "weight": r.weight,
                       "reported": r.reported,
                       "recomputed": round(rc, 2) if isinstance(rc, float) else r.recomputed_text,
                       "diff": r.diff, "verdict": r.verdict, "note": note}
            lo, hi = t.recomputed_range
            yield {"annex": annex, "sheet": t.sheet, "row": None, "cell": t.total_cell, "level1": "",
                   "indicator": "合计", "target": "", "actual": "", "weight": round(t.weight_sum, 4),
                   "reported": t.reported_total, "recomputed": round(t.recomputed_total, 2),
                   "diff": round(t.reported_total - t.recomputed_total, 2),
                   "verdict": f"自评 {t.grade_reported} / 复核 {t.grade_recomputed}",
                   "note": f"复核区间 {_disp(lo)}–{_disp(hi)}（{t.grade_range[0]}–{t.grade_range[1]}）；"
                           "无法复核的行暂按自评计入复核得分"}

    def rich_table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        style = {CONSISTENT: "green", OVER: "bold red", UNDER: "yellow", UNVERIFIABLE: "magenta", UNSCORED: "dim"}
        table = Table(title="评分复核", caption=f"评分规则：{self.rubric_title}", show_lines=False)
        for name, justify in (("行", "right"), ("指标", "left"), ("目标值", "left"), ("实际值", "left"),
                              ("分值", "right"), ("自评", "right"), ("复核", "right"), ("结论", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for t in self.tables:
            table.add_row("", Text(printable(t.name), style="bold"), "", "", "", "", "", "")
            for r in t.rows:
                # cell text goes through printable(): no escape sequences from a workbook reach the terminal
                table.add_row(str(r.row), Text(printable(r.indicator)), Text(printable(r.target)),
                              Text(printable(r.actual)), _opt(r.weight), _opt(r.reported),
                              r.recomputed_text, Text(r.verdict, style=style.get(r.verdict, "")))
            lo, hi = t.recomputed_range
            table.add_row("", Text("合计", style="bold"), "", f"复核区间 {_disp(lo)}–{_disp(hi)}",
                          number_text(t.weight_sum), f"{number_text(t.reported_total)}（{t.grade_reported}）",
                          f"{_disp(t.recomputed_total)}（{t.grade_recomputed}）",
                          Text("等级不同" if t.grade_reported != t.grade_recomputed else "等级一致",
                               style="bold"), end_section=True)
        return table


def _disp(x: float) -> str:
    """Display form: at most two decimals (JSON keeps four)."""
    return number_text(round(x, 2))


def _opt(x: float | None) -> str:
    return "" if x is None else number_text(x)


# --- scoring ----------------------------------------------------------------------------------------


def score_model(model: WorkbookModel, rubric: Rubric | None = None) -> tuple[ScoreReview, list[Finding]]:
    """Recompute every score of 附件二 and each 附件三 and judge the self-evaluation."""
    rubric = rubric or Rubric()
    review = ScoreReview(profile=rubric.profile, rubric_title=rubric.title)
    findings: list[Finding] = []
    year = model.year
    tables: list[tuple[str, Annex2 | Annex3, LabeledRow | None, str | None]] = []
    if model.annex2 is not None:
        tables.append(("附件二", model.annex2, model.annex2.funds, None))
    for a3 in model.annex3:
        tables.append(("附件三", a3, a3.fund("年度资金总额"), a3.project_name.text or None))
    for annex, ann, funds, project in tables:
        t = _Table(annex, ann.sheet, project, rubric, ann.year or year)
        review.tables.append(t.run(funds, ann.indicators))
        findings.extend(t.findings)
    return review, findings


class _Table:
    def __init__(self, annex: str, sheet: str, project: str | None, rubric: Rubric, year: int | None) -> None:
        self.annex, self.sheet, self.project, self.rubric, self.year = annex, sheet, project, rubric, year
        self.findings: list[Finding] = []
        self.review = TableReview(annex=annex, sheet=sheet, project=project)
        self._itol, self._stol = rubric.integer_tolerance, rubric.score_tolerance
        self._over = 1 + rubric.over_achievement + 1e-9  # B/A above this is over-achieved (WARN-08)
        self._memo = _memo(rubric, year)

    # -- helpers --

    def _finding(self, rule: str, severity: Severity, cell: str, message: str, row: RowReview | None = None,
                 *, cells: list[str] | None = None, expected: str | None = None, actual: str | None = None,
                 diff: str | None = None, explanation: str = "") -> None:
        explained = bool(explanation) and severity is Severity.WARNING
        # positional, in Finding's field order (keywords cost twice as much; a workbook has several)
        self.findings.append(Finding(
            rule, severity, self.annex, self.sheet, cell, message, TITLES.get(rule, ""), cells or [], expected,
            actual, diff, None, self.project, explained, explanation if explained else ""))
        if row is not None and rule not in row.rules:
            row.rules.append(rule)

    def _tol(self, v: Value) -> float:
        # Integer-written scores are accepted within rounding to the integer (catalogue §0).
        return self._itol if (v.decimals or 0) == 0 else self._stol

    # -- rows --

    def run(self, funds: LabeledRow | None, ind: IndicatorTable) -> TableReview:
        rv = self.review
        if funds is not None and (funds.get("自评得分").filled or funds.get("分值").filled):
            self._execution(funds)
        sums: dict[str, float] = {}  # Σ 分值 per first-level indicator, over every row (for _totals)
        indicator = self._indicator
        for r in ind.rows:
            weight = r.weight
            w = weight.number
            if w is not None:
                key = r.level1_name or "（未标明）"
                sums[key] = sums.get(key, 0.0) + w
            if weight.blank and r.score.blank and _blank_text(r.level3) and r.target.blank and r.actual.blank:
                continue  # an empty template row
            indicator(r)
        rv.total_cell = ind.total_score.cell
        rv.stated_weight, rv.stated_total = ind.total_weight.number, ind.total_score.number
        self._totals(sums)
        return rv

    def _base(self, kind: str, row: int, cell: str, level1: str, indicator: str, target: str, actual: str,
              weight: float | None, score: Value, rec: Recomputed, explanation: str) -> RowReview:
        reported = score.number
        if reported is None:
            verdict = UNSCORED
        elif rec.lo is None or rec.hi is None or not rec.verifiable:
            verdict = UNVERIFIABLE
        else:
            tol = self._tol(score)
            verdict = OVER if reported > rec.hi + tol else UNDER if reported < rec.lo - tol else CONSISTENT
        # positional, in field order: a row is built for every indicator of every workbook
        return RowReview(self.annex, self.sheet, self.project, row, cell, kind, level1, indicator, target, actual,
                         weight, reported, rec.lo, rec.hi, verdict, rec.basis, explanation)

    def _execution(self, funds: LabeledRow) -> None:
        rec = recompute_execution(funds, self.rubric)
        get = funds.get
        score, budget, spent, stated, w = get("自评得分"), get("全年预算数"), get("全年执行数"), get("执行率"), get("分值")
        row = self._base("执行率", funds.row, score.cell, "预算执行率", "预算执行率",
                         f"全年预算数 {budget.text}" if budget.text else "",
                         f"全年执行数 {spent.text}" if spent.text else stated.text,
                         w.number if w.number is not None else self.rubric.execution_weight,
                         score, rec, "")
        self.review.rows.append(row)
        above_weight = (row.reported is not None and row.weight is not None
                        and row.reported > row.weight + self._tol(score))
        if row.verdict in (OVER, UNDER) and rec.lo is not None and row.reported is not None and not above_weight:
            over = row.verdict == OVER
            diff = row.reported - rec.lo
            self._finding(
                "WARN-12", Severity.ERROR if over else Severity.WARNING, score.cell,
                f"{rec.basis}；自评 {number_text(row.reported)} 分，{'多评' if over else '少评'} {number_text(round(abs(diff), 4))} 分"
                + ("：执行率得分不得超过公式得分" if over else "：低于公式得分，如有扣分理由请在自评报告中说明"),
                row, cells=[c for c in (budget.cell, spent.cell, stated.cell) if c],
                expected=number_text(round(rec.lo, 4)), actual=number_text(row.reported), diff=number_text(round(diff, 4)))

    def _indicator(self, r: IndicatorRow) -> None:
        rec = _recompute(r, self.rubric, self.year, self._memo)
        ex = r.explanation
        explanation = "" if (ex.blank or ex.na) else ex.text
        name = r.level3.text
        name = _label(name) if "\n" in name else name.strip()
        if r.level3.na:  # "无": show which 二级指标 it stands for
            name = f"{name}（{_label(r.level2.text)}）"
        elif not name:
            name = _label(r.level2.text) or "（未填写指标）"
        # `_base`, inlined: this runs for every indicator row of every workbook
        score, lo, hi = r.score, rec.lo, rec.hi
        reported, weight = score.number, r.weight.number
        if reported is None:
            verdict = UNSCORED
        elif lo is None or hi is None or not rec.verifiable:
            verdict = UNVERIFIABLE
        else:
            tol = self._itol if (score.decimals or 0) == 0 else self._stol
            verdict = OVER if reported > hi + tol else UNDER if reported < lo - tol else CONSISTENT
        row = RowReview(self.annex, self.sheet, self.project, r.row, score.cell, rec.kind, r.level1_name, name,
                        r.target.text, r.actual.text, weight, reported, lo, hi, verdict, rec.basis, explanation)
        self.review.rows.append(row)
        for n in rec.notes:
            self._note(n, row, explanation)
        if verdict == CONSISTENT and rec.met is not False and (rec.ratio is None or not rec.ratio > self._over):
            return  # the usual row: _judge has nothing to say
        if verdict != UNSCORED and verdict != UNVERIFIABLE and weight is not None and rec.kind in _JUDGED:
            self._judge(r, rec, row, explanation)

    def _note(self, n: Note, row: RowReview, explanation: str) -> None:
        # a copy: the note belongs to a shared recomputation (`_recompute`), the finding to this row
        self._finding(n.rule, n.severity, n.cell, n.message, row, cells=list(n.cells), explanation=explanation)

    def _judge(self, r: IndicatorRow, rec: Recomputed, row: RowReview, explanation: str) -> None:
        if row.reported is None or rec.lo is None or rec.hi is None or row.weight is None:
            return
        if rec.kind not in ("定量", "时效", "定性") or not rec.verifiable:
            return  # 无指标 / 无实际值 / 照抄 / 无法复核: verdict only (the check stage reports the defect)
        w, s, cell = row.weight, row.reported, r.score.cell
        over_achieved = rec.ratio is not None and rec.ratio > self._over
        tol = self._itol if (r.score.decimals or 0) == 0 else self._stol  # _tol
        if s > w + tol:
            pass  # above 分值: the check stage's NAT-S1
        elif rec.met is False and s >= w - 1e-9 and rec.hi < w - self.rubric.score_tolerance:
            what = f"定性等级为“{rec.grade}”" if rec.kind == "定性" else "未达到年度指标值"
            rng = _range_text(rec)
            self._finding("WARN-06", Severity.ERROR, cell,
                          f"{_quoted(row)}{what}（{rec.basis}），自评却记满分 {number_text(w)} 分；按评分办法应得 {rng} 分",
                          row, cells=_cells(r), expected=rng, actual=number_text(s), diff=number_text(round(s - rec.hi, 4)))
        elif row.verdict == OVER:
            rule = "WARN-16" if rec.kind == "定性" else rec.rule
            self._finding(rule, Severity.ERROR, cell,
                          f"{_quoted(row)}{rec.basis}；自评 {number_text(s)} 分，多评 {number_text(round(s - rec.hi, 4))} 分",
                          row, cells=_cells(r), expected=_range_text(rec), actual=number_text(s),
                          diff=number_text(round(s - rec.hi, 4)))
        elif row.verdict == UNDER:  # the usual finding (NAT-Q2 on random data): built with few calls
            diff = number_text_uncached(round(s - rec.lo, 4))
            name, why, s_text = f"“{row.indicator}”", _why(explanation), number_text(s)  # _quoted(row)
            if rec.kind == "定性":
                rule, msg = "WARN-16", f"{name}{rec.basis}；自评 {s_text} 分，低于该等级的分数区间；{why}"
            elif rec.met:
                hint = "（超额完成，若因年初指标值偏低而按偏离度调减，须写明理由）" if over_achieved else ""
                rule, msg = "WARN-07", (f"{name}{rec.basis}，自评 {s_text} 分，达标却扣 {number_text(round(w - s, 4))} 分"
                                        f"{hint}；{why}")
            else:
                rule, msg = rec.rule, f"{name}{rec.basis}；自评 {s_text} 分，低于公式得分；{why}"
            self._finding(rule, Severity.WARNING, cell, msg, row, cells=[r.target.cell, r.actual.cell],
                          expected=_range_text(rec), actual=s_text, diff=diff, explanation=explanation)
        if over_achieved and rec.ratio is not None:
            ded = f"；自评扣 {number_text(round(w - s, 4))} 分" if s < w - tol else ""
            self._finding(
                "WARN-08", Severity.WARNING, cell,
                f"{_quoted(row)}实际完成值“{r.actual.text}”是年度指标值“{r.target.text}”的 {rec.ratio:.2f} 倍，"
                f"超额 {(rec.ratio - 1) * 100:.0f}%（阈值 {self.rubric.over_achievement * 100:.0f}%）{ded}；"
                f"需分析超额原因（年初指标值是否设定偏低）：{_why(explanation)}",
                row, cells=_cells(r), expected=f"≤ {1 + self.rubric.over_achievement:.2f} 倍",
                actual=f"{rec.ratio:.2f} 倍", explanation=explanation)

    # -- totals --

    def _totals(self, sums: dict[str, float]) -> None:
        rv, rub = self.review, self.rubric
        rv.level1_weights = {k: round(v, 4) for k, v in sums.items()}
        rows = rv.rows
        exec_w = rows[0].weight if rows and rows[0].kind == "执行率" else None  # only _execution's row, first
        groups = rv.groups = [{"group": EXECUTION, "expected": rub.execution_weight, "found": exec_w}]
        values = list(sums.values())
        for label, pts, picked in _group_keys(rub, tuple(sums)):
            groups.append({"group": label, "expected": pts, "found": round(sum([values[i] for i in picked]), 4)})
        reported_sum, point, lo_sum, hi_sum, unverifiable, flagged, scored, all_full = _row_sums(rows)
        reported = rv.stated_total if rv.stated_total is not None else reported_sum
        recomputed, lo, hi = round(point, 4), round(lo_sum, 4), round(hi_sum, 4)
        grade = rub.grade
        rv.grade_reported, rv.grade_recomputed = grade(reported), grade(recomputed)
        rv.grade_range = (grade(lo), grade(hi))
        cell = rv.total_cell or (rows[-1].cell if rows else "")
        if rub.grading and rows and rv.grade_reported != rv.grade_recomputed:
            extra = f"，其中 {unverifiable} 行无法复核、暂按自评计" if unverifiable else ""
            self._finding(
                "NAT-G1", Severity.INFO, cell,
                f"{rv.name}自评总分 {number_text(reported)} 分（{rv.grade_reported}），按评分办法复核为 "
                f"{_disp(recomputed)} 分（{rv.grade_recomputed}）{extra}；可能区间 {_disp(lo)}–{_disp(hi)} 分",
                expected=f"{_disp(recomputed)}（{rv.grade_recomputed}）",
                actual=f"{number_text(reported)}（{rv.grade_reported}）",
                diff=_disp(reported - recomputed))
        if reported >= rub.high_total - 1e-9 and flagged:
            self._finding(
                "WARN-15", Severity.WARNING, cell,
                f"{rv.name}自评总分 {number_text(reported)} 分（≥ {number_text(rub.high_total)}），但有 {len(flagged)} 行"
                f"多评或无法复核（第 {'、'.join(str(r.row) for r in flagged)} 行）；请核实得分是否偏高",
                cells=[r.cell for r in flagged])
        elif scored >= 3 and all_full:
            self._finding("WARN-15", Severity.INFO, cell,
                          f"{rv.name}所有指标均为满分（总分 {number_text(reported)} 分）；请确认自评实事求是")


def _row_sums(rows: list[RowReview]) -> tuple[float, float, float, float, int, list[RowReview], int, bool]:
    """What `_totals` needs of the rows, in one pass: Σ reported, Σ point (RowReview.point), Σ lo,
    Σ hi (the one definition of TableReview's sums; in row order from 0, as `sum()` adds), the number of
    无法复核 rows, the 多评/无法复核 rows, the number of scored rows and whether all of them are full."""
    reported_sum: float = 0
    point: float = 0
    lo_sum: float = 0
    hi_sum: float = 0
    unverifiable = scored = 0
    flagged: list[RowReview] = []
    all_full = True
    for r in rows:
        s, lo, hi = r.reported, r.lo, r.hi
        s0 = s or 0.0
        reported_sum += s0
        if lo is None or hi is None:  # RowReview.point
            point += s0
            lo_sum += lo if lo is not None else s0
            hi_sum += hi if hi is not None else s0
        else:
            if s is None:
                point += lo
            else:  # min(max(s, lo), hi), spelled out (builtin calls cost more than compares)
                m = lo if lo > s else s
                point += hi if hi < m else m
            lo_sum += lo
            hi_sum += hi
        verdict = r.verdict
        if verdict == UNVERIFIABLE:
            unverifiable += 1
            flagged.append(r)
        elif verdict == OVER:
            flagged.append(r)
        if s is not None and r.weight:
            scored += 1
            if all_full and not abs(s - (r.weight or 0)) < 1e-9:
                all_full = False
    return reported_sum, point, lo_sum, hi_sum, unverifiable, flagged, scored, all_full


_JUDGED = frozenset(("定量", "时效", "定性"))  # kinds _judge looks at (the rest: verdict only)

_GROUPS: dict[int, tuple[Rubric, list[tuple[str, tuple[str, ...], float]]]] = {}


def _weight_groups(rub: Rubric) -> list[tuple[str, tuple[str, ...], float]]:
    """`Rubric.weight_groups`, worked out once per rubric."""
    hit = _GROUPS.get(id(rub))
    if hit is None or hit[0] is not rub:
        if len(_GROUPS) > 64:
            _GROUPS.clear()
        hit = _GROUPS[id(rub)] = (rub, rub.weight_groups())
    return hit[1]


_GROUP_KEYS: dict[tuple[int, tuple[str, ...]], tuple[Rubric, list[tuple[str, float, list[int]]]]] = {}


def _group_keys(rub: Rubric, keys: tuple[str, ...]) -> list[tuple[str, float, list[int]]]:
    """Per weight group (label, points, positions of the first-level names in `keys` it covers);
    keyed by those labels, which recur across a batch."""
    hit = _GROUP_KEYS.get((id(rub), keys))
    if hit is not None and hit[0] is rub:
        return hit[1]
    out = [(label, pts, [i for i, k in enumerate(keys) if names == ALL_INDICATORS or any(n in k for n in names)])
           for label, names, pts in _weight_groups(rub)]
    if len(_GROUP_KEYS) >= 256:
        _GROUP_KEYS.clear()
    _GROUP_KEYS[(id(rub), keys)] = (rub, out)
    return out


_MEMOS: dict[tuple[int, int | None], tuple[Rubric, dict[tuple[Any, ...], Recomputed]]] = {}


def _memo(rubric: Rubric, year: int | None) -> dict[tuple[Any, ...], Recomputed]:
    """The `_recompute` memo of one rubric and evaluation year, looked up once per table."""
    hit = _MEMOS.get((id(rubric), year))
    if hit is not None and hit[0] is rubric:  # the rubric is kept alive by the entry: its id is not reused
        return hit[1]
    if len(_MEMOS) >= 4:  # memory stays bounded (4 × 8192 entries) whatever years a batch mixes
        _MEMOS.clear()
    memo: dict[tuple[Any, ...], Recomputed] = {}
    _MEMOS[(id(rubric), year)] = (rubric, memo)
    return memo


def _recompute(r: IndicatorRow, rubric: Rubric, year: int | None, memo: dict[tuple[Any, ...], Recomputed]
               ) -> Recomputed:
    """`recompute_indicator`, remembered (in `memo`, see `_memo`) by everything else it reads: targets,
    actuals and their cells recur across the units of a batch. The result is shared, so it is only
    ever read."""
    t, a = r.target, r.actual
    w, tn, an = r.weight.number, t.number, a.number
    if not (w and tn and an):  # a zero: -0.0 apart from 0.0 (they are written differently), see _fk
        if w is not None and not w:
            w = _fk(w)
        if tn is not None and not tn:
            tn = _fk(tn)
        if an is not None and not an:
            an = _fk(an)
    key = (w, r.level3.na, r.level3.text, r.level2.text, r.score.cell,
           t.blank, t.na, tn, t.op, t.unit, t.text, t.cell,
           a.blank, a.na, an, a.op, a.unit, a.text, a.cell, isinstance(a.raw, str))
    rec = memo.get(key)
    if rec is None:
        rec = recompute_indicator(r, rubric, year)
        if len(memo) >= 8192:
            memo.clear()
        memo[key] = rec
    return rec


def _fk(x: float | None) -> Any:
    """A number as a key: -0.0 apart from 0.0 (they are written differently)."""
    return x if x or x is None else (x, repr(x))


_BREAK = re.compile(r"\s*\n\s*")


def _label(text: str) -> str:
    return _BREAK.sub("", text).strip() if "\n" in text else text.strip()


# Pieces of _judge's messages, built only for a row that gets a finding (most rows get none).


def _quoted(row: RowReview) -> str:
    return f"“{row.indicator}”"


def _why(explanation: str) -> str:
    return f"偏差原因：{explanation}" if explanation else "未填写偏差原因分析及改进措施"


def _cells(r: IndicatorRow) -> list[str]:
    return [r.target.cell, r.actual.cell]


def _blank_text(v: Value) -> bool:
    return v.blank or v.na or not v.text.strip()


def _range_text(rec: Recomputed) -> str:
    if rec.lo is None or rec.hi is None:
        return "—"
    if rec.exact:
        return number_text_uncached(round(rec.lo, 4))
    return f"{number_text_uncached(round(rec.lo, 4))}–{number_text_uncached(round(rec.hi, 4))}"
