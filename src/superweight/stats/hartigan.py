"""Exact interval and test for the centre of paired differences at small n, from the means of their subsets.

Hartigan (1969): for n independent values from distributions symmetric about one centre θ, the 2^n - 1 means
of the non-empty subsets cut the line into 2^n intervals, each of which holds θ with probability exactly 2^-n.
So the k-th smallest and k-th largest subset mean bound an interval of coverage exactly 1 - 2k / 2^n, with no
assumption on the shape beyond symmetry; its test (reject θ0 outside the interval at that level) is the exact
sign-flip test of the subset means. It is the distribution-free fallback of the t test below the n at which the t
test's error at the decision level was measured to hold (benchmarks/decision_error.py): the smallest two-sided
p it can give is 2 / 2^n, so at n windows it can decide only at levels >= 2^(1 - n) (8 windows: 0.0078; 12:
0.00049). Skewed differences break the symmetry it assumes: its error under skew is measured, not assumed."""
from __future__ import annotations

import math

import numpy as np

MAX_N = 20  # 2^20 subset means (8 MB): enumeration beyond this is the t test's range anyway


def subset_means(x) -> np.ndarray:
    """The sorted means of the 2^n - 1 non-empty subsets of x (n <= MAX_N)."""
    x = np.asarray(x, dtype=float).ravel()
    n = x.size
    if n == 0 or n > MAX_N:
        raise ValueError(f"subset means need 1 to {MAX_N} values, got {n} (use the t test above {MAX_N})")
    sums, sizes = np.zeros(1), np.zeros(1, dtype=np.int64)
    for v in x:  # each value doubles the subsets: those without it, then those with it
        sums, sizes = np.concatenate([sums, sums + v]), np.concatenate([sizes, sizes + 1])
    return np.sort(sums[1:] / sizes[1:])


def smallest_p(n: int) -> float:
    """The least two-sided p the test can give with n values."""
    return min(1.0, 2.0 / 2 ** n)


def interval(x, level: float) -> tuple[float, float]:
    """The exact interval [k-th smallest, k-th largest subset mean], k = floor((1 - level) / 2 * 2^n): coverage
    exactly 1 - 2k / 2^n >= level under symmetry; (-inf, inf) when k = 0 (n too small for the level)."""
    m = subset_means(x)
    k = math.floor((1 - level) / 2 * 2 ** int(np.asarray(x).size) + 1e-9)
    if k < 1:
        return -math.inf, math.inf
    return float(m[k - 1]), float(m[-k])


def test(x, null: float) -> tuple[float, int]:
    """(two-sided p, side) of "centre == null": p = 2 (1 + the number of subset means beyond null on the side the
    fewer lie) / 2^n, capped at 1, so p <= a exactly when ``interval(x, 1 - a)`` excludes null. Side: +1 when the
    mean is above null, -1 below, 0 equal."""
    x = np.asarray(x, dtype=float).ravel()
    if not np.isfinite(x).all():
        return 1.0, 0
    m = subset_means(x)
    # a subset mean equal to null counts on both sides (ties keep null inside the closed interval)
    below, above = int(np.searchsorted(m, null, "right")), int(m.size - np.searchsorted(m, null, "left"))
    p = min(1.0, 2.0 * (1 + min(below, above)) / 2 ** x.size)
    return p, int(np.sign(x.mean() - null))


# --- above MAX_N: the sign-flip test with random sign vectors ---
DRAWS, SEED = 1 << 16, 0  # smallest p 1.5e-5; Monte-Carlo sd of a p near 0.002: 0.00017


def _signs(n: int, draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """(draws, n) random signs, the same for every call with the same n (a test and its interval agree)."""
    return np.where(np.random.default_rng([seed, n]).random((draws, n)) < 0.5, -1.0, 1.0)


def mc_test(x, null: float, draws: int = DRAWS) -> tuple[float, int]:
    """(two-sided p, side) of the sign-flip test on ``draws`` random sign vectors with the observed one counted
    (p = (1 + as extreme) / (draws + 1)): a Monte-Carlo permutation p, valid at every level (never below the
    level's share under a symmetric null), for n above MAX_N."""
    x = np.asarray(x, dtype=float).ravel()
    if not np.isfinite(x).all():
        return 1.0, 0
    d = x - null
    obs = abs(float(d.sum())) * (1 - 1e-12)
    p = (1 + int((np.abs(_signs(x.size, draws) @ d) >= obs).sum())) / (draws + 1)
    return min(1.0, p), int(np.sign(x.mean() - null))


def mc_interval(x, level: float, draws: int = DRAWS) -> tuple[float, float]:
    """The values not rejected by ``mc_test`` at 1 - level, found by bisection on each side of the mean (the
    test's p falls monotonically away from the mean in practice; the ends are accurate to 1e-9 of the spread)."""
    x = np.asarray(x, dtype=float).ravel()
    a, m = 1 - level, float(x.mean())
    if 1 / (draws + 1) > a:
        return -math.inf, math.inf
    s = _signs(x.size, draws)
    span = float(np.abs(x - m).sum()) + 1e-12

    def p(t):
        d = x - t
        return (1 + int((np.abs(s @ d) >= abs(float(d.sum())) * (1 - 1e-12)).sum())) / (draws + 1)

    ends = []
    for sign in (-1, 1):
        inside, out = m, m + sign * span
        while p(out) > a:  # widen until rejected
            out = m + 2 * (out - m)
        for _ in range(60):
            mid = (inside + out) / 2
            inside, out = (mid, out) if p(mid) > a else (inside, mid)
            if abs(out - inside) <= 1e-9 * span:
                break
        ends.append(inside)
    return ends[0], ends[1]
