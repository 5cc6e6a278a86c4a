import itertools

import numpy as np
import pytest
from scipy.stats import binomtest

from superweight.stats.exact import sign_flip, sign_test, smallest_p


def brute(d, null=0.0):
    """Two-sided sign-flip p by listing every sign vector, written apart from the module."""
    x = [v - null for v in d]
    obs = abs(sum(x))
    hits = sum(abs(sum(s * abs(v) for s, v in zip(signs, x))) >= obs - 1e-9 * sum(map(abs, x))
               for signs in itertools.product((1, -1), repeat=len(x)))
    return hits / 2 ** len(x)


@pytest.mark.parametrize("n", range(1, 9))
def test_sign_flip_matches_enumeration(n):
    rng = np.random.default_rng(n)
    for _ in range(20):
        d = rng.normal(0.3, 1.0, n)
        p, side = sign_flip(d)
        assert p == pytest.approx(brute(d), abs=1e-12)
        assert side == int(np.sign(d.mean()))
        assert sign_flip(d, null=0.5)[0] == pytest.approx(brute(d, 0.5), abs=1e-12)


def test_sign_flip_ties_and_zeros():
    for d in ([1, 1, -1, 1], [2, -1, -1, 0, 3], [0.5] * 6, [1, 2, 3, -6], [0, 0, 0]):
        assert sign_flip(d)[0] == pytest.approx(brute(d), abs=1e-12)
    assert sign_flip([0, 0, 0]) == (1.0, 0)
    assert sign_flip([1, 2, -3]) == (1.0, 0)


def test_sign_flip_smallest_p_and_limits():
    for n in (1, 3, 8, 12):
        assert sign_flip(np.arange(1, n + 1))[0] == pytest.approx(smallest_p(n))
        assert sign_flip(-np.arange(1, n + 1.0)) == (pytest.approx(smallest_p(n)), -1)
    assert smallest_p(10) == 2 / 1024
    assert sign_flip(np.ones(20) + np.arange(20) / 100)[0] == pytest.approx(2 / 2 ** 20)
    assert sign_flip([1.0, np.nan, 2.0]) == (1.0, 0)
    assert sign_flip([]) == (1.0, 0)
    with pytest.raises(ValueError, match="t test"):
        sign_flip(np.ones(21))


def test_sign_flip_exact_under_symmetric_null():
    """For fixed |d|, every sign pattern is equally likely under a symmetric null: over all 2^n patterns the share
    with p <= a is at most a."""
    rng = np.random.default_rng(1)
    for n in (5, 8):
        mag = rng.exponential(1.0, n)
        ps = np.array([sign_flip(np.array(s) * mag)[0] for s in itertools.product((1, -1), repeat=n)])
        for a in (0.01, 0.05, 0.1, 0.25, 0.5):
            assert (ps <= a).mean() <= a + 1e-12
        assert (ps <= 2 / 2 ** n + 1e-12).mean() == pytest.approx(2 / 2 ** n)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 10, 17, 40])
def test_sign_test_matches_scipy(n):
    for k in range(n + 1):
        want = 1.0 if n == 0 else binomtest(k, n, 0.5).pvalue
        assert sign_test(k, n) == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError):
        sign_test(n + 1, n)
