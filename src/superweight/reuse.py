"""Nothing scored twice: the ablation's ``original``, scaling x1 and W8A8 ``fp`` are the same, unmodified model.

Each corpus's perplexity and each task's accuracy is computed on its own (``scoring.score``), so a job of the
unmodified model can read the original's scores when every corpus and task it needs was scored there with the
same settings. ``difference`` says whether that holds (None) or what differs."""
from __future__ import annotations

from .scoring import task_limits

# keys that select what is scored, not how: compared per corpus / per task below
_PER_ITEM = {"perplexity": ("corpora", "windows"), "eval": ("tasks", "limit")}


def settings(corpora: list[str], perplexity: dict, eval_cfg: dict) -> dict:
    """What shapes a scoring job's numbers (besides the model and device, which a workflow shares)."""
    return {"corpora": list(corpora), "perplexity": perplexity, "eval": eval_cfg}


def difference(source: dict, target: dict) -> str | None:
    """None when every score ``target`` needs was computed by ``source`` with the same settings; else why not."""
    missing = [c for c in target["corpora"] if c not in source["corpora"]]
    if missing:
        return f"corpus {', '.join(missing)} not scored by the original"
    for part, per_item in _PER_ITEM.items():
        s, t = source[part], target[part]
        for k in sorted((set(s) | set(t)) - set(per_item)):
            if s.get(k) != t.get(k):
                return f"{part}.{k}: {s.get(k)!r} vs {t.get(k)!r}"
    sw, tw = source["perplexity"].get("windows") or {}, target["perplexity"].get("windows") or {}
    for c in target["corpora"]:
        if sw.get(c) != tw.get(c):
            return f"perplexity.windows.{c}: {sw.get(c)!r} vs {tw.get(c)!r}"
    s_tasks, t_tasks = source["eval"]["tasks"], target["eval"]["tasks"]
    missing = [t for t in t_tasks if t not in s_tasks]
    if missing:
        return f"task {', '.join(missing)} not scored by the original"
    sl, tl = task_limits(s_tasks, source["eval"]["limit"]), task_limits(t_tasks, target["eval"]["limit"])
    for t in t_tasks:
        if sl[t] != tl[t]:
            return f"eval.limit for {t}: {sl[t]!r} vs {tl[t]!r} documents"
    return None
