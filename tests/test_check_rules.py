"""Every rule of the built-in pack fires on its own test edits and stays quiet on its pass edits.

The cases live in the pack (`test: {fire: [...], pass: [...]}` on each rule) and are applied to
real .xlsx copies: the corrected example (every defect fixed) unless a case says `base: seed`;
`drop: [附件二]` removes those sheets from the copy (a deleted annex).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jixiao.check import check_model, load_pack
from jixiao.findings import Finding
from jixiao.pipeline import load_model
from test_check_support import corrected_bytes, edited_bytes, example_bytes

PACK = load_pack()


def _cases(kind: str) -> list[Any]:
    out = []
    for rule in PACK.rules.values():
        for i, case in enumerate(rule.test.get(kind) or []):
            out.append(pytest.param(rule.id, case, id=f"{rule.id}-{kind}{i}"))
    return out


def _findings(tmp_path: Path, case: dict[str, Any]) -> list[Finding]:
    base = example_bytes() if case.get("base") == "seed" else corrected_bytes()
    edit, drop = case.get("edit") or {}, case.get("drop") or ()
    data = edited_bytes(edit, base, drop) if edit or drop else base
    path = tmp_path / "case.xlsx"
    path.write_bytes(data)
    return check_model(load_model(path), PACK)


def _where(f: Finding) -> str:
    return f"{f.sheet}!{f.cell}"


def test_every_rule_has_a_firing_and_a_passing_case() -> None:
    missing = [r.id for r in PACK.rules.values() if not r.test.get("fire") or not r.test.get("pass")]
    assert not missing, f"rules without test.fire / test.pass cases: {missing}"


def test_every_case_names_the_cell_it_fires_at() -> None:
    bad = [r.id for r in PACK.rules.values() for c in r.test.get("fire") or [] if "!" not in str(c.get("expect"))]
    assert not bad


@pytest.mark.parametrize(("rule_id", "case"), _cases("fire"))
def test_rule_fires(tmp_path: Path, rule_id: str, case: dict[str, Any]) -> None:
    rule = PACK.rules[rule_id]
    found = _findings(tmp_path, case)
    mine = [f for f in found if f.rule == rule_id]
    assert mine, f"{rule_id} did not fire; got {[(f.rule, _where(f)) for f in found]}"
    at = [f for f in mine if _where(f) == case["expect"]]
    assert at, f"{rule_id} fired at {[_where(f) for f in mine]}, expected {case['expect']}"
    want = case.get("severity", rule.severity.value)
    assert all(f.severity.value == want for f in at)
    assert all(f.message and "{" not in f.message for f in at), [f.message for f in at]


@pytest.mark.parametrize(("rule_id", "case"), _cases("pass"))
def test_rule_passes(tmp_path: Path, rule_id: str, case: dict[str, Any]) -> None:
    found = [f for f in _findings(tmp_path, case) if f.rule == rule_id]
    assert not found, [(f.rule, _where(f), f.message) for f in found]
