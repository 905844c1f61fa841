"""Check stage: rule packs (YAML) + pandera schemas over the workbook model -> findings."""

from __future__ import annotations

from .engine import check_model, check_models
from .rulepack import DEFAULT_PACK, Pack, PackError, Rule, load_pack

__all__ = ["DEFAULT_PACK", "Pack", "PackError", "Rule", "check_model", "check_models", "load_pack"]
