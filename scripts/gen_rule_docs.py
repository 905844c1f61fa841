"""Generate docs/rules.md from a rule pack (default: the built-in hunan-county-2023).

    .venv/bin/python scripts/gen_rule_docs.py            # rewrite docs/rules.md
    .venv/bin/python scripts/gen_rule_docs.py --check    # exit 1 if docs/rules.md is out of date

The page is generated from the pack itself (ids, severities, expressions, params, doc text and
examples), so it cannot drift from what the checker runs; a test enforces `--check`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from jixiao.check.pyrules import REGISTRY  # noqa: E402
from jixiao.check.rulepack import Pack, Rule, load_pack  # noqa: E402
from jixiao.check.schemas import SCHEMA_CHECKS  # noqa: E402

OUT = ROOT / "docs" / "rules.md"
SECTIONS = {  # rule file stem -> heading, in page order
    "annex1": "附件一 部门整体支出绩效评价基础数据表",
    "annex2": "附件二 部门整体支出绩效自评表",
    "annex3": "附件三 项目支出绩效自评表",
    "funds": "年度资金总额与预算执行率（附件二、附件三）",
    "indicators": "绩效指标表（附件二、附件三）",
    "general": "表结构、合计空白、签章与舍入",
}
SEVERITY = {"error": "强制（error）", "warning": "提示（warning）", "info": "信息（info）"}


def _impl(rule: Rule) -> str:
    if rule.kind == "expr":
        return "表达式"
    if rule.kind == "python":
        return f"Python 规则 `{rule.python}`"
    if rule.kind == "schema":
        return f"表结构检查（pandera）`{rule.schema}`"
    return "由其他规则报告"


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return "；".join(f"{k}: {_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "、".join(_value(x) for x in v)
    return str(v)


def _precision(rule: Rule) -> str:
    if rule.exact:
        return "所有数按精确值"
    parts = []
    parts.append(f"至少 {rule.min_decimals} 位小数" if rule.min_decimals else "按填写位数")
    if rule.exact_operands:
        parts.append("右侧各项按精确值")
    if rule.tolerance:
        parts.append(f"另加容差 ±{rule.tolerance:g}")
    if rule.truncation:
        parts.append(f"只在截位时相符的报 {rule.truncation_rule}")
    if rule.display_decimals:
        parts.append(f"位数不足 {rule.display_decimals} 位（小数形式）而相符的报 {rule.display_rule}")
    return "，".join(parts)


def render(pack: Pack) -> str:
    lines: list[str] = []
    add = lines.append
    add(f"# 规则目录：{pack.title}")
    add("")
    add(f"> 本页由 `scripts/gen_rule_docs.py` 根据规则包 `{pack.id}`（版本 {pack.version}）自动生成，请勿手工修改；"
        "修改规则后运行 `.venv/bin/python scripts/gen_rule_docs.py`。")
    add("")
    if pack.template:
        add(f"适用模板：{pack.template}")
        add("")
    add("级别：**强制**（error）必须改正；**提示**（warning）须改正或说明；**信息**（info）供参考。"
        "退出码：0 无问题，1 仅有提示，2 有强制性错误，3 无法检查。")
    add("")
    add("数值按区间比较（XBRL Calculations 1.1）：写成 d 位小数的数代表 [v − ½·10⁻ᵈ, v + ½·10⁻ᵈ]，"
        "求和、相除也按区间计算，只有区间不可能相等时才报错；空白或“——”不是 0，比较的一侧空白时规则不适用。")
    add("")
    add("## 总览")
    add("")
    add("| 编号 | 级别 | 范围 | 名称 | 实现 |")
    add("|---|---|---|---|---|")
    by_section: dict[str, list[Rule]] = {}
    for rule in pack.rules.values():
        by_section.setdefault(Path(rule.source).stem, []).append(rule)
    order = [s for s in SECTIONS if s in by_section] + sorted(s for s in by_section if s not in SECTIONS)
    for sec in order:
        for rule in by_section[sec]:
            off = "" if rule.enabled else "（已关闭）"
            add(f"| [{rule.id}](#{rule.id.lower()}) | {SEVERITY[rule.severity.value]} | {'、'.join(rule.scope)} | "
                f"{rule.title}{off} | {_impl(rule)} |")
    add("")
    for sec in order:
        add(f"## {SECTIONS.get(sec, sec)}")
        add("")
        for rule in by_section[sec]:
            add(f"### {rule.id}")
            add("")
            add(f"**{rule.title}** — {SEVERITY[rule.severity.value]}，范围：{'、'.join(rule.scope)}"
                + ("" if rule.enabled else "，**默认关闭**"))
            add("")
            if rule.doc:
                add(rule.doc)
                add("")
            if rule.kind == "expr":
                add("```text")
                for name, c in rule.lets.items():
                    add(f"令 {name} = {c.source}")
                if rule.when is not None:
                    add(f"适用条件：{rule.when.source}")
                for a in rule.asserts:
                    add(a.check.source + (f"    （当 {a.when.source}）" if a.when else ""))
                add("```")
                add("")
                if rule.per == "column":
                    add(f"- 逐列检查：{'、'.join(rule.columns)}")
                elif rule.per == "指标":
                    add("- 逐个指标行检查")
                add(f"- 精度：{_precision(rule)}")
            elif rule.kind == "python":
                add(f"- 实现：`jixiao.check.pyrules.{rule.python}` — {REGISTRY[str(rule.python)].doc}")
            elif rule.kind == "schema":
                add(f"- 实现：pandera 表结构检查 `{rule.schema}` — {SCHEMA_CHECKS[str(rule.schema)]}")
            own = {k: v for k, v in rule.raw.get("params", {}).items()} if isinstance(rule.raw.get("params"),
                                                                                       dict) else {}
            if own:
                add(f"- 参数：{'；'.join(f'`{k}` = {_value(v)}' for k, v in own.items())}")
            add(f"- 提示文字：{rule.message}")
            if rule.example:
                add(f"- 示例：{rule.example}")
            add("")
    add("## 规则包参数")
    add("")
    add("规则可以用 `params.名称` 引用；自己的规则包可以覆盖。")
    add("")
    for k, v in pack.params.items():
        add(f"- `{k}`：{_value(v)}")
    add("")
    add("## 保留编号")
    add("")
    add("规则目录（catalogue）中的以下编号不是本规则包的规则，原因或去处如下：")
    add("")
    add("| 编号 | 说明 |")
    add("|---|---|")
    for k, v in pack.reserved.items():
        add(f"| {k} | {v} |")
    add("")
    add("## 自定义规则包")
    add("")
    add("审核人员可以写自己的规则包（一个 YAML 文件或目录），用 `--rules` 指定，例如：")
    add("")
    add("```yaml")
    add("extends: hunan-county-2023        # 以内置规则包为基础")
    add("id: my-county")
    add("params:")
    add("  low_execution_rate: 0.85        # 覆盖参数")
    add("disable: [WARN-21]                # 关闭规则")
    add("rules:")
    add("  - id: WARN-14                   # 按编号覆盖内置规则的字段")
    add("    severity: info")
    add("  - id: MY-1                      # 新规则：不需要写 Python")
    add("    title: 公用经费决算不超过 150 万元")
    add("    severity: warning")
    add("    scope: 附件一")
    add("    expr: 公用经费.本年决算数 <= 150")
    add("    message: 公用经费决算 {actual} 超过 {expected}")
    add("```")
    add("")
    add("表达式可用：附件中的中文标签（如 `三公经费.本年决算数`、`年度资金总额.全年执行数`、`附件一.项目支出.本年决算数`，"
        "含标点的名称用反引号括起），`+ - × ÷`，比较（单个 `=` 表示相等，可写 ≤ ≥ ≠），`and`/`or`/`not`，`x in (a, b)`，"
        "百分数（`100%`），以及函数 `sum`、`coalesce`/`ifblank`、`min`、`max`、`abs`、`filled`、`blank`、`na`、`count`。"
        "`per: column` 逐列检查，`per: 指标` 逐个指标行检查。")
    add("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rules", default=None, help="规则包（默认内置 hunan-county-2023）")
    ap.add_argument("--check", action="store_true", help="只检查 docs/rules.md 是否最新")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    text = render(load_pack(args.rules))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} 不是最新的；请运行 .venv/bin/python scripts/gen_rule_docs.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
