"""Which zero-shot backend scores an experiment (light: no torch, so the workflow's resource estimates can ask)."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def whole_sequence(kind: str, spec: dict, cfg: dict) -> str | None:
    """Why the experiment's model is not causal token by token (its output at a token depends on later tokens or
    on the batch), or None. Such a model must see each lm-eval request as one sequence of its own."""
    if kind == "ablation" and spec["condition"] == "prune_sw_restore_sa" and cfg["ablation"]["restore_tokens"] == "max":
        return "restore_tokens: max puts the super activation back at the token where it is largest in the sequence"
    if kind == "aquant" and spec["method"] == "sa_aware":
        return "sa_aware finds the super activation per sequence and quantizes with the whole tensor's median"
    return None


def eval_backend(kind: str, spec: dict, cfg: dict) -> str:
    """``eval.backend``; for ``cached``, ``cached_whole`` where sharing a context would not be exact (see
    ``whole_sequence``): the cached backend then runs each request's sequence alone (as HFLM at batch size 1)."""
    backend = cfg["eval"].get("backend", "hf")
    if backend == "cached" and (why := whole_sequence(kind, spec, cfg)):
        log.info("eval.backend cached, whole sequences, for %s %s: %s", kind, spec, why)
        return "cached_whole"
    return backend
