"""How a claim's sub-tests become one verdict: the sub-test and grade records (``Sub``, ``Grade``, ``Finding``), Holm's
step-down over one model's family (``decide``), the grade against the paper's numbers and the verdict's wording
(``finish``). The registry of claims (superweight.report.claims) calls these; nothing here reads result files."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from superweight.report.grades import STRENGTH_MARGIN, Grade, _grade, paper_bound  # noqa: F401 (re-exported)
from superweight.stats.intervals import LEVEL, MAX_N, NA, Estimate, holm, min_n_at, verdict

VERDICTS = ("holds", "fails", "inconclusive", "not applicable")


@dataclass(eq=False)
class Sub:
    """One sub-test of a claim: the estimate, the direction the claim predicts against ``threshold``, and the
    paper's numbers to grade the strength. ``role``: "test" sub-tests decide the verdict and belong to the model's
    multiplicity family; "grade" sub-tests only grade strength. Filled by ``decide``: decision, p, alpha, why."""
    name: str
    est: Estimate | NA | None
    threshold: float
    higher: bool = True
    grades: tuple = ()
    unit: str = "x"      # how values print: "x" ratio, "pts" accuracy points, "" plain
    role: str = "test"
    group: str = ""      # sub-tests of one kind (e.g. the ppl ratio on each corpus); see decide
    decision: str = ""
    p: float = math.nan
    alpha: float = math.nan
    why: str = ""

    def __post_init__(self):
        self.group = self.group or self.name

    def fv(self, v: float) -> str:
        if self.unit == "x" and abs(v) >= 1000:
            return f"x{v:.0f}"
        return f"x{v:.3g}" if self.unit == "x" else f"{v:+.3g} points" if self.unit == "pts" else f"{v:.3g}"


@dataclass
class Finding:
    """A claim's result: either a decided ``verdict`` (deterministic claims), or ``subs`` that ``decide`` turns
    into one (``rule`` "all": every sub-test holds; "any": some sub-test holds, fails only when all fail)."""
    verdict: str | None
    evidence: str
    estimates: dict[str, dict] = field(default_factory=dict)
    subs: list[Sub] = field(default_factory=list)
    rule: str = "all"
    notes: list[str] = field(default_factory=list)
    strength: tuple[str, str] | None = None  # a decided verdict's (strength, why), see report.strength
    strength_rule: str = ""  # how sub-tests combine for strength ("" = ``rule``; "any": over groups, see strength)
    no_grade: str = ""  # why no sub-test carries a paper number (e.g. the paper's table lacks this model)


EARLY_STOP = "†"
EARLY_STOP_NOTE = (f"{EARLY_STOP} a point estimate taken at an early stop of a sequential design (read at a look "
                   "before the last): it may be biased, away from the threshold for the comparison that stopped the "
                   "design; other estimates read at that look in the direction of their correlation with it. The "
                   "repeated confidence interval keeps its coverage.")


def fmt_est(name: str, e: Estimate | NA | None, scale: float = 1.0, unit: str = "") -> str:
    if e is None:
        return f"{name}: no per-document/per-window values"
    if isinstance(e, NA):
        return f"{name}: {e}"
    mark = EARLY_STOP if e.early_stop else ""
    return (f"{name} {scale * e.value:.4g}{unit}{mark} [{scale * e.lo:.4g}, {scale * e.hi:.4g}] "
            f"({100 * e.level:.4g}% CI, n={e.n})")


def ci_test(name: str, e: Estimate | NA | None, threshold: float, higher_holds: bool = True,
            strict: bool = False) -> tuple[str, str]:
    """(verdict, evidence line) of one sub-test read off an estimate's own interval, without multiplicity
    correction (descriptive use only; claims use ``Sub`` and ``decide``). Inconclusive below the method's
    minimum n."""
    if e is None:
        return "inconclusive", f"{name}: no per-document/per-window values to test"
    if isinstance(e, NA):
        return "not applicable", f"{name}: {e}"
    if e.too_small:
        return "inconclusive", (f"{name}: n = {e.n} is below the minimum {e.min_n} for this test"
                                if e.min_n is not None else
                                f"{name}: n = {e.n}: no n was measured to keep this test's error at the decision "
                                "level (benchmarks/decision_error.py)")
    v = verdict(e.lo, e.hi, threshold, higher_holds, strict)
    side = (">" if higher_holds else "<") + ("" if strict else "=")
    return v, f"{fmt_est(name, e)}; needs {side} {threshold:g}: {v}"


def decide(findings: list[Finding], level: float = LEVEL) -> dict:
    """Holm's step-down over every interval sub-test of one model's claims (one family): each sub-test's
    two-sided p against its threshold is tested at its Holm level; rejected -> holds or fails by the side the
    estimate lies on, else inconclusive. Sub-tests below their method's minimum n, without values or undefined
    (NA) are not tested (inconclusive / not applicable) and do not enter the family. Returns the family's
    size and level, and the Bonferroni level for strength grades (over the family and the grade-only intervals);
    fills each Sub's decision, p, alpha and why. (``finish`` then combines: one measure on
    several corpora holds when one corpus holds and none fails; a claim holds when every measure holds.)"""
    alpha = 1 - level
    subs = [s for f in findings for s in f.subs if s.role == "test"]
    family = []
    for s in subs:
        if s.est is None:
            s.decision, s.why = "inconclusive", s.why or f"{s.name}: no per-document/per-window values"
        elif isinstance(s.est, NA):
            s.decision, s.why = "not applicable", f"{s.name}: {s.est}"
        elif s.est.too_small:
            s.decision, s.why = "inconclusive", (
                f"n = {s.est.n} is below the minimum {s.est.min_n} for this test" if s.est.min_n is not None else
                f"n = {s.est.n}: no n was measured to keep this test's error at the decision level "
                "(benchmarks/decision_error.py)")
        else:
            family.append(s)
    # a t test tested below the level its minimum n was measured at decides by the exact median test instead: the
    # lowest level any member can be tested at is alpha / m (Holm's first step), known before any p is read
    for s in family:
        need = min_n_at(s.est.kind, alpha / len(family)) if s.est.kind else 0
        if s.est.fallback is not None and (need is None or s.est.n < need):
            s.est = s.est.fallback()
    tests = [s.est.p(s.threshold) for s in family]
    for s, (p, side), (rej, a) in zip(family, tests, holm([p for p, _ in tests], alpha)):
        s.p, s.alpha = p, a
        if rej and side != 0:
            s.decision = "holds" if (side > 0) == s.higher else "fails"
            s.why = (f"{s.name} {s.fv(s.est.value)}{EARLY_STOP if s.est.early_stop else ''} is "
                     f"{'above' if side > 0 else 'below'} {s.threshold:g}")
        elif s.est.floor_p > a:
            s.decision = "inconclusive"
            s.why = (f"{s.name}: at n = {s.est.n} its exact test cannot give p below {s.est.floor_p:.2g}, above "
                     f"the α = {a:.3g} it is tested at")
        elif s.est.zero_only and s.threshold != 0:
            s.decision = "inconclusive"
            s.why = (f"{s.name}: above {MAX_N['acc_diff']} documents in a task only a difference against 0 is "
                     "decided (docs/statistics.md)")
        else:
            s.decision = "inconclusive"
            s.why = f"{s.name}: the {100 * (1 - a):.4g}% interval includes {s.threshold:g}"
    m = len(family)
    # strength is read off the family's intervals and the grade-only ones (e.g. each task's accuracy against
    # chance): Bonferroni over all of them, so the grades hold together
    g = sum(1 for f in findings for s in f.subs if s.role == "grade" and s.grades and isinstance(s.est, Estimate)
            and not s.est.too_small)
    return {"method": "Holm", "family_size": m, "family_level": level, "graded_only": g,
            "grade_level": 1 - alpha / max(m + g, 1)}


def finish(f: Finding, fam: dict) -> Finding:
    """The claim's verdict with its grade in parentheses, from its decided sub-tests."""
    tests = [s for s in f.subs if s.role == "test"]
    groups: dict[str, list[Sub]] = {}
    for s in tests:
        groups.setdefault(s.group, []).append(s)

    def gdec(ms):  # one measure on several corpora: holds when one holds and none fails
        ds = [x.decision for x in ms]
        return "fails" if "fails" in ds else "holds" if "holds" in ds else \
            "not applicable" if all(d == "not applicable" for d in ds) else "inconclusive"

    gd = {g: gdec(ms) for g, ms in groups.items()}
    # members of a holding group that did not decide are named beside the verdict
    undecided = [x for g, ms in groups.items() if gd[g] == "holds" for x in ms if x.decision != "holds"]
    vs = [s.decision for s in tests] if f.rule == "any" else list(gd.values())
    if f.rule == "any":
        out = "holds" if "holds" in vs else "fails" if vs and all(v == "fails" for v in vs) else \
            "not applicable" if vs and all(v == "not applicable" for v in vs) else "inconclusive"
    elif any(v == "fails" for v in vs):
        out = "fails"
    elif vs and all(v == "holds" for v in vs):
        out = "holds"
    elif vs and all(v == "not applicable" for v in vs):
        out = "not applicable"
    else:
        out = "inconclusive"
    lines = []
    for s in f.subs:
        e = s.est
        head = fmt_est(s.name, e.at(1 - s.alpha) if isinstance(e, Estimate) and s.role == "test"
                       and not math.isnan(s.alpha) else e.at(fam["grade_level"]) if isinstance(e, Estimate) else e)
        if isinstance(e, Estimate):
            head += f" [{e.method}]"
        if s.role == "test":
            side = ">" if s.higher else "<"
            hl = (f"; Holm: p = {s.p:.3g} tested at α = {s.alpha:.3g}" if not math.isnan(s.alpha) else "")
            head += f"; direction needs {side} {s.threshold:g}{hl}: {s.decision}"
            if s.decision not in ("holds", "fails") and s.why and (e is None or isinstance(e, Estimate)
                                                                   and e.too_small):
                head += f" ({s.why})"
        gr = _grade(s, fam["grade_level"])
        if gr:
            head += "; paper: " + ", ".join(f"{g.words} {w}" for g, _, w in gr)
        lines.append(head)
    if out == "holds":
        grades = [(s, g, st) for s in f.subs if s.role == "grade" or s.decision == "holds"
                  for g, st, _ in _grade(s, fam["grade_level"])]
        below = {s for s in f.subs for g, st, w in _grade(s, fam["grade_level"])
                 if g.below and w.startswith(f"reached ({g.below}")}
        if not grades:
            out = "holds (direction; the paper gives no number to grade its strength)"
        else:
            labels = [g.label for _, g, _ in grades]
            primary = "text" if "text" in labels else labels[0]
            if all(st == "reached" for _, g, st in grades if g.label == primary):
                out = "holds (paper strength)"
            else:
                det = []
                phrases: dict[str, list] = {}
                for s, g, st in grades:
                    if g.phrase:
                        phrases.setdefault(g.phrase, []).append((s, st))
                for ph, ss in phrases.items():  # e.g. per-task "within the margin of chance", in one phrase
                    by = {w: [s.name.split(" ")[0] for s, st in ss if st == w] for w in ("not reached", "inconclusive")}
                    bw = next((g.below for _, g, _ in grades if g.phrase == ph and g.below), "")
                    low = [s.name.split(" ")[0] for s, _ in ss if s in below]
                    parts = ([f"{bw}: {', '.join(low)}"] if low else []) + \
                        [f"{w}: {', '.join(ns)}" for w, ns in by.items() if ns]
                    det.append(f"{ph} on {len(ss) - sum(map(len, by.values()))} of {len(ss)} tasks"
                               + (" (" + ", ".join(parts) + ")" if parts else ""))
                for s in dict.fromkeys(s for s, g, _ in grades if not g.phrase):
                    gs = [(g, st) for t, g, st in grades if t is s and not g.phrase]
                    yes = [g.words for g, st in gs if st == "reached"]
                    no = [g.words for g, st in gs if st == "not reached"]
                    und = [g.words for g, st in gs if st == "undecided"]
                    inc = [g.words for g, st in gs if st == "inconclusive"]
                    ng = [g.words for g, st in gs if st == "not graded"]
                    ph = (["reaches " + " and ".join(yes)] if yes else []) + \
                         ([("not " if yes else "does not reach ") + " or ".join(no)] if no else []) + \
                         (["undecided against " + " and ".join(und)] if und else []) + \
                         (["inconclusive against " + " and ".join(inc)] if inc else []) + \
                         (["not graded against " + " and ".join(ng) + " (a median window's ratio, not the corpus "
                           "ratio)"] if ng else [])
                    mark = EARLY_STOP if s.est.early_stop else ""
                    med = " (median window)" if s.est.estimand == "median" else ""
                    det.append(f"{s.name}{med} {s.fv(s.est.value)}{mark} " + ", ".join(ph))
                out = "holds (direction; " + "; ".join(det) + ")"
    elif out == "fails":
        out = "fails (" + "; ".join(s.why for s in tests if s.decision == "fails") + ")"
    elif out == "inconclusive":
        out = "inconclusive (" + "; ".join(dict.fromkeys(s.why for s in tests if s.decision != "holds"
                                                         and (f.rule == "any" or gd[s.group] != "holds"))) + ")"
    else:
        out = "not applicable (" + "; ".join(dict.fromkeys(s.why for s in tests)) + ")"
    if undecided and f.rule != "any" and out.startswith("holds"):
        out = out[:-1] + "; undecided: " + ", ".join(
            s.why if s.why.startswith(s.name) else f"{s.name} ({s.why})" for s in undecided) + ")"
    f.verdict = out
    f.evidence = "; ".join(lines + f.notes)
    return f


def _est_dict(**es) -> dict:
    return {k: (v.as_dict() if isinstance(v, Estimate) else str(v) if v is not None else None) for k, v in es.items()}


def _sub_dict(subs: list[Sub]) -> dict:
    return {s.name: {**(s.est.as_dict() if isinstance(s.est, Estimate) else {"value": str(s.est)}),
                     "threshold": s.threshold, "claim_side": "above" if s.higher else "below", "role": s.role,
                     "decision": s.decision or None, "p_value": None if math.isnan(s.p) else s.p,
                     "holm_alpha": None if math.isnan(s.alpha) else s.alpha,
                     "paper": [{"source": g.label, "number": g.number, "words": g.words} for g in s.grades]}
            for s in subs}


def pts(e: Estimate | None) -> Estimate | None:
    """An accuracy estimate in percentage points (its test and interval rescaled too)."""
    if not isinstance(e, Estimate):
        return e
    test = (lambda t, f=e.test: f(t / 100)) if e.test else None
    iv = (lambda lv, f=e.interval: tuple(100 * x for x in f(lv))) if e.interval else None
    fb = (lambda f=e.fallback: pts(f())) if e.fallback else None
    return replace(e, value=100 * e.value, lo=100 * e.lo, hi=100 * e.hi, test=test, interval=iv, fallback=fb)


def _starts(v: str) -> bool:
    return any(v == w or v.startswith(w + " (") for w in VERDICTS)


def decision(verdict_text: str) -> str:
    """The verdict's first words: holds, fails, inconclusive or not applicable."""
    return next(w for w in VERDICTS if verdict_text.startswith(w))
