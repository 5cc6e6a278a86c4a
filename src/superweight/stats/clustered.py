"""Windows that share an article are not independent (within-article correlation 0.2-0.4): a test that counts
windows as independent is too liberal. ``cluster_units`` turns each article into one unit whose plain mean and
variance are the cluster-robust ones, so the library's one-sample tests (t_mean, sign_flip) apply to the units."""
from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np


def cluster_units(values: Sequence[float], clusters: Sequence[Hashable]) -> np.ndarray:
    """One unit per cluster (article), in order of first appearance:
    u_g = m + (G / n) * sum_{i in g} (x_i - m), m = mean(x), G clusters, n values.
    Then mean(u) == mean(x) and var(u, ddof=1) / G == G / (G - 1) * sum_g (sum_{i in g} (x_i - m))^2 / n^2, the
    cluster-robust (CR1) variance of the window mean. With clusters of equal size u_g = (G / n) * sum_{i in g} x_i;
    when every window is its own cluster, u == x."""
    x = np.asarray(values, dtype=float).ravel()
    ids = list(clusters)
    if len(ids) != x.size:
        raise ValueError(f"cluster_units needs one cluster id per value, got {len(ids)} ids for {x.size} values")
    if x.size == 0:
        raise ValueError("cluster_units needs at least one value")
    index: dict = {}
    g = np.array([index.setdefault(c, len(index)) for c in ids])
    G, n = len(index), x.size
    if G == n:
        return x.copy()
    m = x.mean()
    return m + (G / n) * np.bincount(g, weights=x - m, minlength=G)


def cluster_means(values: Sequence[float], clusters: Sequence[Hashable]) -> np.ndarray:
    """The mean of each cluster's values, in order of first appearance: the independent units of a test of the
    median article (exact.median_test), where a mean's pseudo-values would not do."""
    x = np.asarray(values, dtype=float).ravel()
    ids = list(clusters)
    if len(ids) != x.size or x.size == 0:
        raise ValueError(f"cluster_means needs one cluster id per value, got {len(ids)} ids for {x.size} values")
    index: dict = {}
    g = np.array([index.setdefault(c, len(index)) for c in ids])
    return np.bincount(g, weights=x) / np.bincount(g)
