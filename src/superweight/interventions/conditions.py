"""The paper's section 3.2 conditions, each an intervention on one loaded model that is undone on exit."""
from __future__ import annotations

import contextlib
import logging

from torch import nn

from superweight.interventions.applicability import NotApplicable
from superweight.interventions.edits import pruned_nonsw, zeroed
from superweight.interventions.restore import RestoreSuperActivation

log = logging.getLogger(__name__)

CONDITIONS = ("original", "prune_sw", "prune_nonsw", "prune_sw_restore_sa")
NEEDS_SW = {"prune_sw", "prune_sw_restore_sa"}


class NoSuperWeight(NotApplicable):
    """The condition needs a confirmed super weight and the model has none."""


def apply_condition(model: nn.Module, condition: str, sws: list[tuple[int, int, int]], nonsw_rule: str = "fraction",
                    nonsw_amount: float = 1e-6, restore_tokens: str = "max", *,
                    stack: contextlib.ExitStack) -> dict:
    """Change ``model`` for ``condition`` until ``stack`` closes, which puts back exactly what was changed (weights
    bitwise, hooks removed). Returns what was done, as plain data; for ``prune_sw_restore_sa`` its ``restore``
    entry gets the first restored values (``examples``, a copy) when the stack closes."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; use one of {', '.join(CONDITIONS)}")
    if condition in NEEDS_SW and not sws:
        raise NoSuperWeight(f"{condition} needs a confirmed super weight; detection confirmed none")
    record: dict = {"condition": condition, "super_weights": [list(c) for c in sws]}
    if condition == "prune_sw":
        record["changed"] = stack.enter_context(zeroed(model, sws))
    elif condition == "prune_nonsw":
        record["prune_nonsw"] = stack.enter_context(pruned_nonsw(model, sws, nonsw_rule, nonsw_amount))
        if record["prune_nonsw"]["n_pruned"] == 0:
            log.warning("prune_nonsw changed nothing under rule %s", nonsw_rule)
    elif condition == "prune_sw_restore_sa":
        restore = RestoreSuperActivation.capture(model, sws, restore_tokens)
        record["changed"] = stack.enter_context(zeroed(model, sws))
        stack.enter_context(restore)
        record["restore"] = {"tokens": restore_tokens, "hooks": len(restore.handles), "examples": []}
        # the values put back while scoring, copied into the record when the stack closes
        stack.callback(lambda: record["restore"].update(examples=[dict(x) for x in restore.restored]))
    return record
