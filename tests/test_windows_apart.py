"""Windows as independent units (issue 32, item 2): spread over the corpus, each with its article, windows that
share an article clustered; and the exact sign test of the median below the t test's measured minimum n (item 1)."""
import itertools
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from superweight.scoring.data import corpus_articles, joined_starts
from superweight.scoring.perplexity import article_starts, perplexity, spread, windows
from superweight.stats.clustered import cluster_means, cluster_units
from superweight.stats.exact import median_interval, median_test, sign_test
from superweight.stats.intervals import MIN_N, acc_linear, fieller_units, ppl_ratio_ci, t_mean
from tiny import tiny_model
from tiny_tokenizer import bos_tokenizer

DATA = Path(os.environ.get("SUPERWEIGHT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def test_spread_windows_are_distinct_and_every_prefix_is_spread():
    for n, k in ((560, 16), (100, 12), (17, 16), (16, 16), (5, 9)):
        idx = spread(n, k)
        assert len(idx) == min(n, k) == len(set(idx)) and all(0 <= i < n for i in idx)
        for m in (4, 8):  # a sequential look's prefix covers the corpus: no gap wider than ~2 n / m
            if m < len(idx) and n > k:
                s = sorted(idx[:m]) + [n + idx[0]]
                assert max(b - a for a, b in zip(s, s[1:])) <= 2 * n / m + 1
    assert windows(1000, 10, 4, order="spread") == [(0, 10), (500, 510), (250, 260), (750, 760)]
    assert windows(1000, 10, 4) == [(0, 10), (10, 20), (20, 30), (30, 40)]  # GPTQ's first windows
    with pytest.raises(ValueError, match="window order"):
        windows(1000, 10, 4, order="random")


def test_article_starts_map_characters_to_their_tokens_exactly():
    tok = bos_tokenizer()  # one token per character after the BOS
    text = "ab cd efg"
    assert article_starts(tok, text, [0, 3, 6]) == [0, 4, 7]  # the BOS belongs to the first article
    assert joined_starts(["ab", "cd", "efg"], " ", [0, 1, 2]) == [0, 3, 6]


def test_each_window_records_its_article_and_looks_concatenate():
    model = tiny_model("llama")
    torch.manual_seed(0)
    ids = torch.randint(0, 128, (64,))
    arts = [0, 20, 40]  # articles start at tokens 0, 20, 40
    whole = perplexity(model, ids, 8, 4, progress=False, order="spread", articles=arts)
    assert whole["window_start"] == [0, 32, 16, 48] and whole["window_article"] == [0, 1, 0, 2]
    parts = [perplexity(model, ids, 8, 4, progress=False, order="spread", articles=arts, part=p)
             for p in ((0, 2), (2, 4))]
    assert parts[0]["window_nll"] + parts[1]["window_nll"] == pytest.approx(whole["window_nll"])
    assert parts[1]["window_start"] == [16, 48]


@pytest.mark.skipif(not (DATA / "wikitext2").is_dir(), reason="needs the shared data")
def test_wikitext2_articles_are_the_title_rows():
    text, starts = corpus_articles("wikitext2", DATA)
    assert len(starts) == 62 and starts == sorted(starts)
    assert all(text[s:].startswith(" = ") and not text[s:].startswith(" = = ") for s in starts)
    assert text[starts[0]:].startswith(" = Robert Boulter = ")


def test_cluster_units_make_the_paired_ratio_a_t_over_articles(small_n_machinery):
    rng = np.random.default_rng(3)
    a = rng.normal(3, 0.2, 24)
    b = a + math.log(5) + rng.normal(0, 0.3, 24)
    arts = [i // 3 for i in range(24)]  # 8 articles of 3 windows
    e = ppl_ratio_ci(a, b, True, clusters=arts)
    direct = t_mean(cluster_units(b - a, arts), log_scale=True)
    assert e.n == 8 and (e.lo, e.hi) == pytest.approx((direct.lo, direct.hi))
    assert e.value == pytest.approx(math.exp(np.mean(b - a)))
    assert "8 articles of 24 windows" in e.method
    assert ppl_ratio_ci(a, b, True, clusters=list(range(24))).n == 24  # one window per article: unchanged


def test_the_median_sign_test_is_exact_and_agrees_with_its_interval():
    # complete enumeration: under a null median every above/below pattern is equally likely; the share rejected
    # at a level never exceeds it, and the test rejects exactly outside the order-statistic interval
    n = 10
    for a in (0.01, 0.05, 0.2):
        rejected = sum(median_test(np.where(np.array(s) > 0, 1.0, -1.0), 0.0)[0] <= a
                       for s in itertools.product((1, -1), repeat=n))
        assert rejected / 2 ** n <= a
    x = np.random.default_rng(2).exponential(1.0, 16)  # skewed: the median test does not care
    lo, hi = median_interval(x, 0.99)
    for t in np.linspace(-1, 5, 601):
        if t not in x:
            assert (median_test(x, t)[0] <= 0.01) == (not lo <= t <= hi)
    assert median_test(x, -1.0) == (2 / 2 ** 16, 1)


def test_below_the_t_tests_minimum_the_median_decides_and_says_so():
    n = MIN_N["t"] - 1
    x = np.linspace(1.0, 2.0, n)
    e = t_mean(x)
    assert "exact sign test of the median" in e.method and not e.too_small
    assert e.value == pytest.approx(np.median(x)) and e.p(0.0) == (2 / 2 ** n, 1)
    # windows that share an article: the median article, each the mean of its windows
    arts = [i // 2 for i in range(16)]
    w = np.arange(16.0)
    e = t_mean(w, clusters=arts, unit="window")
    assert e.n == 8 and e.value == pytest.approx(np.median(cluster_means(w, arts))) and "8 articles of 16" in e.method


def test_a_ratio_of_means_below_its_minimum_is_the_median_per_unit_ratio():
    num, den = np.array([2.0, 3.0, 5.0, 7.0, 11.0, 13.0]), np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
    e = fieller_units(num, den)
    assert e.value == pytest.approx(np.median(num / den)) and "median per-unit ratio" in e.method
    infl = fieller_units(num - num.mean(), den - den.mean(), value=1.0, num_mean=1.0, den_mean=1.0)
    assert not e.too_small and e.n == 6 and infl.too_small  # influences have no per-unit ratio: inconclusive, never a median


def test_a_large_paired_accuracy_difference_is_mcnemar_against_zero():
    rng = np.random.default_rng(0)
    a = (rng.random(400) < 0.6).astype(float)
    b = np.where(rng.random(400) < 0.1, 1 - a, a)
    e = acc_linear([np.stack([a, b], 1)], (-1.0, 1.0))
    n01, n10 = int(((a == 0) & (b == 1)).sum()), int(((a == 1) & (b == 0)).sum())
    assert e.p(0.0) == (sign_test(n01, n01 + n10), int(np.sign(n01 - n10))) and "McNemar" in e.method
    assert e.p(0.05) == (1.0, 0)  # no exact test against another margin there


def test_a_median_window_ratio_is_never_graded_against_the_papers_corpus_ratio_and_tables_show_the_mean():
    from superweight.report import compare
    from superweight.report.verdicts import Grade, Sub, _grade
    from synth import result

    rng = np.random.default_rng(4)
    a = rng.normal(3.0, 0.2, 16)
    b = a + math.log(300) + rng.normal(0, 0.5, 16)
    e = ppl_ratio_ci(a, b)  # 16 windows: the median's sign test
    assert e.estimand == "median"
    (g, st, words), = _grade(Sub("wikitext2 ppl ratio", e, 1.0, grades=(Grade("Table 1", 214.0, "x214"),)), 0.99)
    assert st == "not graded" and words.startswith("not graded")
    ra, rb = result("m", condition="original"), result("m", condition="prune_sw")
    for r, w in ((ra, a), (rb, b)):
        r["scores"]["perplexity"] = {"wikitext2": {"ppl": math.exp(w.mean()), "window_nll": list(w), "windows": 16,
                                                   "seqlen": 256}}
    assert compare.ppl_ratio(ra, rb, "wikitext2").estimand == "median"
    tab = compare.ppl_ratio(ra, rb, "wikitext2", table=True)  # a table cell: the mean ratio and its t interval
    assert tab.estimand == "mean" and tab.value == pytest.approx(math.exp(np.mean(b - a))) and tab.lo < tab.value < tab.hi


def test_a_t_test_tested_below_the_level_its_minimum_was_measured_at_decides_by_the_median():
    """56 windows: the t decides in a family whose first Holm level is 0.05 / 20 = 0.0025 (needs 48); in a family
    of 60 (first level 0.00083, below the smallest measured level) the same sub-test is the median's sign test."""
    from superweight.report.verdicts import Finding, Sub, decide
    from superweight.stats.intervals import min_n_at

    assert min_n_at("t", 0.0025) == 48 and min_n_at("t", 0.0015) == 64 and min_n_at("t", 0.0008) is None
    rng = np.random.default_rng(5)
    a = rng.normal(3.0, 0.2, 56)
    b = a + math.log(3) + rng.normal(0, 0.3, 56)

    def family(m):
        subs = [Sub("wikitext2 ppl ratio", ppl_ratio_ci(a, b), 1.0)]
        subs += [Sub(f"other {i}", ppl_ratio_ci(a, a + 0.01 * rng.standard_normal(56)), 1.0) for i in range(m - 1)]
        decide([Finding(None, "", subs=subs)])
        return subs[0]

    assert family(20).est.kind == "t" and family(20).decision == "holds"
    s = family(60)
    assert s.est.estimand == "median" and "at the level it is tested at" in s.est.method and s.decision == "holds"
