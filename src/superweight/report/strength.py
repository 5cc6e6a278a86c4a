"""A claim's strength verdict, decided apart from its direction: is this run's effect as strong as the paper's own
numbers (``Claim.strength`` says which, in the paper's words and tables)? "as strong" (every deciding grade reached by
non-inferiority: the interval's short end within the margin of the paper's number, ``grades.paper_bound``),
"weaker" (an interval wholly short of that, or the direction fails), "undecided" (an interval across it, or the
direction inconclusive) or "not graded" (the paper gives no number for this model, or no estimate can be graded). It reads the grades ``verdicts.finish``
prints (the same intervals at the Bonferroni level, one-sided tests for "barely hurts" and "at chance"), so the
direction verdict is unchanged; a decided verdict (exact or descriptive check) states its own (``Finding.strength``)."""
from __future__ import annotations

from superweight.report.verdicts import Finding, Sub, _grade
from superweight.stats.intervals import Estimate

STRENGTHS = ("as strong", "weaker", "undecided", "not graded")
AS, WEAK, UND, NG = STRENGTHS
# Finding.strength for a tested claim whose direction is the paper's statement itself (e.g. an agreement within
# the paper's own margin): its strength is its verdict (``from_verdict``), known only after ``finish``
BY_DIRECTION = ("by direction", "")


def from_verdict(verdict: str, paper: bool = True) -> tuple[str, str]:
    """For a claim whose direction is the paper's statement itself (a bound, an agreement, coordinates): holds ->
    as strong, fails -> weaker, inconclusive -> undecided; ``paper`` False: the paper gives no number."""
    if not paper:
        return NG, "the paper gives no number"
    word = next((w for w in ("holds", "fails", "inconclusive") if verdict.startswith(w)), "")
    return {"holds": (AS, "the claim is the paper's statement itself"),
            "fails": (WEAK, "the paper's statement does not hold here"),
            "inconclusive": (UND, "the check did not decide")}.get(word, (NG, "not tested"))


def _state(states: list[str]) -> str:
    return WEAK if "not reached" in states else AS if all(s == "reached" for s in states) else UND


def _combine(rule: str, groups: dict[str, list[str]]) -> str:
    """One measure on several corpora (a group) is as strong when one member is and none is weaker; the groups:
    rule "all" every one as strong (weaker when any is), "any" some one as strong (weaker when all are)."""
    gst = [WEAK if WEAK in v else AS if AS in v else UND for v in groups.values()]
    if rule == "any":
        return AS if AS in gst else WEAK if all(x == WEAK for x in gst) else UND
    return WEAK if WEAK in gst else AS if all(x == AS for x in gst) else UND


def strength(f: Finding, fam: dict | None, by: str = "") -> tuple[str, str]:
    """(strength, why) of one claim on one model from its finding (after ``decide`` and ``finish``): the grades
    labelled ``by`` ("" = "text" when the claim is graded by the paper's words, else its first label) decide, each
    by non-inferiority (``grades.paper_bound``). Sub-tests combine by ``Finding.strength_rule`` (default the
    direction's ``rule``; "any" over sub-tests or, with ``strength_rule`` "any", over groups). A failed direction
    is weaker; an inconclusive one at most undecided."""
    if f.strength == BY_DIRECTION:
        med = [s.name for s in f.subs if isinstance(s.est, Estimate) and s.est.estimand == "median"]
        if med:
            return NG, ("sub-tests fell back to median-window estimates, not the corpus ratios the margin is "
                        "about: " + ", ".join(med[:3]))
        return from_verdict(f.verdict or "")
    if f.strength is not None:
        return f.strength
    v = f.verdict or ""
    if not f.subs:
        return (AS, "the paper's strength, an exact check") if v.startswith("holds (paper strength") else \
            (NG, "not tested" if v.startswith("not applicable") else "the paper gives no number")
    if v.startswith("not applicable"):
        return NG, "not tested"
    labels = [g.label for s in f.subs for g in s.grades]
    if not labels:
        return NG, f.no_grade or "the paper gives no number"
    if v.startswith("fails"):
        return WEAK, "the direction fails"
    by = by or ("text" if "text" in labels else labels[0])
    if by not in labels:  # the claim's deciding numbers are not in the paper for this model
        return NG, f.no_grade or "the paper gives no number"
    graded: list[tuple[Sub, list[tuple]]] = []
    median = False
    beside = []
    for s in f.subs:
        gr = _grade(s, fam["grade_level"]) if fam else []
        gs = [(g, st) for g, st, _ in gr if g.label == by]
        median |= any(st == "not graded" for _, st in gs)
        gs = [(g, st) for g, st in gs if st != "not graded"]
        beside += [f"{s.name} {s.fv(s.est.value)} vs {g.words} {st}" for g, st, _ in gr
                   if g.label != by and not g.phrase and gs]
        if gs:
            graded.append((s, gs))
    if not graded:
        return NG, ("median-window estimates, a t test below its minimum n at the grades' level or a difference "
                    "decided only against 0" if median else
                    "no estimate to grade (not run, undefined or below its minimum n)")
    per = [(s, _state([st for _, st in gs]), gs) for s, gs in graded]
    if f.rule == "any" and f.strength_rule != "any":
        states = [st for _, st, _ in per]
        out = AS if AS in states else WEAK if all(st == WEAK for st in states) else UND
    else:
        groups: dict[str, list[str]] = {}
        for s, st, _ in per:
            groups.setdefault(s.group, []).append(st)
        out = _combine(f.strength_rule or f.rule, groups)
    lead = ""
    if out == AS and v.startswith("inconclusive"):
        out, lead = UND, "the direction is inconclusive; "
    want = {AS: "reached", WEAK: "not reached"}.get(out) if not lead else None
    named = [f"{s.name} {s.fv(s.est.value)} vs {g.words}" for s, _, gs in per for g, st in gs
             if (st == want if want else st != "reached")]
    if lead:
        named = [f"{s.name} {s.fv(s.est.value)} vs {g.words}" for s, _, gs in per for g, st in gs]
    rest = [f"{s.name} {s.fv(s.est.value)} vs {g.words}" for s, _, gs in per for g, st in gs
            if out == AS and st != "reached"]
    head = {AS: "reaches", WEAK: "short of the paper", UND: "undecided"}[out]
    why = lead + f"{head}: " + "; ".join(dict.fromkeys(named[:4])) + (" ..." if len(named) > 4 else "")
    if rest:
        why += "; undecided: " + "; ".join(dict.fromkeys(rest[:4])) + (" ..." if len(rest) > 4 else "")
    if beside:
        why += "; beside: " + "; ".join(dict.fromkeys(beside[:3]))
    return out, why
