"""Console and JSON reports, including the duck-typed score review hook, and docs/rules.md."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from jixiao.findings import Finding, Severity
from jixiao.model import Notice, WorkbookModel
from jixiao.report.console import make_console, render, render_results
from jixiao.report.json_report import report_json
from jixiao.result import FileResult
from test_check_support import ROOT


class FakeReview:
    def rich_table(self) -> Any:
        from rich.table import Table

        t = Table(title="复核表")
        t.add_column("行")
        t.add_row("H14")
        return t

    def to_json(self) -> dict[str, Any]:
        return {"title": "评分复核", "recomputed_total": 88.5}


def _result(review: Any = None) -> FileResult:
    model = WorkbookModel(source="x.xlsx", notices=[Notice("FORMULA_NO_VALUE", "单元格 B4 含公式但没有保存计算结果",
                                                           "附件一", "B4")])
    findings = [
        Finding("BDT-3", Severity.ERROR, "附件一", "附件一", "F6", "三公经费应为 10.02", title="三公经费合计",
                cells=["F9", "F11"], expected="10.02", actual="11.02", diff="+1", interval="填报 [..]"),
        Finding("WARN-05", Severity.WARNING, "附件三", "附件三", "I13", "扣分无说明", project="业务经费"),
        Finding("WARN-21", Severity.INFO, "附件二", "附件二", "A24", "签章栏未填写"),
        Finding("WARN-02", Severity.WARNING, "附件二", "附件二", "F15", "照抄", explained=True, explanation="已核实"),
    ]
    return FileResult(path="x.xlsx", model=model, findings=findings, review=review)


def _text(fn: Any, *args: Any, **kw: Any) -> str:
    buf = io.StringIO()
    fn(*args, make_console(buf, width=140, color=False), **kw)
    return buf.getvalue()


def test_console_groups_by_annex_and_shows_cells_and_counts() -> None:
    out = _text(render, _result())
    a1, a2, a3 = (out.index(t) for t in ("附件一 部门整体支出绩效评价基础数据表", "附件二 部门整体支出绩效自评表",
                                         "附件三 项目支出绩效自评表：业务经费"))
    assert a1 < a2 < a3
    for text in ("强制", "BDT-3", "F6", "另见 F9, F11", "三公经费合计", "已说明：已核实", "文件提示", "附件一!B4",
                 "强制 1 · 提示 1（另有 1 处提示已说明） · 信息 1", "有强制性错误"):
        assert text in out, text
    assert "评分复核" not in out


def test_console_prints_the_review_table_when_there_is_one() -> None:
    out = _text(render, _result(FakeReview()))
    assert "评分复核" in out and "复核表" in out and "H14" in out


def test_console_hides_info_on_request_and_reports_unreadable_files() -> None:
    assert "WARN-21" not in _text(render, _result(), show_info=False)
    bad = FileResult(path="bad.xlsx", failure_code="CORRUPT", failure_message="文件已损坏")
    out = _text(render_results, [_result(), bad])
    assert "无法检查" in out and "文件已损坏" in out and "共 2 个文件（无法检查 1 个）" in out


def test_json_report_includes_findings_notices_and_review() -> None:
    doc = report_json([_result(FakeReview()), FileResult(path="bad.xlsx", failure_code="CORRUPT",
                                                         failure_message="文件已损坏")])
    assert doc["exit_code"] == 3
    ok, bad = doc["files"]
    assert ok["counts"] == {"error": 1, "warning": 1, "warning_explained": 1, "info": 1}
    assert ok["review"] == {"title": "评分复核", "recomputed_total": 88.5}
    assert ok["notices"][0]["code"] == "FORMULA_NO_VALUE"
    f = ok["findings"][0]
    assert (f["rule"], f["severity"], f["severity_label"], f["cell"], f["cells"]) == (
        "BDT-3", "error", "强制", "F6", ["F9", "F11"])
    assert bad == {"path": "bad.xlsx", "checked": False, "exit_code": 3,
                   "failure": {"code": "CORRUPT", "message": "文件已损坏"}}
    json.dumps(doc, ensure_ascii=False)


def test_rule_docs_are_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_rule_docs", ROOT / "scripts" / "gen_rule_docs.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from jixiao.check import load_pack

    text = mod.render(load_pack())
    current = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == text, "docs/rules.md is stale: run .venv/bin/python scripts/gen_rule_docs.py"
    for rule in load_pack().rules.values():
        assert f"### {rule.id}\n" in current


def test_docs_list_every_rule_with_severity_and_example() -> None:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert "| [BDT-1](#bdt-1) | 强制（error） |" in text and "- 示例：" in text
    assert Path(ROOT / "scripts" / "gen_rule_docs.py").is_file()


_maybe_text = st.one_of(st.none(), st.just(""), st.text(max_size=6))


@given(st.builds(Finding, rule=st.text(max_size=6), severity=st.sampled_from(list(Severity)), annex=st.text(max_size=4),
                 sheet=st.text(max_size=4), cell=st.text(max_size=4), message=st.text(max_size=8),
                 title=st.text(max_size=4), cells=st.lists(st.text(max_size=4), max_size=3), expected=_maybe_text,
                 actual=_maybe_text, diff=_maybe_text, interval=_maybe_text, project=_maybe_text, explained=st.booleans(),
                 explanation=st.text(max_size=4)))
def test_finding_json_is_the_plain_asdict_definition(f: Finding) -> None:
    """`Finding.to_json` skips `dataclasses.asdict` (its deep copy) for speed; same dict, same order."""
    import dataclasses

    d = dataclasses.asdict(f)
    d["severity"] = f.severity.value
    d["severity_label"] = f.severity.label
    expected = {k: v for k, v in d.items() if v not in (None, "", [])}
    got = f.to_json()
    assert got == expected and list(got) == list(expected)
    assert "cells" not in got or got["cells"] is not f.cells  # a copy, as asdict made
