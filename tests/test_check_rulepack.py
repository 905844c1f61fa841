"""Rule packs: an auditor's own YAML rules (no Python), overrides, switches and load errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jixiao.check import PackError, check_model, load_pack
from jixiao.findings import Severity
from jixiao.pipeline import load_model
from test_check_support import ROOT, corrected_bytes, edited_bytes

EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"


def _yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "jixiao", *args], capture_output=True, text=True,
                          encoding="utf-8", cwd=ROOT, env=env, timeout=120)


@pytest.fixture()
def corrected(tmp_path: Path) -> Path:
    p = tmp_path / "corrected.xlsx"
    p.write_bytes(corrected_bytes())
    return p


MY_PACK = """\
    extends: hunan-county-2023
    id: my-county
    version: "1"
    title: 某县审核规则
    rules:
      - id: MY-1
        title: 公用经费决算不超过 140 万元
        severity: warning
        scope: 附件一
        expr: 公用经费.本年决算数 <= 140
        message: 公用经费决算 {actual} 超过 {expected}（{diff}）
        doc: 本县要求
        example: 145.29 → 提示
      - id: MY-2
        title: 每个指标至少得九成分
        severity: info
        scope: [附件二, 附件三]
        per: 指标
        when: 分值 > 0
        expr: 自评得分 >= 分值 * 90%
        precision: exact
        message: “{indicator}”得分 {actual}，低于分值的九成 {right}
      - id: MY-3
        title: 水电差旅费不超过公用经费的一成
        severity: error
        scope: 附件一
        per: column
        columns: [本年决算数]
        expr: "`水费、电费、差旅费` ≤ 10% × 公用经费"
        message: 水电差旅费 {actual} 超过公用经费的 10%（{right}）
"""


def test_new_yaml_rule_fires_at_the_right_cell(tmp_path: Path, corrected: Path) -> None:
    pack = load_pack(_yaml(tmp_path / "my.yaml", MY_PACK))
    assert pack.id == "my-county" and pack.lineage == ["hunan-county-2023", "my-county"]
    assert "BDT-1" in pack.rules and pack.rubric  # the base pack and its rubric come along
    findings = check_model(load_model(corrected), pack)
    my1 = [f for f in findings if f.rule == "MY-1"]
    assert [(f.sheet, f.cell, f.severity) for f in my1] == [("附件一", "F18", Severity.WARNING)]
    assert my1[0].message == "公用经费决算 145.29 超过 ≤ 140（+5.29）"
    my2 = {(f.sheet, f.cell): f for f in findings if f.rule == "MY-2"}
    # 附件二 scores below 90 % of 分值: 10/12 (H15, H17), 5/7 (H18), 6/7 (H19), 7/8 (H20); 12/13 passes
    assert [c for s, c in my2 if s == "附件二"] == ["H15", "H17", "H18", "H19", "H20"]
    assert my2[("附件二", "H15")].message == "“达标率”得分 10，低于分值的九成 10.8"
    my3 = [f for f in findings if f.rule == "MY-3"]
    assert [(f.cell, f.severity) for f in my3] == [("F20", Severity.ERROR)]  # 15.05 > 14.529


def test_new_yaml_rule_through_the_cli(tmp_path: Path, corrected: Path) -> None:
    pack = _yaml(tmp_path / "my.yaml", MY_PACK)
    proc = _cli(str(corrected), "--rules", str(pack), "--format", "json")
    assert proc.returncode == 2, proc.stderr  # MY-3 is an error
    doc = json.loads(proc.stdout)
    assert doc["rules"]["id"] == "my-county"
    cells = {(f["rule"], f["cell"]) for f in doc["files"][0]["findings"]}
    assert ("MY-1", "F18") in cells and ("MY-3", "F20") in cells


def test_override_disable_and_params(tmp_path: Path) -> None:
    over = _yaml(tmp_path / "over.yaml", """\
        extends: hunan-county-2023
        disable: [WARN-21]
        params:
          budget_adjust_ratio: 20
        rules:
          - id: WARN-03
            severity: warning
          - id: WARN-05
            enabled: false
    """)
    pack = load_pack(over)
    assert pack.rules["WARN-03"].severity is Severity.WARNING and pack.rules["WARN-03"].python
    findings = check_model(load_model(EXAMPLE), pack)
    rules = {f.rule for f in findings}
    assert "WARN-21" not in rules and "WARN-05" not in rules
    assert "WARN-14" not in rules  # ×15.8 is within a ratio of 20
    assert all(f.severity is Severity.WARNING for f in findings if f.rule == "WARN-03")


def test_packs_stack_in_order(tmp_path: Path) -> None:
    a = _yaml(tmp_path / "a.yaml", """\
        extends: hunan-county-2023
        rules:
          - id: WARN-14
            severity: info
    """)
    b = _yaml(tmp_path / "b.yaml", """\
        rules:
          - id: WARN-14
            severity: error
          - id: WARN-21
            enabled: false
    """)
    assert load_pack([a]).rules["WARN-14"].severity is Severity.INFO
    both = load_pack([a, b])
    assert both.rules["WARN-14"].severity is Severity.ERROR and not both.rules["WARN-21"].enabled
    assert both.rules["WARN-05"].enabled  # everything else still from the base
    copy = tmp_path / "example.xlsx"  # outputs written next to the input stay in tmp
    copy.write_bytes(EXAMPLE.read_bytes())
    proc = _cli(str(copy), "--rules", "hunan-county-2023", "--rules", str(a), "--format", "json")
    findings = json.loads(proc.stdout)["files"][0]["findings"]
    assert {f["severity"] for f in findings if f["rule"] == "WARN-14"} == {"info"}


def test_pack_directory_with_its_own_rules(tmp_path: Path) -> None:
    d = tmp_path / "county"
    d.mkdir()
    _yaml(d / "pack.yaml", "id: county\nversion: '2'\ntitle: 县包\nextends: hunan-county-2023\n")
    _yaml(d / "extra.yaml", """\
        rules:
          - id: X-1
            title: 编制数不少于 70
            severity: info
            scope: 附件一
            expr: 编制数 >= 70
            message: 编制数 {actual} 少于 70
    """)
    pack = load_pack(d)
    f = [x for x in check_model(load_model(EXAMPLE), pack) if x.rule == "X-1"]
    assert [(x.cell, x.actual) for x in f] == [("B4", "68")]


@pytest.mark.parametrize(("body", "needle"), [
    ("expr: 不存在的名称 = 1", "未知名称"),
    ("expr: __import__('os').system('true') = 0", "不允许"),
    ("expr: __import__('os') = 0", "未知函数"),
    ("expr: eval('1') = 1", "未知函数"),
    ("expr: 编制数.__class__ = 1", ""),  # attribute paths never reach Python attributes; validated as a name path
    ("expr: '(lambda: 1)() = 1'", "不允许"),
    ("expr: '[x for x in 编制数] = 1'", "不允许"),
    ("expr: 编制数[0] = 1", "不允许"),
    ("expr: 编制数 + 1", "条件"),
    ("python: no_such_rule", "没有名为"),
    ("schema: no_such_schema", "没有名为"),
])
def test_bad_rules_are_rejected(tmp_path: Path, body: str, needle: str) -> None:
    p = _yaml(tmp_path / "bad.yaml", f"""\
        extends: hunan-county-2023
        rules:
          - id: BAD-1
            title: 坏规则
            severity: error
            scope: 附件一
            message: x
            {body}
    """)
    if not needle:  # accepted, and harmless: the path just resolves to nothing
        pack = load_pack(p)
        assert not [f for f in check_model(load_model(EXAMPLE), pack) if f.rule == "BAD-1"]
        return
    with pytest.raises(PackError, match=needle):
        load_pack(p)


def test_pack_errors_in_the_cli(tmp_path: Path) -> None:
    bad = _yaml(tmp_path / "bad.yaml", "rules: [{id: X, title: t, severity: fatal, scope: 附件一, expr: 编制数 = 1, message: m}]\n")
    copy = tmp_path / "example.xlsx"
    copy.write_bytes(EXAMPLE.read_bytes())
    proc = _cli(str(copy), "--rules", str(bad))
    assert proc.returncode == 3 and "规则包错误" in proc.stderr and "severity" in proc.stderr
    proc = _cli(str(copy), "--rules", "no-such-pack")
    assert proc.returncode == 3 and "找不到规则包" in proc.stderr


def test_pack_is_cached_and_reloaded_on_change(tmp_path: Path) -> None:
    p = _yaml(tmp_path / "p.yaml", "extends: hunan-county-2023\nparams: {high_total: 90}\n")
    first = load_pack(p)
    assert load_pack(p) is first
    os.utime(p, ns=(1, 1))  # a different mtime is a different pack
    assert load_pack(p) is not first


def test_outcome_rules_must_exist(tmp_path: Path) -> None:
    p = _yaml(tmp_path / "p.yaml", """\
        extends: hunan-county-2023
        rules:
          - id: BDT-1
            truncation_rule: NOPE
    """)
    with pytest.raises(PackError, match="NOPE"):
        load_pack(p)


def test_truncation_outcome_severity_is_configurable(tmp_path: Path) -> None:
    p = _yaml(tmp_path / "p.yaml", "extends: hunan-county-2023\nrules: [{id: ROUND-TRUNC, severity: warning}]\n")
    data = edited_bytes({"附件一!F4": "91.17%"}, corrected_bytes())
    wb = tmp_path / "t.xlsx"
    wb.write_bytes(data)
    [f] = [x for x in check_model(load_model(wb), load_pack(p)) if x.rule == "ROUND-TRUNC"]
    assert f.severity is Severity.WARNING
