"""The mechanism and super-activation claims (superweight.report.claims_mechanism): every verdict each can give,
from synthetic measurement files, with cases on either side of each threshold."""
import math

import numpy as np
import pytest

from test_claims import T15, Z16, Run

# these cases are built around the closed-form t / Fieller statistics at small n: test them at any n >= 2 (the
# exact median test that replaces them below their measured minimum is tested in test_windows_apart.py)
pytestmark = pytest.mark.usefixtures("small_n_machinery")


SW = [1, 5, 17]
USED = {"super_weights": [], "used": [{"layer": 1, "row": 5, "col": 17}]}


def run_with(tmp, rel, obj, used=USED):
    run = Run(tmp)
    if used is not None:
        run.put("detect/super_weights.json", used)
    return run.put(rel, obj)


def V(run, cid):
    return run.verdicts()[cid]["verdict"]


# --- hadamard: one deterministic pass ---

def hadamard_file(input_rank=1, factor_rank=1, share=0.9, sws=(SW,)):
    quantities, outputs = [], []
    for l, r, c in sws:
        key = {"layer": l, "row": r, "col": c, "token": 0}
        for q, rank in (("gate (pre-activation)", 9), ("act(gate)", factor_rank), ("up", 1),
                        ("act(gate) * up = down input", input_rank)):
            quantities.append({**key, "quantity": q, "value": 1.0, "abs_rank": rank, "n_channels": 64, "z": 7.0})
        outputs.append({**key, "output": 100.0, "sw_term": 100.0 * share / len(sws), "others_sum": 0.0, "bias": 0.0})
    return {"status": "done", "super_weights": [list(s) for s in sws], "quantities": quantities, "outputs": outputs}


def test_hadamard_every_verdict(tmp_path):
    rel = "mechanism/hadamard.json"
    ok = "holds (one deterministic pass; the paper gives no number to grade its strength)"
    assert V(run_with(tmp_path / "h", rel, hadamard_file()), "mechanism_hadamard") == ok
    assert V(run_with(tmp_path / "e", rel, hadamard_file(share=0.5)), "mechanism_hadamard") == ok  # >= 50%
    r = V(run_with(tmp_path / "s", rel, hadamard_file(share=0.49)), "mechanism_hadamard")
    assert r == "fails (one deterministic pass; 1 of 3 checks fail)", r
    assert V(run_with(tmp_path / "i", rel, hadamard_file(input_rank=2)), "mechanism_hadamard").startswith("fails")
    assert V(run_with(tmp_path / "f", rel, hadamard_file(factor_rank=2)), "mechanism_hadamard").startswith("fails")
    # two super weights in one layer: each input may rank 2nd, their terms share the row's output
    two = hadamard_file(input_rank=2, factor_rank=2, share=0.6, sws=(SW, [1, 5, 30]))
    used2 = {"super_weights": [], "used": [{"layer": 1, "row": 5, "col": c} for c in (17, 30)]}
    assert V(run_with(tmp_path / "2", rel, two, used2), "mechanism_hadamard") == ok
    assert V(run_with(tmp_path / "k", rel, {"status": "skipped", "reason": "no super weight used"}),
             "mechanism_hadamard") == "not applicable (no super weight used)"
    old = {k: v for k, v in hadamard_file().items() if k != "quantities"}
    assert "rerun mechanism_hadamard" in V(run_with(tmp_path / "o", rel, old), "mechanism_hadamard")


def test_a_mechanism_file_run_on_another_super_weight_list_is_not_tested(tmp_path):
    """Every claim about "the super weights" reads the used set: a file from another list says rerun."""
    other = {"super_weights": [], "used": [{"layer": 2, "row": 5, "col": 17}]}
    r = V(run_with(tmp_path, "mechanism/hadamard.json", hadamard_file(), other), "mechanism_hadamard")
    assert r.startswith("not applicable (mechanism/hadamard.json was run on [(1, 5, 17)], not on the used super "
                        "weights [(2, 5, 17)]: rerun it"), r


# --- skip: Fieller interval over windows, one sub-test of the Holm family ---

def skip_file(share, n=16, sigma=0.1, prune_rise=1.0):
    o = 3.0 + 0.3 * np.resize(Z16, n)
    s = o + share * prune_rise + sigma * np.resize(Z16[::-1], n)
    p = o + prune_rise
    rows = [{"condition": "original", "ppl": math.exp(o.mean()), "window_nll": list(o)},
            {"condition": "prune_sw", "ppl": math.exp(p.mean()), "window_nll": list(p)},
            {"condition": "skip_from_L+1", "offset": 1, "from_layer": 2, "ppl": math.exp(s.mean()),
             "window_nll": list(s)}]
    return {"status": "done", "super_weights": [SW], "conditions": rows}


def test_skip_every_verdict_near_its_threshold(tmp_path):
    """share - 0.5 = m * t(15) * sigma / 4 over 16 windows with sd sigma: m = 1.05 decides, m = 0.95 does not."""
    rel, step = "mechanism/skip.json", T15 * 0.1 / 4
    sd = np.std(Z16[::-1] - 0.0, ddof=1)  # the noise added to the skip windows (sd 1 by construction)
    assert sd == pytest.approx(1.0)
    assert V(run_with(tmp_path / "h", rel, skip_file(0.5 + 1.05 * step)), "mechanism_skip").startswith("holds")
    assert V(run_with(tmp_path / "i", rel, skip_file(0.5 + 0.95 * step)), "mechanism_skip").startswith(
        "inconclusive (share of prune-SW's log-ppl rise reproduced: the 95% interval includes 0.5")
    assert V(run_with(tmp_path / "f", rel, skip_file(0.5 - 1.05 * step)), "mechanism_skip").startswith("fails")
    assert V(run_with(tmp_path / "n", rel, skip_file(0.9, n=1)), "mechanism_skip").startswith(
        "inconclusive (n = 1 is below the minimum")
    assert V(run_with(tmp_path / "a", rel, skip_file(0.9, prune_rise=math.log(1.5))), "mechanism_skip").startswith(
        "not applicable (zeroing the super weights multiplies perplexity by only 1.5")


# --- significance: exact binomial share of random sets and the paper's set, in the Holm family ---

def sig_file(k_same, k_model, n=19, paper_gap=2.0, sw=100.0):
    def sets(k):
        return [{"set": i, "ratio": sw * (1.5 if i < k else 0.01)} for i in range(n)]

    base = 3.0 + 0.3 * Z16
    return {"status": "done", "super_weights": [SW], "sw": {"ratio": sw, "window_nll": list(base + paper_gap)},
            "kinds": {"same_matrix": {"sets": sets(k_same)}, "model_top": {"sets": sets(k_model)}},
            "paper_set": {"n_pruned": 7, "ratio": sw / math.exp(paper_gap),
                          "window_nll": list(base + 0.01 * Z16[::-1])}}


def test_significance_every_verdict_near_the_binomial_threshold(tmp_path):
    """Holm over three sub-tests: the paper's set (p ~ 0) at 0.05/3, k = 0 of 19 at 0.05/2, then the last at 0.05.
    Two-sided exact binomial p at 1/2: k = 4 of 19 -> 0.019 (decided), k = 5 -> 0.064 (not)."""
    from scipy.stats import binom

    assert 2 * binom.cdf(4, 19, 0.5) < 0.05 < 2 * binom.cdf(5, 19, 0.5)
    rel, cid = "mechanism/significance.json", "mechanism_significance"
    r = V(run_with(tmp_path / "h", rel, sig_file(4, 0)), cid)
    assert r.startswith("holds (direction; ppl(super weights pruned)/ppl(paper's 7 other outliers pruned) x7.39 "
                        "does not reach Table 1's x199"), r
    r = V(run_with(tmp_path / "i", rel, sig_file(5, 0)), cid)
    assert r.startswith("inconclusive (same_matrix: share of 19 random sets hurting at least as much: the 95% "
                        "interval includes 0.5"), r
    assert V(run_with(tmp_path / "f", rel, sig_file(19, 0)), cid).startswith("fails (same_matrix: share")
    assert V(run_with(tmp_path / "p", rel, sig_file(0, 0, paper_gap=-2.0)), cid).startswith(
        "fails (ppl(super weights pruned)/ppl(paper's 7 other outliers pruned) x0.135 is below 1")
    assert V(run_with(tmp_path / "s", rel, sig_file(0, 0, paper_gap=6.0)), cid) == "holds (paper strength)"
    assert V(run_with(tmp_path / "k", rel, {"status": "skipped", "reason": "no super weight used"}), cid) == \
        "not applicable (no super weight used)"


# --- Fig. 4: one prompt, descriptive ---

CONDS = ("original", "super weights removed", "other outliers removed", "all removed")


def prop_csv(kept=1.0, gone=0.1, kept_ch=5, gone_ch=5, orig_ch=5, drop=()):
    lines = ["condition,layer,max_abs,channel,token"]
    for cond in CONDS:
        if cond in drop:
            continue
        for layer in range(4):
            v, ch = (1000.0, orig_ch) if layer >= 1 else (10.0, 3)
            if layer >= 1 and cond == "other outliers removed":
                v, ch = 1000.0 * kept, kept_ch
            elif layer >= 1 and cond in ("super weights removed", "all removed"):
                v, ch = 1000.0 * gone, gone_ch
            lines.append(f"{cond},{layer},{v},{ch},0")
    return "\n".join(lines) + "\n"


def test_other_outliers_keep_the_super_activation_every_verdict(tmp_path):
    cid = "other_outliers_keep_sa"

    def v(name, used=USED, **kw):
        run = Run(tmp_path / name).put("propagation/residual_max.csv", prop_csv(**kw), text=True)
        run.put("detect/super_weights.json", used)
        return run.verdicts()[cid]

    r = v("h", kept=0.51, gone=0.49)
    assert r["verdict"] == ("holds (descriptive, one prompt and one pass per condition; the paper gives no number to "
                            "grade its strength)"), r
    assert "after layer 1: max |value| 1000 (channel 5), other outliers removed x0.51" in r["evidence"]
    assert v("k", kept=0.49, gone=0.1)["verdict"] == ("fails (descriptive, one prompt: with the other outliers "
                                                      "removed the maximum after layer 1 is x0.49 of the original's)")
    assert v("g", kept=1.0, gone=0.51)["verdict"].startswith("fails (descriptive, one prompt: with the super weights "
                                                             "removed the maximum after layer 1 is x0.51")
    # the maximum in another channel: the file does not measure the super activation there
    assert v("c", kept=1.0, gone=0.6, gone_ch=9)["verdict"].startswith("inconclusive (one prompt: with the super "
                                                                       "weights removed")
    assert v("o", kept=0.9, kept_ch=9)["verdict"].startswith("inconclusive (one prompt: with the other outliers "
                                                             "removed the maximum after layer 1 is in channel 9")
    assert v("r", orig_ch=9)["verdict"].startswith("inconclusive (one prompt: after layer 1 the original maximum is "
                                                   "in channel 9, not a super weight row [5]")
    # a shrink to below half is a fail even in another channel: the maximum over all channels bounds row 5's value
    assert v("b", kept=0.3, kept_ch=9)["verdict"].startswith("fails")
    assert v("n", used={"super_weights": [], "used": []})["verdict"] == "not applicable (no super weight used)"
    assert v("m", drop=("super weights removed",))["verdict"].startswith("not applicable (propagation/residual_max.csv "
                                                                         "lacks a condition")
    assert Run(tmp_path / "e").verdicts()[cid]["verdict"].startswith("not applicable (not run: propagation/")
