"""Rule packs: YAML files of declared rules, versioned by template (`rules/<pack>/`).

A pack directory holds `pack.yaml` (id, version, title, template, `extends`, `params`,
`defaults`, `reserved`, optional `rubric`) and any number of other `*.yaml` files with a
`rules:` list. `rubric.yaml` belongs to the scoring stage and is kept as the raw dict
`Pack.rubric`.

An auditor's own pack (a directory or a single YAML file) names its base with `extends:` and
then overrides built-in rules by id (any field, e.g. `severity: info`), switches them off
(`enabled: false` or `disable: [ids]`), adds rules of its own, and overrides `params`.
Several packs given in a row (`--rules A --rules B`) stack: each later one extends the ones before.

Packs are parsed and compiled once per (files, mtimes) and cached.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..findings import Severity
from .expr import Compiled, ExprError, compile_expr
from .namespace import INDICATOR_VOCABULARY, SCOPE_ALIASES, SCOPES, VOCABULARY

DEFAULT_PACK = "hunan-county-2023"
KINDS = ("expr", "python", "schema", "outcome")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_RULE_KEYS = frozenset({
    "id", "title", "severity", "scope", "expr", "python", "schema", "when", "let", "per", "columns", "params",
    "precision", "tolerance", "truncation", "display_decimals", "display_rule", "truncation_rule", "unit",
    "message", "doc", "example", "test", "enabled", "phase", "strict_names", "outcome",
})
OUTCOMES = ("truncation", "display")  # `outcome:` rules only name what other rules report


class PackError(ValueError):
    """A rule pack that cannot be loaded. The message is Chinese."""


@dataclass(slots=True)
class Assertion:
    check: Compiled
    when: Compiled | None = None
    message: str | None = None


@dataclass(slots=True)
class Rule:
    id: str
    title: str
    severity: Severity
    scope: tuple[str, ...]
    kind: str  # "expr" | "python" | "schema" | "outcome" (reported by other rules: 截位, 显示位数)
    message: str
    asserts: list[Assertion] = field(default_factory=list)
    when: Compiled | None = None
    lets: dict[str, Compiled] = field(default_factory=dict)
    per: str | None = None  # None | "column" | "指标"
    columns: tuple[str, ...] = ()
    python: str | None = None
    schema: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    min_decimals: int = 0
    exact_operands: bool = False
    exact: bool = False  # every number exactly as written (no rounding intervals)
    tolerance: float = 0.0
    truncation: bool = False
    truncation_rule: str = "ROUND-TRUNC"
    display_decimals: int = 0
    display_rule: str = "ROUND-PREC"
    unit: str | None = None  # "%" to show expected/actual as percentages
    doc: str = ""
    example: str = ""
    test: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    phase: str = "main"  # "late": runs after every other rule and sees their findings
    source: str = ""  # the file that last defined or overrode this rule
    message_params: dict[str, Any] = field(default_factory=dict)  # scalar params, for message templates
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def expression_text(self) -> str:
        return "\n".join(a.check.source for a in self.asserts)


@dataclass(slots=True)
class Pack:
    id: str
    version: str
    title: str
    template: str = ""
    lineage: list[str] = field(default_factory=list)  # pack ids, base first
    rules: dict[str, Rule] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    reserved: dict[str, str] = field(default_factory=dict)  # id -> where it is handled instead
    rubric: dict[str, Any] = field(default_factory=dict)  # raw, for jixiao.score
    paths: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)  # compiled artefacts (pandera schemas)

    def enabled_rules(self) -> list[Rule]:
        return [r for r in self.rules.values() if r.enabled]

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    @property
    def label(self) -> str:
        return f"{self.id} {self.version}".strip()


# --- locating packs -----------------------------------------------------------------------


def builtin_roots() -> list[Path]:
    """Where built-in packs live: $JIXIAO_RULES, else `rules/` next to the source tree."""
    env = os.environ.get("JIXIAO_RULES")
    roots = [Path(env)] if env else []
    here = Path(__file__).resolve()
    roots += [p / "rules" for p in here.parents[:5]]
    return [r for r in roots if r.is_dir()]


def resolve_spec(spec: str | Path, relative_to: Path | None = None) -> Path:
    p = Path(spec)
    candidates = [p] if p.is_absolute() else [*([relative_to / p] if relative_to else []), p]
    for c in candidates:
        if c.exists():
            return c.resolve()
    for root in builtin_roots():
        if (root / str(spec)).is_dir():
            return (root / str(spec)).resolve()
    raise PackError(f"找不到规则包：{spec}（既不是文件或目录，也不是内置规则包名称）")


def builtin_pack_names() -> list[str]:
    names: set[str] = set()
    for root in builtin_roots():
        names.update(d.name for d in root.iterdir() if (d / "pack.yaml").is_file())
    return sorted(names)


# --- loading ------------------------------------------------------------------------------


def load_pack(specs: str | Path | Sequence[str | Path] | None = None) -> Pack:
    """The pack for `--rules` arguments (None: the built-in default). Cached on file mtimes."""
    if specs is None or (isinstance(specs, Sequence) and not isinstance(specs, str) and not specs):
        specs = [DEFAULT_PACK]
    elif isinstance(specs, str | Path):
        specs = [specs]
    paths = tuple(str(resolve_spec(s)) for s in specs)
    return _load_cached(paths, _stamp(paths))


def _stamp(paths: tuple[str, ...]) -> tuple[int, ...]:
    out: list[int] = []
    for p in paths:
        path = Path(p)
        files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
        out.extend(f.stat().st_mtime_ns for f in files)
        out.append(len(files))
    return tuple(out)


@lru_cache(maxsize=16)
def _load_cached(paths: tuple[str, ...], stamp: tuple[int, ...]) -> Pack:
    raw = _resolve_layers(Path(paths[0]), seen=())
    for p in paths[1:]:
        # later packs are overlays on everything before them; their own `extends` is not reloaded
        raw = _overlay(raw, _read_source(Path(p)))
    return _compile_pack(raw)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # deferred: the CLI's --help must not pay for it

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise PackError(f"规则文件 YAML 格式错误：{path}（{exc}）") from None
    except OSError as exc:
        raise PackError(f"无法读取规则文件：{path}（{exc.strerror}）") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PackError(f"规则文件的顶层应为映射（key: value）：{path}")
    return data


def _read_source(path: Path) -> dict[str, Any]:
    """One pack source (a directory or a file) as a raw layer, rules tagged with their file."""
    if path.is_dir():
        meta_file = path / "pack.yaml"
        meta = _read_yaml(meta_file) if meta_file.is_file() else {}
        rules = _tag(meta.pop("rules", None) or [], meta_file)
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        for f in files:
            if f.name in ("pack.yaml", "rubric.yaml", "rubric.yml"):
                continue
            data = _read_yaml(f)
            unknown = set(data) - {"rules"}
            if unknown:
                raise PackError(f"规则文件 {f} 只能包含 rules: 列表（多余的键：{', '.join(sorted(unknown))}）")
            rules.extend(_tag(data.get("rules") or [], f))
        rubric_file = next((f for f in (path / "rubric.yaml", path / "rubric.yml") if f.is_file()), None)
        if rubric_file is not None:
            rub = _read_yaml(rubric_file)
            meta["rubric"] = _deep_merge(rub.get("rubric", rub) if isinstance(rub.get("rubric"), dict) else rub,
                                         meta.get("rubric") or {})
        meta.setdefault("id", path.name)
        meta["rules"] = rules
        meta["_path"] = str(path)
        return meta
    data = _read_yaml(path)
    data["rules"] = _tag(data.get("rules") or [], path)
    data.setdefault("id", path.stem)
    data["_path"] = str(path)
    return data


def _tag(rules: Any, source: Path) -> list[dict[str, Any]]:
    if not isinstance(rules, list):
        raise PackError(f"rules 应为列表：{source}")
    out = []
    for r in rules:
        if not isinstance(r, dict) or "id" not in r:
            raise PackError(f"每条规则都应是带 id 的映射：{source}（{r!r:.80}）")
        d = dict(r)
        d["_source"] = str(source)
        out.append(d)
    return out


def _resolve_layers(path: Path, seen: tuple[str, ...]) -> dict[str, Any]:
    if str(path) in seen:
        raise PackError(f"规则包循环继承：{' -> '.join((*seen, str(path)))}")
    layer = _read_source(path)
    base_spec = layer.get("extends")
    if not base_spec:
        layer["_lineage"] = [str(layer["id"])]
        layer["_paths"] = [layer["_path"]]
        return layer
    base = _resolve_layers(resolve_spec(base_spec, path.parent), (*seen, str(path)))
    return _overlay(base, layer)


def _overlay(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """`layer` over `base`: rules merged by id (field by field), params/defaults/rubric deep-merged."""
    out = {k: v for k, v in base.items() if k != "rules"}
    rules: dict[str, dict[str, Any]] = {r["id"]: copy.deepcopy(r) for r in base.get("rules", [])}
    for r in layer.get("rules", []):
        rid = str(r["id"])
        if rid in rules:
            merged = rules[rid]
            for k, v in r.items():
                if k == "params" and isinstance(v, dict):
                    merged["params"] = {**(merged.get("params") or {}), **v}
                else:
                    merged[k] = v
        else:
            rules[rid] = dict(r)
    for rid in layer.get("disable") or []:
        if str(rid) not in rules:
            raise PackError(f"disable 中的规则不存在：{rid}")
        rules[str(rid)]["enabled"] = False
    for rid in layer.get("enable") or []:
        if str(rid) in rules:
            rules[str(rid)]["enabled"] = True
    for key in ("params", "defaults", "reserved", "rubric"):
        if layer.get(key):
            out[key] = _deep_merge(out.get(key) or {}, layer[key])
    for key in ("id", "version", "title", "template"):
        if key in layer:
            out[key] = layer[key]
    out["_lineage"] = [*base.get("_lineage", []), str(layer.get("id", ""))]
    out["_paths"] = [*base.get("_paths", []), str(layer.get("_path", ""))]
    out["rules"] = list(rules.values())
    return out


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# --- compiling ----------------------------------------------------------------------------


def _compile_pack(raw: dict[str, Any]) -> Pack:
    pack = Pack(
        id=str(raw.get("id", "")), version=str(raw.get("version", "")), title=str(raw.get("title", "")),
        template=str(raw.get("template", "")), lineage=[str(x) for x in raw.get("_lineage", []) if x],
        params=dict(raw.get("params") or {}), reserved={str(k): str(v) for k, v in (raw.get("reserved") or {}).items()},
        rubric=dict(raw.get("rubric") or {}), paths=[p for p in raw.get("_paths", []) if p],
    )
    defaults = raw.get("defaults") or {}
    for r in raw.get("rules", []):
        d = _deep_merge(defaults, {k: v for k, v in r.items()})
        rule = compile_rule(d, pack.params)
        pack.rules[rule.id] = rule
    for rule in pack.rules.values():
        for ref in _referenced_rules(rule):
            if ref not in pack.rules or pack.rules[ref].kind != "outcome":
                raise PackError(f"规则 {rule.id} 引用的 {ref} 不存在或不是 outcome 规则")
    return pack


def _referenced_rules(rule: Rule) -> list[str]:
    refs = []
    if rule.truncation:
        refs.append(rule.truncation_rule)
    if rule.display_decimals:
        refs.append(rule.display_rule)
    return refs


def compile_rule(d: dict[str, Any], pack_params: dict[str, Any] | None = None) -> Rule:
    rid = str(d.get("id", ""))
    where = f"规则 {rid}（{d.get('_source', '')}）"
    if not _ID_RE.match(rid):
        raise PackError(f"{where}：id 只能用英文字母、数字和 - _ .")
    unknown = {k for k in d if not k.startswith("_")} - _RULE_KEYS
    if unknown:
        raise PackError(f"{where}：未知的字段 {', '.join(sorted(unknown))}")
    kinds = [k for k in KINDS if d.get(k)]
    if len(kinds) != 1:
        raise PackError(f"{where}：必须且只能有 expr、python、schema、outcome 之一")
    for key in ("title", "severity", "scope", "message"):
        if not d.get(key):
            raise PackError(f"{where}：缺少 {key}")
    try:
        severity = Severity.parse(str(d["severity"]))
    except ValueError:
        raise PackError(f"{where}：severity 应为 error/warning/info（强制/提示/信息）") from None
    scopes = d["scope"] if isinstance(d["scope"], list) else [d["scope"]]
    scope = tuple(SCOPE_ALIASES.get(str(s), str(s)) for s in scopes)
    bad = [s for s in scope if s not in SCOPES]
    if bad:
        raise PackError(f"{where}：scope 应为 {'/'.join(SCOPES)}（或 cross），而不是 {', '.join(bad)}")
    prec = d.get("precision") or {}
    if isinstance(prec, str):
        prec = {"written": {"min_decimals": 0}, "exact": {"exact": True}}.get(prec)
        if prec is None:
            raise PackError(f"{where}：precision 应为 written、exact 或 {{min_decimals: N, operands: exact}}")
    per = d.get("per")
    if per not in (None, "column", "指标"):
        raise PackError(f"{where}：per 只能是 column 或 指标")
    columns = tuple(str(c) for c in d.get("columns") or ())
    if per == "column" and not columns:
        raise PackError(f"{where}：per: column 需要 columns 列表")
    params = {**(pack_params or {}), **(d.get("params") or {})}
    rule = Rule(
        id=rid, title=str(d["title"]), severity=severity, scope=scope, kind=kinds[0], message=str(d["message"]),
        per=per, columns=columns, python=d.get("python"), schema=d.get("schema"), params=params,
        min_decimals=int(prec.get("min_decimals", 0)), exact_operands=prec.get("operands") == "exact",
        exact=bool(prec.get("exact", False)),
        tolerance=float(d.get("tolerance") or 0.0), truncation=bool(d.get("truncation", False)),
        truncation_rule=str(d.get("truncation_rule", "ROUND-TRUNC")),
        display_decimals=int(d.get("display_decimals") or 0), display_rule=str(d.get("display_rule", "ROUND-PREC")),
        unit=d.get("unit"), doc=str(d.get("doc", "")).strip(), example=str(d.get("example", "")).strip(),
        test=dict(d.get("test") or {}), enabled=bool(d.get("enabled", True)), phase=str(d.get("phase", "main")),
        source=str(d.get("_source", "")), raw={k: v for k, v in d.items() if not k.startswith("_")},
    )
    rule.message_params = {k: v for k, v in params.items() if isinstance(v, str | int | float)}
    if rule.kind == "expr":
        _compile_expressions(rule, d, where)
    elif rule.kind == "python":
        from .pyrules import REGISTRY

        if rule.python not in REGISTRY:
            raise PackError(f"{where}：没有名为 {rule.python} 的 Python 规则（可用：{', '.join(sorted(REGISTRY))}）")
    elif rule.kind == "outcome":
        if d.get("outcome") not in OUTCOMES:
            raise PackError(f"{where}：outcome 应为 {' 或 '.join(OUTCOMES)}")
    else:
        from .schemas import SCHEMA_CHECKS

        if rule.schema not in SCHEMA_CHECKS:
            raise PackError(f"{where}：没有名为 {rule.schema} 的表结构检查（可用：{', '.join(sorted(SCHEMA_CHECKS))}）")
    return rule


def _compile_expressions(rule: Rule, d: dict[str, Any], where: str) -> None:
    lets = d.get("let") or {}
    if not isinstance(lets, dict):
        raise PackError(f"{where}：let 应为 名称: 表达式 的映射")
    names = list(lets)
    try:
        for i, (name, src) in enumerate(lets.items()):
            rule.lets[str(name)] = compile_expr(str(src), lets=names[:i])
        if d.get("when"):
            rule.when = compile_expr(str(d["when"]), lets=names)
        items = d["expr"] if isinstance(d["expr"], list) else [d["expr"]]
        for item in items:
            if isinstance(item, dict):
                a = Assertion(compile_expr(str(item["expr"]), lets=names),
                              compile_expr(str(item["when"]), lets=names) if item.get("when") else None,
                              item.get("message"))
            else:
                a = Assertion(compile_expr(str(item), lets=names))
            if not a.check.is_condition:
                raise PackError(f"{where}：expr 应是一个条件（比较或 filled(...) 等），而不是数值：{a.check.source}")
            rule.asserts.append(a)
    except ExprError as exc:
        raise PackError(f"{where}：{exc}") from None
    if d.get("strict_names", True):
        _check_names(rule, where)


def _check_names(rule: Rule, where: str) -> None:
    known: set[str] = {"params"}
    for s in rule.scope:
        known |= VOCABULARY[s]
    if rule.per == "指标":
        known |= INDICATOR_VOCABULARY
    used: set[str] = set()
    for c in (*rule.lets.values(), *(a.check for a in rule.asserts), *(a.when for a in rule.asserts if a.when),
              *([rule.when] if rule.when else [])):
        used |= c.names
    unknown = sorted(used - known)
    if unknown:
        raise PackError(f"{where}：表达式中有未知名称 {', '.join(unknown)}（{'/'.join(rule.scope)} 可用："
                        f"{', '.join(sorted(known - {'params'}))}）")
