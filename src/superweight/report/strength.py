"""A claim's strength verdict, decided apart from its direction: is this run's effect as strong as the paper's own
numbers (``Claim.strength`` says which, in the paper's words and tables)? "as strong" (every deciding grade reached),
"weaker" (an interval wholly short of the paper's number), "undecided" (an interval that reaches across it) or
"not graded" (the paper gives no number, or no estimate can be graded). It reads the grades ``verdicts.finish``
prints (the same intervals at the Bonferroni level, one-sided tests for "barely hurts" and "at chance"), so the
direction verdict is unchanged; a decided verdict (exact or descriptive check) states its own (``Finding.strength``)."""
from __future__ import annotations

from superweight.report.verdicts import Finding, Sub, _grade

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


def strength(f: Finding, fam: dict | None, by: str = "") -> tuple[str, str]:
    """(strength, why) of one claim on one model from its finding (after ``decide`` and ``finish``): the grades
    labelled ``by`` ("" = "text" when the claim is graded by the paper's words, else its first label) decide. One
    measure on several corpora (a group) is as strong when one member is and none is weaker (as its direction);
    rule "all": every measure as strong, weaker when any is; rule "any": some sub-test as strong, weaker when all
    are."""
    if f.strength == BY_DIRECTION:
        return from_verdict(f.verdict or "")
    if f.strength is not None:
        return f.strength
    if not f.subs:
        v = f.verdict or ""
        return (AS, "the paper's strength, an exact check") if v.startswith("holds (paper strength") else \
            (NG, "not tested" if v.startswith("not applicable") else "the paper gives no number")
    labels = [g.label for s in f.subs for g in s.grades]
    if not labels:
        return NG, "the paper gives no number"
    by = by or ("text" if "text" in labels else labels[0])
    graded: list[tuple[Sub, list[tuple]]] = []
    median = False
    for s in f.subs:
        gs = [(g, st) for g, st, _ in _grade(s, fam["grade_level"]) if g.label == by] if fam else []
        median |= any(st == "not graded" for _, st in gs)
        gs = [(g, st) for g, st in gs if st != "not graded"]
        if gs:
            graded.append((s, gs))
    if not graded:
        return NG, ("median-window estimates: the paper's numbers are corpus ratios" if median else
                    "no estimate to grade (not run, undefined or below its minimum n)")
    per = [(s, _state([st for _, st in gs]), gs) for s, gs in graded]
    if f.rule == "any":
        states = [st for _, st, _ in per]
        out = AS if AS in states else WEAK if all(st == WEAK for st in states) else UND
    else:
        groups: dict[str, list[str]] = {}
        for s, st, _ in per:
            groups.setdefault(s.group, []).append(st)
        gst = [WEAK if WEAK in v else AS if AS in v else UND for v in groups.values()]
        out = WEAK if WEAK in gst else AS if all(x == AS for x in gst) else UND
    want = {AS: "reached", WEAK: "not reached"}.get(out)
    named = [f"{s.name} {s.fv(s.est.value)} vs {g.words}" for s, _, gs in per for g, st in gs
             if (st == want if want else st != "reached")]
    head = {AS: "reaches", WEAK: "short of the paper", UND: "undecided"}[out]
    return out, f"{head}: " + "; ".join(dict.fromkeys(named[:4])) + (" ..." if len(named) > 4 else "")
