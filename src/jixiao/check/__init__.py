"""Check stage: rule packs (YAML) + pandera schemas over the workbook model -> findings."""

from __future__ import annotations

from .engine import check_model, check_models
from .rulepack import DEFAULT_PACK, Pack, PackError, Rule, load_pack


def prepare(pack: Pack) -> None:
    """Build what checking with `pack` needs ahead of the first model (its pandera schemas):
    the batch's forkserver does it once, for every worker it forks."""
    from .schemas import schemas_of

    schemas_of(pack)


__all__ = ["DEFAULT_PACK", "Pack", "PackError", "Rule", "check_model", "check_models", "load_pack", "prepare"]
