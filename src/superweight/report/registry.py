"""The claims registry: each claim of the paper registered with its words, numbers and test (``claim``), the
context a claim's test reads one model's result files through (``Context``), and the paper's numbers the tests grade
against. The claims themselves: ``report.claims``, ``report.claims_mechanism`` and ``report.claims_paper``."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from superweight import paths
from superweight.interventions.applicability import NotApplicable
from superweight.report import compare
from superweight.stats.intervals import LEVEL


@dataclass(frozen=True)
class Claim:
    id: str
    section: str        # where the paper makes it
    statement: str      # the claim, in the paper's terms
    paper: str          # the paper's number(s)
    test: str           # the test and threshold, in words
    thresholds: dict    # the numbers the test uses (passed to the function)
    inputs: tuple       # result files under results/{model}/ the test needs
    fn: Callable
    # one prompt, one pass standing for a statement about all inputs (no interval, no test): shown apart, not in
    # the verdict totals
    descriptive: bool = False
    # what "as strong as the paper" means (its words and tables), decided apart from the direction (report.strength)
    strength: str = ""
    strength_by: str = ""  # the grade label that decides strength ("" = "text" if graded by it, else the first)
    # the run plan's experiment kinds (ablation, scaling, wquant, aquant) of which the test reads whatever results
    # the run has (found by kind, not named): the `claims` rule waits for all of them (workflow.runplan)
    reads: tuple = ()
    uses: tuple = ()  # files the test reads when the run has them (not required: their absence is no "not run")


CLAIMS: list[Claim] = []


def claim(id: str, section: str, statement: str, paper: str, test: str, inputs: tuple = (),
          descriptive: bool = False, strength: str = "", strength_by: str = "", reads: tuple = (), uses: tuple = (),
          **thresholds):
    """Register an evaluation function ``fn(ctx, thresholds) -> Finding`` as a claim (``descriptive``: checked on
    one prompt in one pass; ``strength``: what "as strong as the paper" means; ``inputs``: the files it needs;
    ``reads``: the experiment kinds it reads every result of; ``uses``: files it reads when present; see
    ``Claim``)."""
    def deco(fn):
        if any(c.id == id for c in CLAIMS):
            raise ValueError(f"claim {id!r} registered twice")
        CLAIMS.append(Claim(id, section, statement, paper, test, thresholds, tuple(inputs), fn, descriptive,
                            strength, strength_by, tuple(reads), tuple(uses)))
        return fn
    return deco


class Context:
    """One model's result files (only those this run produced: ``files`` maps paths relative to
    results/{model}/ to real paths; a base model's files under ``base/``) and the confidence level of its
    intervals; ``base``: the model this one is an instruct variant of (models.<m>.base); ``paper``: the model's
    entry of config/paper_results.yaml (its ``paper:`` key, ``paper_key``), None for a model outside the paper."""

    def __init__(self, model: str, files: dict[str, Path], level: float = LEVEL, base: str | None = None,
                 paper: dict | None = None, paper_key: str = ""):
        self.model, self.files, self.level, self.base = model, files, level, base
        self.paper_entry, self.paper_key = paper, paper_key
        self._cache: dict[str, object] = {}

    def paper(self, table: str) -> tuple[dict | None, str]:
        """(the paper's ``table`` numbers to grade this model against, whose they are): a paper model its own
        (None where the table lacks it: not graded), a model outside the paper the paper's Llama-7B's."""
        if self.paper_entry is None:
            return LLAMA7B.get(table), LLAMA7B_NAME
        return self.paper_entry.get(table), self.paper_key

    def has(self, rel: str) -> bool:
        return rel in self.files

    def json(self, rel: str) -> dict:
        if rel not in self.files:
            raise NotApplicable(f"not run: {rel}")
        if rel not in self._cache:
            self._cache[rel] = json.loads(Path(self.files[rel]).read_text())
        return self._cache[rel]

    def rows(self, rel: str) -> list[dict]:
        if rel not in self.files:
            raise NotApplicable(f"not run: {rel}")
        if rel not in self._cache:
            with open(self.files[rel], newline="") as f:
                self._cache[rel] = list(csv.DictReader(f))
        return self._cache[rel]

    def ran(self, rel: str, default_reason: str = "skipped") -> dict:
        """A result file of a job that ran; NotApplicable with the job's reason when it was skipped."""
        r = self.json(rel)
        if r.get("status") == "skipped":
            raise NotApplicable(r.get("reason") or default_reason)
        return r

    def done(self, rel: str) -> dict:
        """A scored result; NotApplicable with its reason when the experiment was skipped."""
        r = self.json(rel)
        if not compare.done(r):
            raise NotApplicable(r.get("reason", "skipped"))
        return r

    def find(self, kind: str, **given) -> list[tuple[str, dict[str, str]]]:
        """(path, its fields) of each of the model's results of ``kind`` with the ``given`` fields, by path
        (superweight.paths.find: exact, a plain wquant result is never a restored one)."""
        return paths.find(kind, self.files, **given)

    def super_weights(self) -> list[tuple[int, int, int]]:
        """The super weights the experiments used (zeroed by the ablations), read through the one reader of that
        list (superweight.detect.used.used_super_weights)."""
        from superweight.detect.used import used_super_weights

        return used_super_weights(self.json("detect/super_weights.json"))

    def detected(self) -> list[tuple[int, int, int]]:
        """The super weights detection found and confirmed; NotApplicable when detection did not run or confirmed
        none (claims about what detection finds are never tested on configured coordinates)."""
        s = self.json("detect/super_weights.json")
        if "candidates" not in s:
            raise NotApplicable("detection did not run")
        sws = [(c["layer"], c["row"], c["col"]) for c in s.get("super_weights", [])]
        if not sws:
            raise NotApplicable("detection confirmed no super weight")
        return sws

    def kw(self) -> dict:
        return {"level": self.level}


ABL = paths.SCORES["ablation"]  # ABL.format(condition=...)
WIKI, C4 = "wikitext2", "c4"


# --- the claims ---
# The paper's Llama-7B numbers (config/paper_results.yaml's llama-7b entry, the tables' layout; tests/test_claims.py
# checks they agree): a model outside the paper is graded against them (Context.paper), a paper model against its own
LLAMA7B_NAME = "the paper's Llama-7B"
LLAMA7B = {
    "table1": {"original": {"avg": 70.11, "c4": 7.08, "wikitext2": 5.67},
               "prune_sw": {"avg": 35.14, "c4": 763.65, "wikitext2": 1211.11},
               "prune_nonsw": {"avg": 69.22, "c4": 7.57, "wikitext2": 6.08},
               "prune_sw_restore_sa": {"avg": 50.09, "c4": 476.23, "wikitext2": 720.57}},
    "table6": {"64": {"original": 69.59, "amplified": 69.88}, "4096": {"original": 66.19, "amplified": 67.54}},
    "table3": {"wikitext2": {"fp": 5.68, "naive": 5.83, "smoothquant": 5.71, "sa_aware": 5.74, "share": 75},
               "c4": {"fp": 7.08, "naive": 7.23, "smoothquant": 7.12, "sa_aware": 7.14, "share": 82}},
    "table5": {"original": {"avg": 70.12}, "amplified": {"avg": 70.51}},
    "fig5": {"the": 2.1, ".": 4.9, ",": 10.5},
    "fig7": {"16384": {"rtn": 66.21, "sw_aware": 66.21}, "65536": {"rtn": 63.41, "sw_aware": 63.41},
             "262144": {"rtn": 50.51, "sw_aware": 57.85}, "1048576": {"rtn": 27.55, "sw_aware": 45.4}},
}
# Table 1's corpora and the chance level of its average accuracy (the seven tasks' mean)
T1_NONSW = {c: LLAMA7B["table1"]["prune_nonsw"][c] / LLAMA7B["table1"]["original"][c] for c in (WIKI, C4)}
T1_CHANCE = float(np.mean([compare.CHANCE[t] for t in ("arc_challenge", "arc_easy", "hellaswag", "lambada_openai",
                                                        "piqa", "sciq", "winogrande")]))


def t1_ratios(t1: dict | None, num: str, den: str) -> dict[str, float]:
    """Table 1's perplexity ratio ppl(num) / ppl(den) per corpus ({} without Table 1)."""
    return {c: t1[num][c] / t1[den][c] for c in (WIKI, C4) if t1 and c in t1.get(num, {}) and c in t1.get(den, {})}


def w8a8_table(ctx: Context) -> tuple[dict | None, str, str]:
    """(the W8A8 perplexities per corpus, whose, which table): Table 3 (Llama), 4 (OLMo, Mistral) or 7 (Llama-2)."""
    for t in ("table3", "table4", "table7"):
        nums, who = ctx.paper(t)
        if nums:
            return nums, who, f"Table {t[-1]}"
    return None, ctx.paper("table3")[1], "Tables 3/4/7"
