"""Score one (possibly modified) model: GPTQ perplexity on each corpus and lm-eval zero-shot accuracy."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import torch

from .perplexity import perplexity
from .stats import avg_se

log = logging.getLogger(__name__)


def task_limits(tasks: list[str], limit) -> dict[str, int | None]:
    """Per-task limit from an int, None, or a {task: limit} mapping."""
    if isinstance(limit, dict):
        return {t: limit.get(t) for t in tasks}
    return {t: limit for t in tasks}


def score(model, tok, corpora: dict[str, torch.Tensor], ppl_cfg: dict, tasks: dict[str, int | None],
          task_dir: Path | None, eval_batch_size: int = 8, device: str = "cpu", add_bos_token: bool = False) -> dict:
    """{"perplexity": {corpus: {...}}, "tasks": {task: {...}}, "avg_acc": float, "avg_acc_se": float}: each task
    keeps its per-document outcomes and each corpus its per-window NLLs (see evaluate and perplexity)."""
    from .evaluate import evaluate

    out = {"perplexity": {}, "tasks": {}}
    for name, ids in corpora.items():
        n = ppl_cfg.get("windows", {}).get(name)
        out["perplexity"][name] = perplexity(model, ids, ppl_cfg["seqlen"], n, ppl_cfg.get("batch_size", 1),
                                             desc=f"ppl {name}")
        log.info("%s ppl %.4g (%d tokens, %d windows)", name, out["perplexity"][name]["ppl"],
                 out["perplexity"][name]["tokens"], out["perplexity"][name]["windows"])
    if tasks:
        out["tasks"] = evaluate(model, tok, tasks, task_dir, eval_batch_size, device, add_bos_token=add_bos_token)
        accs = [v["acc"] for v in out["tasks"].values() if v["acc"] is not None]
        out["avg_acc"] = sum(accs) / len(accs) if accs else math.nan
        ses = [v["acc_se"] for v in out["tasks"].values() if v.get("acc_se") is not None]
        out["avg_acc_se"] = avg_se(ses) if ses and len(ses) == len(accs) else math.nan
    return out
