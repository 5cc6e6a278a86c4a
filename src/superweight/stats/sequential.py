"""Group-sequential stopping for the verdict tests: score in chunks ("looks"), stop once a comparison is decided.

A design fixes the looks in advance (sample sizes n_1 < ... < n_K, the last one the configured maximum) and spends
the two-sided error rate alpha over them with a Lan-DeMets spending function of the information fraction
t_k = n_k / n_K (O'Brien-Fleming-type: alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt t), little alpha early; or
Pocock-type: alpha ln(1 + (e - 1) t)). The z boundaries c_k solve P(|Z_j| < c_j for j < k, |Z_k| >= c_k) =
alpha(t_k) - alpha(t_{k-1}) under the null, with Z_k the standardized sum of a Brownian motion at t_k (independent
increments), by numerical integration of the continuation density on a grid. Each verdict test (a t, Welch,
exact or normal test of ``stats``, through ``Estimate.p``) is then run at look k at the nominal two-sided level
2 (1 - Phi(c_k)) instead of alpha: "decided at some look" has probability <= alpha at a true value on the
threshold, whatever rule picked the look at which it is read (the event is inside "crosses at some look"), so
a comparison read at another comparison's stopping look keeps its error rate too. For t statistics the nominal
p-value boundaries are the usual approximation; tests/test_sequential.py measures the false-decision rate.
Torch-free: the workflow host and the report read it."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from superweight.stats.intervals import NA, Estimate

SPENDING = ("obf", "pocock")
GRID = 401  # points of the continuation grid per look (boundaries agree with 1201 points to 1e-9)


def spent(t: float, alpha: float, kind: str = "obf") -> float:
    """Cumulative two-sided error rate spent by information fraction t in (0, 1]."""
    from scipy import stats as sps  # lazily: the run plan reads the claims

    if kind == "obf":
        return float(2 * sps.norm.sf(sps.norm.isf(alpha / 2) / math.sqrt(t)))
    if kind == "pocock":
        return float(alpha * math.log(1 + (math.e - 1) * t))
    raise ValueError(f"spending {kind!r} is not one of {', '.join(SPENDING)}: set sequential.spending")


def boundaries(fractions: tuple[float, ...], alpha: float, kind: str = "obf") -> tuple[float, ...]:
    """Two-sided z boundaries c_1..c_K at the information fractions (increasing, last 1) spending ``alpha``."""
    t = np.asarray(fractions, dtype=float)
    if t.size == 0 or np.any(np.diff(t) <= 0) or t[0] <= 0 or abs(t[-1] - 1) > 1e-12:
        raise ValueError(f"information fractions must increase from above 0 to 1, got {list(fractions)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return _bounds(tuple(float(x) for x in t), alpha, kind)


@lru_cache(maxsize=256)
def _bounds(t: tuple[float, ...], alpha: float, kind: str) -> tuple[float, ...]:
    """The boundaries of the first len(t) looks (a look's boundary depends on the earlier looks only)."""
    from scipy import optimize, stats as sps  # lazily: the run plan reads the claims

    cum = [spent(x, alpha, kind) for x in t]
    inc = np.diff([0.0] + cum)
    out: list[float] = []
    x = dens = None  # continuation grid on the Brownian scale B(t) = sqrt(t) Z, and its sub-density
    prev = 0.0
    for k, (tk, a) in enumerate(zip(t, inc)):
        if k == 0:
            c = float(sps.norm.isf(a / 2))
        else:
            s = math.sqrt(tk - prev)
            w = _weights(x) * dens

            def cross(b):  # P(continued so far and |B(t_k)| >= b sqrt(t_k))
                bb = b * math.sqrt(tk)
                return float(w @ (sps.norm.cdf((-bb - x) / s) + sps.norm.sf((bb - x) / s)))

            hi = float(sps.norm.isf(a / 2))  # crossing alone (ignoring the past) never spends less than a
            if a < 1e-12 or cross(hi) >= a:  # too little to resolve on the grid: the conservative isf bound
                c = hi
            else:
                c = float(optimize.brentq(lambda b: cross(b) - a, 1e-6, hi, xtol=1e-10))
        out.append(c)
        b = c * math.sqrt(tk)
        y = np.linspace(-b, b, GRID)
        if k == 0:
            dens = sps.norm.pdf(y / math.sqrt(tk)) / math.sqrt(tk)
        else:
            s = math.sqrt(tk - prev)
            dens = (sps.norm.pdf((y[:, None] - x[None, :]) / s) / s) @ (_weights(x) * dens)
        x, prev = y, tk
    return tuple(out)


def _weights(x: np.ndarray) -> np.ndarray:
    """Simpson weights on an even-spaced grid of odd length."""
    h = x[1] - x[0]
    w = np.ones(x.size)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return w * h / 3


@dataclass(frozen=True)
class Design:
    """Looks (sample sizes, increasing; the last is the maximum) and the error rate spent over them."""
    looks: tuple[int, ...]
    alpha: float = 0.05
    spending: str = "obf"

    def __post_init__(self):
        lk = tuple(int(n) for n in self.looks)
        if not lk or lk[0] < 1 or any(b <= a for a, b in zip(lk, lk[1:])):
            raise ValueError(f"looks must be increasing whole numbers >= 1, got {list(self.looks)}: fix "
                             "sequential looks in the config")
        object.__setattr__(self, "looks", lk)
        spent(1.0, self.alpha, self.spending)  # validates the spending name

    @property
    def fractions(self) -> tuple[float, ...]:
        return tuple(n / self.looks[-1] for n in self.looks)

    @property
    def bounds(self) -> tuple[float, ...]:
        return boundaries(self.fractions, self.alpha, self.spending)

    @property
    def levels(self) -> tuple[float, ...]:
        """Nominal two-sided p-value level of each look (what a verdict test is run at there)."""
        from scipy import stats as sps  # lazily: the run plan reads the claims

        return tuple(float(2 * sps.norm.sf(c)) for c in self.bounds)

    def as_dict(self) -> dict:
        return {"looks": list(self.looks), "alpha": self.alpha, "spending": self.spending,
                "levels": list(self.levels)}


def decide(p: float, side: int, k: int, design: Design, higher_holds: bool = True) -> str:
    """'holds' / 'fails' when the test's two-sided p at look k is at or below the look's nominal level (side: +1
    the estimate is above the threshold, -1 below), else 'continue' before the last look, 'inconclusive' at it."""
    if side != 0 and not math.isnan(p) and p <= design.levels[k]:
        return "holds" if (side > 0) == higher_holds else "fails"
    return "continue" if k < len(design.looks) - 1 else "inconclusive"


def adjusted_p(p: float, k: int, design: Design) -> float:
    """The smallest alpha at which the design (same looks and spending) decides a test with two-sided p at look
    k: a p-value on the scale of the whole design, for a multiplicity correction (Holm) across claims (relative
    precision 1e-6; the level of a look rises with alpha)."""
    from scipy import optimize, stats as sps  # lazily: the run plan reads the claims

    t = design.fractions[:k + 1]

    def gap(log_a):
        return math.log(2 * sps.norm.sf(_bounds(t, math.exp(log_a), design.spending)[k])) - math.log(p)

    if math.isnan(p) or p >= 1:
        return 1.0
    if p <= 0:
        return 0.0
    lo, hi = math.log(1e-15), math.log(1 - 1e-9)
    if gap(hi) < 0:
        return 1.0
    if gap(lo) >= 0:
        return math.exp(lo)
    return float(math.exp(optimize.brentq(gap, lo, hi, xtol=1e-7)))


def stop_reason(decisions: dict[str, str], k: int, design: Design) -> tuple[bool, str]:
    """(stop, why) after look k from each comparison's decision ('holds' / 'fails' / 'continue' /
    'inconclusive'): stop when none continues."""
    open_ = sorted(c for c, d in decisions.items() if d == "continue")
    n = design.looks[k]
    if not open_:
        what = ", ".join(f"{c} {d}" for c, d in sorted(decisions.items()))
        last = k == len(design.looks) - 1
        verb = "decided" if all(d in ("holds", "fails", "higher", "lower") for d in decisions.values()) else "stopped"
        return True, (f"maximum n={n} reached: {what}" if last else f"{verb} at look {k + 1} (n={n}): {what}")
    return False, f"undecided at look {k + 1} (n={n}): {', '.join(open_)}"



def from_record(record: dict) -> Design:
    """The design a ``scores.sequential`` record (scoring.score.run_looks) was scored with."""
    d = record["design"]
    return Design(tuple(d["looks"]), d.get("alpha", 0.05), d.get("spending", "obf"))


def last_look(n: int, design: Design) -> int | None:
    """The largest look size at or below n (None below the first look): where a comparison on n units is read."""
    sizes = [m for m in design.looks if m <= n]
    return sizes[-1] if sizes else None


def on_design(est: Estimate, design: Design, n: int) -> Estimate | NA:
    """A fixed-sample estimate on exactly the first ``n`` units (a look size) read as a test of the design: its
    p-value the design's (``adjusted_p``: the smallest alpha at which the same looks and spending decide it at
    this look) and its interval at level L the repeated confidence interval (the fixed-sample interval at the
    look's nominal level of a design spending 1 - L), so that the interval excludes a threshold exactly when the
    design's p against it is below 1 - L. Valid whichever rule chose the look (see the module docstring)."""
    from scipy import stats as sps  # lazily: the run plan reads the claims

    if n not in design.looks:
        raise ValueError(f"n={n} is not a look of the design {list(design.looks)}: cut the units to a look first")
    if est.test is None or est.interval is None:
        return NA(f"{est.method} has no closed-form test to read at a look of the sequential design")
    k, K = design.looks.index(n), len(design.looks)
    t = design.fractions[:k + 1]

    def test(threshold):
        p, side = est.test(threshold)
        return adjusted_p(p, k, design), side

    def interval(level):
        nominal = float(2 * sps.norm.sf(_bounds(t, 1 - level, design.spending)[k]))
        return est.interval(1 - nominal)

    lo, hi = interval(est.level)
    return replace(est, lo=lo, hi=hi, test=test, interval=interval, early_stop=k < K - 1,
                   floor_p=adjusted_p(est.floor_p, k, design) if est.floor_p else 0.0,
                   fallback=(lambda f=est.fallback: on_design(f(), design, n)) if est.fallback else None,
                   method=f"{est.method}; group-sequential, look {k + 1} of {K} (n={n} of {design.looks[-1]}, "
                          f"{design.spending} spending)")
