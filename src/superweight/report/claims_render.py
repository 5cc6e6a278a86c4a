"""claims.md / .csv / .json from the claims table's rows (superweight.report.claims.evaluate_model)."""
from __future__ import annotations

import json
from pathlib import Path

from superweight.report.verdicts import EARLY_STOP_NOTE, VERDICTS, decision


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
             "estimate reaches; the **strength** column decides it on its own: as strong, weaker (an interval wholly "
             "short of the paper's number), undecided or not graded (each claim says what \"as strong\" means). "
             "**fails** means the interval lies wholly on the other side of the direction's "
             "threshold; **inconclusive** says why (an interval that includes the threshold, or n below the "
             "minimum at which the interval's coverage was measured, benchmarks/coverage.py); **not applicable** "
             "says why (e.g. not run, no super weight used). One measure on several corpora (\"on the scored "
             "corpora\") holds when one corpus holds and none fails: the direction is then shown on the corpora "
             "that decided, not on every corpus, and the verdict names the undecided ones (\"undecided: ...\"). "
             "The perplexity intervals' minimum of 2 windows assumes per-window effects no more skewed than "
             "skewness ~1; beyond that, and at Holm's strict levels, their coverage falls short at few windows "
             "(docs/statistics.md).",
             "",
             "Multiplicity: a model's interval sub-tests (every corpus, task average and factor behind its verdicts) "
             "are one family, corrected by Holm's step-down at family level 5%; each sub-test shows its p-value, "
             "the level it was tested at, and its interval at that level. Strength is read off the intervals at "
             "the Bonferroni level 1 - 0.05/k (k: the family plus the intervals used only for grades, e.g. each "
             "task's accuracy against chance) so the grades hold together; the one-sided grades (\"at or below "
             "chance\", \"barely hurts\") read one end of that interval, a test at size 0.05/(2k) each, printed "
             "as \"p = ... <= size\". Direction verdicts (Holm at 5%) and strength grades (Bonferroni at 5%) are "
             "separate families: the chance of any false statement about one model, direction or grade, is at most "
             "2 x 5% = 10%. The exact checks (early_layer, "
             "detection_finds_table2: one detection pass, no sampling) and the descriptive claims (one prompt, one "
             "pass, below the totals) are outside the family and say so in their verdict. Deviations from "
             "the paper's protocol change what a verdict means: see results/protocol.md when present.", ""]
    desc = [i for i in ids if any(r.get("descriptive") for r in rows if r["claim"] == i)]
    tested = [i for i in ids if i not in desc]
    lines += _matrix(tested, by, sec, models)
    counted = [r for r in rows if not r.get("descriptive")]
    counts = {v: sum(decision(r["verdict"]) == v for r in counted) for v in VERDICTS}
    lines += ["", ", ".join(f"{n} {v}" for v, n in counts.items())
              + f" ({len(counted)} verdicts: {len(tested)} claims x {len(models)} model(s); the descriptive claims "
                "below are not counted)", "", error_across_models(rows, models), ""]
    if any(r.get("early_stop") for r in rows):
        lines += [EARLY_STOP_NOTE, ""]
    if desc:
        lines += ["## Descriptive claims (one prompt, one pass: not tested, not in the totals)", "",
                  "Each is checked on the detection or propagation prompt alone: it shows what happens on that "
                  "prompt, not how often it happens across inputs.", ""]
        lines += _matrix(desc, by, sec, models) + [""]
    for m in models:
        lines += [f"## {m}", ""]
        fam = next((r["correction"] for r in rows if r["model"] == m and r.get("correction")), None)
        if fam:
            lines += [f"Holm over {fam['family_size']} interval sub-tests at family level "
                      f"{1 - fam['family_level']:.2g}; strength graded at the {100 * fam['strength_level']:.4g}% "
                      f"level (one-sided grades at size {(1 - fam['strength_level']) / 2:.2g}).", ""]
        for i in tested + desc:
            r = by.get((i, m))
            if r:
                lines += [f"### {i}: **{r['verdict']}** ({r['section']}{'; descriptive' if i in desc else ''})", "",
                          f"- claim: {r['statement']}", f"- paper: {r['paper']}", f"- test: {r['test']}",
                          f"- strength: **{r.get('strength', '–')}** ({r.get('strength_why', '')}); as strong as "
                          f"the paper: {r.get('strength_meaning', '')}", "- evidence:"]
                lines += [f"  - {e}" for e in _evidence_lines(r["evidence"])] + [""]
    return "\n".join(lines)


def _matrix(ids: list[str], by: dict, sec: dict, models: list[str]) -> list[str]:
    """Claims x models: each model's direction verdict, then its strength verdict in a column of its own."""
    out = ["| claim | section | " + " | ".join(f"{m} | {m} strength" for m in models) + " |",
           "|---|---|" + "---|---|" * len(models)]
    for i in ids:
        out.append(f"| {i} | {sec[i]} | " + " | ".join(
            f"{_short(by[(i, m)]['verdict'])} | {by[(i, m)].get('strength', '–')}" if (i, m) in by else "– | –"
            for m in models) + " |")
    return out


def error_across_models(rows: list[dict], models: list[str]) -> str:
    """One sentence on what the totals' error is across models (each model is its own Holm family)."""
    fam = next((r["correction"] for r in rows if r.get("correction")), None)
    a = 1 - fam["family_level"] if fam else 0.05
    k = len(models)
    return (f"Error across models: within each model Holm holds the chance of any false direction verdict at "
            f"{a:.2g} and Bonferroni that of any false strength grade at {a:.2g}, two separate families (any false "
            f"statement about one model: at most 2 x {a:.2g} = {min(1.0, 2 * a):.2g}); the {k} models are not "
            f"corrected together, so the chance of at least one false direction verdict in these totals is at most "
            f"{k} x {a:.2g} = {min(1.0, k * a):.2g} (union bound), of any false statement at most "
            f"{min(1.0, 2 * k * a):.2g}."
            if k > 1 else
            f"Error: Holm holds the chance of any false direction verdict of this model at {a:.2g} and Bonferroni "
            f"that of any false strength grade at {a:.2g}, two separate families: any false statement at most "
            f"2 x {a:.2g} = {min(1.0, 2 * a):.2g}; the exact checks have no sampling error, the descriptive claims "
            f"no test.")


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

