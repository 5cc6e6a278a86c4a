"""Uncertainty arithmetic against closed forms and an independent seeded bootstrap; tables that show it."""
import math

import numpy as np
import pytest

from superweight import compare
from superweight.stats import (NA, accuracy, avg_se, binomial_se, bootstrap_means, mcnemar, paired_diff, ppl_ci,
                               ppl_ratio_ci, share, verdict)
from synth import result


def test_binomial_se_is_the_closed_form():
    a = accuracy([1] * 30 + [0] * 10)
    assert a["acc"] == 0.75 and a["n"] == 40
    assert a["se"] == pytest.approx(math.sqrt(0.75 * 0.25 / 40))
    assert binomial_se(0.0, 10) == 0.0 and math.isnan(binomial_se(0.5, 0))
    assert avg_se([0.03, 0.04]) == pytest.approx(0.025)  # sqrt(0.03^2 + 0.04^2) / 2


def test_bootstrap_matches_an_independent_seeded_resampling():
    nll = np.array([3.1, 3.4, 2.9, 3.7, 3.3, 3.0, 3.6, 3.2])
    e = ppl_ci(nll, n_boot=500, seed=7)
    rng = np.random.default_rng(7)  # the same draws, written out by hand
    idx = rng.integers(0, 8, (500, 8))
    boot = np.sort(np.exp(nll[idx].mean(1)))
    assert e.value == pytest.approx(math.exp(nll.mean()))
    assert e.lo == pytest.approx(boot[math.floor(0.025 * 499)]) and e.hi == pytest.approx(boot[math.ceil(0.975 * 499)])
    assert e.n == 8 and e.lo < e.value < e.hi
    assert ppl_ci(nll, n_boot=500, seed=7) == e and ppl_ci(nll, n_boot=500, seed=8) != e


def test_bootstrap_width_agrees_with_the_binomial_se():
    x = np.random.default_rng(0).random(400) < 0.3
    e = bootstrap_means([x.astype(float)], lambda m: m[..., 0, 0], n_boot=4000, seed=1)
    se = binomial_se(float(x.mean()), 400)
    assert (e.hi - e.lo) / (2 * 1.96) == pytest.approx(se, rel=0.1)


def test_paired_comparisons():
    a = [1, 0, 1, 1, 0, 1, 0, 1]
    d = paired_diff(a, a)
    assert (d.value, d.lo, d.hi) == (0.0, 0.0, 0.0)  # pairing removes the documents' own variance
    d = paired_diff(a, [1] * 8)
    assert d.value == pytest.approx(3 / 8) and 0 <= d.lo <= d.value <= d.hi <= 1
    w = [2.0, 2.5, 3.0, 3.5]
    r = ppl_ratio_ci(w, [x + math.log(10) for x in w])
    assert (r.value, r.lo, r.hi) == pytest.approx((10.0, 10.0, 10.0))
    with pytest.raises(ValueError, match="differ in number"):
        ppl_ratio_ci(w, w[:3])
    u = ppl_ratio_ci(w, [x + math.log(10) for x in w], paired=False)  # unpaired: the windows' spread shows
    assert u.value == pytest.approx(10.0) and u.lo < 10 < u.hi


def test_infinite_window_gives_infinite_perplexity_not_nan():
    e = ppl_ci([3.0, math.inf, 3.2, 3.1], n_boot=200)
    assert e.value == math.inf and e.hi == math.inf and math.isfinite(e.lo)


def test_mcnemar_exact_closed_form():
    m = mcnemar([1, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1])
    assert (m["n10"], m["n01"]) == (5, 1)
    assert m["p_value"] == pytest.approx(2 * (1 + 6) / 2 ** 6)  # P(X <= 1), X ~ Bin(6, 1/2), two-sided
    assert mcnemar([1, 0], [1, 0])["p_value"] == 1.0


def test_undefined_share_and_verdicts():
    s = share(1.0, -8.2, "SmoothQuant's gain")
    assert isinstance(s, NA) and str(s).startswith("n/a: SmoothQuant's gain is -8.2 <= 0")
    assert share(1.0, 4.0) == 0.25
    assert verdict(10.5, 30, 10) == "holds" and verdict(2, 9, 10) == "fails" and verdict(8, 12, 10) == "inconclusive"
    assert verdict(0.1, 0.4, 0.5, higher_holds=False) == "holds"
    assert verdict(0.6, 0.9, 0.5, higher_holds=False) == "fails"
    assert verdict(0.0, 0.0, 0.0) == "holds" and verdict(0.0, 0.0, 0.0, strict=True) == "inconclusive"
    assert verdict(0.01, 0.2, 0.0, strict=True) == "holds" and verdict(-0.2, -0.01, 0.0, strict=True) == "fails"
    assert verdict(0.5, 0.9, 1.0, higher_holds=False, strict=True) == "holds"


def test_table1_cells_carry_n_and_uncertainty(tmp_path):
    import pandas as pd

    from superweight.tables import act_quant_table, table1_rows, write_table

    rs = [result(condition="original", acc=0.5, ppl=30, n=20), result(condition="prune_sw", acc=0.3, ppl=900, n=20)]
    df = table1_rows(rs)
    for t in ("ARC-c", "LAMBADA", "avg"):
        assert df[f"{t} se"].notna().all() and (df[f"{t} n"] > 0).all()
    assert df.loc[0, "ARC-c se"] == pytest.approx(100 * binomial_se(df.loc[0, "ARC-c"] / 100, 20))
    row = df[df["condition"] == "prune_sw"].iloc[0]
    assert row["Wiki-2 ppl ×original"] == pytest.approx(30.0)
    assert row["Δ avg vs original lo"] <= row["Δ avg vs original"] <= row["Δ avg vs original hi"] < 0
    write_table(df, tmp_path / "t1", "Table 1")
    md = (tmp_path / "t1.md").read_text()
    assert "±" in md and "docs/task" in md and "[" in md
    csv = pd.read_csv(tmp_path / "t1.csv")
    assert {"ARC-c", "ARC-c se", "ARC-c n", "Wiki-2 ppl lo", "Wiki-2 ppl hi", "Wiki-2 ppl n"} <= set(csv.columns)
    # Table 3: SmoothQuant worse than naive -> the share of its gain is n/a with the reason, never a number
    aq = [result(kind="aquant", method=m, n=10, ppl=p, seed=i)
          for i, (m, p) in enumerate([("fp", 30), ("naive", 33.1), ("sa_aware", 33.13), ("smoothquant", 41.3)])]
    t3 = act_quant_table(aq)
    assert t3["% of SmoothQuant gain (Wiki-2)"].str.startswith("n/a: SmoothQuant's gain over naive is").all()
    gap = t3[t3["method"] == "fp"].iloc[0]["% of naive→fp gap closed (Wiki-2)"]
    assert gap == pytest.approx(100.0)
    assert compare.ppl(aq[0], "wikitext2").value == pytest.approx(30.0)


def test_figures_name_punctuation_and_place_blocks_on_a_log_axis(tmp_path):
    from superweight.plot import _block_x, token_label, wquant_curves
    from superweight.tables import quant_rows

    assert token_label(",") == "comma [,]" and token_label("'") == "apostrophe [']" and token_label("the") == "the"
    assert token_label(".\n") == "period+newline [.\n]" and token_label(" ") == "space"
    x = _block_x(["4096", "1048576", "per_channel", "per_tensor", "128x128"])
    assert x["128x128"] == 16384 and x["per_channel"] < x["4096"] < x["1048576"] < x["per_tensor"]
    rs = [result(kind="wquant", method=m, bits=4, block=b, acc=0.4, n=10, ppl=p, seed=i)
          for i, (m, b, p) in enumerate([("rtn", "4096", 176), ("sw_aware", "4096", 235), ("rtn", "1048576", 1.2e7),
                                         ("sw_aware", "1048576", 3.5e4)])]
    wquant_curves(quant_rows(rs), 4, tmp_path / "f7.png", {"dpi": 40})
    assert (tmp_path / "f7.png").stat().st_size > 0
