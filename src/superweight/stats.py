"""Uncertainty of every reported number, from the per-document and per-window values in the result files.

- accuracy: binomial standard error sqrt(p(1-p)/n) (closed form);
- perplexity: exp(mean window NLL) with a percentile bootstrap over windows (windows hold equal token counts, so
  the mean of the window means is the token mean);
- two conditions on the same documents or windows: a paired bootstrap (documents or windows drawn once, used for
  both), or McNemar's exact test on the discordant documents;
- anything built from per-task means (average accuracy, a share of a gain, a ratio): ``bootstrap_means`` resamples
  the documents of each task independently, paired across conditions, and applies a vectorized statistic.
Seeded: the same inputs give the same intervals. Undefined quantities are ``NA`` with a reason, never a number."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

LEVEL, N_BOOT, SEED = 0.95, 2000, 0


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

    def as_dict(self) -> dict:
        return {"value": self.value, "lo": self.lo, "hi": self.hi, "n": self.n, "level": self.level,
                "method": self.method}


def binomial_se(p: float, n: int) -> float:
    """Standard error of a proportion p observed on n independent documents: sqrt(p(1-p)/n)."""
    if n <= 0:
        return math.nan
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def accuracy(values: Sequence[float]) -> dict:
    """{"acc", "se", "n"} of 0/1 per-document outcomes (binomial SE)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return {"acc": math.nan, "se": math.nan, "n": 0}
    p = float(v.mean())
    return {"acc": p, "se": binomial_se(p, v.size), "n": int(v.size)}


def avg_se(ses: Sequence[float]) -> float:
    """SE of an unweighted average of independent task means: sqrt(sum se_i^2) / k."""
    s = [x for x in ses]
    return math.sqrt(sum(x * x for x in s)) / len(s) if s else math.nan


def _quantiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval by order statistics (safe with inf; nan samples are dropped)."""
    s = np.sort(samples[~np.isnan(samples)])
    if s.size == 0:
        return math.nan, math.nan
    a = (1 - level) / 2
    lo = s[int(math.floor(a * (s.size - 1)))]
    hi = s[int(math.ceil((1 - a) * (s.size - 1)))]
    return float(lo), float(hi)


def bootstrap_means(groups: Sequence[np.ndarray], stat: Callable[[np.ndarray], np.ndarray], n_boot: int = N_BOOT,
                    seed: int = SEED, level: float = LEVEL, method: str = "bootstrap") -> Estimate:
    """Bootstrap a statistic of group means.

    groups: one array per group (task, corpus), shape (n_i, C): row = document or window, column = condition
    (rows are paired across conditions). stat: maps means of shape (..., G, C) to shape (...); it is applied to the
    observed means for the value and to every resample for the interval. Each group is resampled on its own.
    A statistic that is nan (undefined) in more than (1 - level) / 2 of the resamples gets the interval (-inf, inf)."""
    rng = np.random.default_rng(seed)
    arrs = [np.asarray(g, dtype=float).reshape(len(g), -1) for g in groups]
    if not arrs or any(a.shape[0] == 0 for a in arrs):
        raise ValueError("bootstrap_means needs at least one document or window per group")
    obs = np.stack([a.mean(axis=0) for a in arrs])  # (G, C)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        value = float(stat(obs))
        boot = np.stack([_resampled_means(a, n_boot, rng) for a in arrs], axis=1)
        samples = np.asarray(stat(boot), dtype=float)  # (n_boot,)
    if np.isnan(samples).mean() > (1 - level) / 2:  # undefined in too many resamples: no finite interval
        lo, hi = -math.inf, math.inf
    else:
        lo, hi = _quantiles(samples, level)
    return Estimate(value, lo, hi, int(sum(a.shape[0] for a in arrs)), level, method)


def _resampled_means(a: np.ndarray, n_boot: int, rng, chunk: int = 256) -> np.ndarray:
    """(n_boot, C) means of bootstrap resamples of a's rows, drawn in chunks (full-size tasks stay small in memory;
    the random stream is the same as one (n_boot, n) draw)."""
    n = a.shape[0]
    return np.concatenate([a[rng.integers(0, n, (min(chunk, n_boot - i), n))].mean(axis=1)
                           for i in range(0, n_boot, chunk)])


def ppl_ci(window_nll: Sequence[float], n_boot: int = N_BOOT, seed: int = SEED, level: float = LEVEL) -> Estimate:
    """Perplexity exp(mean window NLL) with a percentile bootstrap CI over windows."""
    return bootstrap_means([np.asarray(window_nll, dtype=float)], lambda m: np.exp(m[..., 0, 0]), n_boot, seed,
                           level, "bootstrap over windows")


def ppl_ratio_ci(nll_a: Sequence[float], nll_b: Sequence[float], paired: bool = True, n_boot: int = N_BOOT,
                 seed: int = SEED, level: float = LEVEL) -> Estimate:
    """ppl(b) / ppl(a) = exp(mean NLL_b - mean NLL_a). Paired: the same windows drawn for both (same corpus,
    windows and length); otherwise each condition's windows are resampled on their own."""
    a, b = np.asarray(nll_a, dtype=float), np.asarray(nll_b, dtype=float)
    if paired:
        if a.shape != b.shape:
            raise ValueError(f"paired windows differ in number: {a.size} vs {b.size}")
        return bootstrap_means([np.stack([a, b], 1)], lambda m: np.exp(m[..., 0, 1] - m[..., 0, 0]), n_boot, seed,
                               level, "paired bootstrap over windows")
    return bootstrap_means([a, b], lambda m: np.exp(m[..., 1, 0] - m[..., 0, 0]), n_boot, seed, level,
                           "bootstrap over windows (unpaired)")


def paired_diff(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOT, seed: int = SEED,
                level: float = LEVEL) -> Estimate:
    """mean(b - a) over paired documents, with a paired bootstrap CI."""
    x = np.stack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)], 1)
    return bootstrap_means([x], lambda m: m[..., 0, 1] - m[..., 0, 0], n_boot, seed, level,
                           "paired bootstrap over documents")


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
