"""claims.md / .csv / .json from the claims table's rows (superweight.report.claims.evaluate_model)."""
from __future__ import annotations

import json
from pathlib import Path

from superweight.report.verdicts import VERDICTS, decision


def _short(v: str, width: int = 60) -> str:
    return v if len(v) <= width else v[:width - 1].rstrip() + "…)"


def render(rows: list[dict], models: list[str]) -> str:
    """Markdown: verdicts across models (claim x model), then each model's claims with test, correction and
    evidence."""
    by = {(r["claim"], r["model"]): r for r in rows}
    ids = list(dict.fromkeys(r["claim"] for r in rows))
    sec = {r["claim"]: r["section"] for r in rows}
    lines = ["# The paper's claims on this run's models", "",
             "Each claim is tested from this run's result files with the test written beside it. Every claim tests "
             "the **direction** the paper states and, separately, grades the **strength** against the paper's own "
             "numbers (its words, e.g. \"three orders of magnitude\" = x1000, and its tables, e.g. Table 1's x214): "
             "**holds (paper strength)**, or **holds (direction; ...)** saying which of the paper's numbers the "
             "estimate reaches. **fails** means the interval lies wholly on the other side of the direction's "
             "threshold; **inconclusive** says why (an interval that includes the threshold, or n below the "
             "minimum at which the interval's coverage was measured, benchmarks/coverage.py); **not applicable** "
             "says why (e.g. not run, no confirmed super weight). One measure on several corpora (\"on the scored "
             "corpora\") holds when one corpus holds and none fails: the direction is then shown on the corpora "
             "that decided, not on every corpus, and the verdict names the undecided ones (\"undecided: ...\"). "
             "The perplexity intervals' minimum of 2 windows assumes per-window effects no more skewed than "
             "skewness ~1; beyond that, and at Holm's strict levels, their coverage falls short at few windows "
             "(README, Uncertainty and claim verdicts).",
             "",
             "Multiplicity: a model's interval sub-tests (every corpus, task average and factor behind its verdicts) "
             "are one family, corrected by Holm's step-down at family level 5%; each sub-test shows its p-value, "
             "the level it was tested at, and its interval at that level. Strength is read off the intervals at "
             "the Bonferroni level 1 - 0.05/k (k: the family plus the intervals used only for grades, e.g. each "
             "task's accuracy against chance) so the grades hold together. The deterministic claims (one detection "
             "pass or one prompt, no interval: early_layer, massive_activation, mechanism_hadamard, "
             "other_outliers_keep_sa) are outside the family and say so in their verdict. Deviations from "
             "the paper's protocol change what a verdict means: see results/protocol.md when present.", "",
             "| claim | section | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    for i in ids:
        lines.append(f"| {i} | {sec[i]} | " + " | ".join(_short(by[(i, m)]["verdict"]) if (i, m) in by else "–"
                                                      for m in models) + " |")
    counts = {v: sum(decision(r["verdict"]) == v for r in rows) for v in VERDICTS}
    lines += ["", ", ".join(f"{n} {v}" for v, n in counts.items()), ""]
    for m in models:
        lines += [f"## {m}", ""]
        fam = next((r["correction"] for r in rows if r["model"] == m and r.get("correction")), None)
        if fam:
            lines += [f"Holm over {fam['family_size']} interval sub-tests at family level "
                      f"{1 - fam['family_level']:.2g}; strength graded at the {100 * fam['strength_level']:.4g}% "
                      "level.", ""]
        for i in ids:
            r = by.get((i, m))
            if r:
                lines += [f"### {i}: **{r['verdict']}** ({r['section']})", "", f"- claim: {r['statement']}",
                          f"- paper: {r['paper']}", f"- test: {r['test']}", "- evidence:"]
                lines += [f"  - {e}" for e in _evidence_lines(r["evidence"])] + [""]
    return "\n".join(lines)


def _evidence_lines(ev: str) -> list[str]:
    """Evidence split into its sub-tests (each starts a new '; ' part whose text is not a continuation)."""
    out = []
    for part in ev.split("; "):
        if out and (part.startswith(("direction needs", "Holm:", "paper:", "needs")) or part[:1] in "[("):
            out[-1] += "; " + part
        else:
            out.append(part)
    return out


def write(rows: list[dict], models: list[str], stem: Path) -> list[Path]:
    """stem.md (all models), stem.csv, stem.json."""
    import pandas as pd

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(render(rows, models) + "\n")
    flat = [{**{k: v for k, v in r.items() if k not in ("estimates", "thresholds", "correction")},
             "thresholds": json.dumps(r["thresholds"]), "estimates": json.dumps(r["estimates"]),
             "correction": json.dumps(r.get("correction"))} for r in rows]
    pd.DataFrame(flat).to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".json").write_text(json.dumps({"models": models, "claims": rows}, indent=2) + "\n")
    return [stem.with_suffix(s) for s in (".md", ".csv", ".json")]


# the mechanism and super-activation claims live in their own module and register into CLAIMS on import
