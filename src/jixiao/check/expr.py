"""A safe expression language for rule packs.

Expressions are parsed with `ast` and compiled into a tree of closures; only a whitelist of
node types is accepted (names and attribute paths, numbers, strings, + − × ÷, comparisons,
and/or/not, `in (…)`, and the functions in `FUNCTIONS`). Nothing is ever passed to `eval`.

Written for auditors, so besides Python syntax it accepts:

* a single `=` for equality, and ≤ ≥ ≠ × ÷ and full-width （ ） ， ＝;
* percentages: `100%` is the number 1;
* names with punctuation in backticks: `` `水费、电费、差旅费` ``.

Values are intervals (`intervals.Num`): a reported number stands for every value that rounds
to it. Blank cells and "——" are BLANK, not zero: in + and − a blank operand counts as 0 when
another operand is filled; a comparison with a blank side does not apply (SKIP).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..model import Value
from ..text import label_key
from .intervals import FALSE, HALF_UNITS, SKIP, TRUE, UNKNOWN, Num, eq, le, lt, tri_and, tri_not, tri_or


class ExprError(ValueError):
    """A rule expression that cannot be compiled. The message is Chinese."""


class _Blank:
    __slots__ = ()

    def __repr__(self) -> str:
        return "BLANK"


BLANK: Any = _Blank()  # a blank or not-applicable operand

LEFT, RIGHT, NONE = 1, 2, 0


@dataclass(slots=True)
class Comparison:
    """One evaluated comparison; the first one of a failing rule locates the finding."""

    op: str
    left: Num | None
    right: Num | None
    left_leaves: list[Value]
    right_leaves: list[Value]
    result: int


@dataclass(slots=True)
class Env:
    """Evaluation state for one rule application."""

    ns: dict[str, Any]  # root names -> model objects (see namespace.py)
    params: dict[str, Any] = field(default_factory=dict)  # the rule's `params`, read as params.NAME
    lets: dict[str, Callable[[Env], Any]] = field(default_factory=dict)
    column: str | None = None  # current column for per-column rules
    label: str = ""  # current indicator row of a per-指标 rule, for messages
    min_decimals: int = 0  # a number written with fewer decimals is taken at this precision
    exact_operands: bool = False  # right-hand operands are exact (counts, scores)
    exact: bool = False  # every number is exact, both sides
    tolerance: float = 0.0  # extra absolute slack on the right-hand side
    trunc: Value | None = None  # read this leaf with its truncation interval
    display: Value | None = None  # read this leaf at `display_decimals`
    display_decimals: int = 0
    side: int = NONE
    record: bool = False  # keep leaves and comparisons (only needed to explain a failure)
    leaves: list[Value] = field(default_factory=list)
    compares: list[Comparison] = field(default_factory=list)

    def reset(self) -> None:
        self.leaves.clear()
        self.compares.clear()
        self.side = NONE


Node = Callable[[Env], Any]
N = TypeVar("N")  # a compiled node: `Node` here, `vector.VNode` in the screen

# --- value conversion -------------------------------------------------------------------


def leaf_num(v: Value, env: Env) -> Num | Any:
    """A model value as an interval (or BLANK), recording it as used."""
    if env.record:
        env.leaves.append(v)
    n = v.number
    if n is None:
        return BLANK
    d = v.decimals or 0
    if d < env.min_decimals:
        d = env.min_decimals
    if env.trunc is v:
        return Num.truncated(n, d)
    if env.display is v:
        return Num.rounded(n, max(d, env.display_decimals))
    # Num.exact / Num.rounded, inlined: this is the hottest path of the rule engine
    if env.exact or (env.side == RIGHT and env.exact_operands):
        return Num(n, n, n)
    half = HALF_UNITS[d] if d < 16 else 0.5 * 10.0 ** -d
    return Num(n - half, n + half, n)


def to_num(x: Any, env: Env) -> Num | Any:
    t = type(x)
    if t is Value:
        return leaf_num(x, env)
    if t is Num:
        return x
    if x is BLANK or x is None:
        return BLANK
    col = getattr(x, "column_value", None)
    if col is not None:
        if env.column is None:
            raise ExprError("该名称是一整行，需指定列（如 “三公经费.本年决算数”）或在规则中设置 per: column")
        v = col(env.column)
        return leaf_num(v, env) if type(v) is Value else to_num(v, env)
    if t is float or t is int:
        return Num.exact(float(x))
    if t is list:
        raise ExprError("一组数值不能直接参与运算，请用 sum(...) 求和")
    return BLANK  # text where a number belongs: not comparable


def _flatten(xs: Iterable[Any]) -> list[Any]:
    """Nested lists and tuples as one flat list, in order (built eagerly: flattening has no side effects)."""
    out: list[Any] = []
    for x in xs:
        if isinstance(x, (list, tuple)):
            out.extend(_flatten(x))
        else:
            out.append(x)
    return out


def _is_filled(x: Any, env: Env) -> bool:
    if isinstance(x, Value):
        if env.record:
            env.leaves.append(x)
        return not x.blank and not x.na
    if isinstance(x, list):
        return any(_is_filled(y, env) for y in _flatten(x))
    col = getattr(x, "column_value", None)
    if col is not None and env.column is not None:
        return _is_filled(col(env.column), env)
    if isinstance(x, Num):
        return True
    return False


# --- functions --------------------------------------------------------------------------


def _sum(env: Env, *args: Any) -> Any:
    # Bounds are added in the same order as `Num.__add__` would, without an interval per partial sum.
    found = False
    lo = hi = mid = 0.0
    for a in _flatten(args):
        n = leaf_num(a, env) if type(a) is Value else to_num(a, env)
        if n is BLANK:
            continue
        if found:
            lo, hi, mid = lo + n.lo, hi + n.hi, mid + n.mid
        else:  # start from the first term itself, not from 0.0 (which would turn -0.0 into 0.0)
            found, lo, hi, mid = True, n.lo, n.hi, n.mid
    return Num(lo, hi, mid) if found else BLANK


def _coalesce(env: Env, *args: Any) -> Any:
    for a in args:
        n = _sum(env, a) if isinstance(a, list) else to_num(a, env)
        if n is not BLANK:
            return n
    return BLANK


def _coalesce_lazy(env: Env, args: list[Node]) -> Any:
    for a in args:
        x = a(env)
        n = _sum(env, x) if isinstance(x, list) else to_num(x, env)
        if n is not BLANK:
            return n
    return BLANK


def _minmax(pick: Callable[..., float]) -> Callable[..., Any]:
    def f(env: Env, *args: Any) -> Any:
        nums = [n for n in (to_num(a, env) for a in _flatten(args)) if n is not BLANK]
        if not nums:
            return BLANK
        return Num(pick(n.lo for n in nums), pick(n.hi for n in nums), pick(n.mid for n in nums))
    return f


def _abs(env: Env, x: Any) -> Any:
    n = to_num(x, env)
    return BLANK if n is BLANK else abs(n)


def _filled(env: Env, x: Any) -> int:
    return TRUE if _is_filled(x, env) else FALSE


def _blank(env: Env, x: Any) -> int:
    return FALSE if _is_filled(x, env) else TRUE


def _na(env: Env, x: Any) -> int:
    vals = [v for v in _flatten([x]) if isinstance(v, Value)]
    if env.record:
        env.leaves.extend(vals)
    return TRUE if any(v.na for v in vals) else FALSE


def _count(env: Env, *args: Any) -> Num:
    return Num.exact(float(sum(1 for a in _flatten(args) if _is_filled(a, env))))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sum": _sum,
    "coalesce": _coalesce,
    "ifblank": _coalesce,
    "min": _minmax(min),
    "max": _minmax(max),
    "abs": _abs,
    "filled": _filled,
    "blank": _blank,
    "na": _na,
    "count": _count,
}
PREDICATES = frozenset({"filled", "blank", "na"})
_NUMERIC_FUNCTIONS = frozenset({"sum", "coalesce", "ifblank", "min", "max", "abs", "count"})  # give Num or BLANK

# --- preprocessing ----------------------------------------------------------------------

_SYMBOLS = {"≤": "<=", "≥": ">=", "≠": "!=", "×": "*", "÷": "/", "（": "(", "）": ")", "，": ",",
            "＝": "=", "＋": "+", "－": "-", "　": " "}
_PERCENT_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*%")
_SINGLE_EQ_RE = re.compile(r"(?<![<>=!])=(?!=)")


def preprocess(src: str) -> tuple[str, dict[str, str]]:
    """Python-parsable text plus the backtick names it replaced by placeholders."""
    out: list[str] = []
    quoted: dict[str, str] = {}
    buf: list[str] = []  # code outside strings, rewritten in one go

    def flush() -> None:
        code = "".join(_SYMBOLS.get(ch, ch) for ch in buf)
        code = _PERCENT_RE.sub(r"(\1/100)", code)
        out.append(_SINGLE_EQ_RE.sub("==", code))
        buf.clear()

    i, n = 0, len(src)
    while i < n:
        ch = src[i]
        if ch in "'\"`":
            j = src.find(ch, i + 1)
            if j < 0:
                raise ExprError(f"引号或反引号未闭合：{src}")
            flush()
            if ch == "`":
                name = src[i + 1:j].strip()
                key = f"_q{len(quoted)}"
                quoted[key] = name
                out.append(key)
            else:
                out.append(src[i:j + 1])
            i = j + 1
            continue
        buf.append(ch)
        i += 1
    flush()
    return "".join(out), quoted


# --- compilation ------------------------------------------------------------------------

_CMP = {ast.Eq: "=", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


@dataclass(slots=True)
class Compiled:
    source: str
    fn: Node
    names: set[str]  # root names the expression reads (for validation against the scope)
    is_condition: bool


def compile_expr(src: str, lets: Iterable[str] = ()) -> Compiled:
    """Compile an expression. `lets` are names defined by the rule itself (resolved from env.lets)."""
    text, quoted = preprocess(str(src))
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"表达式语法错误：{src}（{exc.msg}）") from None
    c = _Compiler(quoted, frozenset(lets), str(src))
    fn = c.node(tree.body)
    return Compiled(str(src), fn, c.names, _is_condition(tree.body))


def _is_condition(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare | ast.BoolOp):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in PREDICATES


class TreeCompiler(Generic[N]):
    """The one walk over a rule expression's tree, for the interpreter (`_Compiler`, nodes
    `(env) -> value`) and the numpy screen (`vector._VCompiler`, nodes `(lanes, side) -> arrays`):
    which nodes are allowed, in which order their children are compiled, what is refused. The
    backends build the closures (`let_ref` ... `call`); the walk runs once per rule pack and adds
    no layer to them, so evaluation pays nothing for the sharing."""

    def __init__(self, quoted: dict[str, str], lets: frozenset[str], src: str) -> None:
        self.quoted = quoted
        self.lets = lets
        self.src = src

    def error(self, message: str) -> Exception:
        """What compiling raises for an expression it does not take (the message is Chinese)."""
        raise NotImplementedError

    def refuse(self, what: str) -> Exception:
        return self.error(f"表达式中不允许使用{what}：{self.src}")

    def ident(self, name: str) -> str:
        return self.quoted.get(name, name)

    def node(self, n: ast.AST) -> N:
        meth = getattr(self, "n_" + type(n).__name__, None)
        if meth is None:
            raise self.refuse(f"“{type(n).__name__}”语法")
        return meth(n)

    def num(self, n: ast.AST) -> N:
        """`node` for an operand of arithmetic, read as a number."""
        raise NotImplementedError

    def path(self, n: ast.Attribute) -> tuple[str, tuple[str, ...]]:
        """A name path `a.b.c` as its root name and steps."""
        path: list[str] = []
        cur: ast.AST = n
        while isinstance(cur, ast.Attribute):
            path.append(self.ident(cur.attr))
            cur = cur.value
        if not isinstance(cur, ast.Name):
            raise self.refuse("复杂的属性访问")
        root = self.ident(cur.id)
        path.reverse()
        return root, tuple(path)

    # nodes

    def n_Name(self, n: ast.Name) -> N:
        name = self.ident(n.id)
        if name in FUNCTIONS:
            raise self.refuse(f"函数名 {name} 作为数值")
        if name in self.lets:
            return self.let_ref(name)
        return self.name_ref(name)

    def n_BinOp(self, n: ast.BinOp) -> N:
        a, b = self.num(n.left), self.num(n.right)
        op = type(n.op)
        if op not in (ast.Add, ast.Sub, ast.Mult, ast.Div):
            raise self.refuse("该运算符（只允许 + − × ÷）")
        return self.arith(op, a, b)

    def n_UnaryOp(self, n: ast.UnaryOp) -> N:
        if isinstance(n.op, ast.Not):
            return self.negate(self.node(n.operand))
        x = self.num(n.operand)
        if not isinstance(n.op, ast.USub | ast.UAdd):
            raise self.refuse("该一元运算符")
        return x if isinstance(n.op, ast.UAdd) else self.minus(x)

    def n_BoolOp(self, n: ast.BoolOp) -> N:
        return self.boolean([self.node(v) for v in n.values], isinstance(n.op, ast.And))

    def n_Compare(self, n: ast.Compare) -> N:
        pairs: list[N] = []
        left = n.left
        for op, right in zip(n.ops, n.comparators, strict=True):
            pairs.append(self.compare(op, left, right))
            left = right
        return pairs[0] if len(pairs) == 1 else self.all_of(pairs)

    def compare(self, op: ast.cmpop, left: ast.expr, right: ast.expr) -> N:
        a = self.node(left)
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, ast.Tuple | ast.List):
                raise self.refuse("in 之后的非列表写法（应写作 x in (a, b)）")
            return self.member(a, [self.node(e) for e in right.elts], isinstance(op, ast.NotIn))
        sym = _CMP.get(type(op))
        if sym is None:
            raise self.refuse("该比较运算符")
        return self.comparison(sym, a, self.node(right))

    def n_Call(self, n: ast.Call) -> N:
        if not isinstance(n.func, ast.Name):
            raise self.refuse("方法调用")
        name = self.ident(n.func.id)
        if name not in FUNCTIONS:
            raise self.error(f"未知函数 {name}（可用：{', '.join(sorted(FUNCTIONS))}）：{self.src}")
        if n.keywords:
            raise self.refuse("关键字参数")
        args = [self.node(a) for a in n.args]
        if name in ("abs", "filled", "blank", "na") and len(args) != 1:
            raise self.error(f"函数 {name} 需要 1 个参数：{self.src}")
        return self.call(name, args)

    def n_Tuple(self, n: ast.Tuple) -> N:
        raise self.refuse("括号列表（只能用在 in 之后）")

    # the backend's closures

    def let_ref(self, name: str) -> N:
        """The value of a name the rule defines itself."""
        raise NotImplementedError

    def name_ref(self, name: str) -> N:
        """The value of a root name (or `params`)."""
        raise NotImplementedError

    def arith(self, op: type[ast.operator], a: N, b: N) -> N:
        """`a op b` for op + − × ÷ on numbers."""
        raise NotImplementedError

    def minus(self, x: N) -> N:
        raise NotImplementedError

    def negate(self, a: N) -> N:
        """`not a`, `a` read as a condition."""
        raise NotImplementedError

    def boolean(self, parts: list[N], conj: bool) -> N:
        """`and` (conj) or `or` of the parts, each read as a condition."""
        raise NotImplementedError

    def all_of(self, pairs: list[N]) -> N:
        """A chained comparison: all of its comparisons (already truth values)."""
        raise NotImplementedError

    def member(self, a: N, options: list[N], negate: bool) -> N:
        """`a in (options)`: equal to one of them (`not in` when negate)."""
        raise NotImplementedError

    def comparison(self, sym: str, a: N, b: N) -> N:
        raise NotImplementedError

    def call(self, name: str, args: list[N]) -> N:
        """A call of one of `FUNCTIONS`, its arguments already checked."""
        raise NotImplementedError


class _Compiler(TreeCompiler[Node]):
    """The interpreter's backend."""

    def __init__(self, quoted: dict[str, str], lets: frozenset[str], src: str) -> None:
        super().__init__(quoted, lets, src)
        self.names: set[str] = set()

    def error(self, message: str) -> ExprError:
        return ExprError(message)

    def num(self, n: ast.AST) -> Node:
        """`node` for an operand of arithmetic: its value already as a Num (or BLANK).

        Arithmetic, signs and numeric functions give numbers already; anything else is read
        through `to_num`, fused with a plain name lookup where possible (the hot path).
        """
        f = self.node(n)
        if self.gives_number(n):
            return f
        if isinstance(n, ast.Name):
            name = self.ident(n.id)
            if name not in self.lets and name != "params":
                return lambda env: to_num(env.ns.get(name, BLANK), env)
        return lambda env: to_num(f(env), env)

    def gives_number(self, n: ast.AST) -> bool:
        """Whether a (compiled) node always yields a Num or BLANK, so that `to_num` is a no-op on it."""
        if isinstance(n, ast.BinOp):
            return True
        if isinstance(n, ast.UnaryOp):
            return isinstance(n.op, ast.USub | ast.UAdd)
        if isinstance(n, ast.Constant):
            return isinstance(n.value, int | float)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            return self.ident(n.func.id) in _NUMERIC_FUNCTIONS
        return False

    # leaves

    def n_Constant(self, n: ast.Constant) -> Node:
        v = n.value
        if isinstance(v, bool) or v is None:
            raise self.refuse(f"常量 {v!r}")
        if isinstance(v, int | float):
            num = Num.exact(float(v))
            return lambda env: num
        if isinstance(v, str):
            return lambda env: v
        raise self.refuse(f"常量 {v!r}")

    def let_ref(self, name: str) -> Node:
        return lambda env: env.lets[name](env)

    def name_ref(self, name: str) -> Node:
        self.names.add(name)
        if name == "params":
            return lambda env: env.params
        return lambda env: env.ns.get(name, BLANK)

    def n_Attribute(self, n: ast.Attribute) -> Node:
        root, steps = self.path(n)
        if root in self.lets:
            base: Node = lambda env: env.lets[root](env)  # noqa: E731
        elif root == "params":
            self.names.add(root)
            base = lambda env: env.params  # noqa: E731
        else:
            self.names.add(root)
            base = lambda env: env.ns.get(root, BLANK)  # noqa: E731
        if root not in self.lets and root != "params" and len(steps) == 1:
            only = steps[0]  # the common `行.列` form, without the generic loop
            return lambda env: step(env.ns.get(root, BLANK), only)

        def f(env: Env) -> Any:
            obj = base(env)
            for s in steps:
                obj = step(obj, s)
            return obj
        return f

    # operators

    def arith(self, op: type[ast.operator], a: Node, b: Node) -> Node:
        if op is ast.Add:
            return lambda env: _add(a(env), b(env), 1.0)
        if op is ast.Sub:
            return lambda env: _add(a(env), b(env), -1.0)
        if op is ast.Mult:
            return lambda env: _mul(a(env), b(env))
        return lambda env: _div(a(env), b(env))

    def minus(self, x: Node) -> Node:
        def neg(env: Env) -> Any:
            v = x(env)
            return BLANK if v is BLANK else -v
        return neg

    def negate(self, a: Node) -> Node:
        return lambda env: tri_not(_truth(a(env)))

    def boolean(self, parts: list[Node], conj: bool) -> Node:
        comb = tri_and if conj else tri_or
        return lambda env: comb([_truth(p(env)) for p in parts])

    def all_of(self, pairs: list[Node]) -> Node:
        return lambda env: tri_and([p(env) for p in pairs])

    def member(self, a: Node, options: list[Node], negate: bool) -> Node:
        def member(env: Env) -> int:
            res = tri_or([_compare(env, "=", a, o) for o in options])
            return tri_not(res) if negate else res
        return member

    def comparison(self, sym: str, a: Node, b: Node) -> Node:
        return lambda env: _compare(env, sym, a, b)

    def call(self, name: str, args: list[Node]) -> Node:
        fn = FUNCTIONS[name]
        if fn is _coalesce:
            # lazy: later alternatives are neither computed nor recorded once one is filled
            return lambda env: _coalesce_lazy(env, args)
        return lambda env: fn(env, *[a(env) for a in args])


def step(obj: Any, attr: str) -> Any:
    """One attribute step of a name path; maps over lists (all 附件三, all rows)."""
    t = type(obj)
    if t is dict:
        return obj.get(attr, BLANK)
    if t is list:
        return [_step_item(x, attr) for x in obj]
    get = getattr(obj, "attr", None)
    if get is not None:
        return get(attr)
    return BLANK


def _step_item(x: Any, attr: str) -> Any:
    # `step` on one item of a list: rows and annexes directly, anything else through `step`
    get = getattr(x, "attr", None) if type(x) is not dict else None
    return get(attr) if get is not None else step(x, attr)


def _add(a: Any, b: Any, sign: float) -> Any:
    if a is BLANK and b is BLANK:
        return BLANK
    if a is BLANK:
        return b if sign > 0 else -b
    if b is BLANK:
        return a
    return a + b if sign > 0 else a - b


def _mul(a: Any, b: Any) -> Any:
    return BLANK if a is BLANK or b is BLANK else a * b


def _div(a: Any, b: Any) -> Any:
    if a is BLANK or b is BLANK:
        return BLANK
    q = a.div(b)
    return BLANK if q is None else q


def _truth(x: Any) -> int:
    if type(x) is int and FALSE <= x <= SKIP:  # the common case: a comparison's result
        return x
    if isinstance(x, int) and not isinstance(x, bool) and x in (FALSE, TRUE, UNKNOWN, SKIP):
        return x
    if x is BLANK:
        return SKIP
    raise ExprError("条件中出现了数值而不是比较（例如应写作 x > 0）")


def _text_of(x: Any) -> str | None:
    if isinstance(x, Value):
        return None if x.blank else label_key(x.text)
    if isinstance(x, str):
        return label_key(x)
    return None


def _compare(env: Env, sym: str, a: Node, b: Node) -> int:
    saved = env.side
    record = env.record  # the positions in env.leaves matter only when recording
    start = len(env.leaves) if record else 0
    env.side = LEFT
    x = a(env)
    if type(x) is Num:  # the usual operands first, before the text check
        nx = x
    elif type(x) is Value:
        nx = leaf_num(x, env)
    elif isinstance(x, str):
        env.side = RIGHT
        y = b(env)
        env.side = saved
        return _compare_text(env, sym, x, y)
    else:
        nx = to_num(x, env)
    mid = len(env.leaves) if record else 0
    env.side = RIGHT
    y = b(env)
    if type(y) is Num:
        ny = y
    elif type(y) is Value:
        ny = leaf_num(y, env)
    elif isinstance(y, str):
        env.side = saved
        return _compare_text(env, sym, x, y)
    else:
        ny = to_num(y, env)
    env.side = saved
    if nx is BLANK or ny is BLANK:
        res = SKIP
    else:
        tol = env.tolerance
        res = _TESTS[sym](nx, ny.widen(tol) if tol else ny)
    if record:
        known = nx is not BLANK and ny is not BLANK
        env.compares.append(Comparison(sym, nx if known else None, ny if known else None,
                                       env.leaves[start:mid], env.leaves[mid:], res))
    return res


def comparison_tests(eq: Callable[[Any, Any], Any], le: Callable[[Any, Any], Any], lt: Callable[[Any, Any], Any],
                     not_: Callable[[Any], Any]) -> dict[str, Callable[[Any, Any], Any]]:
    """The six comparison operators from =, <= and < on intervals and a three-valued not: one
    table for the interpreter (scalars) and the numpy screen (arrays), so they cannot drift."""
    return {
        "=": eq,
        "!=": lambda x, y: not_(eq(x, y)),
        "<=": le,
        "<": lt,
        ">=": lambda x, y: le(y, x),
        ">": lambda x, y: lt(y, x),
    }


# reported (left) vs computed (right, widened by the rule's tolerance) -> FALSE/TRUE/UNKNOWN
_TESTS: dict[str, Callable[[Num, Num], int]] = comparison_tests(eq, le, lt, tri_not)


def _compare_text(env: Env, sym: str, x: Any, y: Any) -> int:
    tx, ty = _text_of(x), _text_of(y)
    if env.record:
        env.leaves.extend(v for v in (x, y) if isinstance(v, Value))
    if sym not in ("=", "!="):
        raise ExprError("文字只能用 = 或 != 比较")
    if tx is None or ty is None:
        return SKIP
    res = TRUE if tx == ty else FALSE
    return tri_not(res) if sym == "!=" else res
