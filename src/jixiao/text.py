"""Text folding and cell addresses shared by the stages (not a stage itself)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")
_QIZHONG = re.compile(r"^(其中[:：]?)")
_NUMBERING = re.compile(r"^(\d+[、.．)]|\(\d+\)|[一二三四五六七八九十]+[、.．])")


def fold(text: str) -> str:
    """Full-width to half-width (digits, letters, %, signs) without touching CJK punctuation
    that carries meaning in labels. ≥ and ≤ are kept as they are. A regex finds the few
    full-width characters (checks and scoring fold every target and actual); str.replace
    swaps each distinct one (cheaper than a substitution callback per character)."""
    found = _FULL_WIDTH.findall(text)
    for c in set(found):
        text = text.replace(c, " " if c == "\u3000" else chr(ord(c) - 0xFEE0))
    return text


_YEAR = re.compile(r"(20\d{2}|19\d{2})\s*年")


def parse_year(text: str) -> int | None:
    """A four-digit year in a title or header: "2023年度…" -> 2023."""
    m = _YEAR.search(fold(text or ""))
    return int(m.group(1)) if m else None


def label_key(text: Any) -> str:
    """Cached: the same template labels recur in every workbook of a batch."""
    if text is None:
        return ""
    return _label_key(text if isinstance(text, str) else str(text))


@lru_cache(maxsize=65536)
def _label_key(text: str) -> str:
    """A label reduced to what identifies it: no spaces or line breaks, half-width, no
    numbering ("1、", "(1)", "一、"), no "其中", no trailing colon."""
    t = "".join(_nfkc(text).split())  # str.split()'s whitespace is exactly regex \s
    t = _NUMBERING.sub("", _QIZHONG.sub("", t))
    return _QIZHONG.sub("", t).rstrip(":：")


def _nfkc(text: str) -> str:
    """unicodedata.normalize("NFKC", text), fast for the usual label: CPython's NFKC costs
    ~15 µs for a sentence once it holds a full-width comma. The wide forms `fold` maps are
    exactly their NFKC decompositions, so a folded text that is already NFKC *is* the NFKC form."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    t = fold(text)
    return t if unicodedata.is_normalized("NFKC", t) else unicodedata.normalize("NFKC", text)


# For loops over cells already known to hold a str: the cached fold without the type test.
str_label_key = _label_key


@lru_cache(maxsize=16384)
def a1(r: int, c: int) -> str:
    """0-based (row, column) -> Excel address: (0, 0) -> "A1"."""
    letters = ""
    n = c + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{r + 1}"
