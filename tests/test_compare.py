"""The comparison functions the tables and verdicts share, each against a closed form written out here."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from superweight.report import compare


def res(tasks=None, windows=None, seqlen=512):
    """A scores.json with the given per-document outcomes {task: {doc_id: 0/1}} and per-window NLLs."""
    out = {"status": "done", "scores": {"tasks": {}, "perplexity": {}}}
    for t, d in (tasks or {}).items():
        out["scores"]["tasks"][t] = {"docs": {"doc_id": list(d), "acc": list(d.values())}}
    if windows is not None:
        out["scores"]["perplexity"]["wikitext2"] = {"window_nll": list(windows), "windows": len(windows),
                                                    "seqlen": seqlen}
    return out


def test_same_windows_needs_equal_length_and_count():
    a, b = res(windows=[1.0, 2.0]), res(windows=[1.5, 2.5])
    assert compare.same_windows(a, b, "wikitext2")
    assert not compare.same_windows(a, res(windows=[1.0, 2.0], seqlen=1024), "wikitext2")
    assert not compare.same_windows(a, res(windows=[1.0, 2.0, 3.0]), "wikitext2")


def test_acc_diff_and_task_diff_pair_documents_by_id():
    # task A: docs 0-9; b is right on two more docs; b also scored an extra doc 99 that a did not (ignored)
    da = {i: float(i < 5) for i in range(10)}
    db = {**{i: float(i < 7) for i in range(10)}, 99: 1.0}
    tb = {i: 1.0 for i in range(10)}  # task B: a right on 4, b on all 10
    ta = {i: float(i < 4) for i in range(10)}
    a, b = res({"A": da, "B": ta}), res({"A": db, "B": tb})
    d = compare.task_diff(a, b, "A")
    assert d.value == pytest.approx(0.2) and d.n == 10
    # Agresti-Min: n01 = 2 (+0.5), n10 = 0 (+0.5), n = 10
    p01, p10 = 2.5 / 12, 0.5 / 12
    se = math.sqrt(p01 + p10 - (p01 - p10) ** 2) / math.sqrt(10)
    assert (d.lo, d.hi) == pytest.approx((0.2 - 1.959964 * se, 0.2 + 1.959964 * se), rel=1e-5)
    e = compare.acc_diff(a, b)
    assert e.value == pytest.approx((0.2 + 0.6) / 2)  # unweighted over tasks, as the paper
    q01, q10 = 6.5 / 12, 0.5 / 12
    se_b = math.sqrt(q01 + q10 - (q01 - q10) ** 2) / math.sqrt(10)
    assert (e.hi - e.lo) / 2 == pytest.approx(1.959964 * math.sqrt(se ** 2 + se_b ** 2) / 2, rel=1e-5)
    assert compare.task_diff(a, b, "missing") is None


def test_retained_share_is_the_fieller_set_of_the_paired_z_test():
    rng = np.random.default_rng(3)
    tasks_o = {t: {i: float(x) for i, x in enumerate(rng.random(40) < p)} for t, p in
               (("arc_easy", 0.7), ("piqa", 0.8))}
    tasks_p = {t: {i: float(x) for i, x in enumerate(rng.random(40) < p)} for t, p in
               (("arc_easy", 0.3), ("piqa", 0.55))}
    o, p = res(tasks_o), res(tasks_p)
    r = compare.retained_share(o, p)
    c = (0.25 + 0.5) / 2
    ao = np.mean([np.mean(list(tasks_o[t].values())) for t in tasks_o])
    ap = np.mean([np.mean(list(tasks_p[t].values())) for t in tasks_p])
    assert r.value == pytest.approx((ap - c) / (ao - c))
    for end in (r.lo, r.hi):  # the z test of (avg_p - c) - r (avg_o - c) has p = 0.05 at the interval's ends
        assert r.p(end)[0] == pytest.approx(0.05, rel=1e-6)
    assert r.lo < r.value < r.hi
    # an original at chance: the share is undefined, with the reason
    flat = res({"piqa": {i: float(i % 2) for i in range(10)}})
    na = compare.retained_share(flat, flat)
    assert isinstance(na, compare.NA) and "not above chance" in str(na)


def test_ppl_share_value_and_delta_method_interval():
    rng = np.random.default_rng(5)
    base = 3.0 + 0.3 * rng.standard_t(3, 32)
    x = [base + m + 0.01 * rng.standard_normal(32) for m in (0.06, 0.02, 0.01)]  # naive, method, reference
    rs = [res(windows=w) for w in x]
    e = compare.ppl_share(rs, "wikitext2", (0, 1), (0, 2), "gain")
    p = [math.exp(w.mean()) for w in x]
    assert e.value == pytest.approx((p[0] - p[1]) / (p[0] - p[2]))
    # closed form of the delta-method influences: ppl_j * (nll_ij - mean_j)
    infl = [pj * (w - w.mean()) for pj, w in zip(p, x)]
    u, v = infl[0] - infl[1], infl[0] - infl[2]
    for end in (e.lo, e.hi):
        N, D = p[0] - p[1], p[0] - p[2]
        se = np.std(u - end * v, ddof=1) / math.sqrt(32)
        assert 2 * sps.t.sf(abs(N - end * D) / se, 31) == pytest.approx(0.05, rel=1e-5)
    assert e.lo < e.value < e.hi and e.n == 32
    # the reference does not improve on naive: undefined, with the reason
    worse = compare.ppl_share([rs[0], rs[1], res(windows=x[0] + 0.1)], "wikitext2", (0, 1), (0, 2), "gain")
    assert isinstance(worse, compare.NA) and str(worse).startswith("n/a: gain is")
    assert isinstance(compare.ppl_share([rs[0], rs[1], res(windows=x[2][:8])], "wikitext2", (0, 1), (0, 2), "g"),
                      compare.NA)


def test_ratio_of_means_over_prompts(small_n_machinery):
    a = [0.1, 0.2, 0.15, 0.12, 0.18]
    b = [0.3, 0.5, 0.4, 0.3, 0.5]
    e = compare.ratio_of_means(a, b)
    assert e.value == pytest.approx(sum(b) / sum(a)) and e.n == 5
    assert e.p(e.lo)[0] == pytest.approx(0.05, rel=1e-6)
    assert compare.ratio_of_means(a, b[:4]) is None and compare.ratio_of_means([], []) is None


def test_ppl_ratio_pairs_only_the_same_windows(small_n_machinery):
    a, b = res(windows=[3.0, 3.2, 2.9, 3.1]), res(windows=[4.0, 4.3, 3.8, 4.2])
    e = compare.ppl_ratio(a, b, "wikitext2")
    assert e.value == pytest.approx(math.exp(1.025)) and "paired" in e.method
    u = compare.ppl_ratio(a, res(windows=[4.0, 4.3, 3.8, 4.2], seqlen=256), "wikitext2")
    assert "unpaired" in u.method and u.value == pytest.approx(e.value)


def test_one_task_accuracy_difference_gets_the_one_task_minimum():
    """Exact enumeration over every 2x2 table: one task's paired difference covers < 94% at 5 documents when the
    conditions disagree often (p01 = p10 = 0.2), so an 'average' over a single task is not decided with the
    several-task minimum."""
    from scipy import stats as sps

    from superweight.stats.intervals import MIN_N, acc_linear

    n, probs, cov = 5, [0.3, 0.2, 0.2, 0.3], 0.0  # p11, p01, p10, p00; true difference 0
    for c11 in range(n + 1):
        for c01 in range(n + 1 - c11):
            for c10 in range(n + 1 - c11 - c01):
                c00 = n - c11 - c01 - c10
                g = np.array([[1, 1]] * c11 + [[0, 1]] * c01 + [[1, 0]] * c10 + [[0, 0]] * c00, dtype=float)
                e = acc_linear([g], (-1.0, 1.0))
                cov += sps.multinomial.pmf([c11, c01, c10, c00], n, probs) * (e.lo <= 0.0 <= e.hi)
    assert cov < 0.94
    one = compare.acc_diff(res({"A": {0: 1.0, 1: 0.0, 2: 1.0}}), res({"A": {0: 0.0, 1: 1.0, 2: 1.0}}))
    assert one.min_n == MIN_N["task_diff"] and one.too_small
    two = compare.acc_diff(res({"A": {0: 1.0, 1: 0.0}, "B": {0: 1.0}}), res({"A": {0: 0.0, 1: 1.0}, "B": {0: 1.0}}))
    assert two.min_n == MIN_N["acc_diff"]


def test_tables_mark_estimates_taken_at_an_early_sequential_stop(tmp_path):
    """A condition scored in looks that stopped at look 1 of 2: its accuracies, average and the comparison with
    the original carry † in the shown table, with the footnote; a condition at its last look does not."""
    from superweight.report import tables
    from superweight.stats.sequential import Design

    def scored(p, n, stopped):
        d = {i: float(i < p * n) for i in range(n)}
        r = res({"piqa": d, "arc_easy": d})
        r["scores"]["tasks"] = {t: {**v, "acc": p, "acc_se": 0.05, "n": n} for t, v in r["scores"]["tasks"].items()}
        r["scores"]["avg_acc"] = p
        r["scores"]["sequential"] = {"docs": {"design": Design((20, 40)).as_dict(), "n": n,
                                              "stopped_at_look": stopped}}
        return r

    o, p = scored(0.8, 20, 1), scored(0.3, 20, 1)
    rows = {**tables._score_columns(p["scores"]), **tables._comparison_columns(o, p, "original")}
    assert rows["PIQA stop"] == rows["avg stop"] == rows["Δ avg vs original stop"] == "early"
    shown = tables.display(__import__("pandas").DataFrame([rows]))
    assert shown["PIQA"][0].startswith("30.00†") and shown["Δ avg vs original"][0].split(" ")[0].endswith("†")
    md = tables.write_table(__import__("pandas").DataFrame([rows]), tmp_path / "t", caption="T")[1].read_text()
    assert tables.EARLY_NOTE.strip() in md
    last = tables._score_columns(scored(0.3, 40, 2)["scores"])
    assert not any(k.endswith(" stop") for k in last)
