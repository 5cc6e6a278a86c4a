"""The claims table's rows for one model: every claim of the paper, ``report.claims``'s then
``report.claims_mechanism``'s (each module registers its claims with ``registry.claim`` as it is imported, so both
are imported here, in that order), evaluated on the model's result files, with Holm's correction over the model's
sub-tests (``verdicts.decide``)."""
from __future__ import annotations

import math
from pathlib import Path

from superweight.interventions.applicability import NotApplicable
from superweight.provenance import json_clean
from superweight.report import claims, claims_mechanism  # noqa: F401 -- each registers its claims as it is imported
from superweight.report.registry import CLAIMS, Claim, Context
from superweight.report.verdicts import VERDICTS, Finding, _starts, _sub_dict, decide, decision, finish
from superweight.stats.intervals import LEVEL, N_BOOT, SEED, Estimate


def evaluate_model(model: str, files: dict[str, Path], n_boot: int = N_BOOT, seed: int = SEED,
                   level: float = LEVEL, claims: list[Claim] | None = None) -> list[dict]:
    """Every claim for one model: a row with the claim's text, its verdict (the decision word first, its grade or
    reason in parentheses), evidence and estimates. The interval sub-tests of all the model's claims are one
    family, corrected together by Holm (``decide``)."""
    ctx = Context(model, files, n_boot, seed, level)
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
        if not _starts(f.verdict):
            raise ValueError(f"claim {c.id}: verdict {f.verdict!r} does not start with one of {VERDICTS}")
        corr = ({"method": fam["method"], "family_size": fam["family_size"], "family_level": level,
                 "strength_level": fam["grade_level"],
                 "alphas": {s.name: s.alpha for s in f.subs if s.role == "test" and not math.isnan(s.alpha)}}
                if f.subs else None)
        rows.append({"model": model, "claim": c.id, "section": c.section, "descriptive": c.descriptive,
                     "statement": c.statement,
                     "paper": c.paper, "test": c.test, "thresholds": c.thresholds, "verdict": f.verdict,
                     "decision": decision(f.verdict), "evidence": f.evidence, "estimates": json_clean(f.estimates),
                     "correction": json_clean(corr),
                     "early_stop": any(isinstance(s.est, Estimate) and s.est.early_stop for s in f.subs)})
    return rows


def _not_applicable(reason: str) -> Finding:
    return Finding(f"not applicable ({reason})" if reason else "not applicable", reason)


def model_files(results_dir: Path, model: str, inputs: list[str]) -> dict[str, Path]:
    """The given input paths of one model, keyed relative to results/{model}/."""
    root = (Path(results_dir) / model).resolve()
    out = {}
    for p in inputs:
        p = Path(p).resolve()
        if root in p.parents:
            out[p.relative_to(root).as_posix()] = p
    return out

