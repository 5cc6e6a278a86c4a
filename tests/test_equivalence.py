"""Equivalence by two one-sided tests (stats.equivalence) against its closed forms and complete enumeration."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from superweight.stats.equivalence import equivalence, one_sided, tost, tost_binomial, tost_normal
from superweight.stats.intervals import acc_linear, proportion, t_mean


def tail_ge(k, n, p):
    """P(X >= k), X ~ Bin(n, p), summed term by term (no scipy)."""
    return sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1))


def tail_le(k, n, p):
    return sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(0, k + 1))


BANDS = [(0.15, 0.35), (0.4, 0.6), (-0.1, 0.1), (0.85, 1.05), (0.0, 0.2), (0.8, 1.0)]


def test_exact_binomial_tost_is_the_enumerated_tails():
    for n in range(1, 13):
        for k in range(n + 1):
            for lo, hi in BANDS:
                t = tost_binomial(k, n, lo, hi)
                p_low = 0.0 if lo < 0 else tail_ge(k, n, lo)  # a bound at 0 or 1 is a true value: tested
                p_high = 0.0 if hi > 1 else tail_le(k, n, hi)
                assert (t.p_low, t.p_high) == pytest.approx((p_low, p_high), abs=1e-12)
                assert t.p == pytest.approx(max(p_low, p_high), abs=1e-12)


def test_a_band_edge_at_0_or_1_is_tested_not_rejected_outright():
    """H0 "p <= 0" holds at p = 0, where every document is wrong: k = 0 cannot reject it (p_low = 1), so 0 of n
    is not shown inside [0, 0.2]; any k >= 1 rejects it (p_low = 0). Likewise k = n against a band edge at 1."""
    for n in (1, 5, 40):
        t = tost_binomial(0, n, 0.0, 0.2)
        assert t.p_low == 1.0 and t.p == 1.0
        assert tost_binomial(1, n, 0.0, 0.2).p_low == 0.0
        t = tost_binomial(n, n, 0.8, 1.0)
        assert t.p_high == 1.0 and t.p == 1.0
        assert tost_binomial(n - 1, n, 0.8, 1.0).p_high == 0.0
    # a bound outside [0, 1] leaves its null no true value: rejected outright
    assert tost_binomial(0, 5, -0.1, 0.1).p_low == 0.0 and tost_binomial(5, 5, 0.9, 1.1).p_high == 0.0


@pytest.mark.parametrize("a", [0.025, 0.05])
def test_exact_binomial_tost_rejects_exactly_when_the_clopper_pearson_interval_is_inside(a):
    """Closed form: TOST at size a <=> the (1 - 2a) Clopper-Pearson interval lies inside [low, high]."""
    for n in range(1, 41):
        for k in range(n + 1):
            lo_ci, hi_ci = proportion(k, n).at(1 - 2 * a).lo, proportion(k, n).at(1 - 2 * a).hi
            for lo, hi in BANDS:
                inside = lo_ci >= lo and hi_ci <= hi
                # away from the ties (an interval end within 1e-9 of a band edge)
                if min(abs(lo_ci - lo), abs(hi_ci - hi)) > 1e-9:
                    assert (tost_binomial(k, n, lo, hi).p <= a) == inside, (n, k, lo, hi)


@pytest.mark.parametrize("n", [5, 12, 38, 50, 120])
def test_exact_binomial_tost_keeps_its_size_by_enumeration(n):
    """At every true p outside the band the chance of showing equivalence is <= a (enumerated exactly): on the
    band's edges and at the issue's example, a 4-choice task at 40% (chance 0.25 +- 0.10)."""
    a, lo, hi = 0.025, 0.15, 0.35
    reject = [tost_binomial(k, n, lo, hi).p <= a for k in range(n + 1)]
    for p in (lo, hi, 0.10, 0.40, 0.5):
        assert sum(math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1) if reject[k]) <= a + 1e-12


def test_a_proportion_estimates_own_test_gives_the_exact_tost():
    for n in (1, 7, 38):
        for k in range(n + 1):
            for lo, hi in BANDS:
                t, e = tost_binomial(k, n, lo, hi), tost(proportion(k, n), lo, hi)
                if t.p < 0.25:  # where it can reject; beyond, the two-sided test's cap at 1 blurs the larger tail
                    assert e.p == pytest.approx(t.p, rel=1e-9, abs=1e-15)
                assert (e.p <= 0.025) == (t.p <= 0.025)


def test_normal_tost_is_its_closed_form():
    for d, se, lo, hi in [(0.3, 0.5, -2, 2), (-0.89, 0.4, -2, 2), (1.5, 0.3, -2, 2), (0.0, 1.5, -2, 2)]:
        t = tost_normal(d, se, lo, hi)
        assert t.p_low == pytest.approx(1 - sps.norm.cdf((d - lo) / se))
        assert t.p_high == pytest.approx(sps.norm.cdf((d - hi) / se))
        for a in (0.025, 0.05):
            z = sps.norm.ppf(1 - a)
            assert (t.p <= a) == (d - z * se >= lo and d + z * se <= hi)


def test_paired_accuracy_tost_by_enumeration_of_every_small_table():
    """A paired accuracy difference (Agresti-Min moments): over every 2x2 table of n = 8 documents, the TOST
    from the estimate equals the normal TOST on its centre and standard error, and the grade is 'reached'
    exactly when the interval at the level lies inside the band."""
    n, lo, hi, level = 8, -0.2, 0.2, 0.9
    for n00, n01, n10 in itertools.product(range(n + 1), repeat=3):
        n11 = n - n00 - n01 - n10
        if n11 < 0:
            continue
        g = np.array([[0, 0]] * n00 + [[0, 1]] * n01 + [[1, 0]] * n10 + [[1, 1]] * n11, dtype=float)
        e = acc_linear([g], (-1.0, 1.0))
        se = (e.hi - e.lo) / (2 * sps.norm.ppf(0.975))
        ctr = (e.hi + e.lo) / 2
        assert tost(e, lo, hi).p == pytest.approx(tost_normal(ctr, se, lo, hi).p, abs=1e-9)
        st, _, (a, b) = equivalence(e, lo, hi, level)
        if min(abs(a - lo), abs(b - hi)) > 1e-9:
            assert (st == "reached") == (a >= lo and b <= hi)
            assert (st == "not reached") == (b < lo or a > hi)


def test_a_ratio_tost_on_the_log_scale_is_the_one_sided_t_tests(small_n_machinery):
    """A perplexity ratio from symmetric paired log-differences (no skew: the plain t): TOST p = the larger
    one-sided t-test p against ln(1/1.1) and ln(1.1)."""
    d = np.log(1.03) + 0.02 * np.array([-1.0, 1.0, -0.5, 0.5, 0.0, -0.25, 0.25, -0.75, 0.75])
    e = t_mean(d, log_scale=True)
    t = tost(e, 1 / 1.1, 1.1)
    lo = sps.ttest_1samp(d, math.log(1 / 1.1), alternative="greater").pvalue
    hi = sps.ttest_1samp(d, math.log(1.1), alternative="less").pvalue
    assert (t.p_low, t.p_high) == pytest.approx((lo, hi), rel=1e-6)
    assert equivalence(e, 1 / 1.1, 1.1, 0.95)[0] == "reached"


def test_equivalence_grades_and_a_wide_interval_never_reaches():
    """The issue's PIQA after pruning: 0.62 at 38 documents, interval [0.39, 0.82]-wide, is inconclusive against
    chance 0.5 +- 0.1, never reached; 19 of 38 is as well; 300 of 600 is reached; 0.9 is not reached. No k of any
    n up to 60 whose interval is wider than the band is graded reached."""
    level = 1 - 0.05 / 9
    assert equivalence(proportion(24, 38), 0.4, 0.6, level)[0] == "inconclusive"
    assert equivalence(proportion(19, 38), 0.4, 0.6, level)[0] == "inconclusive"
    assert equivalence(proportion(300, 600), 0.4, 0.6, level)[0] == "reached"
    assert equivalence(proportion(540, 600), 0.4, 0.6, level)[0] == "not reached"
    for n in range(1, 61):
        for k in range(n + 1):
            st, _, (a, b) = equivalence(proportion(k, n), 0.4, 0.6, level)
            if b - a > 0.2:
                assert st != "reached"


def test_one_sided_on_a_proportion_is_the_exact_binomial_tail_and_keeps_its_size():
    """'p <= b' reached exactly when P(X <= k | b) <= a (the (1 - 2a) Clopper-Pearson upper end <= b); 'p >= b'
    when P(X >= k | b) <= a. At the bound the chance of 'reached' is <= a (enumerated)."""
    a = 0.025
    for n in (5, 12, 38, 60):
        for b in (0.0, 0.1, 0.35, 0.6, 1.0):
            rej_most, rej_least = [], []
            for k in range(n + 1):
                st, p, (lo, hi) = one_sided(proportion(k, n), b, True, 1 - 2 * a)
                if tail_le(k, n, b) < 0.25:
                    assert p == pytest.approx(tail_le(k, n, b), rel=1e-9, abs=1e-15)
                if abs(hi - b) > 1e-9:
                    assert (st == "reached") == (hi <= b), (n, k, b)
                if abs(lo - b) > 1e-9:
                    assert (st == "not reached") == (lo > b), (n, k, b)
                rej_most.append(st == "reached")
                st2, p2, _ = one_sided(proportion(k, n), b, False, 1 - 2 * a)
                if tail_ge(k, n, b) < 0.25:
                    assert p2 == pytest.approx(tail_ge(k, n, b), rel=1e-9, abs=1e-15)
                rej_least.append(st2 == "reached")
            for rej in (rej_most, rej_least):
                assert sum(math.comb(n, k) * b ** k * (1 - b) ** (n - k) for k in range(n + 1) if rej[k]) <= a + 1e-12


def test_one_sided_grades_an_improvement_as_reached(small_n_machinery):
    """Non-inferiority 'd >= -2': +3.8 with a tight interval is reached (a two-sided band +-2 would call it not
    reached); -3.8 with a tight interval is not reached; 0 with a wide interval is inconclusive. Ratio 'r <= 1.1' on
    the log scale: x0.9 on tight windows is reached."""
    nd = sps.norm
    from superweight.stats.intervals import Estimate

    def est(d, se):
        return Estimate(d, d - 1.96 * se, d + 1.96 * se, 100, 0.95, "normal",
                        test=lambda t: (2 * nd.sf(abs(d - t) / se), int(np.sign(d - t))),
                        interval=lambda lv: (d - nd.ppf((1 + lv) / 2) * se, d + nd.ppf((1 + lv) / 2) * se))

    level = 1 - 0.05 / 9
    assert one_sided(est(3.8, 0.3), -2.0, False, level)[0] == "reached"
    assert equivalence(est(3.8, 0.3), -2.0, 2.0, level)[0] == "not reached"
    assert one_sided(est(-3.8, 0.3), -2.0, False, level)[0] == "not reached"
    assert one_sided(est(0.0, 4.0), -2.0, False, level)[0] == "inconclusive"
    d = np.log(0.9) + 0.01 * np.array([-1.0, 1.0, -0.5, 0.5, 0.0, -0.25, 0.25, -0.75, 0.75])
    st, p, _ = one_sided(t_mean(d, log_scale=True), 1.1, True, level)
    assert st == "reached" and p == pytest.approx(
        sps.ttest_1samp(d, math.log(1.1), alternative="less").pvalue, rel=1e-6)
