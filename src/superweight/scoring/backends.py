"""Which zero-shot backend scores an experiment (light: no torch, so the workflow's resource estimates can ask)."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


# experiments whose hooks look at a whole sequence: (kind, spec key, value) -> (cached backend that runs each sequence
# whole, why). Batched whole sequences are exact where the statistic skips the padding the attention mask marks.
WHOLE_SEQUENCE = {
    ("ablation", "condition", "prune_sw_restore_sa"): (
        "cached_whole", "restore_tokens: max puts the super activation back at the token where it is largest in the "
                        "sequence (padding excluded)"),
    ("aquant", "method", "sa_aware"): (
        "cached_alone", "sa_aware finds the super activation per sequence and quantizes with the whole batch "
                        "tensor's median: one sequence per forward"),
}


def _whole(kind: str, spec: dict, restore_tokens: str | None) -> tuple[str, str] | None:
    if kind == "ablation" and restore_tokens != "max":
        return None  # every token restored: causal
    return next((v for (k, key, value), v in WHOLE_SEQUENCE.items() if k == kind and spec.get(key) == value), None)


def whole_sequence(kind: str, spec: dict, restore_tokens: str | None = None) -> str | None:
    """Why the experiment's model is not causal token by token (its output at a token depends on later tokens or
    on the batch), or None. Such a model must see each lm-eval request as one sequence of its own.
    ``restore_tokens``: `ablation.restore_tokens` (read for ablation experiments only)."""
    found = _whole(kind, spec, restore_tokens)
    return found[1] if found else None


def eval_backend(kind: str, spec: dict, backend: str, restore_tokens: str | None = None) -> str:
    """``backend`` (`eval.backend`); for ``cached``, where sharing a context would not be exact
    (``whole_sequence``), the cached backend that runs each request's sequence whole (``cached_whole`` batched,
    ``cached_alone`` one per forward), whose numbers are HFLM's at batch size 1."""
    if backend == "cached" and (found := _whole(kind, spec, restore_tokens)):
        log.info("eval.backend %s for %s %s: %s", found[0], kind, spec, found[1])
        return found[0]
    return backend
