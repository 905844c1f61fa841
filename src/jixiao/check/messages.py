"""Turning a rule outcome into a `Finding`: number formatting and message templates.

Templates are the pack's Chinese `message:` strings with `{name}` placeholders. Only plain
names are substituted (no attribute or index access), so a pack cannot reach into objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..findings import Finding
from ..model import Value
from .rulepack import Rule

_FIELD_RE = re.compile(r"\{([^{}\s]+)\}")
_LINEBREAK_RE = re.compile(r"\s*\n\s*")  # labels wrapped in their cell ("可持续\n影响指标")


# template -> its placeholders with the text before each, and the text after the last one
_TEMPLATES: dict[str, tuple[list[tuple[str, str]], str]] = {}


def _parts(template: str) -> tuple[list[tuple[str, str]], str]:
    parts = _TEMPLATES.get(template)
    if parts is None:
        pairs, pos = [], 0
        for m in _FIELD_RE.finditer(template):
            pairs.append((template[pos:m.start()], m.group(1)))
            pos = m.end()
        parts = _TEMPLATES[template] = (pairs, template[pos:])
    return parts


def render(template: str, fields: Mapping[str, Any]) -> str:
    return _render(_parts(template), fields, None, None)


_OWN = frozenset({"expected", "actual", "diff", "interval", "cell", "sheet", "annex", "project", "title"})


def _render(parts: tuple[list[tuple[str, str]], str], fields: Mapping[str, Any] | None, finding: Finding | None,
            params: Mapping[str, Any] | None) -> str:
    """Fill the placeholders from `fields`, else the finding's own values (`_OWN`), else `params`."""
    pairs, tail = parts
    if not pairs:
        return tail
    out: list[str] = []
    for text, name in pairs:
        out.append(text)
        if fields is not None and name in fields:
            v = fields[name]
        elif finding is not None and name in _OWN:
            v = getattr(finding, name) if name != "project" else finding.project or ""
        elif params is not None and name in params:
            v = params[name]
        else:
            out.append("{" + name + "}")  # left visible so that a typo in a pack's template is noticed
            continue
        if v is not None:
            t = v if type(v) is str else str(v)
            out.append(_LINEBREAK_RE.sub("", t) if "\n" in t else t)
    out.append(tail)
    return "".join(out)


_SPECS = tuple(f".{d}f" for d in range(16))  # format specs by decimals, built once


def _fixed(x: float, decimals: int) -> str:
    """f"{x:.{decimals}f}", with the format spec taken from a table."""
    if type(decimals) is int and 0 <= decimals < 16:
        return format(x, _SPECS[decimals])
    return f"{x:.{decimals}f}"


def fmt_number(x: float, decimals: int = 2, percent: bool = False) -> str:
    """91.1765% style for ratios; money and counts without trailing zeros (10.29, 11, 0.5)."""
    if percent:
        return _fixed(x * 100, decimals) + "%"
    s = _fixed(x, decimals)
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def fmt_signed(x: float, decimals: int = 2, percent: bool = False) -> str:
    s = fmt_number(abs(x), decimals, percent)
    return s if s.strip("0.%") == "" else ("+" if x > 0 else "-") + s


def shown(v: Value | None) -> str:
    """A cell's content as the user wrote it, for messages."""
    if v is None or v.blank:
        return "（空）"
    return _LINEBREAK_RE.sub("", v.text) if "\n" in v.text else v.text


def make_finding(rule: Rule, *, annex: str, sheet: str, cell: str, fields: Mapping[str, Any] | None = None,
                 cells: Iterable[str] = (), project: str | None = None, expected: str | None = None,
                 actual: str | None = None, diff: str | None = None, interval: str | None = None,
                 message: str | None = None) -> Finding:
    # in order, once each, without the cell itself (a sum may name many cells: no `in` over a list)
    others = [c for c in dict.fromkeys(cells) if c and c != cell] if cells else []
    # positional, in field order (rule, severity, annex, sheet, cell, message, title, cells, expected,
    # actual, diff, interval, project): most of the check stage's time goes into findings
    f = Finding(rule.id, rule.severity, annex, sheet, cell, "", rule.title, others, expected, actual, diff, interval,
                project or None)
    # placeholders: the caller's `fields` first, then the finding's own values, then the rule's scalar params
    f.message = _render(_parts(message or rule.message), fields, f, rule.message_params)
    return f
