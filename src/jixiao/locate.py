"""Stage 2, locate: template labels -> field positions.

Nothing here uses fixed coordinates. Each annex is found by its title (or, failing that,
by a header only it has) in any sheet; inside an annex every field is found by its label,
compared after folding (spaces, line breaks, full-width forms, numbering, colons). Column
headers are read relative to the report year ("2022 年决算数" in a 2023 table -> 上年决算数).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, count, repeat
from operator import add
from typing import Any, NamedTuple

from .read import Grid, Sheet
from .text import a1, label_key, parse_year, str_label_key

ANNEX_TITLES = {
    "annex1": ("部门整体支出绩效评价基础数据表", "部门整体支出绩效评价基础表"),
    "annex2": ("部门整体支出绩效自评表",),
    "annex3": ("项目支出绩效自评表",),
}
# Used only when a sheet has no title at all: a header that only this annex has.
ANNEX_SIGNATURES = {
    "annex1": ("财政供养人员情况", "经费控制情况"),
    "annex2": ("预算部门、单位名称", "预算部门单位名称"),
    "annex3": ("项目支出名称", "项目名称"),
}

# Header synonyms (catalogue §8). Keys are canonical; values are folded label keys.
FUND_HEADERS = {
    "年初预算数": ("年初预算数", "年初预算"),
    "全年预算数": ("全年预算数", "调整后预算数", "全年预算数(A)", "预算数", "调整后预算"),
    "全年执行数": ("全年执行数", "预算执行数", "执行数", "全年执行数(B)"),
    "分值": ("分值", "权重"),
    "执行率": ("执行率", "预算执行率", "执行率(B/A)"),
    "自评得分": ("自评得分", "得分"),
}
INDICATOR_HEADERS = {
    "一级指标": ("一级指标",),
    "二级指标": ("二级指标",),
    "三级指标": ("三级指标", "指标名称"),
    "年度指标值": ("年度指标值", "指标值", "年初目标值", "年度指标值(A)", "年度目标值"),
    "实际完成值": ("实际完成值", "完成值", "全年实际值", "实际完成值(B)", "全年实际完成值"),
    "分值": ("分值", "权重"),
    "自评得分": ("自评得分", "得分"),
    "偏差原因分析及改进措施": ("偏差原因分析及改进措施", "未完成原因分析", "原因", "偏差原因分析"),
}
PROJECT_FUND_ROWS = {
    "年度资金总额": ("年度资金总额", "总额", "年度财政资金总额"),
    "当年财政拨款": ("当年财政拨款", "本年财政拨款", "财政资金", "财政拨款"),
    "上年结转资金": ("上年结转资金", "上年结转"),
    "其他资金": ("其他资金",),
}
SPLIT_LABELS = {
    "一般公共预算": ("一般公共预算", "一般公共预算拨款"),
    "政府性基金拨款": ("政府性基金拨款", "政府性基金预算拨款", "政府性基金"),
    "纳入专户管理的非税收入拨款": ("纳入专户管理的非税收入拨款", "纳入专户管理的非税收入"),
    "其他资金": ("其他资金",),
    "基本支出": ("基本支出",),
    "项目支出": ("项目支出",),
}
# 附件一 经费控制情况 rows: canonical key -> (synonyms, parent).
EXPENSE_ROWS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "三公经费": (("三公经费", "“三公”经费", '"三公"经费'), None),
    "公务用车购置和维护经费": (("公务用车购置和维护经费", "公务用车购置及运行维护费", "公务用车购置及运行费"), "三公经费"),
    "公车购置": (("公车购置", "公务用车购置", "公务用车购置费"), "公务用车购置和维护经费"),
    "公车运行维护": (("公车运行维护", "公车运行维护费", "公务用车运行维护费"), "公务用车购置和维护经费"),
    "出国经费": (("出国经费", "因公出国(境)费", "因公出国(境)经费", "出国(境)经费"), "三公经费"),
    "公务接待": (("公务接待", "公务接待费"), "三公经费"),
    "项目支出": (("项目支出",), None),
    "公用经费": (("公用经费",), None),
    "办公经费": (("办公经费", "办公费"), "公用经费"),
    "水费、电费、差旅费": (("水费、电费、差旅费", "水电费、差旅费"), "公用经费"),
    "会议费、培训费": (("会议费、培训费",), "公用经费"),
    "政府采购金额": (("政府采购金额",), None),
    "部门基本支出预算调整": (("部门基本支出预算调整",), None),
}
BUILDING_HEADERS = {
    "批复规模": ("批复规模",), "实际规模": ("实际规模",), "规模控制率": ("规模控制率",),
    "预算投资": ("预算投资",), "实际投资": ("实际投资",), "投资概算控制率": ("投资概算控制率",),
}
FOOTER_LABELS = ("填表人", "填报日期", "联系电话", "单位负责人签字")
_ELLIPSIS = {"……", "…", "...", "......", "⋯⋯", "⋯"}


class CellRef(NamedTuple):
    """A located cell: its sheet, 0-based position (top-left of its merge) and raw content.
    A named tuple: a few hundred are made per workbook, and `_new_ref` makes one cheaply."""

    sheet: str
    r: int
    c: int
    raw: Any = None
    formula_blank: bool = False

    @property
    def address(self) -> str:
        return a1(self.r, self.c)


_new_ref = tuple.__new__  # CellRef without the Python-level __new__ (hot: Region.ref)


@dataclass(slots=True)
class LocatedRow:
    key: str
    label: CellRef
    cells: dict[str, CellRef] = field(default_factory=dict)
    parent: str | None = None
    r: int = 0  # 0-based sheet row of this table row


@dataclass(slots=True)
class LocatedAnnex:
    kind: str  # "annex1" | "annex2" | "annex3"
    sheet: str
    title: CellRef
    year: int | None
    fields: dict[str, CellRef] = field(default_factory=dict)
    rows: dict[str, list[LocatedRow]] = field(default_factory=dict)
    total: dict[str, CellRef] = field(default_factory=dict)  # 总分 row: 分值 / 自评得分


@dataclass(slots=True)
class Located:
    source: str
    annexes: list[LocatedAnnex]
    formula_blanks: list[CellRef] = field(default_factory=list)


class SheetLabels:
    """Every text cell of a sheet, folded once, in row-major order: parallel lists `rows`,
    `cols` and `keys`.

    The keys are also joined into one `text`, each between line breaks (a key never holds
    whitespace), so that finding a label is one regex search instead of a loop over cells.
    """

    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        rows: list[int] = []
        cols: list[int] = []
        raws: list[str] = []
        row_start: list[int] = []  # entries of row r: [row_start[r], row_start[r + 1])
        for r, row in enumerate(sheet.rows):
            row_start.append(len(rows))
            for c, v in enumerate(row):
                # calamine gives "" for empty cells: the truthiness test skips them cheaply
                if v and type(v) is str:
                    rows.append(r)
                    cols.append(c)
                    raws.append(v)
        row_start.append(len(rows))
        keys = list(map(str_label_key, raws))
        # a cell under a merged range (not its top-left) is hidden: its label does not count
        if "" in keys or sheet.covers_any(rows, cols):  # rare: drop cells under a merge and labels folding to nothing
            covered = sheet.covered_mask(rows, cols)
            kept = [i for i, k in enumerate(keys) if k and not covered[i]]
            rows, cols, keys = [rows[i] for i in kept], [cols[i] for i in kept], [keys[i] for i in kept]
            row_start = list(map(bisect_left, repeat(rows), range(len(row_start))))
        self.rows, self.cols, self.keys = rows, cols, keys  # rows sorted: for bisect
        self.row_start = row_start
        self.text = "\n" + "\n".join(keys) + "\n"
        # offset in `text` of the line break before each key (and a last one after them all)
        self.starts = list(map(add, accumulate(map(len, keys), initial=0), count()))

    def entry_at(self, offset: int, lo: int = 0, hi: int | None = None) -> int:
        """The entry whose leading line break is at `offset` (a match start)."""
        return bisect_left(self.starts, offset, lo, len(self.keys) if hi is None else hi)

    def entry_holding(self, offset: int) -> int:
        """The entry whose key holds `offset` of `text`."""
        return bisect_right(self.starts, offset) - 1

    def _span(self, r: int) -> tuple[int, int]:
        """The entries [i, j) of row `r` (none outside the sheet)."""
        starts = self.row_start
        if 0 <= r < len(starts) - 1:
            return starts[r], starts[r + 1]
        return 0, 0

    def row(self, r: int) -> list[tuple[int, str]]:
        """(col, key) of row `r`, left to right."""
        i, j = self._span(r)
        return list(zip(self.cols[i:j], self.keys[i:j]))

    def row_keys(self, r: int, limit: int | None = None) -> list[str]:
        """The keys of row `r` (left of column `limit`), left to right."""
        i, j = self._span(r)
        if limit is not None:
            j = bisect_left(self.cols, limit, i, j)  # a row's columns ascend
        return self.keys[i:j]

    def key(self, r: int, c: int) -> str:
        """The label at (r, c), or ""."""
        starts = self.row_start
        if not 0 <= r < len(starts) - 1:
            return ""
        try:
            i, j = starts[r], starts[r + 1]
            return self.keys[self.cols.index(c, i, j)]
        except ValueError:
            return ""


@lru_cache(maxsize=256)
def _label_pattern(names: tuple[str, ...], start: bool) -> re.Pattern[str]:
    """A whole key equal to one of `names` (or, with `start`, beginning with one)."""
    alts = "|".join(map(re.escape, names))
    return re.compile(f"\n(?:{alts})" if start else f"\n(?:{alts})(?=\n)")


class Region:
    """The rows of one sheet that belong to one annex, with label lookups."""

    def __init__(self, labels: SheetLabels, top: int, bottom: int) -> None:
        sheet = labels.sheet
        self.sheet, self.top, self.bottom = sheet, top, bottom
        self._labels = labels
        self._lo = bisect_left(labels.rows, top)  # entries of the region: [_lo, _hi)
        self._hi = bisect_left(labels.rows, bottom)
        self._name, self._cells, self._blanks = sheet.name, sheet.rows, sheet.formula_blanks
        self._get = sheet.origin_get  # _get(pos, pos): the origin of pos, no Python call per cell

    def row_cells(self, r: int) -> list[tuple[int, str]]:
        return self._labels.row(r) if self.top <= r < self.bottom else []

    def row_keys(self, r: int, limit: int | None = None) -> list[str]:
        """The labels of row `r` (left of column `limit`), left to right."""
        return self._labels.row_keys(r, limit) if self.top <= r < self.bottom else []

    def key(self, r: int, c: int) -> str:
        if not self.top <= r < self.bottom:
            return ""
        pos = (r, c)
        return self._labels.key(*self._get(pos, pos))

    def find(self, names: tuple[str, ...], *, start: bool = False, after: int = -1) -> tuple[int, int] | None:
        """The first cell (row-major) whose label is one of `names` (or starts with one)."""
        return self.search(_label_pattern(names, start), after)

    def search(self, pattern: re.Pattern[str], after: int = -1) -> tuple[int, int] | None:
        """The first cell (row-major) below row `after` whose label `pattern` matches (the match
        starts at the line break before the label and must not cross the next one)."""
        labels, lo, hi = self._labels, self._lo, self._hi
        if after >= self.top:
            lo = bisect_left(labels.rows, after + 1, lo, hi)
        if lo >= hi:
            return None
        m = pattern.search(labels.text, labels.starts[lo], labels.starts[hi] + 1)
        if m is None:
            return None
        i = bisect_left(labels.starts, m.start(), lo, hi)  # = labels.entry_at(...), inlined
        return labels.rows[i], labels.cols[i]

    def titles(self) -> Iterator[tuple[int, int, str]]:
        """(row, col, key) of the region's labels that hold an annex title, row-major."""
        labels, seen = self._labels, -1
        for m in _TITLES.finditer(labels.text, labels.starts[self._lo], labels.starts[self._hi]):
            i = labels.entry_holding(m.start())
            if i != seen:
                seen = i
                yield labels.rows[i], labels.cols[i], labels.keys[i]

    def ref(self, r: int, c: int) -> CellRef:
        pos = (r, c)
        return self._cell(self._get(pos, pos))

    def _cell(self, pos: tuple[int, int]) -> CellRef:
        """The ref of the cell at `pos`, an origin (the top-left of its merge)."""
        r0, c0 = pos
        cells = self._cells
        row = cells[r0] if 0 <= r0 < len(cells) else ()
        raw = row[c0] if 0 <= c0 < len(row) else None  # Sheet.raw, inlined (as in row_refs)
        return _new_ref(CellRef, (self._name, r0, c0, raw, pos in self._blanks if self._blanks else False))

    def row_refs(self, r: int, cols: dict[str, int]) -> dict[str, CellRef]:
        """{name: ref} of the columns `cols` of row `r` (one call per table row: a few hundred
        cells per workbook come through here)."""
        if not self._blanks:
            # Usual case, no bounds tests: read clips merges to the grid, so an origin is never
            # negative; a cell past the end of its row raises and takes the checked path.
            get, cells, name = self._get, self._cells, self._name
            out: dict[str, CellRef] = {}
            try:
                for n, c in cols.items():
                    pos = (r, c)
                    r0, c0 = get(pos, pos)
                    out[n] = _new_ref(CellRef, (name, r0, c0, cells[r0][c0], False))
                return out
            except IndexError:
                pass
        return self._row_refs_checked(r, cols)

    def _row_refs_checked(self, r: int, cols: dict[str, int]) -> dict[str, CellRef]:
        get, cells, blanks, name = self._get, self._cells, self._blanks, self._name
        out: dict[str, CellRef] = {}
        for n, c in cols.items():
            pos = (r, c)
            pos = get(pos, pos)
            r0, c0 = pos
            row = cells[r0] if 0 <= r0 < len(cells) else ()
            raw = row[c0] if 0 <= c0 < len(row) else None  # Sheet.raw, inlined
            out[n] = _new_ref(CellRef, (name, r0, c0, raw, pos in blanks if blanks else False))
        return out

    def right_of(self, r: int, c: int) -> CellRef:
        """The value cell right of a label: the first cell past the label's merged range."""
        get, pos = self._get, (r, c)
        c2, here, width = c + 1, get(pos, pos), self.sheet.width
        while c2 < width:
            pos = (r, c2)
            pos = get(pos, pos)
            if pos != here:
                return self._cell(pos)
            c2 += 1
        pos = (r, c2)
        return self._cell(get(pos, pos))

    def below(self, r: int, c: int) -> CellRef:
        """The value cell under a header: the first row past the header's merged range."""
        get, pos = self._get, (r, c)
        r2, here, bottom = r + 1, get(pos, pos), self.bottom
        while r2 < bottom:
            pos = (r2, c)
            pos = get(pos, pos)
            if pos != here:
                return self._cell(pos)
            r2 += 1
        pos = (r2, c)
        return self._cell(get(pos, pos))

    def header_columns(self, r: int, spec: str) -> dict[str, int]:
        """{canonical name: column} of the header row `r`; `spec` names one of _HEADER_SPECS."""
        cols: dict[str, int] = {}
        for c, k in self.row_cells(r):
            for name in _header_names(k, spec):
                if name not in cols:
                    cols[name] = c
                    break
        return cols


_HEADER_SUFFIX = re.compile(r"\((A|B|B/A|万元|%)\)$")


def _matches(key: str, synonyms: tuple[str, ...]) -> bool:
    return key in synonyms or _HEADER_SUFFIX.sub("", key) in synonyms


_HEADER_SPECS = {"fund": FUND_HEADERS, "indicator": INDICATOR_HEADERS, "building": BUILDING_HEADERS}


@lru_cache(maxsize=4096)
def _header_names(key: str, spec: str) -> tuple[str, ...]:
    """The canonical names `key` may head, in spec order (header keys recur across a batch)."""
    return tuple(name for name, syns in _HEADER_SPECS[spec].items() if _matches(key, syns))


def locate(grid: Grid) -> Located:
    annexes: list[LocatedAnnex] = []
    blanks: list[CellRef] = []
    for sheet in grid.sheets:
        labels = SheetLabels(sheet)
        for kind, top, bottom in _annex_regions(labels):
            annexes.append(_LOCATORS[kind](Region(labels, top, bottom)))
        for r, c in sorted(sheet.formula_blanks):
            blanks.append(CellRef(sheet.name, r, c, None, True))
    return Located(source=grid.source, annexes=annexes, formula_blanks=blanks)


# Any key holding a title (the length and "附件:" tests of _title_kind still apply).
_TITLES = re.compile("|".join(re.escape(t) for titles in ANNEX_TITLES.values() for t in titles))


def _annex_regions(labels: SheetLabels) -> list[tuple[str, int, int]]:
    anchors: list[tuple[int, str]] = []
    for r, _, k in Region(labels, 0, labels.sheet.height).titles():
        if anchors and anchors[-1][0] == r:
            continue  # per row, the first label (row-major) that is a title
        kind = _title_kind(k) if 6 <= len(k) <= 80 else None
        if kind:
            anchors.append((r, kind))
    if not anchors:
        anchors = _signature_anchors(labels)
    anchors.sort()
    out = []
    for i, (r, kind) in enumerate(anchors):
        bottom = anchors[i + 1][0] if i + 1 < len(anchors) else labels.sheet.height
        out.append((kind, r, bottom))
    return out


@lru_cache(maxsize=4096)
def _title_kind(key: str) -> str | None:
    if "附件:" in key or "附件：" in key:
        return None
    for kind, titles in ANNEX_TITLES.items():
        for t in titles:
            if t in key and len(key) <= len(t) + 16:
                return kind
    return None


def _signature_anchors(labels: SheetLabels) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for r, k in zip(labels.rows, labels.keys):
        for kind, sigs in ANNEX_SIGNATURES.items():
            if k.startswith(sigs):
                found.append((max(r - 1, 0), kind))
    # one anchor per annex start: drop 经费控制情况 when 财政供养人员情况 opened the same annex
    out: list[tuple[int, str]] = []
    for r, kind in sorted(found):
        if out and out[-1][1] == kind == "annex1":
            continue
        out.append((r, kind))
    return out


# Titles and year headers recur across a batch (small: a title cell may hold a long text).
_parse_year = lru_cache(maxsize=64)(parse_year)


def _title(region: Region) -> tuple[CellRef, int | None]:
    for r, c, k in region.titles():
        if _title_kind(k):
            ref = region.ref(r, c)
            return ref, _parse_year(str(ref.raw))
    ref = region.ref(region.top, 0)
    return ref, None


def _year_columns(region: Region, r: int, year: int | None) -> dict[str, int]:
    """附件一 经费 header: map "2022 年决算数"/"上年决算数" to canonical columns."""
    cols: dict[str, int] = {}
    found: list[tuple[int, int | None, str]] = []
    for c, k in region.row_cells(r):
        if "决算" not in k and "预算" not in k:
            continue
        found.append((c, _parse_year(k), k))
    if year is None:
        years = [y for _, y, _ in found if y]
        year = max(years) if years else None
    for c, y, k in found:
        kind = "决算" if "决算" in k else "预算"
        if y is not None and year is not None:
            rel = "上年" if y == year - 1 else "本年" if y == year else None
        elif "上年" in k or "上一年" in k:
            rel = "上年"
        elif "本年" in k or "当年" in k:
            rel = "本年"
        else:
            rel = None
        if rel:
            cols.setdefault(f"{rel}{kind}数", c)
    return cols


_FOOTER_ANYWHERE = re.compile("\n[^\n]*?填表人")  # a label holding 填表人 anywhere
# Each footer label's value: up to the next label (or the end).
_FOOTER_VALUES = [(lab, re.compile(rf"{lab}\s*[:：]?\s*(.*?)\s*(?={'|'.join(FOOTER_LABELS[i + 1:]) or '$^'}|$)"))
                  for i, lab in enumerate(FOOTER_LABELS)]


def _footer(region: Region, after: int) -> dict[str, CellRef]:
    pos = region.find(("填表人",), start=True, after=after) or region.search(_FOOTER_ANYWHERE, after)
    if pos is None:
        return {}
    r, c = pos
    ref = region.ref(r, c)
    name, r0, c0 = ref.sheet, ref.r, ref.c
    return {lab: _new_ref(CellRef, (name, r0, c0, val, False))
            for lab, val in zip(FOOTER_LABELS, _footer_values(str(ref.raw or "")))}


@lru_cache(maxsize=64)  # small: a footer may be a long text
def _footer_values(text: str) -> tuple[str | None, ...]:
    """The value of each footer label in `text`, or None (a workbook's sheets share theirs)."""
    out: list[str | None] = []
    for _, pattern in _FOOTER_VALUES:
        m = pattern.search(text)
        val = m.group(1).strip() if m else ""
        out.append(val or None)
    return tuple(out)


def _locate_annex1(region: Region) -> LocatedAnnex:
    title, year = _title(region)
    ann = LocatedAnnex("annex1", region.sheet.name, title, year)
    staff = region.find(("编制数",))
    if staff:
        hr = staff[0]
        for name, syns in (("编制数", ("编制数",)), ("实际在职人数", ("实际在职人数", "在职人数", "实有人数")),
                           ("控制率", ("控制率", "在职人员控制率"))):
            for c, k in region.row_cells(hr):
                if k in syns or (name == "实际在职人数" and k.endswith("在职人数")):
                    ann.fields[name] = region.below(hr, c)
                    break
    head = region.find(("经费控制情况",), start=True)
    last = staff[0] if staff else region.top
    if head:
        hr, lc = head
        cols = _year_columns(region, hr, year)
        ann.rows["expenses"] = _expense_rows(region, hr, lc, cols)
        if ann.rows["expenses"]:
            last = ann.rows["expenses"][-1].label.r
    build = region.find(("楼堂馆所",), start=True, after=last - 1)
    if build:
        hr = build[0]
        for name, c in region.header_columns(hr, "building").items():
            ann.fields[name] = region.below(hr, c)
        for c, k in region.row_cells(hr):
            for name in _building_prefixed(k):
                if name not in ann.fields:
                    ann.fields[name] = region.below(hr, c)
        last = max(last, hr)
    saving = region.find(("厉行节约保障措施", "厉行节约"), start=True)
    if saving:
        ann.fields["厉行节约保障措施"] = region.right_of(*saving)
        last = max(last, saving[0])
    for k, ref in _footer(region, last).items():
        ann.fields[k] = ref
    return ann


@lru_cache(maxsize=4096)
def _building_prefixed(key: str) -> tuple[str, ...]:
    """The 楼堂馆所 headers (in order) one of whose synonyms starts `key`."""
    return tuple(name for name, syns in BUILDING_HEADERS.items() if key.startswith(syns))


def _expense_rows(region: Region, hr: int, lc: int, cols: dict[str, int]) -> list[LocatedRow]:
    rows: list[LocatedRow] = []
    section: str | None = None
    extra = 0
    get, key, cell, row_refs = region._get, region._labels.key, region._cell, region.row_refs
    for r in range(hr + 1, min(region.bottom, region.sheet.height)):
        pos = (r, lc)
        pos = get(pos, pos)
        k = key(*pos)  # the label shown at (r, lc)
        if not k:
            continue
        if k.startswith(("楼堂馆所", "厉行节约", "说明", "填表人")):
            break
        key_, parent = _EXPENSE_BY_SYNONYM.get(k, _NO_EXPENSE)
        cells = row_refs(r, cols)
        if key_ in _EXPENSE_SECTIONS:
            section = key_
        if key_ is None:
            if k in _ELLIPSIS:
                if all(_empty(ref.raw) for ref in cells.values()):
                    continue
                extra += 1
                key_ = f"其他{extra}"
            else:
                key_ = k
            parent = "项目支出" if section == "项目支出" else section
        rows.append(LocatedRow(key_, cell(pos), cells, parent, r))
    return rows


_NO_EXPENSE: tuple[None, None] = (None, None)
_EXPENSE_SECTIONS = frozenset(("项目支出", "公用经费", "三公经费", "政府采购金额", "部门基本支出预算调整"))


_EXPENSE_BY_SYNONYM: dict[str, tuple[str, str | None]] = {}
for _name, (_syns, _parent) in EXPENSE_ROWS.items():
    for _s in _syns:
        _EXPENSE_BY_SYNONYM.setdefault(_s, (_name, _parent))  # the first row naming it wins, as in a scan


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _fund_block(region: Region, ann: LocatedAnnex, spec: str) -> int:
    """Locate the 年初预算数… header and the fund rows under it; returns the last row used.
    `spec` names the fund rows of the annex (one of _FUND_ROW_SPECS)."""
    hdr = region.find(FUND_HEADERS["年初预算数"])
    if not hdr:
        return region.top
    hr = hdr[0]
    cols = region.header_columns(hr, "fund")
    total = region.find(_FUND_ROW_SPECS[spec]["年度资金总额"], start=True, after=hr)
    if not total:
        return hr
    lc = total[1]
    funds: list[LocatedRow] = []
    seen: set[str] = set()
    last = hr
    for r in range(total[0], min(total[0] + 8, region.bottom)):
        k = region.key(r, lc)
        name = _fund_row_name(k, spec)
        if name is None or name in seen:
            if funds and k and name is None:
                break
            continue
        seen.add(name)
        funds.append(LocatedRow(name, region.ref(r, lc), region.row_refs(r, cols),
                                None if name == "年度资金总额" else "年度资金总额", r))
        last = r
    ann.rows["funds"] = funds
    return last


_FUND_ROW_SPECS = {
    "annex2": {"年度资金总额": PROJECT_FUND_ROWS["年度资金总额"]},
    "annex3": PROJECT_FUND_ROWS,
}


@lru_cache(maxsize=4096)
def _fund_row_name(key: str, spec: str) -> str | None:
    """The first fund row (in spec order) whose synonyms start `key` (labels recur in a batch)."""
    return next((n for n, syns in _FUND_ROW_SPECS[spec].items() if key.startswith(syns)), None)


def _splits(region: Region, ann: LocatedAnnex, after: int) -> int:
    last = after
    for head in (("按收入性质分",), ("按支出性质分",)):
        pos = region.find(head, start=True, after=after - 1)
        if not pos:
            continue
        hr, c = pos
        end = region.find(_SPLIT_END, start=True, after=hr)  # the first row holding one ends the list
        for r in range(hr + 1, min(hr + 8, region.bottom, end[0] if end else hr + 8)):
            ref = region.ref(r, c)
            text = ref.raw if isinstance(ref.raw, str) else ""
            if not text.strip():
                continue
            label, value = _split_label_value(text)
            name = _SPLIT_BY_SYNONYM.get(label_key(label))
            if name is None:
                continue
            ann.fields[name] = CellRef(ref.sheet, ref.r, ref.c, value, ref.formula_blank)
            last = max(last, r)
    return last


_SPLIT_END = ("年度总体目标", "预期目标", "绩效指标")
_SPLIT_BY_SYNONYM: dict[str, str] = {}
for _name, _syns in SPLIT_LABELS.items():
    for _s in _syns:
        _SPLIT_BY_SYNONYM.setdefault(_s, _name)  # the first naming it wins, as in a scan
_SPLIT_QIZHONG = re.compile(r"^\s*其中\s*[:：]\s*")
_SPLIT_LABEL_VALUE = re.compile(r"^(.*?)[:：]\s*(.*)$")


def _split_label_value(text: str) -> tuple[str, str | None]:
    """"其中： 一般公共预算：872.71" -> ("一般公共预算", "872.71"); "项目支出：" -> ("项目支出", None)."""
    t = _SPLIT_QIZHONG.sub("", text.strip())
    m = _SPLIT_LABEL_VALUE.match(t)
    if not m:
        return t, None
    value = m.group(2).strip()
    return m.group(1).strip(), value or None


def _goal(region: Region, ann: LocatedAnnex) -> int:
    pos = region.find(("预期目标",))
    if not pos:
        return region.top
    ann.fields["预期目标"] = region.below(*pos)
    done = region.find(("实际完成情况",), after=pos[0] - 1)
    if done:
        ann.fields["实际完成情况"] = region.below(*done)
    return ann.fields["预期目标"].r


_TOTAL_LABELS = frozenset(("总分", "合计", "总计"))
# A label that ends the indicator table: a total row, or the footer below it.
_INDICATORS_END = re.compile("\n(?:总分|合计|总计)(?=\n)|\n填表人")


def _indicators(region: Region, ann: LocatedAnnex) -> int:
    pos = region.find(("一级指标",))
    if not pos:
        return region.top
    hr = pos[0]
    cols = region.header_columns(hr, "indicator")
    rows: list[LocatedRow] = []
    last = hr
    label_cols = [c for n, c in cols.items() if n in ("一级指标", "二级指标", "三级指标")]
    left = min([*label_cols, pos[1]])
    limit = cols.get("分值", left + 6)
    body = [n for n in ("三级指标", "年度指标值", "实际完成值", "分值", "自评得分", "二级指标") if n in cols]
    ref, row_refs, key = region.ref, region.row_refs, region._labels.key
    end, total = _indicators_end(region, hr, limit)
    for r in range(hr + 1, end):
        cells = row_refs(r, cols)
        for n in body:
            v = cells[n].raw
            if v is not None and (v.strip() if isinstance(v, str) else True):  # not _empty(v)
                break
        else:
            continue  # nothing filled in the row: not an indicator
        label = cells.get("三级指标") or ref(r, left)  # = ref(r, key_col)
        rows.append(LocatedRow(key(label.r, label.c), label, cells, None, r))
        last = r
    if total:
        ann.total = {n: ref(end, cols[n]) for n in ("分值", "自评得分") if n in cols}
        last = end
    ann.rows["indicators"] = rows
    return last


def _indicators_end(region: Region, hr: int, limit: int) -> tuple[int, bool]:
    """The first row below the header `hr` with a total or footer label left of column
    `limit` (or the region's end), and whether it is the total row: one regex pass over the
    region's labels instead of a look at every row."""
    labels, hi = region._labels, region._hi
    lo = bisect_left(labels.rows, hr + 1, region._lo, hi)
    if lo < hi:
        for m in _INDICATORS_END.finditer(labels.text, labels.starts[lo], labels.starts[hi] + 1):
            i = labels.entry_at(m.start(), lo, hi)
            if labels.cols[i] < limit:
                r = labels.rows[i]
                return r, not _TOTAL_LABELS.isdisjoint(region.row_keys(r, limit))
    return min(region.bottom, region.sheet.height), False


def _locate_annex2(region: Region) -> LocatedAnnex:
    title, year = _title(region)
    ann = LocatedAnnex("annex2", region.sheet.name, title, year)
    unit = region.find(("预算部门、单位名称", "预算部门单位名称", "单位名称", "预算部门"), start=True)
    if unit:
        ann.fields["预算部门、单位名称"] = region.right_of(*unit)
    last = _fund_block(region, ann, "annex2")
    last = max(last, _splits(region, ann, last))
    last = max(last, _goal(region, ann))
    last = max(last, _indicators(region, ann))
    ann.fields.update(_footer(region, last))
    return ann


def _locate_annex3(region: Region) -> LocatedAnnex:
    title, year = _title(region)
    ann = LocatedAnnex("annex3", region.sheet.name, title, year)
    for name, syns in (("项目支出名称", ("项目支出名称", "项目名称")), ("主管部门", ("主管部门",)),
                       ("实施单位", ("实施单位",))):
        pos = region.find(syns)
        if pos:
            ann.fields[name] = region.right_of(*pos)
    last = _fund_block(region, ann, "annex3")
    last = max(last, _goal(region, ann))
    last = max(last, _indicators(region, ann))
    ann.fields.update(_footer(region, last))
    return ann


_LOCATORS: dict[str, Callable[[Region], LocatedAnnex]] = {
    "annex1": _locate_annex1,
    "annex2": _locate_annex2,
    "annex3": _locate_annex3,
}
