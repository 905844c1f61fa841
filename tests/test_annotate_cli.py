"""`check-workbook FILE` writes `<stem>.审核.xlsx` next to the input or into `--out DIR`;
`--no-annotate` writes nothing; the input is never modified (issue #5, part 1)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from openpyxl import load_workbook

from jixiao.cli import main
from jixiao.explanations import RESULT_SHEET

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_copy_next_to_input(tmp_path, capsys):
    src = bt.build_example(tmp_path / "示例.xlsx")
    before = _sha(src)
    code = main([str(src)])
    out = capsys.readouterr().out
    copy = tmp_path / "示例.审核.xlsx"
    assert copy.exists() and _sha(src) == before
    assert f"审核副本：{copy}" in out
    assert code == 2  # the example has errors; annotating does not change the verdict
    assert load_workbook(copy).sheetnames[0] == RESULT_SHEET
    assert {p.name for p in tmp_path.iterdir()} == {"示例.审核.xlsx", "示例.xlsx"}  # no temp files


def test_out_dir_and_json(tmp_path, capsys):
    src = bt.build_example(tmp_path / "示例.xlsx")
    out_dir = tmp_path / "审核"
    main([str(src), "--out", str(out_dir), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    copy = out_dir / "示例.审核.xlsx"
    assert copy.exists() and not (tmp_path / "示例.审核.xlsx").exists()
    assert str(copy) in json.dumps(data, ensure_ascii=False)


def test_no_annotate(tmp_path, capsys):
    src = bt.build_example(tmp_path / "示例.xlsx")
    main([str(src), "--no-annotate"])
    assert "审核副本" not in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["示例.xlsx"]


def test_uncheckable_gets_no_copy(tmp_path, capsys):
    bad = tmp_path / "坏.xlsx"
    bad.write_bytes(b"not a workbook")
    assert main([str(bad)]) == 3
    capsys.readouterr()
    assert [p.name for p in tmp_path.iterdir()] == ["坏.xlsx"]
