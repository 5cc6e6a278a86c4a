"""A sub-test's grade against the paper's numbers (``Grade``, ``_grade``): "as strong as the paper" decided by
non-inferiority within a margin of the sub-test's kind (``STRENGTH_MARGIN``, ``paper_bound``), one-sided tests
for bounds, equivalence for bands. superweight.report.verdicts words the verdicts with them, report.strength
decides a claim's strength from them."""
from __future__ import annotations

from dataclasses import dataclass

from superweight.stats.equivalence import equivalence, one_sided, one_sided_words, words as eq_words
from superweight.stats.intervals import MAX_N, MIN_N, Estimate, min_n_at

@dataclass
class Grade:
    """One of the paper's numbers a sub-test's estimate is graded against: ``label`` says where the number comes
    from ("text" = the paper's words, e.g. "three orders of magnitude"; otherwise a table or figure), ``words``
    how the verdict names it. Reached by non-inferiority (``paper_bound``): the interval's end on the short side
    at or beyond the number less the margin of its kind (``STRENGTH_MARGIN``); not reached when the whole interval
    is short of that; else undecided. With ``limit`` ("<=" or
    ">=", a bound) a one-sided statement (e.g. "barely hurts": the ratio at most x1.10): reached only when the
    one-sided test rejects the opposite (stats.equivalence.one_sided), not reached when the interval lies wholly
    beyond the bound, else inconclusive. With ``band`` alone (an equivalence region [lo, hi]) reached only when the
    two one-sided tests reject (the interval inside the band). ``band`` with ``limit`` is shown as the region
    (e.g. chance +- a margin) but graded one-sided; an interval wholly below the band is reached and says
    ``below`` (e.g. "below chance"). Grades sharing a ``phrase`` (e.g. each task's accuracy at chance) are summed
    up in one phrase of the verdict."""
    label: str
    number: float
    words: str
    band: tuple[float, float] | None = None
    phrase: str = ""
    limit: tuple[str, float] | None = None
    below: str = ""


# "As strong as the paper" is non-inferiority to the paper's number, within a margin of the sub-test's kind (its
# unit): a ratio within x/÷1.10 of the paper's (the 'barely hurts' margin; the paper prints perplexities to two
# decimals, and its protocol differs in windows and lm-eval version), an accuracy difference within 1 point, a share
# within 0.05 (the paper prints shares in whole percent; Table 3's span 0.71-0.83 over Llama 7-30B). A faithful
# reproduction (true effect = the paper's) is then "as strong" once its interval is narrow enough, not undecided
# forever; a paper gain smaller than the margin is as strong whenever the direction holds.
STRENGTH_MARGIN = {"x": 1.10, "pts": 1.0, "": 0.05}


def paper_bound(g: Grade, s) -> float:
    """The number less the margin (``STRENGTH_MARGIN``) on the side the claim calls weaker (``s``: a Sub)."""
    m = STRENGTH_MARGIN[s.unit]
    if s.unit == "x":
        return g.number / m if s.higher else g.number * m
    return g.number - m if s.higher else g.number + m


def _grade(s, level: float) -> list[tuple[Grade, str, str]]:
    """(grade, "reached" / "not reached" / "undecided" (/ "inconclusive" for a band or limit; "not graded" for a
    median-window estimate, a t test below its minimum n at ``level``, or a difference decided only against 0),
    the evidence words) for each of the sub-test's paper numbers, read off its interval at ``level`` (Bonferroni
    over the family: strength statements hold simultaneously). A band or limit is tested at size (1 - level) / 2
    per one-sided test: each reads one end of the same ``level`` interval, and an interval can speak on either
    side."""
    if not isinstance(s.est, Estimate) or s.est.too_small or not s.grades:
        return []
    if s.est.estimand == "median":  # the median window's ratio is not the corpus ratio the paper reports
        return [(g, "not graded", "not graded (a median-window estimate: the paper's number is a corpus ratio; "
                                 f"grading needs {MIN_N['t']} windows)") for g in s.grades]
    if s.est.zero_only:  # above MAX_N its test decides only against 0 and its interval was not measured
        return [(g, "not graded", f"not graded (above {MAX_N['acc_diff']} documents in a task only a difference "
                                 "against 0 is decided)") for g in s.grades]
    need = min_n_at(s.est.kind, 1 - level) if s.est.kind else 0
    if need is None or s.est.n < need:  # as decide does at alpha / m: the grades are read at 1 - level
        return [(g, "not graded", f"not graded (n = {s.est.n}: the {s.est.kind} test's error at the grades' level "
                                 f"{1 - level:.2g} is measured " + (f"from n = {need})" if need else
                                                                      "at no n (below 0.001))")) for g in s.grades]
    e = s.est.at(level)
    size = (1 - level) / 2
    out = []
    for g in s.grades:
        if g.limit is not None:
            at_most, x = g.limit[0] == "<=", g.limit[1]
            st, p, iv = one_sided(s.est, x, at_most, level)
            w = one_sided_words(st, iv, x, at_most, p, size)
            if st == "reached" and g.band is not None and g.below and iv[1] < g.band[0]:
                w = (f"reached ({g.below}: interval [{iv[0]:.3g}, {iv[1]:.3g}] below [{g.band[0]:.3g}, "
                     f"{g.band[1]:.3g}], p = {p:.2g} <= {size:.2g})")
            out.append((g, st, w))
            continue
        if g.band is not None:
            st, t, iv = equivalence(s.est, g.band[0], g.band[1], level)
            out.append((g, st, eq_words(st, iv, g.band[0], g.band[1], t, size)))
            continue
        b = paper_bound(g, s)
        lo, hi, x = (e.lo, e.hi, b) if s.higher else (-e.hi, -e.lo, -b)
        st = "reached" if lo >= x else "not reached" if hi < x else "undecided"
        out.append((g, st, st if st == "reached" else f"{st} (needs {'>=' if s.higher else '<='} {s.fv(b)}: "
                                                        f"interval [{s.fv(e.lo)}, {s.fv(e.hi)}])"))
    return out
