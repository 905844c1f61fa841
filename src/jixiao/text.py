"""Text folding and cell addresses shared by the stages (not a stage itself)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")


def fold(text: str) -> str:
    """Full-width to half-width (digits, letters, %, signs) without touching CJK punctuation
    that carries meaning in labels. ≥ and ≤ are kept as they are. A regex visits only the few
    full-width characters (checks and scoring fold every target and actual)."""
    return _FULL_WIDTH.sub(_half_width, text)


def _half_width(m: re.Match[str]) -> str:
    c = m.group()
    return " " if c == "\u3000" else chr(ord(c) - 0xFEE0)


def parse_year(text: str) -> int | None:
    """A four-digit year in a title or header: "2023年度…" -> 2023."""
    m = re.search(r"(20\d{2}|19\d{2})\s*年", fold(text or ""))
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
    t = unicodedata.normalize("NFKC", text)
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"^(其中[:：]?)", "", t)
    t = re.sub(r"^(\d+[、.．)]|\(\d+\)|[一二三四五六七八九十]+[、.．])", "", t)
    t = re.sub(r"^(其中[:：]?)", "", t)
    return t.rstrip(":：")


@lru_cache(maxsize=16384)
def a1(r: int, c: int) -> str:
    """0-based (row, column) -> Excel address: (0, 0) -> "A1"."""
    letters = ""
    n = c + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{r + 1}"
