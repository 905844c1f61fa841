"""Run a rule pack over workbook models: `check_model(model, pack) -> list[Finding]`.

Expression rules are evaluated with interval arithmetic; a failure is re-tried with the
reported value read as truncated (→ the pack's 截位 rule instead of an error), and a pass is
re-tried at the display precision the rule asks for (→ "显示位数不足" info). Python rules run
next, then the pandera schemas (one call for a whole batch, see `check_models`), then rules of
`phase: late`, which see every earlier finding.

In a batch, `vector` first screens every expression rule over all the models at once; the
interpreter then evaluates only the assertions the screen could not clear (most of them pass),
and reports exactly what it would have reported evaluating everything.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from ..errors import CannotCheck
from ..findings import Finding, sort_key
from ..model import Value, WorkbookModel
from . import schemas
from .expr import Comparison, Env, _truth
from .intervals import FALSE, SKIP, TRUE, Num, format_interval
from .messages import fmt_number, fmt_signed, make_finding
from .namespace import ANNEX1, ANNEX2, ANNEX3, CROSS, ModelNames
from .pyrules import REGISTRY, RuleContext
from .rulepack import Pack, Rule, load_pack


def check_model(model: WorkbookModel, pack: Pack | None = None) -> list[Finding]:
    """Every finding of the pack's enabled rules on one model, sorted by annex, sheet and cell."""
    return check_models([model], pack)[0]


def check_models(models: Sequence[WorkbookModel], pack: Pack | None = None) -> list[list[Finding]]:
    """Findings per model; the pandera schemas run once for the whole batch, and so does the
    screen of the expression rules (`vector`), which leaves the interpreter only the rule
    applications that may report something."""
    pack = pack or load_pack()
    by_schema = schemas.validate(list(enumerate(models)), pack)
    names = [ModelNames(m) for m in models] if _has_expr_rules(pack) else [None] * len(models)
    screened = _screen(models, names, pack) if len(models) >= SCREEN_MIN_MODELS else {}
    # per model only the screened rules with lanes left: a screened rule absent there has nothing to do
    needs: list[dict[str, Sequence[int]]] = [{} for _ in models]
    for rule_id, lanes in screened.items():
        for i in lanes.models:
            needs[i][rule_id] = lanes.of(i)
    out: list[list[Finding]] = []
    for i, model in enumerate(models):
        findings = _run_rules(model, pack, "main", None, names[i], needs[i], screened)
        findings.extend(by_schema.get(i, []))
        findings.extend(_run_rules(model, pack, "late", findings, names[i], needs[i], screened))
        findings.sort(key=sort_key)
        out.append(findings)
    return out


def run_rules(model: WorkbookModel, pack: Pack, *, phase: str = "main",
              earlier: list[Finding] | None = None) -> list[Finding]:
    """Expression and Python rules of one phase (schema rules are batched separately)."""
    return _run_rules(model, pack, phase, earlier, None, {})


def _run_rules(model: WorkbookModel, pack: Pack, phase: str, earlier: list[Finding] | None,
               names: ModelNames | None, need: Mapping[str, Sequence[int]],
               screened: Container[str] = ()) -> list[Finding]:
    """`need`: the lanes left by the screen per rule; a rule in `screened` but not in `need` has none."""
    findings: list[Finding] = []
    for rule, plan in _phase_rules(pack, phase):
        if plan is not None:
            lanes = need.get(rule.id)
            if lanes is None and rule.id in screened:
                continue
            if names is None:
                names = ModelNames(model)
            findings.extend(_run_expr(rule, pack, model, names, plan, lanes))
        else:
            ctx = RuleContext(model, rule, pack, [*earlier, *findings] if earlier else findings.copy())
            findings.extend(REGISTRY[str(rule.python)].fn(ctx))
    return findings


# Smaller batches are left to the interpreter alone: the screen's numpy calls cost about the same
# whatever the number of lanes.
SCREEN_MIN_MODELS = 8


def _has_expr_rules(pack: Pack) -> bool:
    return any(plan is not None for phase in ("main", "late") for _rule, plan in _phase_rules(pack, phase))


class _Screened(NamedTuple):
    """A rule's screen over a batch: per lane the assertions to evaluate (`vector.screen`), the
    first lane of every model, and the models with any such lane."""

    need: Any  # numpy array, one int per lane
    starts: list[int]
    models: frozenset[int]

    def of(self, i: int) -> Sequence[int]:
        """Model i's lanes (a list only where needed: few survive the screen)."""
        return self.need[self.starts[i]:self.starts[i + 1]].tolist() if i in self.models else ()


def _screen(models: Sequence[WorkbookModel], names: Sequence[ModelNames | None], pack: Pack
            ) -> dict[str, _Screened]:
    """Rule id -> which of its assertions the interpreter must evaluate, per model and lane
    (context, row, column in `_run_expr`'s order). A rule the screen does not model is absent:
    it runs everywhere."""
    import numpy as np

    from . import vector  # deferred: numpy

    vrules = pack.cache.get("engine.vector")
    if vrules is None:
        vrules = {rule.id: vector.vector_rule(rule) for rule in pack.enabled_rules() if rule.kind == "expr"}
        pack.cache["engine.vector"] = vrules
    out: dict[str, _Screened] = {}
    shared: dict[tuple[Any, ...], tuple[vector.Lanes, list[int], Any]] = {}  # rules over the same lanes share them
    for phase in ("main", "late"):
        for rule, plan in _phase_rules(pack, phase):
            vr = vrules.get(rule.id) if plan is not None else None
            if vr is None or plan is None:
                continue
            key = (rule.scope, rule.per, plan.columns)
            if key not in shared:
                lanes, starts = _screen_lanes(rule, plan.columns, models, names)
                shared[key] = (lanes, starts, np.array(starts))
            lanes, starts, start_array = shared[key]
            target = pack.rules.get(rule.display_rule)
            display = plan.display and target is not None and target.enabled
            try:
                need = vector.screen(rule, vr, lanes, display)
            except (CannotCheck, MemoryError):  # a time limit ran out: as anywhere else
                raise
            except Exception:  # whatever else the screen trips on, the interpreter decides
                continue
            lanes_left = np.flatnonzero(need)
            owners = np.searchsorted(start_array, lanes_left, side="right") - 1
            out[rule.id] = _Screened(need, starts, frozenset(owners.tolist()))
    return out


def _screen_lanes(rule: Rule, columns: tuple[str | None, ...], models: Sequence[WorkbookModel],
                  names: Sequence[ModelNames | None]) -> tuple[Any, list[int]]:
    """The lanes of a rule over the chunk (in `_run_expr`'s order) and where each model's begin
    (one more entry: the end)."""
    from . import vector

    lane_ns: list[dict[str, Any]] = []
    cols: list[str | None] = []
    starts: list[int] = []
    per = len(columns)
    for model, nm in zip(models, names, strict=True):
        assert nm is not None
        starts.append(len(cols))
        for ns, _row in _lanes(rule, nm, model):
            lane_ns += [ns] * per
            cols += columns
    starts.append(len(cols))
    return vector.Lanes(lane_ns, cols, per=per), starts


class _ExprPlan(NamedTuple):
    """What `_run_expr` needs of an expression rule, taken out of the Rule once per pack."""

    lets: dict[str, Any]  # name -> compiled let
    when: Any  # compiled rule-level `when`, or None
    asserts: tuple[tuple[Any, Any, str | None], ...]  # (compiled when or None, compiled check, message)
    columns: tuple[str | None, ...]
    display: bool  # a pass is re-tried at display precision, so its first evaluation keeps its leaves


def _plan(rule: Rule) -> _ExprPlan:
    return _ExprPlan(
        lets={k: c.fn for k, c in rule.lets.items()},
        when=rule.when.fn if rule.when is not None else None,
        asserts=tuple((a.when.fn if a.when is not None else None, a.check.fn, a.message) for a in rule.asserts),
        columns=rule.columns or (None,),
        display=bool(rule.display_decimals),
    )


def _phase_rules(pack: Pack, phase: str) -> list[tuple[Rule, _ExprPlan | None]]:
    """The enabled expression and Python rules of a phase, in pack order, expression rules with their
    plan. Worked out once per pack and kept in `pack.cache`, like the compiled schemas (a loaded pack
    is not changed afterwards)."""
    phases = pack.cache.get("engine.phases")
    if phases is None:
        phases = {}
        for rule in pack.enabled_rules():
            if rule.kind not in ("schema", "outcome"):
                plan = _plan(rule) if rule.kind == "expr" else None
                phases.setdefault(rule.phase, []).append((rule, plan))
        pack.cache["engine.phases"] = phases
    return phases.get(phase, [])


# --- expression rules ---------------------------------------------------------------------


def _contexts(rule: Rule, names: ModelNames, model: WorkbookModel) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    for scope in rule.scope:
        if scope == ANNEX1 and names.annex1 is not None:
            yield ANNEX1, names.annex1, None
        elif scope == ANNEX2 and names.annex2 is not None:
            yield ANNEX2, names.annex2, None
        elif scope == ANNEX3:
            for ns, a in zip(names.annex3, model.annex3, strict=True):
                yield ANNEX3, ns, a.project_name.text or a.sheet
        elif scope == CROSS:
            yield CROSS, names.cross, None


def _lanes(rule: Rule, names: ModelNames, model: WorkbookModel) -> Iterator[tuple[dict[str, Any], Any]]:
    """(names, indicator row or None) of every context and row the rule applies to, in order;
    each is then taken once per column."""
    for _annex, ns, _project in _contexts(rule, names, model):
        if rule.per == "指标":
            for row in ns.get("指标", []):
                yield {**ns, **row.fields}, row
        else:
            yield ns, None


def _run_expr(rule: Rule, pack: Pack, model: WorkbookModel, names: ModelNames,
              plan: _ExprPlan | None = None, need: Sequence[int] | None = None) -> Iterator[Finding]:
    """`need`: per lane (context, row, column) which assertions to evaluate, from the screen (bit j
    for assertion j, -1 for all); None: every lane and assertion."""
    if need is not None and not any(need):
        return
    plan = plan or _plan(rule)
    env = Env(ns={}, params=rule.params, lets=plan.lets, min_decimals=rule.min_decimals,
              exact_operands=rule.exact_operands, exact=rule.exact, tolerance=rule.tolerance)
    when, asserts, columns, display = plan.when, plan.asserts, plan.columns, plan.display
    # a screened lane is most likely a failure: keep what a message needs from the first evaluation
    record = display or need is not None
    lane = -1
    for annex, ns, project in _contexts(rule, names, model):
        rows: list[Any] = ns.get("指标", []) if rule.per == "指标" else [None]
        for row in rows:
            if need is not None and not any(need[lane + 1:lane + 1 + len(columns)]):
                lane += len(columns)
                continue
            env.ns = {**ns, **row.fields} if row is not None else ns
            env.label = _indicator_label(row) if row is not None else ""
            for column in columns:
                lane += 1
                mask = need[lane] if need is not None else -1
                if not mask:
                    continue
                env.column = column
                if when is not None and _eval(when, env) != TRUE:
                    continue
                for j, (a_when, check, message) in enumerate(asserts):
                    if not (mask >> j) & 1 and j < 63:
                        continue  # the screen found that this assertion reports nothing here
                    if a_when is not None and _eval(a_when, env) != TRUE:
                        continue
                    res = _eval(check, env, record=record)
                    if res == SKIP:
                        continue
                    if res == FALSE:
                        f = _failure(rule, pack, model, env, check, annex, project, message, recorded=record)
                        if f is not None:
                            yield f
                    elif display:
                        f = _display_check(rule, pack, model, env, check, annex, project)
                        if f is not None:
                            yield f


def _indicator_label(row: Any) -> str:
    for name in ("三级指标", "二级指标"):
        v = row.fields.get(name)
        if v is not None and not v.blank and not v.na:
            return "".join(v.text.split())
    return f"第{row.row.row}行"


def _eval(fn: Any, env: Env, record: bool = False) -> int:
    env.reset()
    env.record = record
    return _truth(fn(env))


def _single_leaf(c: Comparison) -> Value | None:
    return c.left_leaves[0] if len(c.left_leaves) == 1 and c.left_leaves[0].number is not None else None


def _first_failed(env: Env) -> Comparison | None:
    return next((c for c in env.compares if c.result == FALSE), env.compares[0] if env.compares else None)


def _failure(rule: Rule, pack: Pack, model: WorkbookModel, env: Env, fn: Any, annex: str, project: str | None,
             message: str | None, *, recorded: bool = False) -> Finding | None:
    if not recorded:  # evaluate again, keeping what a message needs (unless that evaluation kept it already)
        _eval(fn, env, record=True)
    cmp = _first_failed(env)
    leaves = list(env.leaves)
    # truncation explains a reported value that is shown cut short; it never excuses an inequality
    if (rule.truncation and cmp is not None and cmp.op == "=" and (leaf := _single_leaf(cmp)) is not None
            and leaf.number):
        env.trunc = leaf
        res = _eval(fn, env)
        env.trunc = None
        if res != FALSE:  # consistent when read as truncated: a note (or nothing, if switched off)
            trunc = pack.rules[rule.truncation_rule]
            if not trunc.enabled:
                return None
            return _expr_finding(trunc, model, cmp, leaves, env, annex, project, None, origin=rule)
        _eval(fn, env, record=True)
    return _expr_finding(rule, model, cmp, leaves, env, annex, project, message)


def _display_check(rule: Rule, pack: Pack, model: WorkbookModel, env: Env, fn: Any, annex: str,
                   project: str | None) -> Finding | None:
    cmp = env.compares[0] if env.compares else None
    leaf = _single_leaf(cmp) if cmp is not None else None
    if leaf is None or (leaf.decimals or 0) >= rule.display_decimals:
        return None
    target = pack.rules.get(rule.display_rule)
    if target is None or not target.enabled:
        return None
    env.display, env.display_decimals = leaf, rule.display_decimals
    res = _eval(fn, env, record=True)
    env.display = None
    if res != FALSE:
        return None
    return _expr_finding(target, model, _first_failed(env), list(env.leaves), env, annex, project, None, origin=rule)


_OP_TEXT = {"=": "", "!=": "≠ ", "<=": "≤ ", "<": "< ", ">=": "≥ ", ">": "> "}


def _expr_finding(rule: Rule, model: WorkbookModel, cmp: Comparison | None, leaves: list[Value], env: Env,
                  annex: str, project: str | None, message: str | None, origin: Rule | None = None) -> Finding:
    origin = origin or rule
    fix = _fix_leaf(cmp, leaves)
    sheet = fix.sheet if fix is not None else ""
    cell = fix.cell if fix is not None else ""
    percent = origin.unit == "%" or rule.unit == "%" or (fix is not None and fix.unit == "%")
    dec = _decimals(leaves, percent, origin)
    expected = actual = diff = interval = None
    # the compared values as shown, each formatted once
    left_num = cmp.left if cmp is not None else None
    right_num = cmp.right if cmp is not None else None
    left_text = fmt_number(left_num.mid, dec, percent) if left_num is not None else None
    right_text = fmt_number(right_num.mid, dec, percent) if right_num is not None else None
    if cmp is not None and left_num is not None and right_num is not None:
        single = _single_leaf(cmp)
        actual = single.text if single is not None else left_text
        expected = _OP_TEXT.get(cmp.op, "") + str(right_text)
        diff = fmt_signed(left_num.mid - right_num.mid, dec, percent)
        idec = dec + 2
        interval = (f"填报 {format_interval(left_num, percent, idec)}；"
                    f"计算 {format_interval(right_num.widen(env.tolerance), percent, idec)}")
    if annex == CROSS:
        annex, project = _annex_of(model, sheet)
    fields: dict[str, Any] = {"column": env.column or "", "indicator": env.label, "origin": origin.id,
                              "origin_title": origin.title}
    if left_text is not None:
        fields["left"] = left_text
    if right_text is not None:
        fields["right"] = right_text
    if origin.lets:
        fields.update(_let_values(origin, env, dec, percent))
    fields["expected_all"] = " 或 ".join([
        _OP_TEXT.get(c.op, "") + (right_text if c is cmp else fmt_number(c.right.mid, dec, percent))
        for c in env.compares if c.result == FALSE and c.right is not None]) or (expected or "")
    cells = [v.cell if v.sheet == sheet else f"{v.sheet}!{v.cell}" for v in leaves if v.cell]
    return make_finding(rule, annex=annex, sheet=sheet, cell=cell, fields=fields, cells=cells, project=project,
                        expected=expected, actual=actual, diff=diff, interval=interval, message=message)


def _fix_leaf(cmp: Comparison | None, leaves: list[Value]) -> Value | None:
    """The cell a finding points at: the first left-hand leaf with a number (else the first
    left-hand leaf), else the first leaf with a cell."""
    if cmp is not None and cmp.left_leaves:
        for v in cmp.left_leaves:
            if v.number is not None:
                return v
        return cmp.left_leaves[0]
    for v in leaves:
        if v.cell:
            return v
    return None


def _decimals(leaves: list[Value], percent: bool, rule: Rule) -> int:
    if percent:
        return max(2, rule.display_decimals - 2)
    dec = 2
    for v in leaves:
        if v.number is not None and v.unit != "%":
            d = v.decimals or 0
            if d > dec:
                dec = d
    return min(4, dec)


def _let_values(rule: Rule, env: Env, dec: int, percent: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    saved = (list(env.leaves), list(env.compares))
    for name in rule.lets:
        env.reset()
        v = env.lets[name](env)
        if isinstance(v, Num):
            out[name] = fmt_number(v.mid, dec, percent and "率" in name)
        elif isinstance(v, Value):
            out[name] = v.text
    env.leaves[:], env.compares[:] = saved
    return out


def _annex_of(model: WorkbookModel, sheet: str) -> tuple[str, str | None]:
    if model.annex1 is not None and model.annex1.sheet == sheet:
        return ANNEX1, None
    if model.annex2 is not None and model.annex2.sheet == sheet:
        return ANNEX2, None
    for a in model.annex3:
        if a.sheet == sheet:
            return ANNEX3, a.project_name.text or a.sheet
    return "工作簿", None


__all__ = ["check_model", "check_models", "run_rules"]
