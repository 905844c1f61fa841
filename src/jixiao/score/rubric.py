"""Rubric parameters: first-level weights, qualitative bands, thresholds, grade bands, profiles.

The values live in the rule pack (`rules/<pack>/rubric.yaml`); `Rubric()` without arguments is the
built-in default (湖南县级 2023 = the national rubric of catalogue §2), so scoring still works when no
pack is found. A profile (catalogue §8: national, hunan-county-2023, hubei, sichuan) is a partial
override merged over the file's base section.

The YAML is parsed once per (path, mtime, profile) and cached: scoring a batch must stay cheap.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_PACK = "hunan-county-2023"
DEFAULT_PROFILE = "hunan-county-2023"
EXECUTION = "执行率"  # the weight key of the budget-execution row
ALL_INDICATORS = ("*", "绩效指标")  # a weight key that covers every first-level indicator (Sichuan 90)


@dataclass(frozen=True, slots=True)
class Band:
    """A qualitative grade and its share of 分值: 达成 -> [0.8, 1.0]."""

    grade: str  # 达成 / 部分达成 / 未达成
    lo: float  # share of 分值, 0..1
    hi: float
    patterns: tuple[re.Pattern[str], ...] = ()  # how the grade is written in 实际完成值

    def matches(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class GradeBand:
    grade: str  # 优 / 良 / 中 / 差
    min: float  # inclusive lower bound of the total


# Grade strings from catalogue §2 NAT-QL1 (S10 dropdown) plus the usual free-text forms.
# Order matters: negative and partial forms are tried before the plain "达成".
_DEFAULT_GRADE_PATTERNS: dict[str, tuple[str, ...]] = {
    "未达成": (r"未(达成|完成|达到|实现)", r"没有(达成|完成|达到|实现)", r"效果较差", r"^差$"),
    "部分达成": (r"部分(达成|完成|达到|实现)", r"基本(达成|完成|达到|实现)", r"一定效果", r"^一般$"),
    "达成": (r"(达成|完成|达到|实现)(了)?(预期|年度|既定|全部)?(指标|目标|任务)", r"^(已)?(全面|圆满|全部)?(达成|完成|达到|实现)$",
             r"^(好|优|良好|优秀|显著|明显|效果明显|效果显著|按时完成|及时)$"),
}
_BAND_SETS: dict[str, tuple[tuple[str, float, float], ...]] = {
    # 100-80 %（含）/ 80-60 %（含）/ 60-0 %: national (财预〔2020〕10号, R-mem)
    "national": (("达成", 0.8, 1.0), ("部分达成", 0.6, 0.8), ("未达成", 0.0, 0.6)),
    # 100-80 / 80-50 / 50-0: Hubei config (S10), Jiangxi note (S8)
    "variant": (("达成", 0.8, 1.0), ("部分达成", 0.5, 0.8), ("未达成", 0.0, 0.5)),
}
_SPACE = re.compile(r"\s+")
_DEFAULT_WEIGHTS = {EXECUTION: 10.0, "产出指标": 50.0, "效益指标": 30.0, "满意度指标": 10.0}
_DEFAULT_GRADES = (GradeBand("优", 90), GradeBand("良", 80), GradeBand("中", 60), GradeBand("差", 0))


def _bands(spec: Any, patterns: dict[str, tuple[str, ...]]) -> tuple[Band, ...]:
    """A band set by name ("national"/"variant") or as a list of {grade, lo, hi} in percent."""
    if isinstance(spec, str):
        if spec not in _BAND_SETS:
            raise ValueError(f"未知的定性分档：{spec}（可用：{', '.join(_BAND_SETS)}）")
        rows = _BAND_SETS[spec]
    else:
        rows = tuple((str(b["grade"]), float(b["lo"]) / 100, float(b["hi"]) / 100) for b in spec)
    order = {"未达成": 0, "部分达成": 1, "达成": 2}
    built = [Band(g, lo, hi, tuple(re.compile(p) for p in patterns.get(g, ()))) for g, lo, hi in rows]
    # Patterns are tried worst grade first, so "未达成预期指标" is not read as "达成".
    return tuple(sorted(built, key=lambda b: order.get(b.grade, -1)))


@dataclass(frozen=True, slots=True)
class Rubric:
    profile: str = DEFAULT_PROFILE
    title: str = "湖南省县级 2023 年度（国家评分办法）"
    # Weight per first-level indicator; a key may join names with "+" (Hubei 效益指标+满意度指标 40)
    # or be "*"/"绩效指标" for all of them (Sichuan 90). Key 执行率 is the budget-execution row.
    weights: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    band_set: str = "national"
    bands: tuple[Band, ...] = field(default_factory=lambda: _bands("national", _DEFAULT_GRADE_PATTERNS))
    over_achievement: float = 0.30  # flag B/A > 1 + this (WARN-08)
    grades: tuple[GradeBand, ...] = _DEFAULT_GRADES
    grading: bool = True  # Hubei "可以不评级": no NAT-G1 finding when False
    high_total: float = 95.0  # WARN-15: a total at or above this with defects found is worth a look
    score_tolerance: float = 0.05  # scores written with decimals
    integer_tolerance: float = 0.5  # scores written as integers (catalogue: ±0.5)

    # --- derived look-ups ---------------------------------------------------------------

    @property
    def execution_weight(self) -> float:
        return self.weights.get(EXECUTION, 10.0)

    def band(self, grade: str) -> Band | None:
        return next((b for b in self.bands if b.grade == grade), None)

    def grade_of_text(self, text: str) -> Band | None:
        """The qualitative grade a 实际完成值 text states, or None."""
        t = _SPACE.sub("", text)
        return next((b for b in self.bands if b.matches(t)), None)

    def grade(self, total: float | None) -> str:
        if total is None:
            return ""
        # Scores are compared after rounding away float noise: 89.99999 from a sum is 90 (优).
        t = round(total, 6)
        for g in self.grades:
            if t >= g.min:
                return g.grade
        return self.grades[-1].grade

    def weight_groups(self) -> list[tuple[str, tuple[str, ...], float]]:
        """(label, first-level names, points) for every configured group except 执行率."""
        out = []
        for key, pts in self.weights.items():
            if key == EXECUTION:
                continue
            names = ALL_INDICATORS if key in ALL_INDICATORS else tuple(k.strip() for k in key.split("+"))
            out.append((key, names, pts))
        return out

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, profile: str | None = None) -> Rubric:
        """From the parsed rubric.yaml (or a pack's raw `rubric:` section).

        Top-level keys are the base; `profiles: {name: {...}}` are partial overrides, picked by
        `profile` or the file's `default_profile`.
        """
        d = dict(d or {})
        if "rubric" in d and isinstance(d["rubric"], dict):
            d = dict(d["rubric"])
        profiles = d.pop("profiles", None) or {}
        name = profile or d.pop("default_profile", None) or DEFAULT_PROFILE
        d.pop("default_profile", None)
        if name in profiles:
            d = _merge(d, profiles[name] or {})
        elif profile is not None and profiles:
            raise ValueError(f"未知的评分配置（profile）：{profile}（可用：{', '.join(profiles)}）")
        return cls._build(d, name)

    @classmethod
    def _build(cls, d: dict[str, Any], name: str) -> Rubric:
        base = cls()
        patterns = dict(_DEFAULT_GRADE_PATTERNS)
        for g, pats in (d.get("qualitative_grades") or {}).items():
            patterns[str(g)] = tuple(str(p) for p in pats)
        band_spec = d.get("qualitative_bands", base.band_set)
        weights = {str(k): float(v) for k, v in (d.get("weights") or _DEFAULT_WEIGHTS).items()}
        grades = d.get("grades")
        return replace(
            base,
            profile=name,
            title=str(d.get("title", base.title)),
            weights=weights,
            band_set=band_spec if isinstance(band_spec, str) else "custom",
            bands=_bands(band_spec, patterns),
            over_achievement=float(d.get("over_achievement", base.over_achievement)),
            grades=tuple(sorted((GradeBand(str(g["grade"]), float(g["min"])) for g in grades),
                                key=lambda g: -g.min)) if grades else base.grades,
            grading=bool(d.get("grading", base.grading)),
            high_total=float(d.get("high_total", base.high_total)),
            score_tolerance=float(d.get("score_tolerance", base.score_tolerance)),
            integer_tolerance=float(d.get("integer_tolerance", base.integer_tolerance)),
        )


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Profile over base; `weights` is replaced as a whole (a profile's weights are a full set)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "weights":
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def find_pack_dir(pack: str = DEFAULT_PACK) -> Path | None:
    """`rules/<pack>` next to the source tree (or under $JIXIAO_RULES)."""
    return _find_pack_dir(pack, os.environ.get("JIXIAO_RULES"))


@lru_cache(maxsize=8)
def _find_pack_dir(pack: str, env: str | None) -> Path | None:
    roots = [Path(env)] if env else []
    here = Path(__file__).resolve()
    roots += [p / "rules" for p in here.parents[:5]]
    return next((r / pack for r in roots if (r / pack).is_dir()), None)


def load_rubric(path_or_pack_dir: str | Path | None = None, profile: str | None = None) -> Rubric:
    """The rubric of a pack directory or a rubric.yaml file; defaults when none is found."""
    path = Path(path_or_pack_dir) if path_or_pack_dir is not None else find_pack_dir()
    if path is not None and path.is_dir():
        path = path / "rubric.yaml"
    if path is None or not path.is_file():
        if path_or_pack_dir is not None:
            raise FileNotFoundError(f"找不到评分规则文件：{path}")
        return Rubric.from_dict({}, profile) if profile else Rubric()
    return _load_cached(str(path), path.stat().st_mtime_ns, profile)


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime: int, profile: str | None) -> Rubric:
    import yaml  # deferred: only needed when a pack file is read

    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"评分规则文件格式错误（应为映射）：{path}")
    return Rubric.from_dict(data, profile)


_PACK_CACHE: dict[tuple[int, str | None], tuple[dict[str, Any], Rubric]] = {}


def rubric_from_pack(raw: dict[str, Any] | None, profile: str | None = None) -> Rubric:
    """The rubric of a loaded rule pack (`check.rulepack.Pack.rubric`, a raw dict), built once per dict."""
    if not raw:
        return load_rubric(profile=profile)
    key = (id(raw), profile)
    hit = _PACK_CACHE.get(key)
    if hit is not None and hit[0] is raw:  # the pack loader caches its dicts, so identity is stable
        return hit[1]
    if len(_PACK_CACHE) > 64:
        _PACK_CACHE.clear()
    rubric = Rubric.from_dict(raw, profile)
    _PACK_CACHE[key] = (raw, rubric)
    return rubric


def profile_names(path_or_pack_dir: str | Path | None = None) -> list[str]:
    """Profiles a rubric file offers (for `--profile` help and errors)."""
    import yaml

    path = Path(path_or_pack_dir) if path_or_pack_dir is not None else find_pack_dir()
    if path is not None and path.is_dir():
        path = path / "rubric.yaml"
    if path is None or not path.is_file():
        return [DEFAULT_PROFILE]
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    data = data.get("rubric", data) if isinstance(data, dict) else {}
    return list((data.get("profiles") or {}).keys()) or [DEFAULT_PROFILE]
