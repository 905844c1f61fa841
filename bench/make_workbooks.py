"""Generate N synthetic unit workbooks (附件一/二/三) for the batch benchmark.

Run from the repository root::

    .venv/bin/python bench/make_workbooks.py 2000 /tmp/wb2000 [--seed 1] [--templates 48] [--jobs 2]

How it stays fast: a few dozen *templates* are built with openpyxl from the layout in
``workbook_templates/build_templates.py``, each with its own random but internally
consistent numbers and, for about half of them, one to three random defects.  Every output
file is then a *clone* of a template made by patching the sheet XML directly: the unit name
is replaced and, now and then, one more number is changed (a fresh random defect).  Cloning
costs about a millisecond (re-zipping), openpyxl costs about 30 ms per workbook.
"""

from __future__ import annotations

import argparse
import copy
import io
import multiprocessing as mp
import random
import re
import sys
import time
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workbook_templates"))

import build_templates as bt  # noqa: E402

UNIT_SENTINEL = "UNITNAMEPLACEHOLDER"  # ASCII, so it survives openpyxl's XML writer unchanged

COUNTIES = ("衡山县", "衡阳县", "衡东县", "衡南县", "祁东县", "常宁市", "耒阳市", "南岳区", "蒸湘区", "石鼓区",
            "雁峰区", "珠晖区", "湘潭县", "韶山市", "湘乡市", "攸县", "茶陵县", "炎陵县", "醴陵市", "浏阳市")
DEPARTMENTS = ("人民政府办公室", "财政局", "教育局", "卫生健康局", "民政局", "司法局", "自然资源局", "住房和城乡建设局",
               "交通运输局", "水利局", "农业农村局", "商务局", "文化旅游广电体育局", "退役军人事务局", "应急管理局",
               "审计局", "市场监督管理局", "统计局", "医疗保障局", "林业局", "城市管理和综合执法局", "档案馆",
               "机关事务服务中心", "人力资源和社会保障局", "发展和改革局", "工业和信息化局", "科学技术局",
               "生态环境分局", "信访局", "政务服务中心", "融媒体中心", "第一中学", "第二中学", "人民医院",
               "中医医院", "疾病预防控制中心", "妇幼保健院", "图书馆", "文化馆", "供销合作社")
PROJECTS = ("业务经费", "信息化建设经费", "专项工作经费", "运行维护经费", "培训经费", "宣传经费", "设备购置经费")

DEFECTS = ("sangong_sum", "staff_rate", "score_over", "exec_score", "total_score", "copy_target",
           "weight_sum", "proj_funds", "no_explanation", "footer_blank")


def unit_names(n: int, rng: random.Random) -> list[str]:
    """n distinct plausible unit names (county + department, numbered once the pairs run out)."""
    pairs = [c + d for c in COUNTIES for d in DEPARTMENTS]
    rng.shuffle(pairs)
    return [pairs[i % len(pairs)] + ("" if i < len(pairs) else f"第{i // len(pairs) + 1}所") for i in range(n)]


# --------------------------------------------------------------------------------------------------
# Random data in the shape of build_templates.SEED_*
# --------------------------------------------------------------------------------------------------

def _money(rng: random.Random, lo: float, hi: float) -> float:
    return round(rng.uniform(lo, hi), 2)


def _r2(x: float) -> float | int:
    x = round(x, 2)
    return int(x) if x == int(x) else x


def _pct(num: float, den: float) -> str:
    return f"{num / den * 100:.2f}%" if den else "——"


def _indicator_rows(rng: random.Random, defects: set[str]) -> tuple[list[list[Any]], float]:
    """Nine indicator rows (weights 13/12/13/12, 7/7/8/8, 10) and the sum of their scores."""
    plan = [("产出指标\n(50 分)", "数量指标", 13), ("产出指标\n(50 分)", "质量指标", 12),
            ("产出指标\n(50 分)", "时效指标", 13), ("产出指标\n(50 分)", "成本指标", 12),
            ("效益指标\n（30 分）", "经济效益指标", 7), ("效益指标\n（30 分）", "社会效益指标", 7),
            ("效益指标\n（30 分）", "生态效益指标", 8), ("效益指标\n（30 分）", "可持续影响指标", 8),
            ("满意度指标\n（10 分）", "服务对象满意度指标", 10)]
    rows: list[list[Any]] = []
    total = 0.0
    for l1, l2, weight in plan:
        kind = rng.random()
        if kind < 0.35:  # count target
            target_n = rng.randint(5, 3000)
            actual_n = int(target_n * rng.uniform(0.8, 1.25))
            target, actual, met = f"≥{target_n}次", f"{actual_n}次", actual_n >= target_n
            ratio = min(actual_n / target_n, 1.0)
        elif kind < 0.7:  # rate target
            target_p = rng.choice((90, 95, 98, 100))
            actual_p = round(min(100.0, target_p * rng.uniform(0.9, 1.05)), 2)
            target, actual, met = f"≥{target_p}%", f"{actual_p:g}%", actual_p >= target_p
            ratio = min(actual_p / target_p, 1.0)
        else:  # qualitative
            target, actual, met, ratio = "达成年度目标", "达成预期指标", True, 1.0
        score = weight if met else max(0, int(weight * ratio))
        reason = None if met else "受客观因素影响未完全达成，下年度加强统筹"
        rows.append([l1, l2, f"{l2[:2]}工作完成情况", target, actual, weight, score, reason])
    if "copy_target" in defects:
        i = rng.randrange(len(rows))
        rows[i][4] = rows[i][3]
    if "no_explanation" in defects:
        i = rng.randrange(len(rows))
        rows[i][6] = max(0, rows[i][5] - 1)
        rows[i][7] = None
    if "score_over" in defects:
        i = rng.randrange(len(rows))
        rows[i][6] = rows[i][5] + rng.randint(1, 3)
    if "weight_sum" in defects:
        i = rng.randrange(len(rows))
        rows[i][5] += 1
    total = sum(r[6] for r in rows)
    return rows, total


def random_unit(rng: random.Random, defects: set[str], n_projects: int) -> dict[str, Any]:
    """Consistent random contents for one unit; `defects` names what to break."""
    a1 = copy.deepcopy(bt.SEED_ANNEX1)
    staff = rng.randint(15, 220)
    on_duty = max(1, int(staff * rng.uniform(0.8, 1.03)))
    rate = _pct(on_duty, staff)
    if "staff_rate" in defects:
        rate = f"{on_duty / staff * 100 + rng.choice((-3, 2, 5)):.2f}%"
    a1["staff_values"] = [staff, on_duty, rate]

    def cols(lo: float, hi: float) -> list[float]:
        return [_money(rng, lo, hi) for _ in range(3)]

    car = cols(1, 12)
    abroad = [0, 0, 0] if rng.random() < 0.7 else cols(0.5, 5)
    reception = cols(1, 10)
    sangong = [_r2(a + b + c) for a, b, c in zip(car, abroad, reception, strict=True)]
    if "sangong_sum" in defects:
        sangong[rng.randrange(3)] = _r2(sangong[0] + rng.choice((-1.5, 0.37, 2)))
    projects = [cols(10, 600) for _ in range(n_projects)]
    proj_total = [_r2(sum(p[i] for p in projects)) for i in range(3)]
    public = cols(60, 300)
    office = [_r2(x * rng.uniform(0.1, 0.3)) for x in public]
    utilities = [_r2(x * rng.uniform(0.05, 0.2)) for x in public]
    meetings = [_r2(x * rng.uniform(0.0, 0.05)) for x in public]
    rows = a1["expense_rows"]
    rows[0][1:] = sangong
    rows[1][1:] = car
    rows[2][1:] = [None, None, None]
    rows[3][1:] = car
    rows[4][1:] = [_r2(x) for x in abroad]
    rows[5][1:] = reception
    rows[6][1:] = proj_total
    rows[7][1:] = projects[0]
    rows[8][1:] = projects[1] if n_projects > 1 else [None, None, None]
    rows[12][1:] = public
    rows[13][1:] = office
    rows[14][1:] = utilities
    rows[15][1:] = meetings
    rows[16][1:] = [bt.NOT_APPLICABLE, None, _money(rng, 5, 80)]
    if "footer_blank" not in defects and rng.random() < 0.6:
        a1["footer"] = "填表人：张三  填报日期：2024年3月1日  联系电话：0734-5812345  单位负责人签字：李四"

    a2 = copy.deepcopy(bt.SEED_ANNEX2)
    a2["unit"] = UNIT_SENTINEL
    start = _money(rng, 300, 3000)
    full = _r2(start * rng.uniform(1.0, 1.6))
    spent = _r2(full * rng.uniform(0.85, 1.0))
    exec_rate = spent / full
    exec_score = _r2(min(exec_rate, 1.0) * 10)
    if "exec_score" in defects:
        exec_score = 10 if exec_score < 10 else 9
    a2["budget_total"] = ["年度资金总额", start, full, spent, 10, f"{exec_rate * 100:.2f}%", exec_score]
    basic = _r2(start - proj_total[1])
    a2["split_rows"] = [[f"其中： 一般公共预算：{start}", f"其中：基本支出：{basic}"],
                        ["政府性基金拨款：", f"项目支出：{proj_total[1]}"],
                        ["纳入专户管理的非税收入拨款：", None], ["其他资金：", None]]
    indicators, ind_total = _indicator_rows(rng, defects)
    a2["indicators"] = indicators
    total = _r2(exec_score + ind_total)
    if "total_score" in defects:
        total = _r2(total + rng.choice((-2, 1, 3)))
    a2["total"] = [100, total, None]
    if "footer" in a1:
        a2["footer"] = a1["footer"]

    projs = []
    for k in range(n_projects):
        p = copy.deepcopy(bt.SEED_PROJECT)
        p["name"] = PROJECTS[k % len(PROJECTS)]
        p["dept"] = UNIT_SENTINEL if rng.random() < 0.7 else None
        p["impl"] = UNIT_SENTINEL
        p_start, p_full, p_spent = projects[k][1], _r2(projects[k][1] * rng.uniform(1.0, 1.3)), projects[k][2]
        p_spent = min(p_spent, p_full)
        p_rate = p_spent / p_full
        p_score = _r2(min(p_rate, 1.0) * 10)
        carry = _r2(p_full * rng.uniform(0, 0.2)) if rng.random() < 0.3 else 0
        fiscal = _r2(p_full - carry)
        if "proj_funds" in defects and k == 0:
            fiscal = _r2(fiscal + 1)
        p["funds"] = [["年度资金总额", p_start, p_full, p_spent, 10, f"{p_rate * 100:.2f}%", p_score],
                      ["其中：当年财政拨款", p_start, fiscal, None, None, None, None],
                      ["上年结转资金", None, carry or None, None, None, None, None],
                      ["其他资金", None, None, None, None, None, None]]
        rows3, total3 = _indicator_rows(rng, defects if k == 0 else set())
        p["indicators"] = rows3
        p["total"] = [100, _r2(p_score + total3), None]
        projs.append(p)
    return {"annex1": a1, "annex2": a2, "projects": projs}


def build_template(seed: int) -> bytes:
    """One template workbook (bytes) with random contents and maybe random defects."""
    from openpyxl import Workbook

    rng = random.Random(seed)
    defects = set(rng.sample(DEFECTS, rng.randint(1, 3))) if rng.random() < 0.5 else set()
    n_projects = 1 if rng.random() < 0.8 else 2
    unit = random_unit(rng, defects, n_projects)
    wb = Workbook()
    ws = wb.active
    ws.title = "附件一"
    bt.write_annex1(ws, data=unit["annex1"])
    ws = wb.create_sheet("附件二")
    bt.write_annex2(ws, data=unit["annex2"])
    for k, project in enumerate(unit["projects"]):
        ws = wb.create_sheet("附件三" if k == 0 else f"附件三（{k + 1}）")
        bt.write_annex3(ws, project=project)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# Cloning by patching the sheet XML
# --------------------------------------------------------------------------------------------------

_NUM_CELL = re.compile(rb'(<c r="[A-Z]+\d+"(?: s="\d+")?(?: t="n")?><v>)(-?\d+(?:\.\d+)?)(</v></c>)')


class Template:
    """A template's zip members, with the sheet members that can be patched."""

    def __init__(self, data: bytes) -> None:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            self.members = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
        self.sheets = [i for i, (name, _) in enumerate(self.members) if name.startswith("xl/worksheets/sheet")]

    def clone(self, unit: str, rng: random.Random, defect_rate: float) -> bytes:
        name_xml = escape(unit).encode("utf-8")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for i, (name, data) in enumerate(self.members):
                if i in self.sheets:
                    data = data.replace(UNIT_SENTINEL.encode(), name_xml)
                    if rng.random() < defect_rate / len(self.sheets):
                        data = _change_one_number(data, rng)
                zf.writestr(name, data)
        return out.getvalue()


def _change_one_number(xml: bytes, rng: random.Random) -> bytes:
    cells = list(_NUM_CELL.finditer(xml))
    if not cells:
        return xml
    m = rng.choice(cells)
    new = str(_r2(float(m.group(2)) + rng.choice((-3, -1, 0.5, 1, 7)))).encode()
    return xml[: m.start(2)] + new + xml[m.end(2):]


def _make_templates(seeds: list[int]) -> list[bytes]:
    return [build_template(s) for s in seeds]


def _write_clones(args: tuple[list[bytes], list[tuple[int, str, str]], int, float]) -> int:
    blobs, jobs, seed, defect_rate = args
    templates = [Template(b) for b in blobs]
    rng = random.Random(seed)
    for index, unit, path in jobs:
        data = templates[index % len(templates)].clone(unit, rng, defect_rate)
        Path(path).write_bytes(data)
    return len(jobs)


def generate(n: int, out: Path, *, seed: int = 1, templates: int = 48, jobs: int = 2,
             defect_rate: float = 0.2, subdirs: int = 0) -> list[Path]:
    """Write n workbooks into `out` (optionally spread over `subdirs` sub-folders)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    seeds = [rng.randrange(1 << 30) for _ in range(min(templates, max(n, 1)))]
    ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    with ctx.Pool(jobs) as pool:
        parts = pool.map(_make_templates, [seeds[i::jobs] for i in range(jobs)])
        blobs = [b for part in parts for b in part]
        names = unit_names(n, rng)
        paths: list[Path] = []
        work: list[tuple[int, str, str]] = []
        for i, unit in enumerate(names):
            folder = out / f"乡镇{i % subdirs + 1:02d}" if subdirs else out
            folder.mkdir(exist_ok=True)
            path = folder / f"{i + 1:05d}_{unit}_2023年度绩效自评表.xlsx"
            paths.append(path)
            work.append((i, unit, str(path)))
        pool.map(_write_clones, [(blobs, work[i::jobs], seed + i, defect_rate) for i in range(jobs)])
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="生成 N 个合成的单位自评工作簿（基准测试用）")
    ap.add_argument("n", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--templates", type=int, default=48, help="用 openpyxl 生成的不同模板数")
    ap.add_argument("--jobs", type=int, default=mp.cpu_count())
    ap.add_argument("--defect-rate", type=float, default=0.2, help="克隆时再改动一个数字的概率")
    ap.add_argument("--subdirs", type=int, default=0, help="分散到若干子文件夹")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    paths = generate(a.n, a.out, seed=a.seed, templates=a.templates, jobs=a.jobs,
                     defect_rate=a.defect_rate, subdirs=a.subdirs)
    print(f"{len(paths)} workbooks in {a.out} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
