"""A workbook missing one of the department-level annexes (附件一 / 附件二) says so (STRUCT-ANNEX),
and its roll-up row does not pass a project's 附件三 score off as the unit's 自评总分.

Real workbooks: the example as the template builder writes it, every defect fixed, with annex
sheets deleted; checked by the command line in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from test_check_support import CORRECTED, build_example, edited_bytes

ROOT = Path(__file__).resolve().parents[1]
MISSING_2 = "工作簿有附件一，但没有附件二（部门整体支出绩效自评表）：无法给出部门整体的自评总分，汇总表的自评总分、复核总分和等级留空"
MISSING_1 = ("工作簿有附件二，但没有附件一（部门整体支出绩效评价基础数据表）：无法核对附件二的项目支出与基础数据是否一致（DEPT-5），"
             "部门整体自评缺少人员、三公经费等基础数据")


def _workbook(tmp_path: Path, name: str, drop: tuple[str, ...]) -> Path:
    seed = build_example(tmp_path / "seed.xlsx")
    base = seed.read_bytes()
    seed.unlink()  # not a workbook of the folder checked
    path = tmp_path / name
    path.write_bytes(edited_bytes(CORRECTED, base, drop))
    return path


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("JIXIAO_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "jixiao", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=120, env=env, cwd=ROOT)


def _struct(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["files"][0]["findings"] if f["rule"] == "STRUCT-ANNEX"]


@pytest.mark.parametrize(("drop", "where", "message"), [
    (("附件二",), ("附件一", "A2"), MISSING_2),
    (("附件二", "附件三"), ("附件一", "A2"), MISSING_2),
    (("附件一",), ("附件二", "A2"), MISSING_1),
], ids=["no-annex2", "annex1-only", "no-annex1"])
def test_missing_department_annex_is_a_warning(tmp_path: Path, drop: tuple[str, ...], where: tuple[str, str],
                                               message: str) -> None:
    path = _workbook(tmp_path, "unit.xlsx", drop)
    run = _cli("--format", "json", "--no-annotate", path)
    assert run.returncode == 1, run.stderr  # every other warning of the corrected example is explained
    (f,) = _struct(json.loads(run.stdout))
    assert (f["severity"], f["sheet"], f["cell"], f["message"]) == ("warning", *where, message)


@pytest.mark.parametrize("drop", [(), ("附件一", "附件二")], ids=["complete", "project-only"])
def test_complete_report_and_project_only_workbook_pass(tmp_path: Path, drop: tuple[str, ...]) -> None:
    run = _cli("--format", "json", "--no-annotate", _workbook(tmp_path, "unit.xlsx", drop))
    assert run.returncode == 0, run.stdout
    assert not _struct(json.loads(run.stdout))


def test_rollup_leaves_the_unit_total_blank_without_annex2(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _workbook(folder, "a_full.xlsx", ())
    _workbook(folder, "b_no_annex2.xlsx", ("附件二",))
    _workbook(folder, "c_project_only.xlsx", ("附件一", "附件二"))
    run = _cli("--no-annotate", "--out", tmp_path / "out", folder)
    assert run.returncode == 1, run.stderr
    rows = {r["file"]: r for r in json.loads((tmp_path / "out" / "汇总.json").read_text(encoding="utf-8"))["files"]}
    totals = {name: (r["self_total"], r["review_total"], r["grade"]) for name, r in rows.items()}
    assert totals["b_no_annex2.xlsx"] == (None, None, "")  # not the project's 附件三 score
    assert totals["a_full.xlsx"][0] == 91.0  # 附件二 总分
    assert totals["c_project_only.xlsx"][0] is not None  # a project-only submission keeps its project's score
