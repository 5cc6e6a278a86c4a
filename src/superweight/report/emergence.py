"""The emergence sweep's verdict (the paper's review: when do super weights appear in pre-training?), from the
per-checkpoint rows ``analysis.emergence`` measured: the report decides, the sweep only measures."""
from __future__ import annotations

from superweight.analysis.emergence import crossing_step


def verdict_emergence(rows: list[dict], reason: str | None = None) -> dict:
    """Question (the paper's review): when do super weights appear in pre-training? Test: the reference
    checkpoint's super weights are detected and confirmed from some step on at every later checkpoint. holds: a
    crossing step exists after the first checkpoint and they are absent before it (they emerge and persist);
    inconclusive: detected already at the first checkpoint (emergence before the sweep) or they come and go; not
    applicable: the reference checkpoint has no confirmed super weight."""
    test = " ".join(verdict_emergence.__doc__.split())
    if not rows or not rows[-1]["super_weights"] and not rows[-1]["detected"]:
        return {"verdict": "not applicable", "evidence": reason or "no confirmed super weight at the reference checkpoint",
                "test": test}
    step = crossing_step(rows)
    flips = sum(1 for a, b in zip(rows, rows[1:]) if a["detected"] != b["detected"])
    if step is None:
        return {"verdict": "not applicable", "test": test,
                "evidence": "the tracked coordinates are not confirmed at the last checkpoint"}
    ev = (f"tracked weights confirmed from step {step} on; |w| {rows[0]['weight_abs']:.3g} -> {rows[-1]['weight_abs']:.3g}, "
          f"ppl ratio x{rows[0]['ppl_ratio']:.3g} -> x{rows[-1]['ppl_ratio']:.3g} over {len(rows)} checkpoints")
    if step == rows[0]["step"]:
        return {"verdict": "inconclusive", "crossing_step": step, "test": test,
                "evidence": ev + "; already present at the first checkpoint"}
    if flips > 1:
        return {"verdict": "inconclusive", "crossing_step": step, "test": test, "evidence": ev + f"; detection flips {flips} times"}
    return {"verdict": "holds", "crossing_step": step, "evidence": ev, "test": test}
