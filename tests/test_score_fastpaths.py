"""The score stage's shortcuts give exactly what the plain definitions give (hypothesis).

- `_row_sums` (one pass for `_totals`) equals TableReview's properties, bit for bit;
- an actual without whitespace or full-width characters is its own `_clean()` (`_copied`);
- `number_text_uncached` is `number_text` (cached); `Rubric.grade` picks the first band reached.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from jixiao.score import Rubric
from jixiao.score.indicator import _UNCLEAN, _clean, number_text, number_text_uncached
from jixiao.score.review import (
    CONSISTENT,
    OVER,
    UNDER,
    UNSCORED,
    UNVERIFIABLE,
    RowReview,
    TableReview,
    _row_sums,
)

opt = st.none() | st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) | st.sampled_from((0.0, -0.0, 1, 5))
verdicts = st.sampled_from((CONSISTENT, OVER, UNDER, UNVERIFIABLE, UNSCORED))


def _row(weight, reported, lo, hi, verdict, n):
    return RowReview("附件二", "s", None, n, f"I{n}", "定量", "产出指标", "x", "", "", weight, reported, lo, hi,
                     verdict, "")


def _same(a, b):
    return type(a) is type(b) and (a == b and math.copysign(1, a) == math.copysign(1, b) if a == a else b != b)


@given(st.lists(st.tuples(opt, opt, opt, opt, verdicts), max_size=12))
def test_row_sums_match_table_properties(specs):
    rows = [_row(*spec, n) for n, spec in enumerate(specs)]
    t = TableReview("附件二", "s", None, rows=rows)
    reported, point, lo, hi, unverifiable, flagged, scored, all_full = _row_sums(rows)
    assert _same(reported, t.reported_sum)
    assert _same(round(point, 4), t.recomputed_total)
    assert (round(lo, 4), round(hi, 4)) == t.recomputed_range
    assert _same(round(lo, 4), t.recomputed_range[0]) and _same(round(hi, 4), t.recomputed_range[1])
    assert unverifiable == sum(1 for r in rows if r.verdict == UNVERIFIABLE)
    assert flagged == [r for r in rows if r.verdict in (OVER, UNVERIFIABLE)]
    full = [r for r in rows if r.reported is not None and r.weight]
    assert scored == len(full)
    assert all_full == all(abs((r.reported or 0) - (r.weight or 0)) < 1e-9 for r in full)


text = st.text(alphabet=st.sampled_from("≥≤<>=%95.0 \t\n\u3000\u00a0１２％＞达成万元次ａA-"), max_size=8)


@given(text | st.text(max_size=8))
def test_clean_shortcut(s):
    if not _UNCLEAN.search(s):
        assert _clean(s) == s


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False) | st.integers(-10**6, 10**6))
def test_number_text_uncached_is_number_text(x):
    assert number_text_uncached(x) == number_text(x)


@given(st.floats(allow_nan=True, allow_infinity=True) | st.none())
def test_grade_first_band_reached(total):
    r = Rubric()
    want = "" if total is None else next((g.grade for g in r.grades if round(total, 6) >= g.min), r.grades[-1].grade)
    assert r.grade(total) == want
