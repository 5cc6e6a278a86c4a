"""The claims table's rows for one model: every claim of the paper, ``report.claims``'s, then
``report.claims_mechanism``'s, then ``report.claims_paper``'s (each module registers its claims with
``registry.claim`` as it is imported, so all three are imported here, in that order), evaluated on the model's result files, with Holm's correction over the model's
sub-tests (``verdicts.decide``)."""
from __future__ import annotations

import math
from pathlib import Path

from superweight.interventions.applicability import NotApplicable
from superweight.provenance import json_clean
from superweight.report import claims, claims_mechanism, claims_paper  # noqa: F401 -- each registers its claims
from superweight.report.registry import CLAIMS, Claim, Context
from superweight.report.verdicts import VERDICTS, Finding, _starts, _sub_dict, decide, decision, finish
from superweight.report.strength import strength
from superweight.stats.intervals import LEVEL, Estimate


def evaluate_model(model: str, files: dict[str, Path], level: float = LEVEL, claims: list[Claim] | None = None,
                   base: str | None = None, paper: dict | None = None, paper_key: str = "") -> list[dict]:
    """Every claim for one model: a row with the claim's text, its verdict (the decision word first, its grade or
    reason in parentheses), its strength verdict (report.strength), evidence and estimates. The interval sub-tests
    of all the model's claims are one family, corrected together by Holm (``decide``). ``base``: the model this
    one is an instruct variant of (its files under ``base/`` in ``files``, see ``model_files``); ``paper``: its
    entry of config/paper_results.yaml (``paper_key``, its ``paper:`` key), graded against; None outside the paper
    (graded against the paper's Llama-7B)."""
    ctx = Context(model, files, level, base, paper, paper_key)
    found = []
    for c in claims or CLAIMS:
        missing = [f for f in c.inputs if not ctx.has(f)]
        if missing:
            f = _not_applicable(f"not run: {', '.join(missing)}")
        else:
            try:
                f = c.fn(ctx, dict(c.thresholds))
            except NotApplicable as e:  # the claim's test found it cannot be tested here: the message says why
                f = _not_applicable(str(e))
        found.append((c, f))
    fam = decide([f for _, f in found], level)
    rows = []
    for c, f in found:
        if f.subs:
            finish(f, fam)
            f.estimates = {**f.estimates, **_sub_dict(f.subs)}
        st, st_why = strength(f, fam if f.subs else None, c.strength_by)
        if not _starts(f.verdict):
            raise ValueError(f"claim {c.id}: verdict {f.verdict!r} does not start with one of {VERDICTS}")
        corr = ({"method": fam["method"], "family_size": fam["family_size"], "family_level": level,
                 "strength_level": fam["grade_level"],
                 "alphas": {s.name: s.alpha for s in f.subs if s.role == "test" and not math.isnan(s.alpha)}}
                if f.subs else None)
        rows.append({"model": model, "claim": c.id, "section": c.section, "descriptive": c.descriptive,
                     "statement": c.statement,
                     "paper": c.paper, "test": c.test, "thresholds": c.thresholds, "verdict": f.verdict,
                     "decision": decision(f.verdict), "strength": st, "strength_why": st_why,
                     "strength_meaning": c.strength, "evidence": f.evidence, "estimates": json_clean(f.estimates),
                     "correction": json_clean(corr),
                     "early_stop": any(isinstance(s.est, Estimate) and s.est.early_stop for s in f.subs)})
    return rows


def _not_applicable(reason: str) -> Finding:
    return Finding(f"not applicable ({reason})" if reason else "not applicable", reason)


def model_files(results_dir: Path, model: str, inputs: list[str], base: str | None = None) -> dict[str, Path]:
    """The given input paths of one model, keyed relative to results/{model}/; with ``base`` (the model it is an
    instruct variant of) the base's too, under ``base/``."""
    out = {}
    for prefix, m in (("", model), ("base/", base)):
        root = (Path(results_dir) / m).resolve() if m else None
        for p in inputs if root else []:
            p = Path(p).resolve()
            if root in p.parents:
                out[prefix + p.relative_to(root).as_posix()] = p
    return out
