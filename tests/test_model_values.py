"""The model stage's shortcuts make exactly what the plain constructions make: Values built
without the dataclass __init__, floats parsed without the cache, usual entries parsed by one
regex, Values shared across models but never twice within one."""

from __future__ import annotations

import dataclasses
import random
import re
import struct

import pytest

from jixiao import model as m
from jixiao import normalize as nz
from jixiao.locate import CellRef, Located, LocatedAnnex, LocatedRow

KINDS = ("text", "number", "money", "ratio", "target", "auto")


def _fields(v: m.Value) -> tuple[object, ...]:
    return tuple(getattr(v, f.name) for f in dataclasses.fields(v))


def test_new_value_and_twin_set_every_field() -> None:
    assert [f.name for f in dataclasses.fields(m.Value)][3:10] == list(nz.Parsed._fields)
    assert len(dataclasses.fields(m.Value)) == 11  # a new field must be set by _new_value and _twin too
    for raw, kind in (("≥95%", "target"), (1234.5, "money"), (None, "text"), (True, "auto")):
        p = nz.parse_value(raw, kind)
        v = m._new_value("附件二", "C7", raw, p, True)
        plain = m.Value("附件二", "C7", raw, *p, True)
        assert v == plain and _fields(v) == _fields(plain) and v.to_json() == plain.to_json()
        t = m._twin(v)
        assert t is not v and t == v and _fields(t) == _fields(v)


def _reference_number(x: float, kind: str) -> tuple[object, ...]:
    """The float parse as written before: decimals_of_float and a nested format spec."""
    if x != x or x in (float("inf"), float("-inf")):
        return (repr(x), None, None, None, None, False, False)
    dec = nz.decimals_of_float(x)
    text = f"{x:.{min(dec, 15)}f}" if dec else str(int(x)) if abs(x) < 1e15 else repr(x)
    if kind == "ratio":
        if abs(x) <= 2:
            return (text, x, max(dec, 2), "%", None, False, False)
        return (text, round(x / 100, dec + 2), dec + 2, "%", None, False, False)
    return (text, x, dec, None, None, False, False)


def test_float_parse_matches_the_reference() -> None:
    rnd = random.Random(6)
    xs = [rnd.uniform(-1e6, 1e6) for _ in range(3000)]
    xs += [round(rnd.uniform(0, 1e5), rnd.randint(0, 7)) for _ in range(3000)]
    xs += [rnd.random() * 10 ** rnd.randint(-25, 25) for _ in range(3000)]
    xs += [struct.unpack("d", rnd.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(3000)]
    xs += [2.0 ** k for k in range(-1074, 1024, 3)] + [k / 10 ** d for d in range(1, 17) for k in range(1, 300, 7)]
    xs += [1e-5, 1.5e-7, 1e15, 1e16, 999999999999999.9, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, 0.0001,
           123456789012345.67, 2251799813685248.5, float("inf"), float("-inf"), float("nan")]
    for x in xs:
        for kind in ("number", "money", "ratio", "target"):
            assert repr(tuple(nz.parse_value(x, kind))) == repr(_reference_number(x, kind)), (x, kind)


def test_a_negative_zero_is_parsed_as_itself_whatever_came_before() -> None:
    """0.0 == -0.0 (one hash): a cache keyed on the value once gave -0.0 the parse of an
    earlier 0.0 (and the other way round), so a cell's parse depended on the batch."""
    for first, second in ((0.0, -0.0), (-0.0, 0.0)):
        nz._parse_cached.cache_clear()
        a, b = nz.parse_value(first, "money"), nz.parse_value(second, "money")
        assert repr(tuple(a)) == repr(_reference_number(first, "money"))
        assert repr(tuple(b)) == repr(_reference_number(second, "money"))
        assert repr(a) != repr(b)


ENTRIES = ["95%", "≥95%", "≤482.29万元", "1,435.09", "１４３５.０９", "2642次", "≥ 1506次", "100", "0.9117", "007",
           "12.", ".5", "(12)", "-3", "+3", "95%以上", "≥95％", "不低于95%", "9" * 400, "9" * 400 + "%", "≥" + "9" * 400,
           "5h", "3km", "20平方米", "20㎡", "30m2", "1.5亿元", "800元", "3‰", "2人次", "2人", "1次次", "≥", "——", "无",
           "٣٤", "１２", "12 次", "12\u3000次", "≧95%", "=3", "＞3", "h", "%", "3.5.1", "1e5", "0", "0.00", "2,5"]


def test_plain_entries_parse_as_the_general_path_does(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = {(s, k): nz._parse(s, k) for s in ENTRIES for k in KINDS}
    monkeypatch.setattr(nz, "_PLAIN_RE", re.compile(r"(?!)"))  # never matches: the general path only
    for (s, k), p in fast.items():
        assert repr(nz._parse(s, k)) == repr(p), (s, k)


def _located(cells: dict[str, CellRef]) -> Located:
    row = LocatedRow(key="三公经费", label=CellRef("附件一", 9, 0, "三公经费"), cells=cells, r=9)
    ann = LocatedAnnex(kind="annex1", sheet="附件一", title=CellRef("附件一", 0, 0, "附件一"), year=2023,
                       rows={"expenses": [row, row]})
    return Located(source="x.xlsx", annexes=[ann])


def test_values_are_shared_across_models_never_within_one() -> None:
    cells = {"本年预算数": CellRef("附件一", 9, 2, 12.5), "本年决算数": CellRef("附件一", 9, 3, "12.5"),
             "上年决算数": CellRef("附件一", 9, 1, -0.0)}
    one, two = m.build(_located(cells)), m.build(_located(cells))
    a, b = one.annex1.expenses, two.annex1.expenses
    leaves = [v for r in a for v in (r.label, *r.values.values())]
    assert len({id(v) for v in leaves}) == len(leaves)  # the row twice: equal Values, distinct objects
    assert a[0].values == a[1].values and a[0].label == a[1].label
    assert b[0].values["本年预算数"] is a[0].values["本年预算数"]  # shared with the other model
    assert b[0].values["上年决算数"] is not a[0].values["上年决算数"]  # -0.0 is never shared
    assert a[0].values["上年决算数"].number == 0.0


def test_equal_raw_values_of_other_types_are_not_mixed_up() -> None:
    made = []
    for raw in (1.0, 1, True, "1"):
        model = m.build(_located({"本年预算数": CellRef("附件一", 9, 2, raw)}))
        made.append(model.annex1.expenses[0].values["本年预算数"])
    assert [v.raw for v in made] == [1.0, 1, True, "1"] and [type(v.raw) for v in made] == [float, int, bool, str]
    assert [v.text for v in made] == ["1", "1", "True", "1"]


def test_number_fields_are_the_fields_of_parse_value() -> None:
    """The model spreads number_fields into a Value for a float: what parse_value gives."""
    rnd = random.Random(7)
    xs = [rnd.uniform(-1e6, 1e6) for _ in range(2000)] + [round(rnd.uniform(0, 1e5), rnd.randint(0, 7)) for _ in range(2000)]
    xs += [struct.unpack("d", rnd.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(2000)]
    xs += [0.0, -0.0, 1e15, 1e16, 5e-324, 1.5e-7, 0.1 + 0.2, float("inf"), float("-inf"), float("nan")]
    for x in xs:
        for kind in KINDS:
            fields = nz.number_fields(x, kind)
            assert type(fields) is tuple and repr(fields) == repr(tuple(nz.parse_value(x, kind))), (x, kind)
            v = m._new_value("附件一", "B6", x, fields, False)
            assert repr(_fields(v)) == repr(_fields(m.Value("附件一", "B6", x, *nz.parse_value(x, kind), False)))


def _row_twice(cell: CellRef) -> Located:
    return _located({"本年预算数": cell, "本年决算数": cell})  # one cell under two columns, in two rows


def test_a_shared_value_is_never_handed_twice_to_one_model() -> None:
    """The table remembers which builder last took a Value: a later model that takes it becomes
    the holder, and its own second request gets a twin, as does the first model's."""
    for raw in ("12.5", 12.5, None, "三公经费", 7):
        cell = CellRef("附件一", 9, 2, raw)
        first, second = m.build(_row_twice(cell)), m.build(_row_twice(cell))
        for model in (first, second):
            leaves = [v for r in model.annex1.expenses for v in r.values.values()]
            assert len(leaves) == 4 and len({id(v) for v in leaves}) == 4
            assert all(_fields(v) == _fields(leaves[0]) for v in leaves)
        assert first.annex1.expenses[0].values["本年预算数"] is second.annex1.expenses[0].values["本年预算数"]


def test_builds_in_two_threads_do_not_share_a_value_within_one_model() -> None:
    """Interleaved builds (one per thread) each keep their Values distinct."""
    from concurrent.futures import ThreadPoolExecutor

    cell = CellRef("附件一", 9, 2, "12.5")
    with ThreadPoolExecutor(1) as one, ThreadPoolExecutor(1) as two:
        a = one.submit(m._Builder).result()
        b = two.submit(m._Builder).result()
        first = one.submit(a.value, cell, "money").result()
        two.submit(b.value, cell, "money").result()
        again = one.submit(a.value, cell, "money").result()
    assert again is not first and _fields(again) == _fields(first)
