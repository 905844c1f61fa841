"""The bundled example (catalogue §9) and its corrected copy, through the library and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jixiao.check import check_model, load_pack
from jixiao.findings import Finding, Severity
from jixiao.pipeline import check_file, load_model
from test_check_support import ROOT, corrected_bytes, edited_bytes

EXAMPLE = ROOT / "workbook_templates" / "示例_衡山县人民政府办公室_2023.xlsx"
E, W, INFO = "error", "warning", "info"

# (rule, severity, sheet!cell) for every finding of the built-in pack on the example.
# Catalogue §9, annotated with where each one comes from; rules marked "beyond §9" are
# defects the catalogue describes elsewhere (§3-§7) that the example also has.
EXPECTED: set[tuple[str, str, str]] = {
    # 附件一 — §9: 控制率 91.18% shown 91.17% (truncation) is not an error
    ("ROUND-TRUNC", INFO, "附件一!F4"),
    # §9: 公车 subtotal blank (WARN-20), in all three columns
    ("WARN-20", W, "附件一!B7"), ("WARN-20", W, "附件一!D7"), ("WARN-20", W, "附件一!F7"),
    # §9: 项目支出 当年预算/决算 totals blank (WARN-20)
    ("WARN-20", W, "附件一!D12"), ("WARN-20", W, "附件一!F12"),
    # §9: 公用经费 决算 145.29 > 预算 143.8 (BDT-7)
    ("BDT-7", W, "附件一!F18"),
    # beyond §9: footer blank (WARN-21, info)
    ("WARN-21", INFO, "附件一!A28"),
    # 附件二 — beyond §9 (NAT-E4 names it): 年初 872.71 -> 全年 1435.09
    ("WARN-14", W, "附件二!D5"),
    # beyond §9 (DEPT-6 names it): 实际完成情况 "综合评价达到预期目标"
    ("DEPT-6", W, "附件二!F12"),
    # §9: 成本 "≤万元" (WARN-01)
    ("WARN-01", W, "附件二!E17"),
    # §9: actual values copied from the target (WARN-02); §9 says "four rows", the example has five
    ("WARN-02", W, "附件二!F15"), ("WARN-02", W, "附件二!F19"), ("WARN-02", W, "附件二!F20"),
    ("WARN-02", W, "附件二!F21"), ("WARN-02", W, "附件二!F22"),
    # §9: 经济效益 "无" scored 5/7 (WARN-04)
    ("WARN-04", W, "附件二!D18"),
    # §9: no 偏差原因 for any deduction (WARN-05)
    ("WARN-05", W, "附件二!I14"), ("WARN-05", W, "附件二!I15"), ("WARN-05", W, "附件二!I17"),
    ("WARN-05", W, "附件二!I18"), ("WARN-05", W, "附件二!I19"), ("WARN-05", W, "附件二!I20"),
    ("WARN-21", INFO, "附件二!A24"),
    # 附件三 — §9: 执行率 99.79% shown 100% (WARN-11 display)
    ("WARN-11", INFO, "附件三!G6"),
    # §9: 全年 vs 年初 ×15.8 (WARN-14)
    ("WARN-14", W, "附件三!D6"),
    # beyond §9 (PROJ-1 names it): 当年财政拨款 全年执行数 blank
    ("PROJ-1-PART", W, "附件三!E7"),
    # beyond §9 (PROJ-4 names it): 主管部门 blank
    ("PROJ-4", W, "附件三!C4"),
    # beyond §9: the same boilerplate 实际完成情况 as 附件二
    ("PROJ-GOAL", W, "附件三!F11"),
    # §9: 数量 ≥10次 -> 159 (WARN-09; the over-achievement WARN-08 is the scorer's)
    ("WARN-09", W, "附件三!F13"),
    # §9: 时效 "2024年" (WARN-10), target and actual
    ("WARN-10", W, "附件三!E15"), ("WARN-10", W, "附件三!F15"),
    # beyond §9: "≥95%" copied into 实际完成值 here too (WARN-02)
    ("WARN-02", W, "附件三!F14"), ("WARN-02", W, "附件三!F19"), ("WARN-02", W, "附件三!F21"),
    # §9: 经济效益/可持续影响 "无" with blank actual and scores 6/6 (WARN-03 error, WARN-04)
    ("WARN-03", E, "附件三!F17"), ("WARN-03", E, "附件三!F20"),
    ("WARN-04", W, "附件三!D17"), ("WARN-04", W, "附件三!D20"),
    # no 偏差原因 for any deduction (WARN-05)
    ("WARN-05", W, "附件三!I13"), ("WARN-05", W, "附件三!I15"), ("WARN-05", W, "附件三!I16"),
    ("WARN-05", W, "附件三!I17"), ("WARN-05", W, "附件三!I18"), ("WARN-05", W, "附件三!I19"),
    ("WARN-05", W, "附件三!I20"), ("WARN-05", W, "附件三!I21"),
    ("WARN-21", INFO, "附件三!A23"),
}


def _key(f: Finding) -> tuple[str, str, str]:
    return (f.rule, f.severity.value, f"{f.sheet}!{f.cell}")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "jixiao", *args], capture_output=True, text=True,
                          encoding="utf-8", cwd=cwd or ROOT, env=env, timeout=120)


def _mine(findings: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    """Findings of the rule pack (the CLI also runs the score review, whose rules are not in it)."""
    ids = set(load_pack().rules)
    return [f for f in findings if f["rule"] in ids]


@pytest.fixture()
def example(tmp_path: Path) -> Path:
    """A copy of the example, so that outputs written next to it (annotated copy) stay in tmp."""
    p = tmp_path / EXAMPLE.name
    p.write_bytes(EXAMPLE.read_bytes())
    return p


@pytest.fixture(scope="module")
def seed_findings() -> list[Finding]:
    return check_model(load_model(EXAMPLE), load_pack())


def test_example_findings_are_exactly_the_expected_ones(seed_findings: list[Finding]) -> None:
    got = {_key(f) for f in seed_findings}
    assert got == EXPECTED, {"missing": sorted(EXPECTED - got), "unexpected": sorted(got - EXPECTED)}
    assert len(seed_findings) == len(EXPECTED)  # one finding per cell and rule


def test_only_the_blank_actuals_are_errors(seed_findings: list[Finding]) -> None:
    errors = sorted(_key(f) for f in seed_findings if f.severity is Severity.ERROR)
    assert errors == [("WARN-03", E, "附件三!F17"), ("WARN-03", E, "附件三!F20")]


def test_example_messages_carry_expected_actual_and_interval(seed_findings: list[Finding]) -> None:
    by = {(f.rule, f.cell): f for f in seed_findings}
    trunc = by[("ROUND-TRUNC", "F4")]
    assert (trunc.actual, trunc.expected) == ("91.17%", "91.18%")
    assert "截位" in trunc.message and "91.18%" in trunc.message
    assert trunc.interval is not None and "91.1765%" in trunc.interval
    shown = by[("WARN-11", "G6")]
    assert (shown.actual, shown.expected) == ("100%", "99.79%")
    assert shown.annex == "附件三" and shown.project == "业务经费"
    over = by[("BDT-7", "F18")]
    assert over.cells == ["D18"] and "145.29" in over.message and "143.8" in over.message
    assert by[("WARN-14", "D6")].message.startswith("全年预算数 482.29 是年初预算数 30.5 的 15.81 倍")
    assert by[("WARN-20", "D12")].cells == ["D13"]


def test_corrected_copy_has_no_error_and_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "corrected.xlsx"
    path.write_bytes(corrected_bytes())
    findings = check_model(load_model(path), load_pack())
    assert [_key(f) for f in findings if f.severity is not Severity.INFO] == []


def test_check_file_result(tmp_path: Path) -> None:
    res = check_file(EXAMPLE)
    assert res.checked and res.exit_code == 2 and res.model is not None
    assert {_key(f) for f in res.findings} >= EXPECTED
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook at all")
    res = check_file(bad)
    assert not res.checked and res.exit_code == 3 and res.failure_code and res.failure_message


# --- through the real CLI ---------------------------------------------------------------------


def test_cli_json_on_the_example(example: Path) -> None:
    proc = _run(str(example), "--format", "json")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 2 and doc["rules"]["id"] == "hunan-county-2023"
    [f] = doc["files"]
    got = {(x["rule"], x["severity"], f"{x['sheet']}!{x['cell']}") for x in _mine(f["findings"])}
    assert got == EXPECTED
    trunc = next(x for x in f["findings"] if x["rule"] == "ROUND-TRUNC")
    assert trunc["severity_label"] == "信息" and trunc["expected"] == "91.18%" and trunc["annex"] == "附件一"


def test_cli_console_report_on_the_example(example: Path) -> None:
    proc = _run(str(example))
    assert proc.returncode == 2, proc.stderr
    out = proc.stdout
    for text in ("附件一 部门整体支出绩效评价基础数据表", "附件二 部门整体支出绩效自评表", "附件三 项目支出绩效自评表：业务经费",
                 "ROUND-TRUNC", "F4", "WARN-03", "F17", "强制", "提示", "信息", "有强制性错误"):
        assert text in out, text


def test_cli_exit_codes(tmp_path: Path, example: Path) -> None:
    clean = tmp_path / "clean.xlsx"
    clean.write_bytes(corrected_bytes())
    warn = tmp_path / "warn.xlsx"
    warn.write_bytes(edited_bytes({"附件一!F18": 150}, corrected_bytes()))  # BDT-7 only
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 truncated")
    proc = _run(str(clean), "--format", "json")
    assert proc.returncode == 0, _mine(json.loads(proc.stdout)["files"][0]["findings"])
    proc = _run(str(warn), "--format", "json")
    assert proc.returncode == 1
    assert [x["rule"] for x in _mine(json.loads(proc.stdout)["files"][0]["findings"])] == ["BDT-7"]
    assert _run(str(example), "--format", "json").returncode == 2
    proc = _run(str(broken), "--format", "json")
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["files"][0]["failure"]["message"]
    # worst over the files
    assert _run(str(clean), str(warn), "--format", "json").returncode == 1
    assert _run(str(clean), str(warn), str(broken), str(example)).returncode == 3
