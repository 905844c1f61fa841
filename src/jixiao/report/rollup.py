"""The batch roll-up: one row per workbook, hits per rule, grade distribution.

Written as 汇总.xlsx (sheets 汇总 / 按规则 / 统计 with bar charts), 汇总.csv (UTF-8 with BOM so
Excel opens it) and 汇总.json, all atomically. Rows are compact `Summary` records made in the
worker from a `FileResult`: models and findings never travel back to the parent, which keeps
pickling cheap and the parent's memory flat over a 10,000-file batch.

The counts are those of the single-file report: 提示数 is the warnings not yet explained, the
explained ones are 已说明提示数. A file that could not be checked has no counts (blank cells,
null in JSON), so it never sorts with the clean files; its 状态 is 无法检查 and the reason is
in 备注. Counts over the batch are of files: a unit that submitted two files is two rows, each
noted in 备注.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as xml_escape

from ..atomic import write_atomic
from ..errors import EXIT_CLEAN, EXIT_ERRORS, EXIT_UNCHECKABLE, EXIT_WARNINGS, OutputError, output_error
from ..findings import Severity

if TYPE_CHECKING:  # the model's modules are heavy to import; `--help` should not pay for them
    from ..result import FileResult

ROLLUP_STEM = "汇总"
_RANK = {s.value: s.rank for s in Severity}  # plain dicts: Severity(...) costs ~1 µs a call
_LABEL = {s.value: s.label for s in Severity}
STATUS = {EXIT_CLEAN: "通过", EXIT_WARNINGS: "有提示", EXIT_ERRORS: "有错误", EXIT_UNCHECKABLE: "无法检查"}
GRADES = ("优", "良", "中", "差")
COLUMNS = ("单位", "文件", "自评总分", "复核总分", "等级", "错误数（强制）", "提示数", "信息数", "已说明提示数", "状态",
           "备注")
_STATUS_COLUMN = COLUMNS.index("状态")  # the cell coloured by status
_LETTERS = "ABCDEFGHIJK"  # one per column
_COUNT_FIELDS = ("errors", "warnings", "infos", "explained")  # none for a file that could not be checked
RULE_COLUMNS = ("规则", "规则名称", "严重程度", "涉及文件数", "命中次数")
# Score bins for the distribution chart: [lo, hi) except the last, which includes 100.
SCORE_BINS = ((0, 60, "60分以下"), (60, 70, "60–70"), (70, 80, "70–80"), (80, 90, "80–90"), (90, 100.0001, "90–100"))


@dataclass(slots=True)
class Summary:
    """What the roll-up keeps of one checked file."""

    file: str  # path relative to the batch root (shown as 文件)
    unit: str = ""  # 单位
    unit_from_file: bool = False  # checked, but no unit name in the workbook: `unit` is the file's stem
    self_total: float | None = None  # 自评总分 (附件二 总分 as reported)
    review_total: float | None = None  # 复核总分 (recomputed)
    grade: str = ""  # grade of the recomputed total (or of the reported one when not scored)
    errors: int = 0
    warnings: int = 0  # not explained (as the single-file report counts them)
    infos: int = 0
    explained: int = 0  # warnings that carry an explanation
    exit_code: int = EXIT_CLEAN
    failure_code: str | None = None
    failure_message: str | None = None
    rules: list[tuple[str, str, str, int]] = field(default_factory=list)  # (id, title, severity, hits)
    outputs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sha256: str | None = None  # content hash, used by the drop folder's state
    notes: list[str] = field(default_factory=list)  # e.g. the annotated copy could not be written

    @property
    def failed(self) -> bool:
        """Could not be checked: no counts, and the reason is `failure_message`."""
        return self.exit_code == EXIT_UNCHECKABLE

    @property
    def status(self) -> str:
        """One of a fixed set (a filter in Excel offers four values, not one per reason)."""
        return STATUS.get(self.exit_code, "无法检查")

    def to_json(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in self.__dataclass_fields__}  # asdict is ~10x slower
        d["rules"] = [list(r) for r in self.rules]
        d["outputs"], d["notes"] = list(self.outputs), list(self.notes)
        if self.failed:
            d.update(dict.fromkeys(_COUNT_FIELDS))
        if not self.unit_from_file:  # the usual row stays as it was
            del d["unit_from_file"]
        d["status"] = self.status
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Summary:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__
                 and not (v is None and k in _COUNT_FIELDS)}
        known["rules"] = [tuple(r) for r in d.get("rules", [])]
        return cls(**known)


def summarize(result: FileResult, file: str, *, seconds: float = 0.0) -> Summary:
    """Reduce a FileResult to its roll-up row (runs in the worker)."""
    s = Summary(file=file, exit_code=result.exit_code, seconds=round(seconds, 4),
                failure_code=result.failure_code, failure_message=result.failure_message,
                outputs=list(result.outputs))
    name = unit_name(result)
    s.unit = name or Path(file).stem
    s.unit_from_file = result.checked and not name
    if not result.checked:
        return s
    s.errors = result.count(Severity.ERROR)
    s.warnings = result.count(Severity.WARNING, explained=False)
    s.infos = result.count(Severity.INFO)
    s.explained = result.count(Severity.WARNING, explained=True)
    hits: dict[str, list[Any]] = {}
    for f in result.findings:
        h = hits.get(f.rule)
        if h is None:
            hits[f.rule] = [f.rule, f.title, f.severity.value, 1]
        else:
            h[3] += 1
            if f.severity.rank > _RANK[h[2]]:  # a rule may yield several severities
                h[2] = f.severity.value
    s.rules = [tuple(h) for h in hits.values()]  # type: ignore[misc]
    s.self_total, s.review_total, s.grade = _totals(result)
    return s


def unit_name(result: FileResult) -> str:
    m = result.model
    return (m.unit_name or "").strip() if m is not None else ""


def grade_of(total: float | None) -> str:
    if total is None:
        return ""
    return "优" if total >= 90 else "良" if total >= 80 else "中" if total >= 60 else "差"


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x) if math.isfinite(x) else None
    return None


def _totals(result: FileResult) -> tuple[float | None, float | None, str]:
    """自评总分, 复核总分, 等级 from the score review, or from the model when scoring did not run."""
    m = result.model
    if m is not None and m.annex1 is not None and m.annex2 is None:
        # an incomplete unit report (STRUCT-ANNEX): the review's headline would be a project's 附件三
        return None, None, ""
    reported = recomputed = None
    grade = ""
    review = result.review
    headline = getattr(review, "headline", None) if review is not None else None
    if headline is not None:  # score.ScoreReview: the unit's table (附件二, else the first 附件三)
        reported = _num(getattr(headline, "reported_total", None))
        recomputed = _num(getattr(headline, "recomputed_total", None))
        grade = str(getattr(headline, "grade_recomputed", "") or "")
    elif review is not None and callable(getattr(review, "to_json", None)):
        try:
            d = review.to_json() or {}
        except Exception:  # a broken review must not sink the roll-up row
            d = {}
        reported = _num(d.get("reported_total"))
        recomputed = _num(d.get("recomputed_total"))
        grade = str(d.get("recomputed_grade") or "")
    if reported is None and result.model is not None and result.model.annex2 is not None:
        reported = _num(result.model.annex2.indicators.total_score.number)
    if not grade:
        grade = grade_of(recomputed)
    return reported, recomputed, grade


# ----------------------------------------------------------------------------------------------
# Accumulating rows
# ----------------------------------------------------------------------------------------------


class Rollup:
    """Rows arrive in any order (from a pool); written sorted by file."""

    def __init__(self) -> None:
        self.rows: dict[str, Summary] = {}

    def add(self, s: Summary) -> None:
        # Rule ids and titles repeat across thousands of rows: share one copy of each string,
        # so the parent's memory grows by little more than the row itself.
        s.rules = [(sys.intern(r), sys.intern(t), sys.intern(v), n) for r, t, v, n in s.rules]
        s.grade = sys.intern(s.grade)
        self.rows[s.file] = s  # the drop folder re-checks a changed file: the newest row wins

    def remove(self, file: str) -> None:
        self.rows.pop(file, None)

    def __len__(self) -> int:
        return len(self.rows)

    def sorted_rows(self) -> list[Summary]:
        return [self.rows[k] for k in sorted(self.rows)]

    @property
    def exit_code(self) -> int:
        return max((s.exit_code for s in self.rows.values()), default=EXIT_CLEAN)

    def counts(self) -> dict[str, int]:
        out = {v: 0 for v in STATUS.values()}
        for s in self.rows.values():
            out[STATUS.get(s.exit_code, "无法检查")] += 1
        return out

    def same_unit(self) -> dict[str, list[str]]:
        """Unit name -> its files, for the units that more than one checked file names (a unit
        that submitted twice). A file that could not be checked has no unit name, only its stem."""
        files: dict[str, list[str]] = {}
        for s in self.rows.values():
            if not s.failed and s.unit and not s.unit_from_file:  # a stem is no unit's name
                files.setdefault(_unit_key(s.unit), []).append(s.file)
        return {unit: sorted(fs) for unit, fs in files.items() if len(fs) > 1}

    def by_rule(self) -> list[tuple[str, str, str, int, int]]:
        """(id, title, severity label, files hit, total hits), most widespread first."""
        agg: dict[str, list[Any]] = {}
        for s in self.rows.values():
            for rule, title, sev, hits in s.rules:
                a = agg.get(rule)
                if a is None:
                    agg[rule] = [rule, title, sev, 1, hits]
                    continue
                a[3] += 1
                a[4] += hits
                if not a[1] and title:
                    a[1] = title
                if _RANK.get(sev, 0) > _RANK.get(a[2], 0):
                    a[2] = sev
        rows = [(r, t, _LABEL.get(sev, sev), units, hits) for r, t, sev, units, hits in agg.values()]
        rows.sort(key=lambda x: (-x[3], -x[4], x[0]))
        return rows

    def grade_counts(self) -> dict[str, int]:
        out = dict.fromkeys((*GRADES, "未评级"), 0)
        for s in self.rows.values():
            if s.exit_code == EXIT_UNCHECKABLE:
                continue
            out[s.grade if s.grade in out else "未评级"] += 1
        return out

    def score_bins(self) -> list[tuple[str, int]]:
        counts = [0] * len(SCORE_BINS)
        for s in self.rows.values():
            if s.review_total is None:
                continue
            for i, (lo, hi, _) in enumerate(SCORE_BINS):
                if lo <= s.review_total < hi:
                    counts[i] += 1
                    break
        return [(label, n) for (_, _, label), n in zip(SCORE_BINS, counts, strict=True)]

    # ------------------------------------------------------------------------------------------
    def to_json(self, *, files: bool = True) -> dict[str, Any]:
        same = self.same_unit() if files else {}  # only the rows need it
        return {
            **({"files": [_file_json(s, same) for s in self.sorted_rows()]} if files else {}),
            "rules": [dict(zip(("rule", "title", "severity", "files", "hits"), r, strict=True))
                      for r in self.by_rule()],
            "status_counts": self.counts(),
            "grade_counts": self.grade_counts(),
            "exit_code": self.exit_code,
        }

    def write(self, out_dir: str | Path, problems: list[str] | None = None) -> list[Path]:
        """Write 汇总.xlsx, 汇总.csv and 汇总.json into `out_dir`; return the paths written.

        With `problems`, one that cannot be written (汇总.xlsx open in Excel on Windows, a full
        disk) is told there in Chinese and the others are still written; without, `OutputError`."""
        out = Path(out_dir)
        rows = self.sorted_rows()
        same = self.same_unit()
        writers: list[tuple[Path, Callable[[Path], None]]] = [
            (out / f"{ROLLUP_STEM}.xlsx", lambda p: self._write_xlsx(p, rows, same)),
            (out / f"{ROLLUP_STEM}.csv", lambda p: p.write_bytes(self.csv_bytes(rows, same))),
            (out / f"{ROLLUP_STEM}.json", lambda p: self._write_json(p, rows, same)),
        ]
        paths = []
        for target, write in writers:
            try:
                paths.append(write_atomic(target, write))
            except (OutputError, OSError) as exc:  # OSError: openpyxl's own temporary files
                err = exc if isinstance(exc, OutputError) else output_error(target, exc)
                if problems is None:
                    raise err from exc
                problems.append(f"汇总未能写入：{err.message}")
        return paths

    def _write_json(self, path: Path, rows: list[Summary], same: dict[str, list[str]]) -> None:
        """The same document as `to_json`, written row by row (no 10,000-row dict in memory)."""
        d = self.to_json(files=False)
        with open(path, "w", encoding="utf-8") as f:
            f.write('{"files": [')
            for i, s in enumerate(rows):
                f.write(",\n " if i else "\n ")
                f.write(json.dumps(_file_json(s, same), ensure_ascii=False))
            f.write("\n]")
            for k, v in d.items():
                f.write(f",\n {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}")
            f.write("\n}\n")

    # ------------------------------------------------------------------------------------------
    def csv_bytes(self, rows: list[Summary] | None = None, same: dict[str, list[str]] | None = None) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(COLUMNS)
        same = self.same_unit() if same is None else same
        for s in rows if rows is not None else self.sorted_rows():
            w.writerow([csv_safe(v) for v in _row_values(s, same)])
        return buf.getvalue().encode("utf-8-sig")  # BOM: Excel then reads UTF-8, not GBK

    def _write_xlsx(self, path: Path, rows: list[Summary], same: dict[str, list[str]]) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font, PatternFill

        # write_only streams rows to disk: 10,000 units stay cheap in time and memory.
        wb = Workbook(write_only=True)
        bold = Font(bold=True)
        head_fill = PatternFill("solid", fgColor="DDEBF7")
        status_fill = {
            EXIT_CLEAN: PatternFill("solid", fgColor="E2EFDA"),
            EXIT_WARNINGS: PatternFill("solid", fgColor="FFF2CC"),
            EXIT_ERRORS: PatternFill("solid", fgColor="F8CBAD"),
            EXIT_UNCHECKABLE: PatternFill("solid", fgColor="D9D9D9"),
        }

        def cell(ws: Any, value: Any, *, header: bool = False, fill: Any = None) -> Any:
            c = WriteOnlyCell(ws, value=value)
            if isinstance(value, str):
                c.data_type = "s"  # a unit named "=HYPERLINK(...)" stays text, never a formula
            if header:
                c.font, c.fill = bold, head_fill
            elif fill is not None:
                c.fill = fill
            return c

        ws = wb.create_sheet("汇总")
        ws.freeze_panes = "C2"
        ws.auto_filter.ref = f"A1:{_LETTERS[-1]}{len(rows) + 1}"
        for col, width in zip(_LETTERS, (30, 48, 10, 10, 6, 12, 8, 8, 12, 10, 60), strict=True):
            ws.column_dimensions[col].width = width
        ws.append([cell(ws, h, header=True) for h in COLUMNS])
        # One row per unit is the bulk of the file; openpyxl needs ~0.15 ms a row, so these rows
        # are written as XML directly (see _fill_unit_rows). This probe row only makes openpyxl
        # register the four status styles, whose ids are then read back from its output.
        ws.append([cell(ws, _PROBE, fill=status_fill[code]) for code in sorted(status_fill)])

        ws = wb.create_sheet("按规则")
        for col, width in zip("ABCDE", (14, 40, 10, 12, 10), strict=True):
            ws.column_dimensions[col].width = width
        ws.append([cell(ws, h, header=True) for h in RULE_COLUMNS])
        for r in self.by_rule():
            ws.append([cell(ws, v) for v in r])

        ws = wb.create_sheet("统计")
        ws.column_dimensions["A"].width = 14
        grades = self.grade_counts()
        bins = self.score_bins()
        status = self.counts()
        ws.append([cell(ws, "等级", header=True), cell(ws, "文件数", header=True)])
        for g, n in grades.items():
            ws.append([cell(ws, g), n])
        ws.append([])
        ws.append([cell(ws, "复核总分", header=True), cell(ws, "文件数", header=True)])
        for label, n in bins:
            ws.append([cell(ws, label), n])
        ws.append([])
        ws.append([cell(ws, "状态", header=True), cell(ws, "文件数", header=True)])
        for label, n in status.items():
            ws.append([cell(ws, label), n])

        g0, g1 = 2, 1 + len(grades)
        b0 = g1 + 3
        b1 = b0 + len(bins) - 1
        ws.add_chart(_bar("等级分布（按复核总分）", "文件数", ws, g0, g1), "D1")
        ws.add_chart(_bar("复核总分分布", "文件数", ws, b0, b1), "D17")
        buf = io.BytesIO()
        wb.save(buf)
        path.write_bytes(_fill_unit_rows(buf.getvalue(), rows, same))


_PROBE = "\u2063probe"  # an invisible separator: text no unit row can contain
_PROBE_ROW = re.compile(rb'<row r="2"[^>]*>(.*?)</row>', re.S)
_STYLE_ID = re.compile(rb'<c r="[A-Z]+2"(?: s="(\d+)")?')
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _fill_unit_rows(xlsx: bytes, rows: list[Summary], same: dict[str, list[str]]) -> bytes:
    """Replace the probe row of sheet 汇总 (the first sheet) by the unit rows, written as XML."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as zin:
        member = "xl/worksheets/sheet1.xml"
        sheet = zin.read(member)
        probe = _PROBE_ROW.search(sheet)
        if probe is None or _PROBE.encode() not in probe.group(1):
            raise RuntimeError("roll-up: probe row not found")  # openpyxl changed: fail loudly in tests
        styles = [int(m.group(1) or 0) for m in _STYLE_ID.finditer(probe.group(1))]
        fill = dict(zip(sorted(STATUS), styles, strict=True))
        parts = [sheet[: probe.start()]]
        for r, s in enumerate(rows, start=2):
            parts.append(_row_xml(r, _row_values(s, same), fill.get(s.exit_code, 0)))
        parts.append(sheet[probe.end():])
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = b"".join(parts) if info.filename == member else zin.read(info)
                zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _row_xml(r: int, values: list[Any], status_style: int) -> bytes:
    cells = []
    for i, v in enumerate(values):
        if v is None:
            continue
        ref = f"{_LETTERS[i]}{r}"
        style = f' s="{status_style}"' if i == _STATUS_COLUMN and status_style else ""
        if isinstance(v, str):
            # Inline text is never a formula, so a unit named "=HYPERLINK(...)" stays text.
            text = xml_escape(_XML_ILLEGAL.sub("", v))
            space = ' xml:space="preserve"' if text != text.strip() else ""
            cells.append(f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>')
        else:
            cells.append(f'<c r="{ref}"{style} t="n"><v>{v!r}</v></c>')
    return f'<row r="{r}">{"".join(cells)}</row>'.encode()


def _bar(title: str, y_title: str, ws: Any, first: int, last: int) -> Any:
    from openpyxl.chart import BarChart, Reference

    chart = BarChart()
    chart.type = "col"
    chart.title = title
    chart.y_axis.title = y_title
    chart.legend = None
    chart.height, chart.width = 7.5, 14
    chart.add_data(Reference(ws, min_col=2, min_row=first, max_row=last), titles_from_data=False)
    chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
    return chart


def _row_values(s: Summary, same: dict[str, list[str]]) -> list[Any]:
    counts = [None] * 4 if s.failed else [s.errors, s.warnings, s.infos, s.explained]
    return [s.unit, s.file, _round(s.self_total), _round(s.review_total), s.grade or None, *counts, s.status,
            "；".join(_remarks(s, same)) or None]


def _remarks(s: Summary, same: dict[str, list[str]]) -> list[str]:
    """备注: why the file could not be checked, outputs that could not be written, other files
    of the same unit."""
    out = [s.failure_message] if s.failed and s.failure_message else []
    out += s.notes
    if others := _same_unit_others(s, same):
        out.append("同一单位另有文件：" + "、".join(others))
    if s.unit_from_file:
        out.append("工作簿中未找到单位名称，「单位」取自文件名")
    return out


def _file_json(s: Summary, same: dict[str, list[str]]) -> dict[str, Any]:
    """A row of 汇总.json: `Summary.to_json`, plus `same_unit_files` when the unit has others."""
    d = s.to_json()
    if others := _same_unit_others(s, same):
        d["same_unit_files"] = others
    return d


def _same_unit_others(s: Summary, same: dict[str, list[str]]) -> list[str]:
    # a failed row's unit is its file stem, which may happen to be a checked unit's name
    if s.failed or s.unit_from_file:
        return []
    return [f for f in same.get(_unit_key(s.unit), ()) if f != s.file]


def _unit_key(unit: str) -> str:
    """Names of one unit typed apart: "衡山县 财政局" and "衡山县财政局"."""
    return "".join(unit.split())


def _round(x: float | None) -> float | int | None:
    if x is None:
        return None
    r = round(x, 2)
    return int(r) if r == int(r) else r


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """Neutralise CSV/formula injection: text that a spreadsheet would run as a formula
    (OWASP: leading = + - @ tab CR) gets a leading apostrophe. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
