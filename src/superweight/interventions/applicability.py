"""Whether an experiment applies to a model, and which experiments leave the model equal to an ablation condition's.

Without torch: the workflow reads ``same_model`` when it plans jobs, the report raises ``NotApplicable`` too."""
from __future__ import annotations


class NotApplicable(RuntimeError):
    """The experiment or claim cannot run on this model or run (e.g. no super weight used: detect.used.NONE_USED);
    the message says why."""


def same_model(kind: str, spec: dict) -> str | None:
    """The ablation condition whose model equals this experiment's (same weights, no hook), or None: scaling x1 and
    W8A8 ``fp`` leave the model as it is (``original``); scaling x0 zeroes the super weights (``prune_sw``)."""
    if kind == "scaling":
        return {1.0: "original", 0.0: "prune_sw"}.get(float(spec["factor"]))
    if kind == "aquant" and spec["method"] == "fp":
        return "original"
    return None
