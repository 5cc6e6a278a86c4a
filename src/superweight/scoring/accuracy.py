"""A task's accuracy as a scoring job records it: the mean of 0/1 per-document outcomes with its binomial standard
error, and the standard error of an average over tasks."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


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
