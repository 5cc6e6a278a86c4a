"""Score one (possibly modified) model: GPTQ perplexity on each corpus and lm-eval zero-shot accuracy."""
from __future__ import annotations

import logging
import math
from pathlib import Path

from superweight.scoring.accuracy import accuracy, avg_se

log = logging.getLogger(__name__)


def task_limits(tasks: list[str], limit) -> dict[str, int | None]:
    """Per-task limit from an int, None, or a {task: limit} mapping."""
    if isinstance(limit, dict):
        return {t: limit.get(t) for t in tasks}
    return {t: limit for t in tasks}


def score(model, tok, corpora: dict[str, "torch.Tensor"], ppl_cfg: dict, tasks: dict[str, int | None],
          task_dir: Path | None, eval_batch_size: int = 8, device: str = "cpu", add_bos_token: bool | None = False,
          backend: str = "hf") -> dict:
    """{"perplexity": {corpus: {...}}, "tasks": {task: {...}}, "avg_acc": float, "avg_acc_se": float,
    "eval_backend": str}: each task keeps its per-document outcomes and each corpus its per-window NLLs (see
    evaluate and perplexity)."""
    from superweight.scoring.zeroshot import evaluate
    from superweight.scoring.perplexity import perplexity  # torch: imported by scoring jobs, not by the workflow's host (reuse.py)

    out = {"perplexity": {}, "tasks": {}}
    for name, ids in corpora.items():
        n = ppl_cfg.get("windows", {}).get(name)
        out["perplexity"][name] = perplexity(model, ids, ppl_cfg["seqlen"], n, ppl_cfg.get("batch_size", 1),
                                             desc=f"ppl {name}")
        log.info("%s ppl %.4g (%d tokens, %d windows)", name, out["perplexity"][name]["ppl"],
                 out["perplexity"][name]["tokens"], out["perplexity"][name]["windows"])
    if tasks:
        out["tasks"] = evaluate(model, tok, tasks, task_dir, eval_batch_size, device, add_bos_token, backend)
        out.update(average_acc(out["tasks"]))
        out["eval_backend"] = backend
    return out


def average_acc(tasks: dict[str, dict]) -> dict:
    """{"avg_acc": mean accuracy over tasks, "avg_acc_se": its standard error (tasks independent)}."""
    accs = [v["acc"] for v in tasks.values() if v["acc"] is not None]
    ses = [v["acc_se"] for v in tasks.values() if v.get("acc_se") is not None]
    return {"avg_acc": sum(accs) / len(accs) if accs else math.nan,
            "avg_acc_se": avg_se(ses) if ses and len(ses) == len(accs) else math.nan}


def restrict(scores: dict, corpora: list[str], tasks: list[str], limits: dict | None = None) -> dict:
    """The part of ``score``'s result for a subset of its corpora and tasks (each is scored on its own); with
    ``limits`` ({task: limit}), each task's first ``limit`` documents (lm-eval's ``limit``), its accuracies and SEs
    recomputed from their per-document outcomes."""
    missing = [c for c in corpora if c not in scores["perplexity"]] + [t for t in tasks if t not in scores["tasks"]]
    if missing:
        raise KeyError(f"scores have no {', '.join(missing)}")
    out = {**scores, "perplexity": {c: scores["perplexity"][c] for c in corpora},
           "tasks": {t: first_documents(scores["tasks"][t], (limits or {}).get(t)) for t in tasks}}
    if tasks:
        out.update(average_acc(out["tasks"]))
    else:
        out.pop("avg_acc", None)
        out.pop("avg_acc_se", None)
    return out


def first_documents(task: dict, limit) -> dict:
    """One task's result (``evaluate.task_result``) on its documents with doc_id < ``limit`` (None: all)."""
    if limit is None or task.get("limit") == limit:
        return task
    if not float(limit).is_integer() or limit < 1:
        raise ValueError(f"the first {limit} documents: a subset needs a whole number of documents")
    docs = task.get("docs")
    if not docs:
        raise KeyError(f"no per-document outcomes to take the first {limit} documents from")
    keep = [i for i, d in enumerate(docs["doc_id"]) if d < limit]
    sub = {k: [v[i] for i in keep] for k, v in docs.items()}
    out = {**task, "n": len(keep), "limit": limit, "docs": sub, "subset_of": task.get("n")}
    for m in ("acc", "acc_norm"):
        if task.get(m) is not None and m in sub:
            a = accuracy(sub[m])
            out[m], out[f"{m}_se"] = a["acc"], a["se"]
    return out
