"""Screening the expression rules of a whole chunk at once, so that the interpreter in
`engine` runs only where a finding may come out.

Every application of an expression rule (a *lane*: one model, context, indicator row and
column) is evaluated side by side with numpy: names and paths are still looked up per lane
in the model's namespaces, but the interval arithmetic and the three-valued comparisons run
on arrays. A lane passes the screen when the rule clearly yields nothing there: its `when`
is not TRUE, or every assertion is SKIP, TRUE or UNKNOWN (and, for a rule that re-checks
passes at display precision, that re-check is not FALSE either). Every other lane is handed
to the interpreter, which evaluates it again from scratch; so is every lane the screen is
not sure of (a value that is not finite, an operand it does not model, anything that would
raise). A screened rule therefore reports exactly what the interpreter alone would, in the
same order: the screen only decides which lanes can be left out.

Rules over the same contexts share their lanes, and with them the names and cells they read
(`Lanes.cache`). This is the same expression language as `expr`, read from the same source
text by the same tree walk (`expr.TreeCompiler`) and still interpreted (a tree of closures over
arrays); nothing is compiled to Python code.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress
from typing import Any

import numpy as np

from ..model import Value
from .expr import (
    BLANK,
    LEFT,
    NONE,
    RIGHT,
    ExprError,
    TreeCompiler,
    _flatten,
    _is_filled,
    comparison_tests,
    preprocess,
    step,
)
from .intervals import _EPS, FALSE, HALF_UNITS, SKIP, TRUE, UNKNOWN, Num
from .namespace import CHILDREN, INDICATOR_ATTRS, RowNS
from .rulepack import Rule

_HALF = np.array(HALF_UNITS)


class Unsupported(Exception):
    """An expression (or a part of it) the screen does not model: the rule is left to the interpreter."""


@dataclass(slots=True)
class VNum:
    """Per lane a Num (lo, hi, mid) or BLANK (`blank`)."""

    lo: np.ndarray
    hi: np.ndarray
    mid: np.ndarray
    blank: np.ndarray


@dataclass(slots=True)
class VObj:
    """Per lane a model object (Value, row, list, dict, BLANK ...) not yet read as a number.
    `key` names where it came from (a name or path), for the lanes' cache."""

    objs: list[Any]
    key: tuple[Any, ...] | None = None


@dataclass(slots=True)
class Lanes:
    """Lanes of the rules over the same contexts and columns: per lane its names and column,
    plus what the rules have looked up and read there so far."""

    ns: list[dict[str, Any]]
    cols: list[str | None]
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    per: int = 1  # lanes come in runs of this many with the same names (one per column)


class VEnv:
    """What the vector nodes see: the lanes and the rule's settings."""

    __slots__ = ("bad", "cache", "cols", "display", "display_decimals", "exact", "exact_operands", "lets",
                 "min_decimals", "n", "ns", "params", "per", "tolerance")

    def __init__(self, rule: Rule, lets: dict[str, VNode], lanes: Lanes) -> None:
        self.n = len(lanes.ns)
        self.ns = lanes.ns
        self.per = lanes.per
        self.cols = lanes.cols
        self.cache = lanes.cache
        self.params = rule.params
        self.lets = lets
        self.min_decimals = rule.min_decimals
        self.exact = rule.exact
        self.exact_operands = rule.exact_operands
        self.tolerance = rule.tolerance
        self.display: list[Value | None] | None = None  # per lane: the leaf read at display precision
        self.display_decimals = rule.display_decimals
        self.bad = np.zeros(self.n, dtype=bool)  # lanes the screen cannot decide: the interpreter's

    def mark(self, i: int) -> None:
        self.bad[i] = True


VNode = Callable[[VEnv, int], Any]  # (lanes, side) -> VNum | VObj | truth array (int8)

# --- reading values as numbers ------------------------------------------------------------


class _Bad(Exception):
    """This lane would raise in the interpreter (or is not modelled): leave it to the interpreter."""


def _obj_num(x: Any, ve: VEnv, i: int, side: int) -> tuple[float, float, float] | None:
    """`expr.to_num` of one object, without recording: (lo, hi, mid), or None for BLANK."""
    t = type(x)
    if t is Value:
        return _leaf(x, ve, i, side)
    if t is Num:
        return x.lo, x.hi, x.mid
    if x is BLANK or x is None:
        return None
    col = getattr(x, "column_value", None)
    if col is not None:
        column = ve.cols[i]
        if column is None:
            raise _Bad  # ExprError: a whole row where a number belongs
        v = col(column)
        return _leaf(v, ve, i, side) if type(v) is Value else _obj_num(v, ve, i, side)
    if t is float or t is int:
        f = float(x)
        return f, f, f
    if t is list:
        raise _Bad  # ExprError: a list where a number belongs
    return None  # text where a number belongs: not comparable


def _half(d: int) -> float:
    return HALF_UNITS[d] if d < 16 else 0.5 * 10.0 ** -d


def _leaf(v: Value, ve: VEnv, i: int, side: int) -> tuple[float, float, float] | None:
    """`expr.leaf_num` without recording (and without truncation, which only failures use)."""
    n = v.number
    if n is None:
        return None
    d = v.decimals or 0
    if d < ve.min_decimals:
        d = ve.min_decimals
    if ve.display is not None and ve.display[i] is v:
        half = _half(max(d, ve.display_decimals))
        return n - half, n + half, n
    if ve.exact or (side == RIGHT and ve.exact_operands):
        return n, n, n
    half = _half(d)
    return n - half, n + half, n


@dataclass(slots=True)
class _Cells:
    """The cells of an operand, read once per lanes: per lane the cell (or BLANK), its number (0
    where blank) and its decimals; `others` are the lanes holding something else."""

    cells: list[Any]
    mid: np.ndarray
    blank: np.ndarray
    decimals: np.ndarray
    others: list[tuple[int, Any]]


def _cells(objs: list[Any], cols: Sequence[str | None]) -> _Cells:
    """`cols[k]`: the column that item k is read in (its lane's)."""
    # comprehensions over the kinds of objects present (mostly cells, or rows read in a column)
    kinds = set(map(type, objs))
    cells = objs
    if RowNS in kinds:  # RowNS.column_value in the lane's column
        cells = [x.row.values.get(c, BLANK) if type(x) is RowNS and c is not None else x
                 for x, c in zip(objs, cols, strict=True)]
        kinds = set(map(type, cells))
    others: list[tuple[int, Any]] = []
    if kinds == {Value}:
        nums: list[float | None] = [x.number for x in cells]
        decs = [x.decimals or 0 for x in cells]
    else:
        nums = [x.number if type(x) is Value else None for x in cells]
        decs = [(x.decimals or 0) if type(x) is Value else 0 for x in cells]
        others = [(i, x) for i, x in enumerate(cells) if type(x) is not Value and x is not BLANK]
    mid = np.array(nums, dtype=float)  # None -> NaN
    blank = np.isnan(mid)
    if blank.any():
        if nums.count(None) != int(blank.sum()):  # a NaN number (normalize refuses them) is not BLANK
            blank = np.array([x is None for x in nums], dtype=bool)
        mid[blank] = 0.0
    return _Cells(cells, mid, blank, np.array(decs, dtype=np.int64), others)


def _vnum_of(x: VObj, ve: VEnv, side: int, text_bad: bool = False) -> VNum:
    """`expr.to_num` lane by lane: cells (and rows, read in the lane's column) in one go, anything
    else one by one. `text_bad`: text marks the lane (a comparison of texts is the interpreter's)."""
    key = ("cells", x.key) if x.key is not None else None
    c = ve.cache.get(key) if key is not None else None
    if c is None:
        c = _cells(x.objs, ve.cols)
        if key is not None:
            ve.cache[key] = c
    return _read(c, None, ve, side, text_bad)


def _read(c: _Cells, lane: np.ndarray | None, ve: VEnv, side: int, text_bad: bool = False) -> VNum:
    """The numbers of cells as intervals (`expr.leaf_num` without recording); cell k belongs to
    lane `lane[k]` (None: cell k to lane k)."""
    mid, blank = c.mid, c.blank
    d = np.maximum(c.decimals, ve.min_decimals)
    shown = None
    if ve.display is not None:  # the display re-check reads its leaf at display precision
        shown_of = ve.display if lane is None else [ve.display[i] for i in lane.tolist()]
        shown = np.array([a is b for a, b in zip(c.cells, shown_of, strict=True)], dtype=bool) & ~blank
        d = np.where(shown, np.maximum(d, ve.display_decimals), d)
    # a number that is not finite, or a precision outside the table of half units: one by one
    odd = ~blank & (~np.isfinite(mid) | (d < 0) | (d >= len(HALF_UNITS)))
    if odd.any():
        np.logical_or.at(ve.bad, lane, odd) if lane is not None else np.logical_or(ve.bad, odd, out=ve.bad)
    half = _HALF[np.minimum(np.maximum(d, 0), len(HALF_UNITS) - 1)]  # np.clip, without its dtype checks
    lo = mid - half
    hi = mid + half
    if ve.exact or (side == RIGHT and ve.exact_operands):  # exact, but a display leaf is still rounded
        lo = np.where(shown, lo, mid) if shown is not None else mid
        hi = np.where(shown, hi, mid) if shown is not None else mid
    if c.others:
        blank = blank.copy()
        lo, hi, mid = lo.copy(), hi.copy(), mid.copy()
        for k, o in c.others:
            i = k if lane is None else int(lane[k])
            if text_bad and isinstance(o, str):
                ve.mark(i)
            try:
                r = _obj_num(o, ve, i, side)
            except _Bad:
                ve.mark(i)
                r = None
            if r is not None:
                lo[k], hi[k], mid[k] = r
                blank[k] = False
    return VNum(lo, hi, mid, blank)


def to_vnum(x: Any, ve: VEnv, side: int) -> VNum:
    if type(x) is VNum:
        return x
    if type(x) is VObj:
        return _vnum_of(x, ve, side)
    # a truth array used as a number: the interpreter reads an int as that exact number
    f = x.astype(float)
    return VNum(f, f, f, np.zeros(ve.n, dtype=bool))


def _const(v: float, n: int) -> VNum:
    a = np.full(n, v, dtype=float)
    return VNum(a, a, a, np.zeros(n, dtype=bool))


# --- truth values -------------------------------------------------------------------------


def truth(x: Any, ve: VEnv) -> np.ndarray:
    """`expr._truth` per lane; a number or object where a condition belongs is the interpreter's
    (it raises there), a BLANK is SKIP."""
    if type(x) is np.ndarray:
        return x
    out = np.full(ve.n, SKIP, dtype=np.int8)
    if type(x) is VNum:
        ve.bad |= ~x.blank
        return out
    for i, o in enumerate(x.objs):
        if o is not BLANK:
            ve.mark(i)
    return out


def tri_not(x: np.ndarray) -> np.ndarray:
    return np.where(x == FALSE, TRUE, np.where(x == TRUE, FALSE, x)).astype(np.int8)


def tri_and(xs: list[np.ndarray]) -> np.ndarray:
    a = np.stack(xs)
    some = (a != SKIP).any(axis=0)
    false = (a == FALSE).any(axis=0)
    true = ((a == TRUE) | (a == SKIP)).all(axis=0)
    return np.where(~some, SKIP, np.where(false, FALSE, np.where(true, TRUE, UNKNOWN))).astype(np.int8)


def tri_or(xs: list[np.ndarray]) -> np.ndarray:
    a = np.stack(xs)
    some = (a != SKIP).any(axis=0)
    true = (a == TRUE).any(axis=0)
    false = ((a == FALSE) | (a == SKIP)).all(axis=0)
    return np.where(~some, SKIP, np.where(true, TRUE, np.where(false, FALSE, UNKNOWN))).astype(np.int8)


# --- interval arithmetic and comparisons (as in `intervals`, element by element) -----------


def _slack(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return np.where(a > 1.0, _EPS * a, _EPS)


def _isclose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """math.isclose(a, b, rel_tol=_EPS, abs_tol=_EPS)."""
    diff = np.abs(b - a)
    close = (diff <= np.abs(_EPS * b)) | (diff <= np.abs(_EPS * a)) | (diff <= _EPS)
    return (a == b) | (close & ~np.isinf(a) & ~np.isinf(b))


def _eq(a: VNum, b: VNum) -> np.ndarray:
    false = (a.hi + _slack(a.hi) < b.lo) | (b.hi + _slack(b.hi) < a.lo)
    true = (a.lo == a.hi) & (b.lo == b.hi) & _isclose(a.lo, b.lo)
    return np.where(false, FALSE, np.where(true, TRUE, UNKNOWN)).astype(np.int8)


def _le(a: VNum, b: VNum) -> np.ndarray:
    true = a.hi <= b.lo + _slack(b.lo)
    false = a.lo > b.hi + _slack(b.hi)
    return np.where(true, TRUE, np.where(false, FALSE, UNKNOWN)).astype(np.int8)


def _lt(a: VNum, b: VNum) -> np.ndarray:
    true = a.hi < b.lo - _slack(b.lo)
    false = a.lo >= b.hi - _slack(b.hi)
    return np.where(true, TRUE, np.where(false, FALSE, UNKNOWN)).astype(np.int8)


_VTESTS: dict[str, Callable[[VNum, VNum], np.ndarray]] = comparison_tests(_eq, _le, _lt, tri_not)


def _pick(xs: list[np.ndarray], smaller: bool) -> np.ndarray:
    """Python's min()/max() of a tuple, element by element: the first extreme one wins."""
    out = xs[0]
    for x in xs[1:]:
        out = np.where(x < out, x, out) if smaller else np.where(x > out, x, out)
    return out


def _add(a: VNum, b: VNum, sign: float) -> VNum:
    both = a.blank & b.blank
    if sign > 0:
        lo, hi, mid = a.lo + b.lo, a.hi + b.hi, a.mid + b.mid
        blo, bhi, bmid = b.lo, b.hi, b.mid
    else:
        lo, hi, mid = a.lo - b.hi, a.hi - b.lo, a.mid - b.mid
        blo, bhi, bmid = -b.hi, -b.lo, -b.mid
    # BLANK counts as 0 next to a filled operand: the other operand as it is (or negated)
    lo = np.where(a.blank, blo, np.where(b.blank, a.lo, lo))
    hi = np.where(a.blank, bhi, np.where(b.blank, a.hi, hi))
    mid = np.where(a.blank, bmid, np.where(b.blank, a.mid, mid))
    return VNum(lo, hi, mid, both)


def _mul(a: VNum, b: VNum) -> VNum:
    p = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    return VNum(_pick(p, True), _pick(p, False), a.mid * b.mid, a.blank | b.blank)


def _div(a: VNum, b: VNum, ve: VEnv) -> VNum:
    none = ((b.lo <= 0) & (b.hi >= 0)) | (b.mid == 0)  # the divisor may be zero: not applicable
    blank = a.blank | b.blank | none
    ve.bad |= ~blank & ((b.lo == 0) | (b.hi == 0))  # would divide by zero in the interpreter
    with np.errstate(all="ignore"):
        q = [a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi]
        mid = a.mid / b.mid
    return VNum(_pick(q, True), _pick(q, False), mid, blank)


def _neg(a: VNum) -> VNum:
    return VNum(-a.hi, -a.lo, -a.mid, a.blank)


def _abs(a: VNum) -> VNum:
    pos = a.lo >= 0
    neg = a.hi <= 0
    lo = np.where(pos, a.lo, np.where(neg, -a.hi, 0.0))
    hi = np.where(pos, a.hi, np.where(neg, -a.lo, np.where(a.hi > -a.lo, a.hi, -a.lo)))
    mid = np.where(pos, a.mid, np.where(neg, -a.mid, np.abs(a.mid)))
    return VNum(lo, hi, mid, a.blank)


def compare(ve: VEnv, sym: str, a: VNode, b: VNode) -> np.ndarray:
    x = a(ve, LEFT)
    y = b(ve, RIGHT)
    nx = _vnum_of(x, ve, LEFT, text_bad=True) if type(x) is VObj else to_vnum(x, ve, LEFT)
    ny = _vnum_of(y, ve, RIGHT, text_bad=True) if type(y) is VObj else to_vnum(y, ve, RIGHT)
    skip = nx.blank | ny.blank
    tol = ve.tolerance
    if tol:
        ny = VNum(ny.lo - tol, ny.hi + tol, ny.mid, ny.blank)
    with np.errstate(all="ignore"):
        res = _VTESTS[sym](nx, ny)
        # a value that is not finite is the interpreter's to judge (float corner cases)
        finite = (np.isfinite(nx.lo) & np.isfinite(nx.hi) & np.isfinite(nx.mid) & np.isfinite(ny.lo)
                  & np.isfinite(ny.hi) & np.isfinite(ny.mid))
    ve.bad |= ~finite & ~skip
    return np.where(skip, SKIP, res).astype(np.int8)


# --- functions ----------------------------------------------------------------------------


def _items(x: Any, ve: VEnv) -> list[Any]:
    """Per lane one argument: a list (flattened later), another object, or a number as Num."""
    if type(x) is VObj:
        return x.objs
    v = to_vnum(x, ve, NONE)
    lo, hi, mid, blank = v.lo.tolist(), v.hi.tolist(), v.mid.tolist(), v.blank.tolist()
    return [BLANK if blank[i] else Num(lo[i], hi[i], mid[i]) for i in range(ve.n)]


def _flat(o: Any) -> list[Any]:
    """`expr._flatten` of one argument, without copying a plain list."""
    if type(o) is list:
        for y in o:
            if type(y) is list or type(y) is tuple:
                return _flatten(o)
        return o
    return _flatten([o]) if type(o) is tuple else [o]


@dataclass(slots=True)
class _Terms:
    """The terms of a sum, all lanes' in one row of cells: term k belongs to lane `lane[k]` and is
    its `pos[k]`-th (from 0), in `expr._flatten`'s order."""

    cells: _Cells
    lane: np.ndarray
    pos: np.ndarray
    width: int  # the most terms of one lane


def _terms(args: list[VObj], ve: VEnv) -> _Terms:
    """Every lane's filled terms (a BLANK term adds nothing), read like `_cells` in one pass."""
    if len(args) == 1 and set(map(type, args[0].objs)) == {list}:
        lists = args[0].objs
        items = list(chain.from_iterable(lists))
        if set(map(type, items)) == {RowNS} and None not in ve.cols:
            # rows read in their lane's column (`sum(项目支出.明细)`); a BLANK term adds nothing
            lists = [[v for x in row_list if (v := x.row.values.get(c, BLANK)) is not BLANK]
                     for row_list, c in zip(lists, ve.cols, strict=True)]
            items = list(chain.from_iterable(lists))
        if set(map(type, items)) == {Value}:
            return _cell_terms(items, list(map(len, lists)), ve.n)
    nums: list[float] = []
    decs: list[int] = []
    cells: list[Any] = []
    others: list[tuple[int, Any]] = []
    lane: list[int] = []
    pos: list[int] = []
    width = 0
    cols = ve.cols
    for i in range(ve.n):
        k = 0
        column = cols[i]
        for a in args:
            for item in _flat(a.objs[i]):
                t = type(item)
                if t is RowNS and column is not None:  # RowNS.column_value
                    item = item.row.values.get(column, BLANK)
                    t = type(item)
                if t is Value:
                    x = item.number
                    if x is None:
                        continue
                    nums.append(x)
                    decs.append(item.decimals or 0)
                elif item is BLANK:
                    continue
                else:
                    others.append((len(cells), item))
                    nums.append(0.0)
                    decs.append(0)
                cells.append(item)
                lane.append(i)
                pos.append(k)
                k += 1
        if k > width:
            width = k
    mid = np.array(nums, dtype=float)
    blank = np.zeros(len(nums), dtype=bool)
    for k, _item in others:
        blank[k] = True  # read one by one in `_read`
    return _Terms(_Cells(cells, mid, blank, np.array(decs, dtype=np.int64), others), np.array(lane, dtype=np.int64),
                  np.array(pos, dtype=np.int64), width)


def _cell_terms(items: list[Value], lens: list[int], n: int) -> _Terms:
    """`_terms` of one list of cells per lane (`sum(指标.分值)`), `lens[i]` of them in lane i:
    read with comprehensions over all the lanes' cells at once."""
    nums = [x.number for x in items]
    lane = np.repeat(np.arange(n, dtype=np.int64), lens)
    if None in nums:  # a cell without a number adds nothing
        keep = [x is not None for x in nums]
        items = list(compress(items, keep))
        nums = list(compress(nums, keep))
        lane = lane[np.array(keep, dtype=bool)]
    decs = [x.decimals or 0 for x in items]
    # a lane's k-th term: lanes come in order, so k counts from the lane's first term
    pos = np.arange(len(items), dtype=np.int64) - np.searchsorted(lane, lane, side="left")
    width = int(np.bincount(lane).max()) if items else 0
    cells = _Cells(items, np.array(nums, dtype=float), np.zeros(len(items), dtype=bool), np.array(decs, dtype=np.int64),
                   [])
    return _Terms(cells, lane, pos, width)


def _sum(ve: VEnv, args: list[Any], side: int) -> VNum:
    """`expr._sum` lane by lane: the terms' bounds added in their order, from the first filled one."""
    if not all(type(a) is VObj for a in args):
        args = [a if type(a) is VObj else VObj(_items(a, ve)) for a in args]
    if len(args) == 1 and not any(type(o) is list or type(o) is tuple for o in args[0].objs):
        return _vnum_of(args[0], ve, side)  # one term per lane: the term itself
    keys = tuple(a.key for a in args)
    key = ("terms", keys) if None not in keys else None
    t = ve.cache.get(key) if key is not None else None
    if t is None:
        t = _terms(args, ve)
        if key is not None:
            ve.cache[key] = t
    n = ve.n
    v = _read(t.cells, t.lane, ve, side)
    filled = ~v.blank
    # every lane's terms in a row of its own, BLANK as 0.0 (x + 0.0 is x): a running sum along
    # the row adds them one after the other, as the interpreter does
    out = []
    for part in (v.lo, v.hi, v.mid):
        m = np.zeros((n, max(t.width, 1)))
        m[t.lane[filled], t.pos[filled]] = part[filled]
        out.append(np.cumsum(m, axis=1)[:, -1])
    blank = np.bincount(t.lane[filled], minlength=n) == 0
    return VNum(out[0], out[1], out[2], blank)


def _coalesce(ve: VEnv, args: list[VNode], side: int) -> VNum:
    """The first alternative that is not BLANK, lane by lane (a list is summed, as in `expr`)."""
    out: VNum | None = None
    for a in args:
        x = a(ve, side)
        n = _sum(ve, [x], side) if type(x) is VObj else to_vnum(x, ve, side)
        if out is None:
            out = n
        else:
            take = out.blank & ~n.blank
            out = VNum(np.where(take, n.lo, out.lo), np.where(take, n.hi, out.hi), np.where(take, n.mid, out.mid),
                       out.blank & n.blank)
    assert out is not None
    return out


def _minmax(ve: VEnv, args: list[Any], side: int, smaller: bool) -> VNum:
    items = [_items(a, ve) for a in args]
    n = ve.n
    lo = [0.0] * n
    hi = [0.0] * n
    mid = [0.0] * n
    blank = [True] * n
    pick = min if smaller else max
    for i in range(n):
        try:
            nums = [r for r in (_obj_num(a, ve, i, side) for per_arg in items for a in _flatten([per_arg[i]]))
                    if r is not None]
        except _Bad:
            ve.mark(i)
            continue
        if nums:
            lo[i], hi[i], mid[i] = pick(r[0] for r in nums), pick(r[1] for r in nums), pick(r[2] for r in nums)
            blank[i] = False
    return VNum(np.array(lo), np.array(hi), np.array(mid), np.array(blank, dtype=bool))


class _Column:
    """What `expr._is_filled` needs of the evaluation state: the lane's column."""

    __slots__ = ("column", "record")

    def __init__(self, column: str | None) -> None:
        self.column = column
        self.record = False


def _filled(ve: VEnv, x: Any) -> np.ndarray:
    if type(x) is np.ndarray:  # a condition is not a cell
        return np.full(ve.n, FALSE, dtype=np.int8)
    if type(x) is VNum:  # a number is filled, BLANK is not
        return np.where(x.blank, FALSE, TRUE).astype(np.int8)
    return np.array([TRUE if _is_filled(o, _Column(c)) else FALSE  # type: ignore[arg-type]
                     for o, c in zip(x.objs, ve.cols, strict=True)], dtype=np.int8)


def _na(ve: VEnv, x: Any) -> np.ndarray:
    if type(x) is not VObj:
        return np.full(ve.n, FALSE, dtype=np.int8)
    return np.array([TRUE if any(v.na for v in _flatten([o]) if isinstance(v, Value)) else FALSE for o in x.objs],
                    dtype=np.int8)


def _count(ve: VEnv, args: list[Any]) -> VNum:
    counts = [0.0] * ve.n
    for a in args:
        if type(a) is VObj:
            for i, o in enumerate(a.objs):
                col = _Column(ve.cols[i])
                counts[i] += sum(1 for y in _flatten([o]) if _is_filled(y, col))  # type: ignore[arg-type]
        elif type(a) is VNum:  # a number counts as filled, BLANK does not
            counts = [c + (0 if b else 1) for c, b in zip(counts, a.blank.tolist(), strict=True)]
    c = np.array(counts, dtype=float)
    return VNum(c, c, c, np.zeros(ve.n, dtype=bool))


def _step_all(objs: list[Any], attr: str) -> list[Any]:
    """`expr.step` of every lane's object, with rows, dicts and lists of rows read directly."""
    plain = attr not in (CHILDREN, "名称", "标签")  # RowNS.attr of a column
    fld = INDICATOR_ATTRS.get(attr)  # IndicatorNS.attr
    kinds = set(map(type, objs))
    if len(kinds) == 1:  # all lanes alike (the usual case): one comprehension
        if dict in kinds:
            return [o.get(attr, BLANK) for o in objs]
        if RowNS in kinds and plain:
            return [o.row.values.get(attr, BLANK) for o in objs]
    out: list[Any] = []
    for o in objs:
        t = type(o)
        if t is RowNS and plain:
            out.append(o.row.values.get(attr, BLANK))
        elif t is dict:
            out.append(o.get(attr, BLANK))
        elif t is list and o and type(o[0]) is not dict and (fld is not None or plain):
            try:  # a list of indicator rows, or of rows: what their `attr` gives
                out.append([getattr(x.row, fld) for x in o] if fld is not None
                           else [x.row.values.get(attr, BLANK) for x in o])
            except AttributeError:  # something else in the list
                out.append(step(o, attr))
        else:
            out.append(step(o, attr))
    return out


# --- compiling ----------------------------------------------------------------------------


def compile_vector(src: str, lets: Sequence[str] = ()) -> VNode:
    """The vector form of a rule expression; raises Unsupported for what the screen does not model."""
    text, quoted = preprocess(str(src))
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise Unsupported from None
    return _VCompiler(quoted, frozenset(lets), str(src)).node(tree.body)


class _VCompiler(TreeCompiler[VNode]):
    """The screen's backend: whatever the interpreter refuses, or the screen does not model, is
    Unsupported (the rule is left to the interpreter)."""

    def error(self, message: str) -> Unsupported:
        return Unsupported()

    def num(self, n: ast.AST) -> VNode:
        f = self.node(n)
        return lambda ve, side: to_vnum(f(ve, side), ve, side)

    def n_Constant(self, n: ast.Constant) -> VNode:
        v = n.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise Unsupported  # text constants are compared as text: the interpreter's
        f = float(v)
        return lambda ve, side: _const(f, ve.n)

    def let_ref(self, name: str) -> VNode:
        return lambda ve, side: ve.lets[name](ve, side)

    def name_ref(self, name: str) -> VNode:
        if name == "params":
            return lambda ve, side: VObj([ve.params] * ve.n)
        return _path(name, ())

    def n_Attribute(self, n: ast.Attribute) -> VNode:
        root, steps = self.path(n)
        if root == "params":
            def param(ve: VEnv, side: int) -> Any:
                obj: Any = ve.params
                for s in steps:
                    obj = step(obj, s)
                if type(obj) is float or type(obj) is int:
                    return _const(float(obj), ve.n)
                return VObj([obj] * ve.n)
            return param
        if root in self.lets:
            def from_let(ve: VEnv, side: int) -> Any:
                x = ve.lets[root](ve, side)
                if type(x) is not VObj:
                    raise Unsupported  # a path into a number: BLANK per lane, not worth modelling
                objs = x.objs
                for s in steps:
                    objs = _step_all(objs, s)
                return VObj(objs)
            return from_let
        return _path(root, steps)

    def arith(self, op: type[ast.operator], a: VNode, b: VNode) -> VNode:
        if op is ast.Add:
            return lambda ve, side: _add(a(ve, side), b(ve, side), 1.0)
        if op is ast.Sub:
            return lambda ve, side: _add(a(ve, side), b(ve, side), -1.0)
        if op is ast.Mult:
            return lambda ve, side: _mul(a(ve, side), b(ve, side))
        return lambda ve, side: _div(a(ve, side), b(ve, side), ve)

    def minus(self, x: VNode) -> VNode:
        return lambda ve, side: _neg(x(ve, side))

    def negate(self, a: VNode) -> VNode:
        return lambda ve, side: tri_not(truth(a(ve, side), ve))

    def boolean(self, parts: list[VNode], conj: bool) -> VNode:
        comb = tri_and if conj else tri_or
        return lambda ve, side: comb([truth(p(ve, side), ve) for p in parts])

    def all_of(self, pairs: list[VNode]) -> VNode:
        return lambda ve, side: tri_and([p(ve, side) for p in pairs])

    def member(self, a: VNode, options: list[VNode], negate: bool) -> VNode:
        def member(ve: VEnv, side: int) -> np.ndarray:
            res = tri_or([compare(ve, "=", a, o) for o in options])
            return tri_not(res) if negate else res
        return member

    def comparison(self, sym: str, a: VNode, b: VNode) -> VNode:
        return lambda ve, side: compare(ve, sym, a, b)

    def call(self, name: str, args: list[VNode]) -> VNode:
        if name in ("coalesce", "ifblank"):
            return lambda ve, side: _coalesce(ve, args, side)
        if name == "sum":
            return lambda ve, side: _sum(ve, [a(ve, side) for a in args], side)
        if name in ("min", "max"):
            smaller = name == "min"
            return lambda ve, side: _minmax(ve, [a(ve, side) for a in args], side, smaller)
        if name == "abs":
            x = args[0]
            return lambda ve, side: _abs(to_vnum(x(ve, side), ve, side))
        if name == "filled":
            x = args[0]
            return lambda ve, side: _filled(ve, x(ve, side))
        if name == "blank":
            x = args[0]
            return lambda ve, side: tri_not(_filled(ve, x(ve, side)))
        if name == "na":
            x = args[0]
            return lambda ve, side: _na(ve, x(ve, side))
        if name == "count":
            return lambda ve, side: _count(ve, [a(ve, side) for a in args])
        raise Unsupported


def _path(root: str, steps: tuple[str, ...]) -> VNode:
    """A name, or a path from a name, looked up once per lanes (the rules over the same
    contexts read the same names)."""
    key = (root, *steps)

    def path(ve: VEnv, side: int) -> VObj:
        objs = ve.cache.get(key)
        if objs is None:
            per = ve.per
            # once per run of lanes with the same names, then repeated for each lane of the run
            objs = [ns.get(root, BLANK) for ns in (ve.ns[::per] if per > 1 else ve.ns)]
            for s in steps:
                objs = _step_all(objs, s)
            if per > 1:
                runs = objs
                objs = [None] * ve.n
                for k in range(per):
                    objs[k::per] = runs
            ve.cache[key] = objs
        return VObj(objs, key)
    return path


# --- screening ----------------------------------------------------------------------------


@dataclass(slots=True)
class VRule:
    """A rule's expressions in vector form, compiled once per pack."""

    lets: dict[str, VNode]
    when: VNode | None
    asserts: list[tuple[VNode | None, VNode, VNode | None]]  # (when, check, left operand of its first comparison)


def vector_rule(rule: Rule) -> VRule | None:
    """The rule in vector form, or None when the screen does not model it."""
    if rule.kind != "expr":
        return None
    try:
        names = list(rule.lets)
        lets = {name: compile_vector(c.source, names[:i]) for i, (name, c) in enumerate(rule.lets.items())}
        when = compile_vector(rule.when.source, names) if rule.when is not None else None
        asserts = [(compile_vector(a.when.source, names) if a.when is not None else None,
                    compile_vector(a.check.source, names), _first_left(a.check.source, names)) for a in rule.asserts]
    except (Unsupported, ExprError, SyntaxError, RecursionError):
        return None
    return VRule(lets, when, asserts)


def _first_left(src: str, lets: Sequence[str]) -> VNode | None:
    """The left operand of the first comparison the interpreter records, when it is a plain name
    or path (then the single leaf a display re-check reads is that cell); else None."""
    text, quoted = preprocess(src)
    tree = ast.parse(text.strip(), mode="eval")
    nodes = _in_order(tree.body)
    first = next((n for n in nodes if isinstance(n, ast.Compare)), None)
    if first is None or any(isinstance(n, ast.Compare) for c in nodes if isinstance(c, ast.Call)
                            for a in c.args for n in ast.walk(a)):
        return None  # a comparison inside a call (a lazy coalesce) may not be evaluated at all
    left = first.left
    root: ast.AST = left
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name) or quoted.get(root.id, root.id) in (*lets, "params"):
        return None
    return _VCompiler(quoted, frozenset(lets), src).node(left)


def _in_order(n: ast.AST) -> list[ast.AST]:
    """Nodes in the order the interpreter finishes them (operands before their comparison)."""
    out: list[ast.AST] = []
    for child in ast.iter_child_nodes(n):
        out.extend(_in_order(child))
    out.append(n)
    return out


def _single_leaf(x: Any, ve: VEnv) -> list[Value | None]:
    """Per lane the one leaf the interpreter records for a plain name or path operand, if it has
    a number (as `engine._single_leaf` of the comparison)."""
    if type(x) is not VObj:
        return [None] * ve.n
    out: list[Value | None] = []
    for i, o in enumerate(x.objs):
        if type(o) is not Value:
            col = getattr(o, "column_value", None)
            o = col(ve.cols[i]) if col is not None and ve.cols[i] is not None else None
        out.append(o if type(o) is Value and o.number is not None else None)
    return out


def screen(rule: Rule, vr: VRule, lanes: Lanes, display: bool) -> np.ndarray:
    """Per lane which of the rule's assertions the interpreter must evaluate (they may report
    something there): bit j for assertion j, 0 for none, -1 for all.

    `display`: passes are re-checked at display precision (the rule has `display_decimals` and an
    enabled display rule)."""
    with np.errstate(all="ignore"):  # overflow to inf is a value like any other (and hands the lane over)
        return _screen(rule, vr, lanes, display)


def _screen(rule: Rule, vr: VRule, lanes: Lanes, display: bool) -> np.ndarray:
    ve = VEnv(rule, vr.lets, lanes)
    n = ve.n
    need = np.zeros(n, dtype=np.int64)
    if vr.when is not None:
        active = truth(vr.when(ve, NONE), ve) == TRUE
        need[ve.bad] = -1
        active &= ~ve.bad
    else:
        active = np.ones(n, dtype=bool)
    for j, (a_when, check, left) in enumerate(vr.asserts):
        bit = np.int64(1 << j) if j < 63 else np.int64(-1)
        act = active
        if a_when is not None:
            ve.bad = np.zeros(n, dtype=bool)
            aw = truth(a_when(ve, NONE), ve)
            need[act & ve.bad] |= bit
            act = act & ~ve.bad & (aw == TRUE)
        ve.bad = np.zeros(n, dtype=bool)
        res = truth(check(ve, NONE), ve)
        need[act & (ve.bad | (res == FALSE))] |= bit
        if display:
            passed = act & ~ve.bad & ((res == TRUE) | (res == UNKNOWN))
            if passed.any():
                need[_display_need(rule, ve, check, left, passed)] |= bit
    return need


def _display_need(rule: Rule, ve: VEnv, check: VNode, left: VNode | None, passed: np.ndarray) -> np.ndarray:
    """Lanes whose re-check at display precision may fail (`engine._display_check`)."""
    if left is None:
        return passed
    ve.bad = np.zeros(ve.n, dtype=bool)
    leaves = _single_leaf(left(ve, LEFT), ve)
    short = [v is not None and (v.decimals or 0) < rule.display_decimals for v in leaves]
    cand = passed & np.array(short, dtype=bool)
    need = passed & ve.bad
    if not cand.any():
        return need
    ve.bad = np.zeros(ve.n, dtype=bool)
    ve.display = [v if c else None for v, c in zip(leaves, cand.tolist(), strict=True)]
    res = truth(check(ve, NONE), ve)
    ve.display = None
    return need | (cand & (ve.bad | (res == FALSE)))
