"""The strength verdict (superweight.report.strength, report.grades): non-inferiority within the stated margin, the
direction's verdict read first, the grades' own minimum n and MAX_N, each paper model against its own numbers, and
the paper's own Llama-7B numbers fed to every claim coming out "as strong"."""
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from superweight.report import claims_mechanism, compare
from superweight.report.claims_evaluate import evaluate_model
from superweight.report.registry import LLAMA7B, T1_CHANCE
from superweight.report.strength import strength
from superweight.report.verdicts import Finding, Grade, Sub, _grade, decide, finish, pts
from superweight.stats import intervals
from superweight.stats.intervals import MAX_N, Estimate, acc_linear

PAPER = yaml.safe_load((Path(__file__).parents[1] / "config" / "paper_results.yaml").read_text())


def est(v, se, n=10_000, **kw):
    """A normal estimate v with standard error se (its test and its interval at any level)."""
    from scipy.stats import norm

    def test(t):
        z = (v - t) / se
        return float(2 * norm.sf(abs(z))), int(np.sign(z))

    def interval(lv):
        h = norm.ppf(0.5 + lv / 2) * se
        return v - h, v + h

    lo, hi = interval(0.95)
    return Estimate(v, lo, hi, n, 0.95, "normal (test)", 1, test, interval, **kw)


def judge(verdict, *subs, rule="all", strength_rule="", level=0.99):
    return strength(Finding(verdict, "", subs=list(subs), rule=rule, strength_rule=strength_rule),
                    {"grade_level": level})


T214 = (Grade("Table 1", 214.0, "Table 1's x214"),)


@pytest.mark.parametrize("value, se, expect", [(214.0, 2.0, "as strong"), (205.0, 2.0, "as strong"),
                                               (150.0, 2.0, "weaker"), (200.0, 30.0, "undecided")])
def test_as_strong_is_non_inferiority_within_the_margin(value, se, expect):
    """A faithful reproduction (true effect = the paper's) is as strong once its interval is narrow, not undecided
    forever: the interval's lower end at or above x214 / 1.10 (x194.5); weaker when it lies wholly below that."""
    st, why = judge("holds (direction)", Sub("wikitext2 ppl ratio", est(value, se), 1.0, grades=T214))
    assert st == expect, why


def test_margins_per_kind_accuracy_one_point_share_five_hundredths():
    g = (Grade("Table 1", 14.95, "Table 1's +14.95 points"),)
    assert judge("holds", Sub("d", est(14.5, 0.1), 0.0, unit="pts", grades=g))[0] == "as strong"
    assert judge("holds", Sub("d", est(13.5, 0.1), 0.0, unit="pts", grades=g))[0] == "weaker"
    g = (Grade("Table 1", 0.158, "Table 1's 0.16"),)  # at most (kept share, lower is stronger)
    assert judge("holds", Sub("k", est(0.20, 0.001), 1.0, higher=False, unit="", grades=g))[0] == "as strong"
    assert judge("holds", Sub("k", est(0.25, 0.001), 1.0, higher=False, unit="", grades=g))[0] == "weaker"


def test_a_failed_direction_is_weaker_and_an_inconclusive_one_at_most_undecided():
    s = Sub("wikitext2 ppl ratio", est(300.0, 1.0), 1.0, grades=T214)
    assert judge("fails (c4 ppl ratio x0.9 is below 1)", s) == ("weaker", "the direction fails")
    st, why = judge("inconclusive (c4 ppl ratio: the interval includes 1)", s)
    assert st == "undecided" and why.startswith("the direction is inconclusive")
    assert judge("not applicable (not run)", s) == ("not graded", "not tested")


def test_as_strong_names_the_members_left_undecided():
    a = Sub("wikitext2 ppl ratio", est(300.0, 1.0), 1.0, group="ppl", grades=T214)
    b = Sub("c4 ppl ratio", est(200.0, 40.0), 1.0, group="ppl", grades=(Grade("Table 1", 108.0, "Table 1's x108"),))
    st, why = judge("holds (direction)", a, b)
    assert st == "as strong" and "; undecided: c4 ppl ratio x200 vs Table 1's x108" in why, why


def test_factors_combine_by_any_for_strength_the_blocks_of_one_factor_as_one_measure():
    g = (Grade("Table 6", 1.35, "Table 6's +1.35 points"),)
    strong = Sub("x1.5 block 4096", est(1.4, 0.01), 0.0, unit="pts", group="x1.5", grades=g)
    weak = Sub("x2 block 4096", est(0.1, 0.01), 0.0, unit="pts", group="x2", grades=g)
    assert judge("holds", strong, weak)[0] == "weaker"  # rule "all": one weak factor
    assert judge("holds", strong, weak, strength_rule="any")[0] == "as strong"
    weak2 = Sub("x1.5 block 64", est(-3.0, 0.01), 0.0, unit="pts", group="x1.5", grades=g)
    assert judge("holds", strong, weak2, weak, strength_rule="any")[0] == "weaker"  # within a factor: none weaker


def test_a_t_estimate_is_not_graded_below_its_minimum_n_at_the_grades_level(monkeypatch):
    """Grades are read at 1 - alpha / (m + g): the t test's n measured there applies (None below 0.001)."""
    monkeypatch.setitem(intervals.MIN_N_AT_LEVEL, "t", ((0.001, 64), (0.002, 48), (0.005, 48), (0.01, 32)))
    s = Sub("wikitext2 ppl ratio", est(214.0, 1.0, n=50, kind="t"), 1.0, grades=T214)
    assert _grade(s, 0.998)[0][1] == "reached"          # 0.002: 48 windows suffice
    _, st, words = _grade(s, 0.9985)[0]                  # between 0.001 and 0.002: 64 needed
    assert st == "not graded" and "from n = 64" in words
    _, st, words = _grade(s, 0.9995)[0]                  # below 0.001: not measured
    assert st == "not graded" and "at no n" in words
    assert judge("holds (direction)", s, level=0.9995)[0] == "not graded"


def _big_diff(n=300):
    rng = np.random.default_rng(0)
    g = [np.column_stack([rng.random(n) < 0.5, rng.random(n) < 0.5]).astype(float) for _ in range(3)]
    return pts(acc_linear(g, (-1.0, 1.0)))


def test_above_max_n_an_accuracy_difference_is_not_graded_and_says_why():
    d = _big_diff(MAX_N["acc_diff"] + 44)
    assert d.zero_only
    s = Sub("avg accuracy prune_nonsw - original", d, math.nan, unit="pts", role="grade",
            grades=(Grade("text", -2.0, "'barely hurts'", limit=(">=", -2.0)),))
    (g, st, words), = _grade(s, 0.99)
    assert st == "not graded" and "includes" not in words and "only a difference against 0" in words
    # a direction sub-test against another threshold than 0: inconclusive, without claiming the interval covers it
    t = Sub("avg accuracy sw_aware - rtn above -2", d, -2.0, unit="pts")
    f = Finding(None, "", subs=[t])
    finish(f, decide([f]))
    assert f.verdict.startswith("inconclusive") and "includes -2" not in f.verdict
    assert "only a difference against 0 is decided" in f.verdict


def test_pts_keeps_every_field_of_the_estimate():
    e = est(0.1, 0.01, kind="t", estimand="median", floor_p=0.01, early_stop=True, zero_only=True,
            fallback=lambda: est(0.2, 0.01))
    p = pts(e)
    assert (p.value, p.kind, p.estimand, p.floor_p, p.early_stop, p.zero_only) == (10.0, "t", "median", 0.01, True,
                                                                                     True)
    assert p.fallback().value == pytest.approx(20.0) and p.at(0.99).hi == pytest.approx(100 * e.at(0.99).hi)


def test_the_llama7b_numbers_outside_models_are_graded_against_are_the_papers():
    for table, nums in LLAMA7B.items():
        mine = PAPER["llama-7b"][table]
        if table == "table1" or table == "table5":
            assert all(mine[c][k] == v for c, row in nums.items() for k, v in row.items()), table
        else:
            assert {str(k): v for k, v in mine.items()} == nums, table


# --- each claim fed the paper's own numbers ---

def _scores(ppl=None, avg=None):
    s = {}
    if ppl:
        s["perplexity"] = {c: {"ppl": v} for c, v in ppl.items()}
    if avg is not None:
        s["tasks"] = {"avg": {"acc": avg / 100}}
    return {"status": "done", "scores": s}


def _tiny(monkeypatch):
    """compare's estimates replaced by the files' exact values with tiny standard errors."""
    ppl = lambda r, c: r["scores"]["perplexity"][c]["ppl"]  # noqa: E731
    avg = lambda r: r["scores"]["tasks"]["avg"]["acc"]  # noqa: E731
    monkeypatch.setattr(compare, "corpora", lambda *rs: [c for c in ("wikitext2", "c4")
                                                         if all(c in r["scores"].get("perplexity", {}) for r in rs)])
    monkeypatch.setattr(compare, "ppl_ratio", lambda a, b, c, **k: est(ppl(b, c) / ppl(a, c), 1e-4 * ppl(b, c)
                                                                          / ppl(a, c)))
    monkeypatch.setattr(compare, "acc_diff", lambda a, b, **k: est(avg(b) - avg(a), 1e-5))
    monkeypatch.setattr(compare, "retained_share", lambda o, p, **k: est((avg(p) - T1_CHANCE) / (avg(o) - T1_CHANCE),
                                                                         1e-5))
    monkeypatch.setattr(compare, "paired_docs", lambda rs, *a, **k: ([], []))
    monkeypatch.setattr(compare, "ppl_share", lambda rs, c, num, den, what, **k: est(
        (ppl(rs[num[0]], c) - ppl(rs[num[1]], c)) / (ppl(rs[den[0]], c) - ppl(rs[den[1]], c)), 1e-5))
    monkeypatch.setattr(compare, "ratio_of_means", lambda a, b, **k: est(b / a, 1e-5) if a else None)
    monkeypatch.setattr(claims_mechanism, "ppl_ratio_ci", lambda a, b, *x, **k: est(b[0] / a[0], 1e-3))


def _paper_run(tmp):
    """Result files holding the paper's Llama-7B numbers (Table 1, 3, 5, 6, Fig. 5, 7; Fig. 7 gives no perplexity:
    any that keeps the direction)."""
    p = PAPER["llama-7b"]
    files = {}

    def put(rel, obj):
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        import json

        path.write_text(json.dumps(obj))
        files[rel] = path

    for cond, row in p["table1"].items():
        put(f"ablation/{cond}/scores.json", _scores({c: row[c] for c in ("wikitext2", "c4")}, row["avg"]))
    for m in ("fp", "naive", "smoothquant", "sa_aware"):
        put(f"aquant/w8a8/{m}/scores.json", _scores({c: v[m] for c, v in p["table3"].items()}))
    put("scaling/x1/scores.json", _scores(None, p["table5"]["original"]["avg"]))
    put("scaling/x1.5/scores.json", _scores(None, p["table5"]["amplified"]["avg"]))
    for blk, v in p["fig7"].items():  # perplexity equal at Fig. 7's small blocks, where the accuracies agree too
        put(f"wquant/int4/rtn/block{blk}/scores.json", _scores({"wikitext2": 40.0 if int(blk) > 65536 else 30.0},
                                                               v["rtn"]))
        put(f"wquant/int4/sw_aware/block{blk}/scores.json", _scores({"wikitext2": 30.0}, v["sw_aware"]))
    for blk, v in p["table6"].items():
        put(f"wquant/int4/rtn_keep_sw/block{blk}/scores.json", _scores(None, v["original"]))
        put(f"wquant/int4/rtn_keep_sw/block{blk}/sw_x1.5/scores.json", _scores(None, v["amplified"]))
    put("stopwords/summary.json", {"status": "done", "stopword_mass_original": 0.4,
                                   "stopword_mass_no_super_weight": 0.7,
                                   "per_prompt": {w: {"original": 1.0, "no_super_weight": r}
                                                  for w, r in p["fig5"].items()}})
    t1 = p["table1"]
    put("mechanism/significance.json", {
        "status": "done", "sw": {"ratio": 214.0, "window_nll": [t1["prune_sw"]["wikitext2"]]},
        "kinds": {"same_matrix": {"sets": [{"set": i, "ratio": 1.0} for i in range(40)]}},
        "paper_set": {"n_pruned": 7, "ratio": 1.07, "window_nll": [t1["prune_nonsw"]["wikitext2"]]}})
    return files


GRADED = ("prune_sw_destroys", "prune_nonsw_hurts_less", "restore_recovers_part", "scaling_up", "wquant_sw_aware",
          "w8a8_keeps_sq_gain", "w8a8_sa_helps", "w8a8_closes_fp_gap", "stopwords_each_rise", "wquant_amplify",
          "mechanism_significance", "wquant_small_blocks_agree")


def test_the_papers_own_llama7b_numbers_are_as_strong_as_the_paper(tmp_path, monkeypatch):
    """Every claim fed the paper's own Llama-7B numbers with tiny standard errors: as strong, or not graded with
    its reason (the paper gives no number, or the claim's files were not given)."""
    _tiny(monkeypatch)
    rows = {r["claim"]: r for r in evaluate_model("llama-7b", _paper_run(tmp_path), paper=PAPER["llama-7b"],
                                                  paper_key="llama-7b")}
    for cid in GRADED:
        assert rows[cid]["strength"] == "as strong", (cid, rows[cid]["verdict"], rows[cid]["strength_why"])
    for cid, r in rows.items():
        assert r["strength"] in ("as strong", "not graded") and r["strength_why"], (cid, r["strength_why"])
    assert "Table 1's x214 (llama-7b)" in rows["prune_sw_destroys"]["strength_why"]
    assert "the text's x1000" in rows["prune_sw_destroys"]["strength_why"]  # shown beside, not deciding


def test_each_paper_model_is_graded_against_its_own_numbers(tmp_path, monkeypatch):
    """Mistral-7B: Table 5's own +0.04 points, Fig. 7's own +1.97 at 128x128 blocks; Table 1 lacks it: not graded,
    said so. A model outside the paper: the paper's Llama-7B numbers, said so."""
    _tiny(monkeypatch)
    files = _paper_run(tmp_path)
    mis = {r["claim"]: r for r in evaluate_model("mistral", files, paper=PAPER["mistral-7b"],
                                                 paper_key="mistral-7b")}
    r = mis["prune_sw_destroys"]
    assert r["decision"] == "holds" and r["strength"] == "not graded"
    assert r["strength_why"] == "the paper's Table 1 has no number for mistral-7b: not graded"
    assert "Table 5's +0.04 points (mistral-7b)" in mis["scaling_up"]["strength_why"]
    assert "Table 6 has no number for mistral-7b" in mis["wquant_amplify"]["strength_why"]
    assert "Fig. 7's +5.69 points (mistral-7b, block 1048576)" in mis["wquant_sw_aware"]["strength_why"]
    w = mis["w8a8_sa_helps"]["strength_why"]
    assert "Table 4's x" in w and "(mistral-7b)" in w, w
    out = {r["claim"]: r for r in evaluate_model("mine", files)}
    assert "Table 1's x214 (the paper's Llama-7B)" in out["prune_sw_destroys"]["strength_why"]
    assert "Table 5's +0.39 points (the paper's Llama-7B)" in out["scaling_up"]["strength_why"]
