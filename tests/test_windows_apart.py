"""Windows as independent units (issue 32, item 2): spread over the corpus, each with its article, windows that
share an article clustered; and the exact sign-flip fallback below the t test's minimum n (item 1)."""
import itertools
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from superweight.scoring.data import corpus_articles, joined_starts
from superweight.scoring.perplexity import article_starts, perplexity, spread, windows
from superweight.stats import hartigan
from superweight.stats.clustered import cluster_units
from superweight.stats.intervals import MIN_N, ppl_ratio_ci, t_mean
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


def test_cluster_units_make_the_paired_ratio_a_t_over_articles():
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


def test_hartigan_test_is_exact_by_complete_enumeration():
    # under a symmetric null, every sign pattern of |d| is equally likely: the share of patterns rejected at a
    # level never exceeds it, and interval and test agree
    mags = np.array([0.3, 1.1, 0.7, 2.0, 0.2, 0.9])
    for a in (0.05, 0.1, 0.25):
        rejected = sum(hartigan.test(mags * np.array(s), 0.0)[0] <= a
                       for s in itertools.product((1, -1), repeat=mags.size))
        assert rejected / 2 ** mags.size <= a
        assert rejected / 2 ** mags.size == pytest.approx(2 * math.floor(a / 2 * 2 ** mags.size) / 2 ** mags.size)
    x = np.array([0.5, 1.4, 0.9, 2.2, 1.1, 0.3, 1.8, 0.7])
    lo, hi = hartigan.interval(x, 0.95)
    for t in np.linspace(-1, 3, 81):
        assert (hartigan.test(x, t)[0] <= 0.05) == (not lo <= t <= hi)
    assert hartigan.test(x, -5.0)[0] == hartigan.smallest_p(8) == 2 / 256


def test_monte_carlo_sign_flip_is_valid_and_agrees_with_its_interval():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(30) + 0.4
    lo, hi = hartigan.mc_interval(x, 0.99)
    assert hartigan.mc_test(x, lo - 1e-3)[0] <= 0.01 < hartigan.mc_test(x, lo + 1e-3)[0]
    assert hartigan.mc_test(x, hi + 1e-3)[0] <= 0.01 < hartigan.mc_test(x, hi - 1e-3)[0]
    assert hartigan.mc_test(x, -10.0)[0] == 1 / (hartigan.DRAWS + 1)  # the observed vector counts


def test_below_the_t_tests_minimum_the_exact_test_decides():
    n = MIN_N["t"] - 1
    if n < 2:
        pytest.skip("the t test's minimum is 2: no n below it to fall back from")
    x = np.linspace(1.0, 2.0, n)
    e = t_mean(x)
    assert "sign-flip" in e.method and not e.too_small
    p, side = e.p(0.0)
    assert side == 1 and p == (hartigan.smallest_p(n) if n <= hartigan.MAX_N else 1 / (hartigan.DRAWS + 1))
