"""pandera schemas: many workbooks in one validate call, failures mapped back to cells."""

from __future__ import annotations

from pathlib import Path

from jixiao.check import check_model, check_models, load_pack, schemas
from jixiao.findings import Severity
from jixiao.pipeline import load_model, load_model_bytes
from test_check_support import corrected_bytes, edited_bytes, example_bytes


def _model(edits: dict[str, object], name: str) -> object:
    return load_model_bytes(edited_bytes(edits, corrected_bytes()), name)


def test_frames_are_indexed_by_workbook_sheet_and_excel_row() -> None:
    m = load_model_bytes(example_bytes(), "seed.xlsx")
    frames = schemas.build_frames([(7, m), (8, m)])
    assert list(frames.scored.index.names) == ["workbook", "sheet", "row"]
    assert (7, "附件二", 14) in frames.scored.index and (8, "附件三", 21) in frames.scored.index
    assert frames.scored.loc[(7, "附件二", 14), "分值"] == 13
    assert list(frames.amounts.index.names) == ["workbook", "sheet", "row", "field"]
    assert frames.amounts.loc[(8, "附件一", 18, "本年决算数"), "金额"] == 145.29


def test_one_call_for_many_workbooks_maps_each_failure_back(monkeypatch: object) -> None:
    good = _model({}, "good.xlsx")
    over = _model({"附件二!H14": 14}, "over.xlsx")  # 14 > 13
    text = _model({"附件三!G16": "十二", "附件一!F21": -2}, "text.xlsx")
    calls: list[int] = []
    real = schemas.validate

    def counting(models, pack):  # type: ignore[no-untyped-def]
        calls.append(len(models))
        return real(models, pack)

    monkeypatch.setattr(schemas, "validate", counting)  # type: ignore[attr-defined]
    pack = load_pack()
    results = check_models([good, over, text, good], pack)
    assert calls == [4]  # the schemas ran once for the whole batch
    schema_ids = {r.id for r in pack.rules.values() if r.kind == "schema"}

    def keyed(fs: list) -> set:  # type: ignore[type-arg]
        return {(f.rule, f.severity, f.sheet, f.cell) for f in fs if f.rule in schema_ids}

    assert keyed(results[0]) == set() and keyed(results[3]) == set()
    assert keyed(results[1]) == {("NAT-S1", Severity.ERROR, "附件二", "H14")}
    assert keyed(results[2]) == {("SCH-NUM", Severity.ERROR, "附件三", "G16"),
                                 ("SCH-NEG", Severity.WARNING, "附件一", "F21")}
    [f] = [f for f in results[1] if f.rule == "NAT-S1"]
    assert f.expected == "≤ 13" and f.actual == "14" and f.cells == ["G14"] and "办文办会" in f.message


def test_batch_and_single_give_the_same_findings(tmp_path: Path) -> None:
    seed = tmp_path / "seed.xlsx"
    seed.write_bytes(example_bytes())
    m = load_model(seed)
    pack = load_pack()
    single = [f.to_json() for f in check_model(m, pack)]
    batch = check_models([m, m, m], pack)
    assert all([f.to_json() for f in fs] == single for fs in batch)


def test_labels_accept_the_template_names_with_or_without_suffix() -> None:
    ok = _model({"附件二!C14": "数量", "附件三!C20": "可持续\n影响指标"}, "ok.xlsx")
    wrong_level1 = _model({"附件二!B22": "过程指标\n（10 分）"}, "l1.xlsx")
    pack = load_pack()
    assert not [f for f in check_model(ok, pack) if f.rule == "SCH-LABEL"]
    [f] = [f for f in check_model(wrong_level1, pack) if f.rule == "SCH-LABEL"]
    assert (f.sheet, f.cell) == ("附件二", "B22") and "产出指标" in f.message
