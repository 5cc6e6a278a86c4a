"""Exact tests for where no approximation's error is known at a Holm level (benchmarks/decision_error.py).

- ``median_test`` / ``median_interval``: the exact sign test of a median and its order-statistic interval,
  distribution-free for any continuous distribution (skewed included): the verdicts' test below the t test's
  measured minimum n. It tests the median unit (window, article, prompt), not the mean: the verdict says so.
- ``sign_test``: the exact two-sided binomial sign test (McNemar's exact test on the discordant pairs).
- ``sign_flip``: the permutation test of paired differences by flipping their signs (n <= 20). Exact only for a
  distribution symmetric about the null: under skew its error at 0.002 is 4x the nominal at 16 windows (worse
  than t's), so no verdict uses it; the benchmark keeps measuring it. Its p is a multiple of 2 / 2^n
  (``smallest_p``)."""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np

MAX_N = 20          # 2^20 sign vectors, enumerated in chunks of CHUNK sums
CHUNK = 1 << 16
REL_TOL = 1e-9      # sums within REL_TOL * sum|d - null| of the observed one count as ties (rounding)


def smallest_p(n: int) -> float:
    """The least two-sided p the sign-flip test can give with n pairs (both all-positive and all-negative
    sign vectors are as extreme): below it, a level cannot be reached whatever the data."""
    return min(1.0, 2.0 / 2 ** n)


def _sums(a: np.ndarray) -> np.ndarray:
    """sum_i s_i a_i for every sign vector s in {-1, 1}^len(a)."""
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=a.size)), dtype=float).reshape(2 ** a.size, a.size)
    return signs @ a


def sign_flip(d: Sequence[float], null: float = 0.0) -> tuple[float, int]:
    """(two-sided p, side) of "the paired differences d are centred at ``null``" by the sign-flip test:
    statistic sum(d - null); p = share of the 2^n sign vectors whose |sum| is at least the observed |sum| (ties
    within a relative tolerance count); side +1 when mean(d) > null, -1 below, 0 equal (as Estimate.test).
    Complete enumeration: the sums of the first n - 10 and the last 10 signed values are combined chunk by chunk.
    Non-finite or empty d: (1.0, 0). More than MAX_N values: ValueError (use the t test there)."""
    x = np.asarray(d, dtype=float).ravel() - null
    n = x.size
    if n > MAX_N:
        raise ValueError(f"sign_flip enumerates 2^n sign vectors up to n = {MAX_N}, got n = {n}: use the t test")
    if n == 0 or not np.isfinite(x).all():
        return 1.0, 0
    side = int(np.sign(x.mean()))
    ax = np.abs(x)
    thr = abs(float(x.sum())) - REL_TOL * float(ax.sum())
    if thr <= 0:
        return 1.0, side
    k = min(n, 10)
    hi, lo = _sums(ax[:n - k]), _sums(ax[n - k:])
    step = max(1, CHUNK // lo.size)
    count = sum(int((np.abs(hi[i:i + step, None] + lo[None, :]) >= thr).sum()) for i in range(0, hi.size, step))
    return count / 2 ** n, side


def sign_test(k: int, n: int) -> float:
    """Exact two-sided binomial sign test of k successes in n trials at 1/2: P(as extreme) = twice the smaller
    tail, at most 1 (McNemar's exact test when k, n are the discordant pairs)."""
    if not 0 <= k <= n:
        raise ValueError(f"sign_test needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 1.0
    j = min(k, n - k)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(j + 1)) / 2 ** n)


def median_test(x: Sequence[float], null: float) -> tuple[float, int]:
    """(two-sided p, side) of "the median of x is ``null``" by the exact sign test: k of the m values not equal to
    null lie above it, p = sign_test(k, m); side +1 when more lie above, -1 below, 0 as many. Non-finite values
    count on the side they lie (an infinite window NLL is above every threshold)."""
    d = np.asarray(x, dtype=float).ravel() - null
    if np.isnan(d).any():
        return 1.0, 0
    k, m = int((d > 0).sum()), int((d != 0).sum())
    return sign_test(k, m), int(np.sign(2 * k - m))


def median_interval(x: Sequence[float], level: float) -> tuple[float, float]:
    """The exact distribution-free interval for a median: [x_(j), x_(n+1-j)] with j the largest order such that
    2 P(Binomial(n, 1/2) <= j - 1) <= 1 - level (coverage >= level for any continuous distribution);
    (-inf, inf) when even j = 1 is too wide a bet (n too small for the level: 2 / 2^n > 1 - level). Its ends
    are where ``median_test`` starts to reject at 1 - level."""
    s = np.sort(np.asarray(x, dtype=float).ravel())
    n, a = s.size, 1 - level
    j, tail = 0, 0.0
    while j < n and 2 * (tail + math.comb(n, j) / 2 ** n) <= a + 1e-12:
        tail += math.comb(n, j) / 2 ** n
        j += 1
    if j == 0:
        return -math.inf, math.inf
    return float(s[j - 1]), float(s[n - j])
