"""Equivalence by two one-sided tests (TOST, Schuirmann 1987): "the true value lies in [low, high]" is shown only
when both H0: theta <= low and H0: theta >= high are rejected. The TOST's p is the larger of the two one-sided
p-values; at size a it rejects exactly when the equal-tailed (1 - 2a) interval lies inside [low, high], so a wide
interval never shows equivalence (it is inconclusive, not "reached").

- ``tost_binomial``: one proportion k / n (exact binomial tails per document; its closed form is the
  Clopper-Pearson interval);
- ``tost_normal``: an estimate d with standard error se (closed form: d -/+ z_{1-a} se inside the bounds);
- ``tost``: any ``Estimate`` whose two-sided test is equal-tailed (its ``test``), e.g. a paired accuracy
  difference (Agresti-Min moments) or a perplexity ratio on paired windows (t, on the log scale);
- ``equivalence``: the grade read off an estimate at a two-sided level L (TOST at size (1 - L) / 2 per side, the
  L interval inside the region): "reached", "not reached" (the L interval wholly outside the region) or
  "inconclusive";
- ``one_sided``: the same for a one-sided (non-inferiority) statement "theta <= bound" or "theta >= bound": one
  one-sided test at size (1 - L) / 2, i.e. the L interval's one end against the bound."""
from __future__ import annotations

from dataclasses import dataclass

from superweight.stats.intervals import Estimate, _sps


@dataclass(frozen=True)
class Tost:
    """p = max(p_low, p_high): p_low of H0 "theta <= low", p_high of H0 "theta >= high" (one-sided each)."""
    p: float
    p_low: float
    p_high: float
    low: float
    high: float


def _tost(p_low: float, p_high: float, low: float, high: float) -> Tost:
    p_low, p_high = min(max(p_low, 0.0), 1.0), min(max(p_high, 0.0), 1.0)
    return Tost(max(p_low, p_high), p_low, p_high, low, high)


def tost_binomial(k: int, n: int, low: float, high: float) -> Tost:
    """Exact TOST of a proportion: p_low = P(X >= k | p = low), p_high = P(X <= k | p = high), X ~ Bin(n, p). A
    bound outside [0, 1] leaves its null hypothesis no true value: that test rejects outright (p 0). A bound at 0 or
    1 is a true value and is tested (k = 0 against low = 0: p_low = 1, not rejected)."""
    if n <= 0 or not 0 <= k <= n or not low < high:
        raise ValueError(f"tost_binomial needs 0 <= k <= n, n >= 1 and low < high, got k={k}, n={n}, "
                         f"[{low}, {high}]")
    b = _sps().binom
    p_low = 0.0 if low < 0 else 1.0 if low > 1 else float(b.sf(k - 1, n, low))
    p_high = 0.0 if high > 1 else 1.0 if high < 0 else float(b.cdf(k, n, high))
    return _tost(p_low, p_high, low, high)


def tost_normal(d: float, se: float, low: float, high: float) -> Tost:
    """TOST of a normal estimate d with standard error se: p_low = 1 - Phi((d - low) / se),
    p_high = Phi((d - high) / se)."""
    if not low < high:
        raise ValueError(f"tost_normal needs low < high, got [{low}, {high}]")
    if not se > 0:
        return _tost(float(d <= low), float(d >= high), low, high)
    nd = _sps().norm
    return _tost(float(nd.sf((d - low) / se)), float(nd.cdf((d - high) / se)), low, high)


def _one_sided(est: Estimate, bound: float, above: bool) -> float:
    """p of H0 "theta <= bound" (above=True) or "theta >= bound" from the estimate's equal-tailed two-sided test:
    half its p when the estimate lies on the alternative's side, else 1 minus that."""
    p2, side = est.p(bound)
    half = min(p2, 1.0) / 2
    return half if side == (1 if above else -1) else 1.0 - half


def tost(est: Estimate, low: float, high: float) -> Tost:
    """TOST from an estimate's own test (on the estimate's scale: a ratio's bounds as ratios)."""
    if not low < high:
        raise ValueError(f"tost needs low < high, got [{low}, {high}]")
    return _tost(_one_sided(est, low, True), _one_sided(est, high, False), low, high)


def equivalence(est: Estimate, low: float, high: float, level: float) -> tuple[str, Tost, tuple[float, float]]:
    """(grade, TOST, the level-``level`` interval) of "the true value is in [low, high]": "reached" when the TOST
    rejects at size (1 - level) / 2 (the interval at ``level`` inside the region), "not reached" when that
    interval lies wholly outside the region, else "inconclusive"."""
    t = tost(est, low, high)
    e = est.at(level)
    if t.p <= (1 - level) / 2:
        st = "reached"
    elif e.hi < low or e.lo > high:
        st = "not reached"
    else:
        st = "inconclusive"
    return st, t, (e.lo, e.hi)


def one_sided(est: Estimate, bound: float, at_most: bool, level: float) -> tuple[str, float, tuple[float, float]]:
    """(grade, p, the level-``level`` interval) of "the true value is <= bound" (``at_most``) or ">= bound": one
    one-sided test of the opposite, at size (1 - level) / 2 ("reached" when the interval's end lies on the claim's
    side of the bound), "not reached" when the whole interval lies beyond the bound, else "inconclusive"."""
    p = min(max(_one_sided(est, bound, not at_most), 0.0), 1.0)
    e = est.at(level)
    if p <= (1 - level) / 2:
        st = "reached"
    elif (e.lo > bound) if at_most else (e.hi < bound):
        st = "not reached"
    else:
        st = "inconclusive"
    return st, p, (e.lo, e.hi)


def one_sided_words(state: str, iv: tuple[float, float], bound: float, at_most: bool, p: float, size: float,
                    fmt=lambda v: f"{v:.3g}") -> str:
    """A one-sided grade's evidence: the p against the size when reached, else the interval against the bound."""
    a, b = (fmt(x) for x in iv)
    if state == "reached":
        return f"reached (p = {p:.2g} <= {size:.2g})"
    if state == "not reached":
        return f"not reached (interval [{a}, {b}] {'above' if at_most else 'below'} {fmt(bound)})"
    return f"inconclusive (interval [{a}, {b}] includes {fmt(bound)})"


def words(state: str, iv: tuple[float, float], low: float, high: float, t: Tost, size: float,
          fmt=lambda v: f"{v:.3g}") -> str:
    """How a grade's evidence line says it: the TOST p against its size when reached, else the interval against
    the region."""
    a, b = (fmt(x) for x in iv)
    if state == "reached":
        return f"reached (TOST p = {t.p:.2g} <= {size:.2g})"
    if state == "not reached":
        return f"not reached (interval [{a}, {b}] outside [{fmt(low)}, {fmt(high)}])"
    why = "wider than" if iv[1] - iv[0] > high - low else "not inside"
    return f"inconclusive (interval [{a}, {b}] {why} [{fmt(low)}, {fmt(high)}])"
