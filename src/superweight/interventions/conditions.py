"""The paper's section 3.2 conditions, each an intervention on one loaded model."""
from __future__ import annotations

import contextlib
import logging

from torch import nn

from superweight.interventions.edits import RestoreSuperActivation, prune_nonsw, zero_weights

log = logging.getLogger(__name__)

CONDITIONS = ("original", "prune_sw", "prune_nonsw", "prune_sw_restore_sa")
NEEDS_SW = {"prune_sw", "prune_sw_restore_sa"}


class NoSuperWeight(RuntimeError):
    """The condition needs a confirmed super weight and the model has none."""


def apply_condition(model: nn.Module, condition: str, sws: list[tuple[int, int, int]], nonsw_rule: str = "fraction",
                    nonsw_amount: float = 1e-6, restore_tokens: str = "max",
                    stack: contextlib.ExitStack | None = None) -> dict:
    """Change ``model`` in place for ``condition``; hooks are registered on ``stack``. Returns what was done."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; use one of {', '.join(CONDITIONS)}")
    if condition in NEEDS_SW and not sws:
        raise NoSuperWeight(f"{condition} needs a confirmed super weight; detection confirmed none")
    record: dict = {"condition": condition, "super_weights": [list(c) for c in sws]}
    if condition == "prune_sw":
        record["changed"] = zero_weights(model, sws)
    elif condition == "prune_nonsw":
        record["prune_nonsw"] = prune_nonsw(model, sws, nonsw_rule, nonsw_amount)
        if record["prune_nonsw"]["n_pruned"] == 0:
            log.warning("prune_nonsw changed nothing under rule %s", nonsw_rule)
    elif condition == "prune_sw_restore_sa":
        restore = RestoreSuperActivation.capture(model, sws, restore_tokens)
        record["changed"] = zero_weights(model, sws)
        (stack.enter_context(restore) if stack is not None else restore.attach())
        record["restore"] = {"tokens": restore_tokens, "hooks": len(restore.handles)}
        record["_restore"] = restore
    return record
