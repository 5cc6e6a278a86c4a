import numpy as np
import pytest

from superweight.stats.clustered import cluster_units


def cr1(x, ids):
    x, ids = np.asarray(x, float), list(ids)
    m, n, groups = x.mean(), x.size, sorted(set(ids), key=ids.index)
    G = len(groups)
    return sum(sum(x[i] - m for i in range(n) if ids[i] == g) ** 2 for g in groups) * G / ((G - 1) * n ** 2)


@pytest.mark.parametrize("ids", [[0, 0, 1, 1, 2, 2], ["b", "b", "a", "c", "a", "c", "c"],
                                 [1, 2, 2, 2, 3, 4, 4, 1, 1, 5], [(0, 1), (0, 1), "x"]])
def test_mean_and_cluster_robust_variance(ids):
    x = np.random.default_rng(len(ids)).normal(3.0, 1.0, len(ids))
    u = cluster_units(x, ids)
    G = len(set(ids))
    assert u.size == G
    assert u.mean() == pytest.approx(x.mean(), rel=1e-12)
    assert u.var(ddof=1) / G == pytest.approx(cr1(x, ids), rel=1e-10)


def test_equal_sizes_are_scaled_sums_in_first_appearance_order():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    u = cluster_units(x, ["z", "a", "z", "a", "m", "m"])
    assert u == pytest.approx(np.array([4.0, 6.0, 11.0]) * 3 / 6)


def test_singletons_unchanged_and_bad_input():
    x = np.array([0.3, -1.0, 2.5, 7.0])
    assert np.array_equal(cluster_units(x, ["d", "c", "b", "a"]), x)
    with pytest.raises(ValueError, match="one cluster id per value"):
        cluster_units(x, [0, 1, 2])
    with pytest.raises(ValueError):
        cluster_units([], [])
