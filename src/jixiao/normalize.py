"""Stage 3, normalize: Chinese value text -> number, precision, unit and comparator.

Accountants write the same number many ways: "1,435.09", "１４３５.０９", "91.17%", 0.9117,
"≤482.29万元", "不低于95%", "——". This module turns each into one `Parsed` record and keeps
the number of decimals it was written with, so that later checks can treat it as an interval.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from functools import lru_cache, partial
from typing import Any, NamedTuple

from .text import fold

# Tokens that mean "not applicable" (deliberately not filled), which is not zero.
NA_TOKENS = frozenset({"—", "——", "———", "-", "--", "―", "――", "/", "无", "n/a", "na", "不适用", "／", "－", "…", "……"})

# Comparator words and signs -> canonical operator. Longest first so "大于等于" wins over "大于".
_OPS = [
    ("大于或等于", ">="), ("大于等于", ">="), ("不低于", ">="), ("不少于", ">="), ("不小于", ">="),
    ("达到", ">="), ("≥", ">="), (">=", ">="), ("≧", ">="),
    ("小于或等于", "<="), ("小于等于", "<="), ("不高于", "<="), ("不超过", "<="), ("不多于", "<="),
    ("不大于", "<="), ("控制在", "<="), ("≤", "<="), ("<=", "<="), ("≦", "<="),
    ("大于", ">"), ("高于", ">"), ("超过", ">"), (">", ">"),
    ("小于", "<"), ("低于", "<"), ("<", "<"),
    ("等于", "="), ("==", "="), ("=", "="), ("﹦", "="),
]
# The scan above as one regex: alternatives are tried in list order, as a loop over _OPS would.
_OPS_RE = re.compile("|".join(re.escape(word) for word, _ in _OPS))
_OP_OF = dict(_OPS)
_NUM_RE = re.compile(r"^[+-]?(?:\d+(?:,\d{3})*|\d*)(?:\.\d+)?$")
_LEADING_NUM_RE = re.compile(r"^([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+)")
_UNIT_RE = re.compile(r"^\s*(%|‰|万元|元|亿元|人次|人|次|个|项|天|日|月|年|分|件|台|辆|户|家|篇|场|期|份|㎡|平方米|m2|公里|km|小时|h)?\s*(以上|以内|以下|及以上|左右)?\s*$")

# The usual entry, whole: an optional ≥ or ≤, ASCII digits, decimals, one unit of _UNIT_RE (not
# the ones it renames). For it the general path (fold, NA tokens, comparator words, thousands
# separators, unit suffixes) comes to the same parse, at a fraction of the cost.
_PLAIN_RE = re.compile(r"([≥≤])?([0-9]+(?:\.([0-9]+))?)(%|‰|万元|元|亿元|人次|人|次|个|项|天|日|月|年|分|件|台|辆|户|家|篇|场|期|份|㎡|公里|km|小时|h)?")

_MONEY_SCALE = {"元": 1e-4, "亿元": 1e4, "万元": 1.0}


class Parsed(NamedTuple):
    """A parsed cell. A named tuple: immutable (parses are cached and shared), cheap to make,
    and in `Value`'s field order from `text` on, so the model stage spreads it into one."""

    text: str = ""
    number: float | None = None
    decimals: int | None = None
    unit: str | None = None
    op: str | None = None
    na: bool = False
    blank: bool = True


BLANK = Parsed()


def decimals_of_float(x: float) -> int:
    """Decimals a float was written with: 10.29 -> 2, 4.0 -> 0, 0.9117 -> 4."""
    if not math.isfinite(x) or x == int(x):
        return 0
    r = repr(float(x))
    if "e" in r or "E" in r:
        mant, exp = r.lower().split("e")
        frac = len(mant.split(".")[1]) if "." in mant else 0
        return max(0, frac - int(exp))
    return len(r.split(".")[1])


def _decimals_of_text(num: str) -> int:
    return len(num.split(".")[1]) if "." in num else 0


def parse_value(raw: Any, kind: str = "auto") -> Parsed:
    """Parse one cell (cached by value: labels and typical entries recur across a batch)."""
    cls = type(raw)
    if cls is float:  # not cached: a unit's own amounts rarely repeat, parsing one is cheap, and
        return _new_parsed(number_fields(raw, kind))  # 0.0 == -0.0 would make one zero's parse the other's
    if raw is None:
        return BLANK
    try:
        return _parse_cached(cls, raw, kind)
    except TypeError:  # unhashable raw value
        return _parse(raw, kind)


@lru_cache(maxsize=65536)
def _parse_cached(_type: type, raw: Any, kind: str) -> Parsed:
    return _parse(raw, kind)


def _parse(raw: Any, kind: str) -> Parsed:
    """Parse one cell.

    kind: "text" (keep as text), "number" (count/score/money without unit conversion),
    "money" (万元; "元"/"亿元" converted), "ratio" (a percentage, returned as a fraction),
    "target" (comparator + number + unit allowed), "auto".
    """
    if raw.__class__ is str:  # the usual cell, first
        stripped = raw.strip()
    elif raw is None:
        return BLANK
    elif isinstance(raw, bool):
        return Parsed(text=str(raw), blank=False)
    elif isinstance(raw, (datetime, date)):
        return Parsed(text=raw.isoformat(), blank=False)
    elif isinstance(raw, (int, float)):
        return _new_parsed(number_fields(float(raw), kind))
    else:
        stripped = str(raw).strip()
    if not stripped:
        return BLANK
    if kind == "text":
        return _new_parsed((stripped, None, None, None, None, _is_na(stripped), False))
    m = _PLAIN_RE.fullmatch(stripped)
    if m is not None:
        sign, num, frac, unit = m.groups()
        value = float(num)
        if math.isfinite(value):  # else 400 nines: text, as the general path finds
            return _finish(stripped, value, len(frac) if frac else 0, unit, _OP_OF[sign] if sign else None, kind)
    folded = fold(stripped)
    if _is_na(folded):
        return Parsed(text=stripped, na=True, blank=False)
    op, rest = _split_op(folded)
    if op is not None and kind not in ("target", "auto"):
        # A comparator where a plain number belongs (e.g. "≥95%" as an actual value).
        num = _parse_number_text(rest)
        if num is None:
            return Parsed(text=stripped, op=op, blank=False)
        value, dec, unit = num
        return _finish(stripped, value, dec, unit, op, kind)
    num = _parse_number_text(rest)
    if num is None:
        return Parsed(text=stripped, op=op, blank=False)
    value, dec, unit = num
    return _finish(stripped, value, dec, unit, op, kind)


def number_fields(x: float, kind: str) -> tuple[Any, ...]:
    """The parse of a number cell as a plain tuple in Parsed's field order: decimals_of_float
    and the text it implies, in one pass. The model stage spreads it into a Value without
    making a Parsed (a fifth of the cost; most number cells of a unit's own data come here)."""
    try:
        whole = int(x)
    except (OverflowError, ValueError):  # inf, nan
        return (repr(x), None, None, None, None, False, False)
    if x == whole:
        dec = 0
        text = str(whole) if abs(x) < 1e15 else repr(x)
    else:
        text = repr(x)
        if "e" in text:
            dec = decimals_of_float(x)
            text = format(x, _FIXED[min(dec, 15)])
        else:
            dec = len(text) - text.index(".") - 1
            if dec > 15:
                text = format(x, ".15f")
            # else: the shortest repr with `dec` decimals is also x rounded to `dec` decimals, the
            # f"{x:.{dec}f}" of decimals_of_float's precision
    if kind == "ratio":
        if abs(x) <= 2:  # a fraction as Excel stores a percent-formatted cell: 0.9117
            return (text, x, max(dec, 2), "%", None, False, False)
        return (text, round(x / 100, dec + 2), dec + 2, "%", None, False, False)
    return (text, x, dec, None, None, False, False)


# Format specs made once: a nested f"{x:.{dec}f}" builds and parses its spec on every call.
_FIXED = tuple(f".{d}f" for d in range(16))
# Parsed from all seven fields in order, without the keyword handling of Parsed().
_new_parsed = partial(tuple.__new__, Parsed)


def _finish(text: str, value: float, dec: int, unit: str | None, op: str | None, kind: str) -> Parsed:
    # Parsed positionally (text, number, decimals, unit, op, na, blank): Parsed(...) with keywords is a Python-level call
    if unit in ("%", "‰"):
        scale_dec = 2 if unit == "%" else 3
        number = round(value / (100 if unit == "%" else 1000), dec + scale_dec)
        return _new_parsed((text, number, dec + scale_dec, "%", op, False, False))
    if kind == "ratio" and unit is None:
        if abs(value) <= 2 and dec >= 2:
            return _new_parsed((text, value, dec, "%", op, False, False))
        return _new_parsed((text, round(value / 100, dec + 2), dec + 2, "%", op, False, False))
    if kind == "money" and unit in _MONEY_SCALE:
        scale = _MONEY_SCALE[unit]
        shift = round(-math.log10(scale))
        decimals = max(dec + shift, 0)
        return _new_parsed((text, round(value * scale, decimals), decimals, "万元", op, False, False))
    return _new_parsed((text, value, dec, unit, op, False, False))


def _is_na(text: str) -> bool:
    return text.strip().lower() in NA_TOKENS


def _split_op(text: str) -> tuple[str | None, str]:
    m = _OPS_RE.match(text)
    if m is None:
        return None, text
    word = m.group()
    return _OP_OF[word], text[len(word):].strip()


def _parse_number_text(text: str) -> tuple[float, int, str | None] | None:
    """"1,435.09" -> (1435.09, 2, None); "95%" -> (95.0, 0, "%"); "2642次" -> (2642.0, 0, "次").
    None when the text is not a number with an optional unit."""
    t = text.replace(" ", "").replace("，", ",")
    neg = False
    if t.startswith("(") and t.endswith(")"):
        t, neg = t[1:-1], True
    m = _LEADING_NUM_RE.match(t)
    if not m:
        return None
    num = m.group(1)
    rest = t[m.end():]
    um = _UNIT_RE.match(rest)
    if not um:
        return None
    unit = um.group(1)
    if unit in ("平方米", "m2"):
        unit = "㎡"
    try:
        value = float(num.replace(",", ""))
    except ValueError:
        return None
    if not math.isfinite(value):  # 400 nines overflow to inf: text, as for non-finite number cells
        return None
    if neg:
        value = -value
    return value, _decimals_of_text(num), unit
