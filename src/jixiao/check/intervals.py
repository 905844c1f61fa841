"""Interval arithmetic for reported numbers (XBRL Calculations 1.1 style).

A number written with d decimals stands for every value that rounds to it:
[v − ½·10⁻ᵈ, v + ½·10⁻ᵈ]. Sums, differences, products and ratios of such numbers are
intervals too, and a check fails only when the reported interval and the computed one cannot
agree. A value that fits only the truncation interval [v, v + 10⁻ᵈ) is told apart so that it
can be reported as 截位而非四舍五入 rather than as an arithmetic error.
"""

from __future__ import annotations

import math
from typing import Final

# Relative slack for binary floating point: 0.1 + 0.2 must still equal 0.3.
_EPS: Final = 1e-9
HALF_UNITS: Final = tuple(0.5 * 10.0 ** -d for d in range(16))  # half a unit in the last place, by decimals


class Num:
    """A closed interval [lo, hi] with the value as written (`mid`)."""

    __slots__ = ("hi", "lo", "mid")

    def __init__(self, lo: float, hi: float, mid: float | None = None) -> None:
        self.lo = lo
        self.hi = hi
        self.mid = (lo + hi) / 2 if mid is None else mid

    @classmethod
    def exact(cls, v: float) -> Num:
        return cls(v, v, v)

    @classmethod
    def rounded(cls, v: float, decimals: int) -> Num:
        """The values that round (half away or half even, both covered) to v at `decimals`."""
        half = HALF_UNITS[decimals] if decimals < 16 else 0.5 * 10.0 ** -decimals
        return cls(v - half, v + half, v)

    @classmethod
    def truncated(cls, v: float, decimals: int) -> Num:
        """The values that truncate to v at `decimals` (toward zero)."""
        step = 10.0 ** -decimals
        if v > 0:
            return cls(v, v + step, v)
        if v < 0:
            return cls(v - step, v, v)
        return cls(-step, step, v)

    @property
    def is_point(self) -> bool:
        return self.lo == self.hi

    def widen(self, tol: float) -> Num:
        return Num(self.lo - tol, self.hi + tol, self.mid) if tol else self

    def contains(self, x: float) -> bool:
        return self.lo - _slack(self.lo) <= x <= self.hi + _slack(self.hi)

    # --- arithmetic ------------------------------------------------------------------------

    def __add__(self, o: Num) -> Num:
        return Num(self.lo + o.lo, self.hi + o.hi, self.mid + o.mid)

    def __sub__(self, o: Num) -> Num:
        return Num(self.lo - o.hi, self.hi - o.lo, self.mid - o.mid)

    def __neg__(self) -> Num:
        return Num(-self.hi, -self.lo, -self.mid)

    def __mul__(self, o: Num) -> Num:
        p = (self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi)
        return Num(min(p), max(p), self.mid * o.mid)

    def div(self, o: Num) -> Num | None:
        """None when the divisor may be zero: the ratio is not applicable (N/A), not infinite."""
        if o.lo <= 0 <= o.hi or o.mid == 0:
            return None
        q = (self.lo / o.lo, self.lo / o.hi, self.hi / o.lo, self.hi / o.hi)
        return Num(min(q), max(q), self.mid / o.mid)

    def __abs__(self) -> Num:
        if self.lo >= 0:
            return self
        if self.hi <= 0:
            return -self
        return Num(0.0, max(-self.lo, self.hi), abs(self.mid))

    def __repr__(self) -> str:
        return f"Num({self.lo!r}, {self.hi!r}, mid={self.mid!r})"


def _slack(x: float) -> float:
    a = abs(x)
    return _EPS * a if a > 1.0 else _EPS


# Three-valued comparisons. TRUE/FALSE are certain; UNKNOWN means "consistent but not certain"
# (the intervals overlap). SKIP means the comparison does not apply (a side is blank or N/A).
FALSE: Final = 0
TRUE: Final = 1
UNKNOWN: Final = 2
SKIP: Final = 3


def eq(a: Num, b: Num) -> int:
    if a.hi + _slack(a.hi) < b.lo or b.hi + _slack(b.hi) < a.lo:
        return FALSE
    if a.lo == a.hi and b.lo == b.hi and math.isclose(a.lo, b.lo, rel_tol=_EPS, abs_tol=_EPS):  # both points
        return TRUE
    return UNKNOWN


def le(a: Num, b: Num) -> int:
    """a ≤ b: FALSE only when every value of a exceeds every value of b."""
    if a.hi <= b.lo + _slack(b.lo):
        return TRUE
    if a.lo > b.hi + _slack(b.hi):
        return FALSE
    return UNKNOWN


def lt(a: Num, b: Num) -> int:
    if a.hi < b.lo - _slack(b.lo):
        return TRUE
    if a.lo >= b.hi - _slack(b.hi):
        return FALSE
    return UNKNOWN


def tri_not(x: int) -> int:
    return TRUE if x == FALSE else FALSE if x == TRUE else x


def tri_and(xs: list[int]) -> int:
    xs = [x for x in xs if x != SKIP]
    if not xs:
        return SKIP
    if FALSE in xs:
        return FALSE
    return TRUE if all(x == TRUE for x in xs) else UNKNOWN


def tri_or(xs: list[int]) -> int:
    xs = [x for x in xs if x != SKIP]
    if not xs:
        return SKIP
    if TRUE in xs:
        return TRUE
    return FALSE if all(x == FALSE for x in xs) else UNKNOWN


_SPECS = tuple(f".{d}f" for d in range(16))  # format specs by decimals, built once


def format_interval(n: Num, percent: bool = False, decimals: int = 4) -> str:
    spec = _SPECS[decimals] if type(decimals) is int and 0 <= decimals < 16 else f".{decimals}f"
    if percent:
        return f"[{format(n.lo * 100, spec)}%, {format(n.hi * 100, spec)}%]"
    return f"[{format(n.lo, spec)}, {format(n.hi, spec)}]"
