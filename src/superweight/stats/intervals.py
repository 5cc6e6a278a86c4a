"""Uncertainty of every reported number, from the per-document and per-window values in the result files.

Every interval (tables, figures and verdicts) is a closed form whose coverage ``benchmarks/coverage.py`` measures
(docs/statistics.md):
- perplexity and perplexity ratios: Student-t, united with Hall's skewness-corrected t, on the (paired) window NLLs
  or their differences, exponentiated (windows hold equal token counts, so the mean of the window means is the
  token mean); unpaired: Welch;
- a proportion: the Clopper-Pearson exact interval;
- accuracy built from per-task means (average accuracy, a paired difference, a share above chance): per task the
  0/1 outcome patterns with pseudo-counts (Agresti-Coull for one condition, Agresti-Min for paired conditions), a
  normal interval on the linear combination, Fieller's interval for a ratio;
- a ratio of paired means (stopword probabilities, a share of a gain): Fieller with t quantiles on the per-unit
  values (a delta-method linearization for functions of perplexities).
Each estimate carries ``min_n`` (``MIN_N``: the smallest size from which benchmarks/decision_error.py measured the
test's error per tail at the decision level not measurably above 1.5x its nominal share) and a test ``p(threshold)`` so a family
of sub-tests can be corrected together (``holm``). Below it the exact sign test of the median unit decides where
one exists (``median_ci``), else the verdict is inconclusive.
Undefined quantities are ``NA`` with a reason, never a number."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from superweight.stats import exact
from superweight.stats.clustered import cluster_means, cluster_units

LEVEL = 0.95

# Smallest n (windows or articles, documents per task, prompts) from which the test's error at the decision level
# is measured to hold: benchmarks/decision_error.py, two-sided alpha 0.002 (about Holm's first step in a family of
# 25 sub-tests), no non-stress scenario (skewness 0 and 1, heavy tails, clustered windows as cluster units) with a
# tail measurably above 1.5x its nominal 0.001. Below it: the exact sign test of the median (t, fieller_t where
# the units' ratios are defined) or inconclusive. None: no n it tried qualifies (Fieller's ratio of means: its
# error under lognormal prompts grows with n; a share's delta-method Fieller: not measured at these levels; one
# task's paired difference). Rerun the benchmark after changing a method and compare its MIN_N_DECIDE line: acc_avg
# keeps the stricter 16 of two runs (borderline at 8), acc_diff holds up to MAX_N (docs/statistics.md).
MIN_N = {"t": 48, "welch": 128, "exact": 1, "acc_avg": 16, "acc_diff": 1, "task_diff": None, "acc_share": 1,
         "fieller_t": None, "delta_share": None}
# The t test's minimum n at each decision level it was measured at (two-sided; the same rule as MIN_N): a
# sub-test tested below a level's n falls back to the exact median test (report.verdicts.decide); below 0.001 it
# was not measured, so it always falls back there
MIN_N_AT_LEVEL = {"t": ((0.001, 64), (0.002, 48), (0.005, 48), (0.01, 32))}


def min_n_at(kind: str, level: float) -> int | None:
    """The minimum n of a method at a two-sided ``level``: the value measured at the largest tabulated level not
    above it (conservative between levels); None below the smallest measured level or for an untabulated kind."""
    rows = [n for a, n in MIN_N_AT_LEVEL.get(kind, ()) if a <= level + 1e-12]
    return rows[-1] if rows else None


# Largest n at which the z test of a paired accuracy difference was measured within the goal (above it, with 98%
# of documents agreeing near accuracy 1, its error grows): beyond it a difference against 0 is decided by the exact
# McNemar test on the discordant documents of all tasks.
MAX_N = {"acc_diff": 256}
# The exact sign test decides nothing at the family level 0.05 below 6 units (its smallest p is 2 / 2^n)
MEDIAN_MIN_N = 6
# The tables' descriptive 95% intervals of a perplexity (ratio): the t from the n at which benchmarks/coverage.py
# measured its 95% coverage >= 94% (2); the verdicts' minimum (MIN_N, at the decision level) does not apply there
TABLE_MIN_N = 2


@dataclass(frozen=True)
class NA:
    """A metric that is undefined here, with the reason (rendered as 'n/a: reason')."""
    reason: str

    def __str__(self) -> str:
        return f"n/a: {self.reason}"


@dataclass(frozen=True)
class Estimate:
    """A value with its confidence interval [lo, hi] at ``level`` and the sample size behind it."""
    value: float
    lo: float
    hi: float
    n: int
    level: float = LEVEL
    method: str = ""
    min_n: int = 0
    # threshold -> (two-sided p of "value == threshold", +1 when the estimate is above it, -1 below, 0 neither)
    test: Callable[[float], tuple[float, int]] | None = field(default=None, compare=False, repr=False)
    # level -> (lo, hi): the interval at another level (e.g. the one a multiplicity correction asks for)
    interval: Callable[[float], tuple[float, float]] | None = field(default=None, compare=False, repr=False)
    # read at a look before a sequential design's last (stats.sequential.on_design): the point estimate of a
    # sample stopped early, which may be biased: away from the threshold for the comparison that stopped the design,
    # other estimates read at that look in the direction of their correlation with it (the repeated interval keeps
    # its coverage)
    early_stop: bool = False
    # the smallest p its test can give at this n (an exact test of few units: 2 / 2^n for the sign test); a level
    # below it cannot be reached whatever the data
    floor_p: float = 0.0
    # what the value estimates: "mean" (a ratio of perplexities, an accuracy) or "median" (the median unit's, from
    # the exact sign test below the t test's minimum n): a median is never graded against the paper's ratios
    estimand: str = "mean"
    # the t test's estimates: "t", and the exact median estimate on the same units to decide with instead where the
    # level the estimate is tested at asks more units than it has (MIN_N_AT_LEVEL)
    kind: str = ""
    fallback: Callable[[], "Estimate"] | None = field(default=None, compare=False, repr=False)
    # a paired accuracy difference above MAX_N documents: its test decides only against 0 (any other threshold: p
    # 1), and its z interval was not measured within the goal there, so it is never graded (report.verdicts._grade)
    zero_only: bool = False

    def as_dict(self) -> dict:
        return {"value": self.value, "lo": self.lo, "hi": self.hi, "n": self.n, "level": self.level,
                "method": self.method, "min_n": self.min_n, **({"early_stop": True} if self.early_stop else {})}

    @property
    def too_small(self) -> bool:
        return self.min_n is None or self.n < self.min_n

    def at(self, level: float) -> "Estimate":
        """The same estimate with its interval at ``level`` (only for closed-form intervals)."""
        if self.interval is None or level == self.level:
            return self
        lo, hi = self.interval(level)
        return replace(self, lo=lo, hi=hi, level=level)

    def p(self, threshold: float) -> tuple[float, int]:
        """(two-sided p-value, side) of the estimate against ``threshold``; from the interval at ``level`` when
        the method has no test: p is then only known to be below 1 - level, so 1 - level is returned (not less:
        a smaller stand-in would pass a stricter Holm level the interval never showed), else 1."""
        if self.test is not None:
            return self.test(threshold)
        a = 1 - self.level
        if not (math.isfinite(self.lo) or math.isfinite(self.hi)) or any(map(math.isnan, (self.lo, self.hi))):
            return 1.0, 0
        if self.lo > threshold:
            return a, 1
        if self.hi < threshold:
            return a, -1
        return 1.0, 0


def ppl_ci(window_nll: Sequence[float], level: float = LEVEL, clusters: Sequence | None = None,
           min_n: int | None = None) -> Estimate:
    """Perplexity exp(mean window NLL) with a Student-t interval on the window NLLs, windows that share an article
    (``clusters``: each window's article) as one unit."""
    return t_mean(window_nll, level, log_scale=True, method="t with Hall's skew correction over windows",
                  clusters=clusters, unit="window", min_n=min_n)


def ppl_ratio_ci(nll_a: Sequence[float], nll_b: Sequence[float], paired: bool = True, level: float = LEVEL,
                 clusters: Sequence | None = None, min_n: int | None = None) -> Estimate:
    """ppl(b) / ppl(a) = exp(mean NLL_b - mean NLL_a). Paired (the same windows: same corpus, windows and length):
    Student-t on the per-window NLL differences, windows that share an article (``clusters``) as one unit;
    otherwise Welch's t on the two sets of windows."""
    a, b = np.asarray(nll_a, dtype=float), np.asarray(nll_b, dtype=float)
    if paired:
        if a.shape != b.shape:
            raise ValueError(f"paired windows differ in number: {a.size} vs {b.size}")
        with np.errstate(invalid="ignore"):
            return t_mean(b - a, level, log_scale=True, clusters=clusters, unit="window", min_n=min_n,
                          method="t with Hall's skew correction on paired window log-differences")
    return welch(a, b, level, log_scale=True, method="Welch t over windows (unpaired)")


def paired_diff(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Estimate:
    """mean(b - a) over paired documents (0/1: Agresti-Min interval; other values: Student-t)."""
    x = np.stack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)], 1)
    if np.isin(x, (0.0, 1.0)).all():
        return acc_linear([x], (-1.0, 1.0), level)
    return t_mean(x[:, 1] - x[:, 0], level, method="Student-t on paired differences")


def mcnemar(a: Sequence[float], b: Sequence[float]) -> dict:
    """McNemar's exact test for two conditions scored on the same documents (0/1 outcomes):
    n01 = right only under b, n10 = right only under a; two-sided p = P(Binomial(n01+n10, 1/2) as extreme)."""
    x, y = np.asarray(a, dtype=int), np.asarray(b, dtype=int)
    n01, n10 = int(((x == 0) & (y == 1)).sum()), int(((x == 1) & (y == 0)).sum())
    m, k = n01 + n10, min(n01, n10)
    p = 1.0 if m == 0 else min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2 ** m)
    return {"n01": n01, "n10": n10, "p_value": p}


def share(num: float, den: float, what: str = "denominator") -> float | NA:
    """num / den, or NA when the denominator is <= 0 (a share of a gain that did not happen is undefined)."""
    if not (math.isfinite(num) and math.isfinite(den)):
        return NA(f"non-finite inputs ({num:.4g} / {den:.4g})")
    if den <= 0:
        return NA(f"{what} is {den:.4g} <= 0")
    return num / den


def verdict(lo: float, hi: float, threshold: float, higher_holds: bool = True, strict: bool = False) -> str:
    """'holds' when the whole CI is on the claim's side of the threshold, 'fails' when it is wholly on the other
    side, else 'inconclusive'. ``strict`` claims (x > t, e.g. "rises") need the CI strictly beyond t to hold; a CI
    that only touches t (e.g. [0, 0] when no paired document changed) decides nothing."""
    if any(isinstance(x, float) and math.isnan(x) for x in (lo, hi)):
        return "inconclusive"
    if not higher_holds:
        lo, hi, threshold = -hi, -lo, -threshold
    if strict:
        return "holds" if lo > threshold else "fails" if hi < threshold else "inconclusive"
    return "holds" if lo >= threshold else "fails" if hi < threshold else "inconclusive"


# --- closed-form intervals with a test (the ones verdicts use) ---

def _sps():
    """scipy.stats, imported where first used: scoring jobs import this module, and scipy.stats takes ~1 s to import."""
    from scipy import stats

    return stats


def _q(level: float, df: float | None = None) -> float:
    """Two-sided quantile: normal when df is None, else Student-t with df degrees of freedom."""
    a = 1 - (1 - level) / 2
    return float(_sps().norm.ppf(a) if df is None else _sps().t.ppf(a, df))


def _p(stat: float, df: float | None = None) -> float:
    return float(2 * (_sps().norm.sf(abs(stat)) if df is None else _sps().t.sf(abs(stat), df)))


def _z_test(diff: float, se: float, df: float | None) -> tuple[float, int]:
    """Two-sided p and side of an estimate ``diff`` above its null value 0 with standard error se."""
    side = int(np.sign(diff))
    if not math.isfinite(diff) or not math.isfinite(se) or (se == 0 and diff == 0):
        return 1.0, 0 if not math.isfinite(se) else side
    if se == 0:
        return 0.0, side
    return _p(diff / se, df), side


def _exp(v: float) -> float:
    """exp that gives inf instead of raising OverflowError: a wide interval at a strict (Holm) level on the log
    scale, e.g. 2 windows at t(1)'s 99.9% quantile, has an upper end beyond float range."""
    return math.exp(v) if v < 709.0 else math.inf


def _finite(x: np.ndarray, name: str) -> bool:
    return bool(np.isfinite(x).all())


def _na_estimate(value: float, n: int, method: str, min_n: int, level: float) -> Estimate:
    """An estimate without an interval (non-finite inputs): its test never decides."""
    return Estimate(value, math.nan, math.nan, n, level, method + " (non-finite values: no interval)", min_n,
                    lambda t: (1.0, 0), lambda lv: (math.nan, math.nan))


def _hall(x: np.ndarray):
    """Hall's (1992) skewness-removing transformation of the t statistic for a mean: with t = (mean - mu) / sd and
    skewness g, sqrt(n) * (t + g/3 t^2 + g^2/27 t^3 + g / (6n)) is closer to t(n - 1) under skew; the map is
    monotone, so its inverse gives an interval. Returns (interval(q) -> (lo, hi), stat(mu) -> statistic) or None
    when the sample has no spread."""
    n, m, sd = x.size, float(x.mean()), float(x.std(ddof=1))
    if n < 3 or not sd > 0:
        return None
    g = float(((x - m) ** 3).mean() / sd ** 3)
    a = g / 3

    def fwd(t):
        return math.sqrt(n) * (((1 + a * t) ** 3 - 1) / (3 * a) + g / (6 * n)) if abs(a) > 1e-12 else \
            math.sqrt(n) * (t + g / (6 * n))

    def inv(y):
        y = y / math.sqrt(n) - g / (6 * n)
        return float((np.cbrt(1 + 3 * a * y) - 1) / a) if abs(a) > 1e-12 else y

    return (lambda q: (m - sd * inv(q), m - sd * inv(-q))), (lambda mu: fwd((m - mu) / sd))


def t_mean(x: Sequence[float], level: float = LEVEL, log_scale: bool = False,
           method: str = "Student-t with Hall's skewness correction", min_n: int | None = None,
           clusters: Sequence | None = None, unit: str = "value") -> Estimate:
    """Mean of x with the union of the Student-t interval (n - 1 df) and Hall's skewness-corrected one: it rejects
    a value only when both tests do, so it keeps the t interval's coverage under heavy symmetric tails and Hall's
    under skew (benchmarks/coverage.py). ``log_scale``: x are logs, the estimate is exp(mean) and thresholds are
    compared on the log scale (a ratio of perplexities from paired log-differences). ``clusters``: each value's
    article; values that share one are one unit (``cluster_units``: the same mean, a cluster-robust variance).
    Below the minimum n (``MIN_N``, the units from which the t test's error at the decision levels was measured
    to hold, benchmarks/decision_error.py) the exact sign test of the median unit decides instead (``median_ci``):
    no test of a mean has a known error there under skew."""
    x = np.asarray(x, dtype=float).ravel()
    mn = MIN_N["t"] if min_n is None else min_n
    if x.size == 0:
        raise ValueError("t_mean needs at least one value")
    plural = f"{unit}s"
    medians = x  # the units of the exact fallback: the values, or each article's mean
    of = next((f" {w} " + method.split(f" {w} ", 1)[1] for w in ("on", "over") if f" {w} " in method), "")
    if clusters is not None and len(set(clusters)) < len(clusters):
        if len(clusters) != x.size:
            raise ValueError(f"{len(clusters)} cluster ids for {x.size} values")
        g = len(set(clusters))
        if g < mn:
            return median_ci(cluster_means(x, list(clusters)), level, log_scale,
                             f"exact sign test of the median article{of} (each article the mean of its {plural}; {g} "
                             f"articles of {x.size} {plural}: below the t test's minimum {mn})")
        medians = cluster_means(x, list(clusters))
        x = cluster_units(x, list(clusters))
        method += f" ({g} articles of {len(clusters)} {plural} as units: {plural} sharing one are clustered)"
        plural = "articles"
    n = x.size
    if n < mn:
        return median_ci(x, level, log_scale, f"exact sign test of the median {plural[:-1]}{of} ({n} {plural}: below "
                                              f"the t test's minimum {mn})")

    def exact_fallback(units=medians, words=f"the median {plural[:-1]}"):
        return median_ci(units, level, log_scale, f"exact sign test of {words}{of} ({n} {plural}: below the t test's "
                                                  "minimum at the level it is tested at)")
    f = _exp if log_scale else (lambda v: v)
    with np.errstate(over="ignore", invalid="ignore"):
        m = float(x.mean())
        if not _finite(x, "x"):
            return _na_estimate(f(m) if not math.isnan(m) else m, n, method, mn, level)
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    df = n - 1 if n > 1 else None
    hall = _hall(x) if n > 1 else None

    def interval(lv):
        if n < 2:
            return -math.inf if not log_scale else 0.0, math.inf
        q = _q(lv, df)
        lo, hi = m - q * se, m + q * se
        if hall is not None:
            hl, hh = hall[0](q)
            lo, hi = min(lo, hl), max(hi, hh)
        return f(lo), f(hi)

    def test(t):
        if log_scale:
            if t <= 0:
                return 0.0, 1
            t = math.log(t)
        if n < 2:
            return 1.0, 0
        p, side = _z_test(m - t, se, df)
        if hall is not None:
            h = hall[1](t)
            if int(np.sign(h)) != side:
                return 1.0, side
            p = max(p, _p(h, df))
        return p, side

    lo, hi = interval(level)
    return Estimate(f(m), lo, hi, n, level, method, mn, test, interval, kind="t", fallback=exact_fallback)


def median_ci(x: Sequence[float], level: float = LEVEL, log_scale: bool = False,
              method: str = "exact sign test of the median") -> Estimate:
    """The median of x (exp of it with ``log_scale``) with the exact distribution-free interval and sign test
    (``exact.median_interval`` / ``median_test``): valid for any continuous distribution, skewed included, at
    every n; at n units it can decide only at levels >= 2 / 2^n (0.002 needs 10). It estimates the median unit,
    not the mean: the method says so wherever the estimate is shown."""
    x = np.asarray(x, dtype=float).ravel()
    f = _exp if log_scale else (lambda v: v)
    n = x.size
    if n == 0 or np.isnan(x).any():
        return _na_estimate(math.nan, n, method, 1, level)
    med = float(np.median(x))

    def interval(lv):
        lo, hi = exact.median_interval(x, lv)
        return (f(lo) if lo > -math.inf else 0.0 if log_scale else lo), f(hi) if hi < math.inf else math.inf

    def test(t):
        if log_scale:
            if t <= 0:
                return 0.0, 1
            t = math.log(t)
        return exact.median_test(x, t)

    lo, hi = interval(level)
    return Estimate(f(med), lo, hi, n, level, method, MEDIAN_MIN_N, test, interval,
                    floor_p=exact.smallest_p(n), estimand="median")


def welch(a: Sequence[float], b: Sequence[float], level: float = LEVEL, log_scale: bool = False,
          method: str = "Welch t (unpaired)") -> Estimate:
    """mean(b) - mean(a) of two independent samples (exp of it with ``log_scale``), Welch's t interval."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    n, mn = min(a.size, b.size), MIN_N["welch"]
    f = _exp if log_scale else (lambda v: v)
    d = float(b.mean() - a.mean())
    if not (_finite(a, "a") and _finite(b, "b")):
        return _na_estimate(f(d) if not math.isnan(d) else d, n, method, mn, level)
    if n < 2:
        return Estimate(f(d), 0.0 if log_scale else -math.inf, math.inf, n, level, method, mn, lambda t: (1.0, 0),
                        lambda lv: (0.0 if log_scale else -math.inf, math.inf))
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1)) if se > 0 else float(a.size + b.size - 2)

    def interval(lv):
        h = _q(lv, df) * se
        return f(d - h), f(d + h)

    def test(t):
        if log_scale:
            if t <= 0:
                return 0.0, 1
            t = math.log(t)
        return _z_test(d - t, se, df)

    lo, hi = interval(level)
    return Estimate(f(d), lo, hi, n, level, method, mn, test, interval)


def proportion(k: int, n: int, level: float = LEVEL) -> Estimate:
    """A proportion k / n with the Clopper-Pearson (exact binomial) interval; its test is the exact two-sided
    binomial test (twice the smaller tail), so interval and test agree and coverage is >= level at every n."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"proportion needs 0 <= k <= n and n >= 1, got k={k}, n={n}")

    def interval(lv):
        a = (1 - lv) / 2
        lo = 0.0 if k == 0 else float(_sps().beta.ppf(a, k, n - k + 1))
        hi = 1.0 if k == n else float(_sps().beta.ppf(1 - a, k + 1, n - k))
        return lo, hi

    def test(t):
        if t <= 0 or t >= 1:
            return (1.0, 0) if k / n == t else (0.0, int(np.sign(k / n - t)))
        p = min(1.0, 2 * min(float(_sps().binom.cdf(k, n, t)), float(_sps().binom.sf(k - 1, n, t))))
        return p, int(np.sign(k / n - t))

    lo, hi = interval(level)
    return Estimate(k / n, lo, hi, n, level, "Clopper-Pearson exact", MIN_N["exact"], test, interval)


def fieller_interval(N: float, D: float, vN: float, vD: float, cND: float, q: float) -> tuple[float, float]:
    """Fieller's interval for N / D: the r with (N - r D)^2 <= q^2 Var(N - r D); (-inf, inf) when D is not
    clearly away from 0 (the set is then unbounded)."""
    a = D * D - q * q * vD
    b = N * D - q * q * cND
    c = N * N - q * q * vN
    disc = b * b - a * c
    if a <= 0 or disc < 0:
        return -math.inf, math.inf
    r = math.sqrt(disc)
    return (b - r) / a, (b + r) / a


def fieller_units(num: Sequence[float], den: Sequence[float], level: float = LEVEL, value: float | None = None,
                  num_mean: float | None = None, den_mean: float | None = None, method: str = "Fieller (t)",
                  min_n: int | None = None, clusters: Sequence | None = None, unit: str = "unit") -> Estimate:
    """Ratio of paired means mean(num) / mean(den) over n units (prompts, windows), Fieller's interval with
    t(n - 1) quantiles; its test at r0 is the one-sample t test of num - r0 * den, never below the t test of
    mean(den) = 0 (so it decides a side only where the interval is bounded). ``num_mean``/``den_mean``/
    ``value`` override the centres when num/den are influence values (delta method). ``clusters``: each unit's
    article (units sharing one are one unit). Where Fieller's error at the decision level is not known (``MIN_N``;
    none for ``fieller_t``) and every denominator is positive, the exact sign test of the median per-unit ratio
    num / den decides instead (``median_ci``); otherwise the estimate is below its minimum n (inconclusive)."""
    u, v = np.asarray(num, float).ravel(), np.asarray(den, float).ravel()
    if u.size != v.size or u.size == 0:
        raise ValueError(f"fieller_units needs paired values, got {u.size} and {v.size}")
    mn = MIN_N["fieller_t"] if min_n is None else min_n
    clustered = clusters is not None and len(set(clusters)) < len(clusters)
    if (mn is None or u.size < mn) and num_mean is None and den_mean is None and value is None:
        a, b, what = u, v, f"{unit}s"
        if clustered:
            a, b = cluster_means(u, list(clusters)), cluster_means(v, list(clusters))
            what = f"articles ({a.size} articles of {u.size} {unit}s, each its {unit}s' means)"
        if (b > 0).all() and np.isfinite(a).all() and np.isfinite(b).all():
            return median_ci(a / b, level, method=f"exact sign test of the median per-unit ratio over {what} "
                                                  "(Fieller's error at the decision level is not known here)")
    if clustered:
        u, v = cluster_units(u, list(clusters)), cluster_units(v, list(clusters))
    n = u.size
    N = float(u.mean()) if num_mean is None else num_mean
    D = float(v.mean()) if den_mean is None else den_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        val = (N / D if D != 0 else math.nan) if value is None else value
    if not (_finite(u, "num") and _finite(v, "den")) or n < 2:
        e = _na_estimate(val, n, method, mn, level) if n >= 2 else None
        return e or Estimate(val, -math.inf, math.inf, n, level, method, mn, lambda t: (1.0, 0),
                             lambda lv: (-math.inf, math.inf))
    C = np.cov(np.stack([u, v]), ddof=1) / n
    vN, vD, cND = float(C[0, 0]), float(C[1, 1]), float(C[0, 1])
    df = n - 1

    def interval(lv):
        return fieller_interval(N, D, vN, vD, cND, _q(lv, df))

    def test(r0):
        return _fieller_test(N, D, vN, vD, cND, r0, df)

    lo, hi = interval(level)
    return Estimate(val, lo, hi, n, level, method, mn, test, interval)


def _fieller_test(N: float, D: float, vN: float, vD: float, cND: float, r0: float,
                  df: float | None) -> tuple[float, int]:
    """(p, side) of "N / D == r0" consistent with Fieller's set: the test of N - r0 D = 0, but never below the
    p of D = 0. Fieller's set at level 1 - a is a bounded interval only when D is significant at a; otherwise it
    is unbounded on both sides (or the whole line) and says nothing about the side r0 lies on, even where N - r0 D
    alone would reject. With the max, p < a exactly when the interval at 1 - a excludes r0."""
    p, side = _z_test(N - r0 * D, math.sqrt(max(vN - 2 * r0 * cND + r0 * r0 * vD, 0.0)), df)
    pd, _ = _z_test(D, math.sqrt(max(vD, 0.0)), df)
    return max(p, pd), side * (1 if D > 0 else -1)


def _task_moments(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw means, centres, covariance of the means) of one task's (documents, conditions) array. For 0/1
    outcomes the covariance comes from pseudo-counts on each outcome pattern (2 per outcome for one condition as
    Agresti-Coull, 0.5 per cell of the 2x2 table for two as Agresti-Min), so it never collapses to 0 when every
    document agrees; the centre stays the raw mean (pseudo-count centres add a bias that averaging over tasks
    does not shrink). The smoothed cell probabilities' covariance is divided by the real n (Agresti-Coull divide
    by n + 4, Agresti-Min by n + 2), so the variance is slightly larger than theirs: a Wald interval with a
    pseudo-count-smoothed variance, not their intervals; its coverage is what benchmarks/coverage.py measures.
    Other values: the plain sample covariance / n."""
    g = np.asarray(g, dtype=float)
    n, C = g.shape
    raw = g.mean(0)
    if np.isin(g, (0.0, 1.0)).all() and C <= 2:
        add = 2.0 if C == 1 else 0.5
        pats = np.array(np.meshgrid(*[[0.0, 1.0]] * C, indexing="ij")).reshape(C, -1).T  # (2^C, C)
        counts = np.array([(g == p).all(1).sum() for p in pats], dtype=float) + add
        tot = counts.sum()
        w = counts / tot
        mu = w @ pats
        dev = pats - mu
        cov = (dev * w[:, None]).T @ dev / n
        return raw, raw, cov
    cov = np.cov(g.T, ddof=1).reshape(C, C) / n if n > 1 else np.full((C, C), np.inf)
    return raw, raw, cov


def acc_linear(groups: Sequence[np.ndarray], weights: Sequence[float], level: float = LEVEL,
               method: str = "", kind: str = "acc_diff") -> Estimate:
    """The unweighted average over tasks of weights . (per-condition accuracy), e.g. (1,) the average accuracy or
    (-1, 1) the paired difference b - a; normal interval on the pseudo-count moments (see _task_moments).
    n is the smallest number of documents of any task."""
    w = np.asarray(weights, float)
    k = len(groups)
    if k == 0:
        raise ValueError("acc_linear needs at least one task")
    moms = [_task_moments(g) for g in groups]
    val = float(np.mean([m[0] @ w for m in moms]))
    ctr = float(np.mean([m[1] @ w for m in moms]))
    se = math.sqrt(sum(float(w @ m[2] @ w) for m in moms)) / k
    n = int(min(len(g) for g in groups))

    def interval(lv):
        h = _q(lv) * se
        return ctr - h, ctr + h

    lo, hi = interval(level)
    method = method or ("normal, Agresti-Coull variance" if len(w) == 1 else "normal, Agresti-Min variance")
    test = lambda t: _z_test(ctr - t, se, None)  # noqa: E731
    top = MAX_N.get(kind)
    zero_only = False
    if top is not None and max(len(g) for g in groups) > top and list(w) == [-1.0, 1.0] and all(np.isin(g, (0.0, 1.0)).all() for g in groups):
        zero_only = True
        n01 = sum(int(((g[:, 0] == 0) & (g[:, 1] == 1)).sum()) for g in groups)
        n10 = sum(int(((g[:, 0] == 1) & (g[:, 1] == 0)).sum()) for g in groups)
        eq = len({len(g) for g in groups}) == 1  # with equal documents per task, avg diff 0 <=> n01 == n10

        def test(t):  # noqa: F811
            if t == 0 and eq:
                return exact.sign_test(n01, n01 + n10), int(np.sign(n01 - n10))
            return 1.0, 0

        method += (f"; above {top} documents in a task only a difference against 0 is decided, by McNemar's exact "
                   f"test on the {n01 + n10} discordant documents of all tasks (the z test's error at the decision "
                   "level was not measured within the goal there)")
    return Estimate(val, lo, hi, n, level, method, MIN_N[kind], test, interval, zero_only=zero_only)


def acc_share(groups: Sequence[np.ndarray], chance: float, level: float = LEVEL) -> Estimate:
    """(avg_b - chance) / (avg_a - chance) over tasks' paired documents (columns a, b): Fieller's interval on the
    Agresti-Min moments; its test at r0 is the z test of (avg_b - c) - r0 (avg_a - c), never below the z test
    of avg_a - c = 0 (see _fieller_test)."""
    k = len(groups)
    moms = [_task_moments(g) for g in groups]
    raw = np.mean([m[0] for m in moms], axis=0)
    mu = np.mean([m[1] for m in moms], axis=0)
    cov = sum(m[2] for m in moms) / k ** 2
    N, D = float(mu[1] - chance), float(mu[0] - chance)
    vN, vD, cND = float(cov[1, 1]), float(cov[0, 0]), float(cov[0, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        val = float(np.float64(raw[1] - chance) / np.float64(raw[0] - chance))
    n = int(min(len(g) for g in groups))

    def test(r0):
        return _fieller_test(N, D, vN, vD, cND, r0, None)

    def interval(lv):
        return fieller_interval(N, D, vN, vD, cND, _q(lv))

    lo, hi = interval(level)
    return Estimate(val, lo, hi, n, level, "Fieller, Agresti-Min variances", MIN_N["acc_share"], test, interval)


def holm(pvalues: Sequence[float], alpha: float = 1 - LEVEL) -> list[tuple[bool, float]]:
    """Holm's step-down over one family: per p-value (rejected, the level it was tested at). The j-th smallest
    p is tested at alpha / (m - j); once one is not rejected, no larger p is, and those keep the level the
    procedure stopped at (a larger p may be below its own alpha / (m - j) yet is not rejected: reporting that
    level beside "not rejected" would contradict the interval shown at it; at the stopping level, whose p it
    exceeds, the interval includes the threshold)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out: list[tuple[bool, float]] = [(False, alpha)] * m
    going, stop = True, alpha
    for j, i in enumerate(order):
        if going:
            stop = alpha / (m - j)
            going = pvalues[i] <= stop
        out[i] = (going, stop)
    return out
