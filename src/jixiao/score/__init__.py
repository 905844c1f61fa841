"""Stage score: recompute every 自评得分 with the rubric and judge the self-evaluation.

`score_model(model, rubric)` -> (`ScoreReview`, findings). The rubric comes from the rule pack
(`rules/<pack>/rubric.yaml`, see `load_rubric`); rule ids and verdicts are documented in `review.py`.
"""

from __future__ import annotations

from typing import Any

from ..findings import Finding
from ..model import WorkbookModel
from .review import HEADERS, RowReview, ScoreReview, TableReview, score_model
from .rubric import Rubric, load_rubric, profile_names, rubric_from_pack

__all__ = ["HEADERS", "RowReview", "Rubric", "ScoreReview", "TableReview", "load_rubric", "profile_names",
           "rubric_from_pack", "score_file_model", "score_model"]


def score_file_model(model: WorkbookModel, rubric: Rubric | None = None, *, pack: Any = None,
                     profile: str | None = None) -> tuple[ScoreReview, list[Finding]]:
    """Pipeline entry. The rubric is, in order: `rubric`; the `rubric` section of a loaded rule
    pack (`check.rulepack.Pack`); the default pack's rubric.yaml. All are built once and cached."""
    if rubric is None:
        raw = getattr(pack, "rubric", None) if pack is not None else None
        rubric = rubric_from_pack(raw, profile) if raw else load_rubric(profile=profile)
    review, findings = score_model(model, rubric)
    owned = _pack_rule_ids(pack)
    if owned:
        # One defect, one report: a rule id the check stage's pack implements (WARN-09/10/15 today)
        # is reported by the check stage; the scorer keeps it only in the review rows' rule lists.
        findings = [f for f in findings if f.rule not in owned]
    return review, findings


def _pack_rule_ids(pack: Any) -> frozenset[str]:
    cache = getattr(pack, "cache", None)  # a loaded `Pack` keeps its compiled artefacts there
    if isinstance(cache, dict) and "score.owned" in cache:
        return cache["score.owned"]
    enabled = getattr(pack, "enabled_rules", None)
    if not callable(enabled):
        return frozenset()
    owned = frozenset(str(getattr(r, "id", "")) for r in enabled())
    if isinstance(cache, dict):
        cache["score.owned"] = owned
    return owned
