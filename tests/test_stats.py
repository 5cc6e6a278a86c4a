"""Uncertainty arithmetic against closed forms, scipy's own tests and exact enumeration; tables that show it."""
import math

import numpy as np
import pytest

from scipy import stats as sps
from scipy.optimize import brentq

from superweight.report import compare
from superweight.stats.intervals import (MIN_N, NA, Estimate, acc_linear, fieller_interval,
                               fieller_units, holm, mcnemar, paired_diff, ppl_ci, ppl_ratio_ci, proportion, share,
                               t_mean, verdict)
from superweight.scoring.accuracy import accuracy, avg_se, binomial_se
from synth import result


def test_binomial_se_is_the_closed_form():
    a = accuracy([1] * 30 + [0] * 10)
    assert a["acc"] == 0.75 and a["n"] == 40
    assert a["se"] == pytest.approx(math.sqrt(0.75 * 0.25 / 40))
    assert binomial_se(0.0, 10) == 0.0 and math.isnan(binomial_se(0.5, 0))
    assert avg_se([0.03, 0.04]) == pytest.approx(0.025)  # sqrt(0.03^2 + 0.04^2) / 2


def hall_interval(x, level=0.95):
    """Hall's (1992) skewness-corrected t interval for a mean, written out: invert
    sqrt(n) (t + g/3 t^2 + g^2/27 t^3 + g/(6n)) = +-q with t = (mean - mu) / sd and g the sample skewness."""
    n, m, sd = len(x), np.mean(x), np.std(x, ddof=1)
    g = np.mean((x - m) ** 3) / sd ** 3
    q = sps.t.ppf(1 - (1 - level) / 2, n - 1)
    ts = []
    for y in (q, -q):  # solve the monotone cubic numerically (no closed-form shortcut shared with the code)
        f = lambda t: t + g / 3 * t ** 2 + g ** 2 / 27 * t ** 3 + g / (6 * n) - y / math.sqrt(n)  # noqa: E731
        ts.append(brentq(f, -50, 50))
    return m - sd * ts[0], m - sd * ts[1]


def test_t_intervals_are_the_union_of_student_t_and_halls_and_agree_with_scipy_tests(small_n_machinery):
    nll = np.array([3.1, 3.4, 2.9, 3.7, 3.3, 3.0, 3.6, 3.2, 4.4])
    e = ppl_ci(nll)
    m, se, q = nll.mean(), nll.std(ddof=1) / 3, sps.t.ppf(0.975, 8)
    hl, hh = hall_interval(nll)
    assert hl != pytest.approx(m - q * se) and hh != pytest.approx(m + q * se)  # skewed: the two differ
    assert (e.value, e.lo, e.hi) == pytest.approx((math.exp(m), math.exp(min(m - q * se, hl)),
                                                   math.exp(max(m + q * se, hh))))
    assert e.n == 9 and e.min_n == MIN_N["t"]
    # paired ratio: the t test of the window log-differences (a value is rejected only when both tests reject)
    b = nll + np.array([2.3, 2.5, 2.2, 2.4, 2.6, 2.1, 2.5, 2.4, 2.45])
    r = ppl_ratio_ci(nll, b)
    tt = sps.ttest_1samp(b - nll, math.log(10))
    assert r.p(10.0)[0] >= tt.pvalue - 1e-12 and r.p(10.0)[1] == (1 if tt.statistic > 0 else -1)
    ci = tt.confidence_interval(0.95)
    assert r.lo <= math.exp(ci.low) + 1e-12 and r.hi >= math.exp(ci.high) - 1e-12
    lo99, hi99 = r.at(0.99).lo, r.at(0.99).hi
    assert lo99 < r.lo and hi99 > r.hi and r.at(0.99).level == 0.99
    # the interval's ends are where the test's p is 1 - level
    assert r.p(r.lo)[0] == pytest.approx(0.05) and r.p(r.hi)[0] == pytest.approx(0.05)
    # symmetric differences: no skew, the plain t interval
    d = np.array([-1.0, 1.0, -0.5, 0.5, 0.0]) + 2.0
    s = t_mean(d)
    assert (s.lo, s.hi) == pytest.approx(tuple(sps.ttest_1samp(d, 0).confidence_interval(0.95)))
    # unpaired: Welch
    u = ppl_ratio_ci(nll, b, paired=False)
    w = sps.ttest_ind(b, nll, equal_var=False)
    assert u.p(1.0)[0] == pytest.approx(w.pvalue)
    wc = w.confidence_interval(0.95)
    assert (u.lo, u.hi) == pytest.approx((math.exp(wc.low), math.exp(wc.high)))
    with pytest.raises(ValueError, match="differ in number"):
        ppl_ratio_ci(nll, nll[:3])


def test_one_window_below_the_t_tests_minimum_cannot_decide():
    e = ppl_ratio_ci([3.0], [3.0 + math.log(11)])  # the exact sign test of one window: p is never below 1
    assert e.value == pytest.approx(11.0) and e.lo == 0 and e.hi == math.inf and "sign test" in e.method
    assert e.p(10.0)[0] == 1.0


def test_proportion_is_clopper_pearson_with_exact_coverage():
    e = proportion(3, 10)
    ref = sps.binomtest(3, 10).proportion_ci(0.95, method="exact")
    assert (e.lo, e.hi) == pytest.approx((ref.low, ref.high))
    assert e.p(0.5)[0] == pytest.approx(sps.binomtest(3, 10, 0.5).pvalue, rel=1e-6)
    assert proportion(0, 5).lo == 0.0 and proportion(5, 5).hi == 1.0
    # exact enumeration: coverage >= 95% for every p on a grid at n = 1..12
    for n in range(1, 13):
        ivs = [(proportion(k, n).lo, proportion(k, n).hi) for k in range(n + 1)]
        for p in np.linspace(0.01, 0.99, 25):
            cov = sum(sps.binom.pmf(k, n, p) for k, (lo, hi) in enumerate(ivs) if lo <= p <= hi)
            assert cov >= 0.95 - 1e-9, (n, p, cov)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        proportion(4, 3)


def test_paired_accuracy_difference_is_agresti_min_and_its_exact_coverage():
    x = np.array([[1, 1]] * 5 + [[0, 1]] * 3 + [[1, 0]] * 1 + [[0, 0]] * 3, dtype=float)  # n11 5, n01 3, n10 1, n00 3
    e = acc_linear([x], (-1.0, 1.0))
    n = 12
    p01, p10 = 3.5 / (n + 2), 1.5 / (n + 2)
    se = math.sqrt((p01 + p10) - (p01 - p10) ** 2) / math.sqrt(n)  # Agresti-Min cells, raw centre
    assert e.value == pytest.approx(2 / 12)
    assert (e.lo, e.hi) == pytest.approx((2 / 12 - 1.959964 * se, 2 / 12 + 1.959964 * se), rel=1e-5)
    assert paired_diff(x[:, 0], x[:, 1]).value == pytest.approx(2 / 12)
    # every document agrees: the interval does not collapse to [0, 0]
    same = acc_linear([np.ones((6, 2))], (-1.0, 1.0))
    assert same.lo < 0 < same.hi
    # exact enumeration over every 2x2 table of n documents: coverage of the true difference at MIN_N
    n = MIN_N["acc_diff"]
    for probs in ([0.55, 0.05, 0.02, 0.38], [0.9, 0.02, 0.01, 0.07], [0.3, 0.2, 0.2, 0.3]):  # p11, p01, p10, p00
        truth = probs[1] - probs[2]
        cov = 0.0
        for c11 in range(n + 1):
            for c01 in range(n + 1 - c11):
                for c10 in range(n + 1 - c11 - c01):
                    c00 = n - c11 - c01 - c10
                    g = np.array([[1, 1]] * c11 + [[0, 1]] * c01 + [[1, 0]] * c10 + [[0, 0]] * c00, dtype=float)
                    est = acc_linear([g], (-1.0, 1.0))
                    if est.lo <= truth <= est.hi:
                        cov += sps.multinomial.pmf([c11, c01, c10, c00], n, probs)
        assert cov >= 0.94, (probs, cov)


def test_fieller_ratio_matches_its_test_and_the_closed_form(small_n_machinery):
    a = np.array([0.10, 0.12, 0.08, 0.11, 0.09, 0.13, 0.10, 0.12, 0.07, 0.11, 0.10, 0.09, 0.12, 0.08, 0.10, 0.11])
    b = 2 * a + np.array([0.01, -0.02, 0.015, 0.0, -0.01, 0.02, -0.005, 0.01, 0.0, -0.015, 0.01, 0.005, -0.01,
                          0.02, -0.02, 0.0])
    e = fieller_units(b, a)
    assert e.value == pytest.approx(b.mean() / a.mean())
    # at each end of the interval the t test of b - r a has p = 0.05 (the Fieller set's boundary)
    for r in (e.lo, e.hi):
        assert sps.ttest_1samp(b - r * a, 0.0).pvalue == pytest.approx(0.05, rel=1e-6)
        assert e.p(r)[0] == pytest.approx(0.05, rel=1e-6)
    assert e.lo < 2 < e.hi
    # a denominator that is not clearly away from 0: the set is unbounded
    z = fieller_units([1.0, 2.0, 3.0], [-1.0, 0.5, 0.6])
    assert (z.lo, z.hi) == (-math.inf, math.inf)
    assert fieller_interval(4.0, 2.0, 0.0, 0.0, 0.0, 1.96) == pytest.approx((2.0, 2.0))


def test_holm_step_down_closed_form():
    out = holm([0.01, 0.04, 0.03, 0.005], 0.05)
    # sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2: stop; 0.04 then not rejected either, and its level
    # is the stopping level 0.05/2 (at its own 0.05/1 it would be below the level yet not rejected)
    assert [r for r, _ in out] == [True, False, False, True]
    assert [a for _, a in out] == pytest.approx([0.05 / 3, 0.05 / 2, 0.05 / 2, 0.05 / 4])
    # every decision agrees with its p and the level shown beside it, as Holm's adjusted p-values decide
    ps = [0.001, 0.012, 0.013, 0.02, 0.03, 0.2, 0.04]
    m, srt = len(ps), sorted(ps)
    adj = {p: min(1, max((m - i) * srt[i] for i in range(j + 1))) for j, p in enumerate(srt)}
    for p, (rej, a) in zip(ps, holm(ps, 0.05)):
        assert rej == (adj[p] <= 0.05) == (p <= a), (p, rej, a)
    assert holm([], 0.05) == [] and holm([0.049], 0.05) == [(True, 0.05)]


def test_infinite_window_gives_infinite_perplexity_and_no_interval(small_n_machinery):
    e = ppl_ci([3.0, math.inf, 3.2, 3.1])
    assert e.value == math.inf and math.isnan(e.lo) and e.p(10.0) == (1.0, 0)


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


def test_table1_cells_carry_n_and_uncertainty(tmp_path, small_n_machinery):
    import pandas as pd

    from superweight.report.tables import act_quant_table, table1_rows, write_table

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
    from superweight.report.figures import _block_x, token_label, wquant_curves
    from superweight.report.tables import quant_rows
    from superweight.settings import Plots

    assert token_label(",") == "comma [,]" and token_label("'") == "apostrophe [']" and token_label("the") == "the"
    assert token_label(".\n") == "period+newline [.\n]" and token_label(" ") == "space"
    x = _block_x(["4096", "1048576", "per_channel", "per_tensor", "128x128"])
    assert x["128x128"] == 16384 and x["per_channel"] < x["4096"] < x["1048576"] < x["per_tensor"]
    rs = [result(kind="wquant", method=m, bits=4, block=b, acc=0.4, n=10, ppl=p, seed=i)
          for i, (m, b, p) in enumerate([("rtn", "4096", 176), ("sw_aware", "4096", 235), ("rtn", "1048576", 1.2e7),
                                         ("sw_aware", "1048576", 3.5e4)])]
    wquant_curves(quant_rows(rs), 4, tmp_path / "f7.png", Plots(dpi=40))
    assert (tmp_path / "f7.png").stat().st_size > 0


def test_fieller_decides_a_side_only_where_its_interval_is_bounded(small_n_machinery):
    """A denominator not clearly away from 0 makes Fieller's set unbounded on both sides; the test must then not
    reject r0 on one side (before, the t test of num - r0 den alone rejected 0.5 at p ~ 1e-7)."""
    den = np.array([0.5, -0.3, 0.9, -0.2, 0.4, 0.1])
    num = np.array([2.1, 1.8, 2.6, 1.9, 2.2, 2.0])
    e = fieller_units(num, den)
    assert (e.lo, e.hi) == (-math.inf, math.inf)
    p_den = sps.ttest_1samp(den, 0.0).pvalue  # 0.14: the denominator's own t test
    for r0 in (-5.0, 0.5, 2.0):
        assert e.p(r0)[0] >= p_den - 1e-12
    # decisions agree with the interval at every level: p < 1 - level exactly when r0 is outside it
    b = np.array([1.0, 1.3, 0.8, 1.1, 1.2, 0.9, 1.05, 0.95])
    u = 0.4 * b + np.array([0.05, -0.02, 0.03, -0.04, 0.01, 0.0, -0.03, 0.02])
    f = fieller_units(u, b)
    for lv in (0.9, 0.95, 0.99, 0.999, 0.99999):
        lo, hi = f.at(lv).lo, f.at(lv).hi
        for r0 in (0.2, 0.35, 0.38, 0.42, 0.45, 0.6):
            p, side = f.p(r0)
            assert (p < 1 - lv) == (not lo <= r0 <= hi), (lv, r0, p, lo, hi)
            if p < 1 - lv:
                assert side == (1 if r0 < lo else -1)
    # the same for the accuracy share: a denominator (original above chance) that is not significant
    from superweight.stats.intervals import acc_share
    g = [np.array([[1, 0], [0, 0], [1, 1], [0, 0]], dtype=float)]  # original 2/4 vs chance 0.25
    s = acc_share(g, 0.25)
    assert (s.lo, s.hi) == (-math.inf, math.inf) and s.p(0.5)[0] >= 0.05


def test_log_scale_interval_at_a_strict_level_overflows_to_inf_not_an_error(small_n_machinery):
    """Two noisy windows at a Holm level: t(1)'s quantile makes the log-scale upper end exceed float range."""
    e = ppl_ratio_ci([3.0, 3.0], [3.0, 13.0])  # log-differences 0 and 10: sd 7.1, se 5
    assert e.at(0.9999).hi == math.inf and 0 <= e.at(0.9999).lo < e.lo
    u = ppl_ratio_ci([3.0, 3.0], [3.0, 13.0], paired=False)
    assert u.at(0.99999).hi == math.inf


def test_an_interval_without_a_test_passes_only_the_level_it_was_computed_at():
    """An interval without a test that excludes the threshold shows p < 0.05, nothing stricter: in a Holm
    family of three it is not rejected at 0.025 (as p = 0.025 it was)."""
    e = Estimate(1.1, 0.7, 1.5, 30, 0.95, "an interval without a test")
    assert e.lo > 0 and e.p(0.0) == (pytest.approx(0.05), 1)
    assert holm([e.p(0.0)[0], 1e-6, 0.5], 0.05)[0] == (False, pytest.approx(0.025))
