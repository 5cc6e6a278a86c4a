"""How many documents each zero-shot task scores, resolved in one place (no torch).

`eval.limit` is a number of documents (None: every document; 0: none, perplexity only) or a {task: documents} map;
each sweep may set its own (`analysis.scaling.limit`, `quantization.weights.limit`,
`quantization.activations.limit`: null = `eval.limit`). The workflow's jobs and resources, the reuse of scores,
config validation and the protocol page all read these functions."""
from __future__ import annotations

from collections.abc import Mapping

# an experiment kind -> the config key of its own limit (None: `eval.limit` itself)
OWN_LIMIT = {"ablation": None, "scaling": ("analysis", "scaling"), "wquant": ("quantization", "weights"),
             "aquant": ("quantization", "activations")}


def own_limit(cfg: dict, kind: str):
    """The limit ``kind``'s own key sets (None: not set, or the ablation's, which is `eval.limit`)."""
    path = OWN_LIMIT[kind]
    return None if path is None else cfg[path[0]][path[1]]["limit"]


def effective(own, base):
    """A sweep's limit: its own when set, else `eval.limit` (``base``)."""
    return base if own is None else own


def normalized(limit):
    """The same limit written plainly: a map whose every value is null is no limit (None)."""
    return None if isinstance(limit, Mapping) and all(v is None for v in limit.values()) else limit


def limit_of(cfg: dict, kind: str):
    """The limit ``kind``'s jobs score with."""
    return effective(own_limit(cfg, kind), cfg["eval"]["limit"])


def eval_for(cfg: dict, kind: str) -> dict:
    """The eval config ``kind``'s jobs score with: `eval` with its limit resolved."""
    return {**cfg["eval"], "limit": limit_of(cfg, kind)}


def task_limits(tasks: list[str], limit) -> dict[str, int | None]:
    """Per-task limit from an int, None, or a {task: limit} mapping (a task left out of a map: every document)."""
    if isinstance(limit, Mapping):
        return {t: limit.get(t) for t in tasks}
    return {t: limit for t in tasks}


def scored_tasks(tasks: list[str], limit) -> dict[str, int | None]:
    """``task_limits`` without the tasks whose limit is 0 (a sweep measured by perplexity only: lm-eval would read a
    limit of 0 as every document)."""
    return {t: n for t, n in task_limits(tasks, limit).items() if n != 0}


def limits_by_key(cfg: dict) -> list[tuple[str, dict]]:
    """(config key, {task: documents or None}) for `eval.limit` and each sweep's own limit that is set."""
    tasks = cfg["eval"]["tasks"]
    out = [("eval.limit", task_limits(tasks, cfg["eval"]["limit"]))]
    for kind, path in OWN_LIMIT.items():
        if path is not None and own_limit(cfg, kind) is not None:
            out.append((f"{'.'.join(path)}.limit", task_limits(tasks, own_limit(cfg, kind))))
    return out
