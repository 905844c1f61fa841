"""The fast paths of label folding, 审核说明 sheet detection, label search and Value sharing give
exactly what the plain definitions give (the plain definitions are written out here)."""

from __future__ import annotations

import random
import re
import sys
import unicodedata
from pathlib import Path

import pytest

from jixiao import explanations, model, text
from jixiao.locate import Region, SheetLabels, locate
from jixiao.model import build
from jixiao.read import Grid, Sheet, read_path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402


def _plain_label_key(t: str) -> str:
    t = unicodedata.normalize("NFKC", t)
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"^(其中[:：]?)", "", t)
    t = re.sub(r"^(\d+[、.．)]|\(\d+\)|[一二三四五六七八九十]+[、.．])", "", t)
    t = re.sub(r"^(其中[:：]?)", "", t)
    return t.rstrip(":：")


def _plain_fold(t: str) -> str:
    return re.sub("[\uff01-\uff5e\u3000]", lambda m: " " if m.group() == "\u3000" else chr(ord(m.group()) - 0xFEE0), t)


SAMPLES = [
    "", " ", "其中：公车购置", "1、公务用车购置和维护经费", "（1）出国经费", "一、项目支出：", "年度\n指标值",
    "全年预算数（Ａ）", "推进机关事务管理工作，提升党建工作 保证政务信息工作有序进行。", "Ａ\u0301Ｂ", "①㎡ⅻ",
    "\u3000填表人：张三\u3000", "２０２３年度部门整体支出绩效自评表", "ｅ\u0308", "\x1c\x1d\x85\u2028x", "ﬁ⁵₂",
]


@pytest.mark.parametrize("s", SAMPLES)
def test_label_key_and_fold_match_the_plain_definitions(s: str) -> None:
    assert text.label_key(s) == _plain_label_key(s)
    assert text.fold(s) == _plain_fold(s)


def test_label_key_on_random_text_matches_the_plain_definition() -> None:
    rng = random.Random(7)
    alphabet = "其中：:1、.)(一二审核说明\u3000\uff01\uff10\uff21\uff5e\u0301\u0308 \n\t，。%≥ａ①㎡ﬁ\u2028"
    for _ in range(3000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert text.label_key(s) == _plain_label_key(s), repr(s)


def test_str_split_whitespace_is_regex_whitespace() -> None:
    space = re.compile(r"\s")
    for cp in range(0x110000):
        ch = chr(cp)
        assert (not ch.split()) == bool(space.match(ch)), hex(cp)


def test_wide_forms_fold_to_their_nfkc_decomposition() -> None:
    for cp in [*range(0xFF01, 0xFF5F), 0x3000]:
        ch = chr(cp)
        assert text.fold(ch) == unicodedata.normalize("NFKD", ch)


def test_header_mark_is_required_and_nothing_else_folds_into_it() -> None:
    mark = explanations._HEADER_MARK
    for required in (explanations._RESULT_KEYS, explanations.REVIEW_KEYS):
        assert any(mark in k for k in required)
    for cp in range(0x110000):
        ch = chr(cp)
        if ch != mark:
            assert mark not in unicodedata.normalize("NFKC", ch), hex(cp)


def test_report_headers_written_oddly_are_still_recognised() -> None:
    rows = [["标题"], ["序 号", "严重\n程度", "规则：", "单元格", "审\u3000核说明"], ["1", "警告", "BDT-3", "附件二!H14", "说明"]]
    assert explanations.report_sheet_kind(Sheet("x", rows)) == explanations.RESULT_SHEET
    review = [["指标", "填报得分", "复核得分"]]
    assert explanations.report_sheet_kind(Sheet("y", review)) == explanations.REVIEW_SHEET
    assert explanations.report_sheet_kind(Sheet("z", [["审核", "核对", "复核"]])) is None


def _plain_find(labels: SheetLabels, top: int, bottom: int, names: tuple[str, ...], start: bool,
                after: int) -> tuple[int, int] | None:
    for r, c, k in zip(labels.rows, labels.cols, labels.keys, strict=True):
        if top <= r < bottom and r > after and (k in names or (start and k.startswith(names))):
            return r, c
    return None


def test_find_matches_a_scan_of_every_label() -> None:
    rng = random.Random(3)
    words = ["填表人", "填表人：张三", "年度资金总额", "总额", "总额合计", "一级指标", "a(b)", "a", "ab", "x*"]
    for _ in range(300):
        height, width = rng.randint(1, 12), rng.randint(1, 5)
        rows = [[rng.choice([*words, "", 1.5]) for _ in range(width)] for _ in range(height)]
        labels = SheetLabels(Sheet("s", rows))
        top = rng.randint(0, height)
        region = Region(labels, top, rng.randint(top, height + 1))
        for _ in range(10):
            names = tuple(rng.sample(words, rng.randint(1, 3)))
            start, after = rng.random() < 0.5, rng.randint(-1, height)
            expected = _plain_find(labels, region.top, region.bottom, names, start, after)
            assert region.find(names, start=start, after=after) == expected, (rows, names, start, after)


@pytest.fixture(scope="module")
def example_grid(tmp_path_factory: pytest.TempPathFactory) -> Grid:
    return read_path(bt.build_example(tmp_path_factory.mktemp("ex") / "示例.xlsx"))


def _values(m: model.WorkbookModel) -> list[model.Value]:
    out: list[model.Value] = []

    def walk(obj: object) -> None:
        if isinstance(obj, model.Value):
            out.append(obj)
        elif isinstance(obj, (list, tuple)):
            for x in obj:
                walk(x)
        elif isinstance(obj, dict):
            for x in obj.values():
                walk(x)
        elif hasattr(obj, "__dataclass_fields__"):
            for k in obj.__dataclass_fields__:
                walk(getattr(obj, k))

    walk(m)
    return out


def test_values_are_shared_between_models_but_distinct_within_one(example_grid: Grid) -> None:
    first, second = build(locate(example_grid)), build(locate(example_grid))
    assert first.to_json() == second.to_json()
    a, b = _values(first), _values(second)
    assert len({id(v) for v in a}) == len(a) and len({id(v) for v in b}) == len(b)
    assert any(x is y for x, y in zip(a, b, strict=True))  # reused across workbooks


def test_negative_zero_is_never_taken_from_another_cell() -> None:
    ref = model.CellRef("附件二", 4, 2, 0.0, False)
    assert str(model._Builder().value(ref, "money").raw) == "0.0"
    assert str(model._Builder().value(ref._replace(raw=-0.0), "money").raw) == "-0.0"
