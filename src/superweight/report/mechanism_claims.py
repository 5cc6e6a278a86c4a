"""The mechanism experiments' claims and their verdicts, read back from the result files (no torch needed), for
the claims table. Each verdict was computed by the experiment's job with the test written beside it."""
from __future__ import annotations

from pathlib import Path

from superweight.provenance import read_json

CLAIMS = {
    "hadamard": {"claim": "the super weight amplifies an input outlier formed by the Hadamard product of the MLP's "
                          "factors (act(gate) x up)", "section": "3.2 (mechanism), review: low confidence"},
    "skip": {"claim": "the super weight acts through the super activation the skip connection carries",
             "section": "3.2; review: skip-connection ablation asked for"},
    "significance": {"claim": "pruning the super weights hurts more than pruning other outliers of the same count",
                     "section": "3.2, Table 1 (prune non-SW); review: statistical validation asked for"},
    "emergence": {"claim": "super weights emerge during pre-training and persist", "section": "review: open question"},
}


def read_verdicts(results_dir: str | Path, model: str, experiments=("hadamard", "skip", "significance")) -> list[dict]:
    """One row per experiment: claim, section, verdict, evidence, test (missing result files are skipped)."""
    rows = []
    for exp in experiments:
        f = Path(results_dir) / model / "mechanism" / f"{exp}.json"
        if f.is_file():
            v = read_json(f)["verdict"]
            rows.append({"model": model, "experiment": exp, **CLAIMS[exp], "verdict": v["verdict"],
                         "evidence": v["evidence"], "test": v.get("test")})
    return rows


def read_emergence(results_dir: str | Path, name: str) -> dict | None:
    f = Path(results_dir) / "emergence" / name / "emergence.json"
    if not f.is_file():
        return None
    v = read_json(f)["verdict"]
    return {"model": name, "experiment": "emergence", **CLAIMS["emergence"], "verdict": v["verdict"],
            "evidence": v["evidence"], "test": v.get("test")}
