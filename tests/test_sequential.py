"""Group-sequential stopping (stats/sequential.py): the boundaries spend what they promise, the verdict tests run
at the looks' nominal levels keep their false-decision rate at a true value on the threshold, and the default
model's pruning effect stops at an early look.

Monte-Carlo margin: with R replications, a rate whose true value is exactly alpha exceeds alpha + 3 sqrt(alpha
(1 - alpha) / R) with probability ~0.13%; the tests allow that margin and no more."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from superweight.settings import Perplexity, Sequential
from superweight.stats import intervals as stats
from superweight.stats.sequential import Design, adjusted_p, boundaries, decide, spent, stop_reason

ALPHA = 0.05

# Per-window log-ratios NLL(prune_sw) - NLL(original) of SmolLM2-135M on WikiText-2 (512-token windows), from the
# CI scenario's results/smollm2-135m/ablation/{original,prune_sw}/scores.json (ppl x227).
SW_WIKI = [5.311, 7.424, 5.988, 5.090, 3.212, 6.982, 5.527, 3.871]
# Paired per-document accuracy cells (both wrong, right only pruned, right only original, both right) of the same
# run, 40 documents per task: original -> prune_sw.
SW_CELLS = {"arc_easy": [18, 3, 15, 4], "lambada_openai": [27, 0, 13, 0], "piqa": [8, 3, 7, 22]}


def margin(r: int) -> float:
    return 3 * math.sqrt(ALPHA * (1 - ALPHA) / r)


def run(design: Design, estimate, draw, rng, threshold: float, higher: bool = True) -> tuple[str, int]:
    """(decision, look index at stop) of one sequence: draw(rng, n) gives the data up to the maximum, each look
    reads its prefix (the same units in the same order as the scorer uses)."""
    data = draw(rng, design.looks[-1])
    for k, n in enumerate(design.looks):
        p, side = estimate(data, n).p(threshold)
        d = decide(p, side, k, design, higher)
        if d != "continue":
            return d, k
    raise AssertionError("the last look always decides or is inconclusive")


def ratio_t(data, n):
    return stats.t_mean(data[:n], log_scale=True)


def acc_diff(data, n):
    return stats.acc_linear([g[:n] for g in data], (-1.0, 1.0))


@pytest.mark.parametrize("fractions,kind", [((0.25, 0.5, 1.0), "obf"), ((0.2, 0.4, 0.6, 1.0), "pocock")])
def test_boundaries_spend_alpha(fractions, kind):
    """A Brownian motion under the null crosses the boundaries by look k with the spent probability alpha(t_k)."""
    c = np.asarray(boundaries(fractions, ALPHA, kind))
    t = np.asarray(fractions)
    rng, r = np.random.default_rng(0), 400_000
    z = np.cumsum(rng.standard_normal((r, t.size)) * np.sqrt(np.diff(np.r_[0.0, t])), 1) / np.sqrt(t)
    crossed = np.cumsum(np.abs(z) >= c, 1).astype(bool).mean(0)
    for k, x in enumerate(t):
        a = spent(float(x), ALPHA, kind)
        assert abs(crossed[k] - a) <= 4 * math.sqrt(a * (1 - a) / r) + 1e-6, (k, crossed[k], a)


def test_single_look_is_the_fixed_test():
    d = Design((8,))
    assert d.levels[0] == pytest.approx(ALPHA)
    assert adjusted_p(0.01, 0, d) == pytest.approx(0.01, rel=1e-6)


def test_adjusted_p_is_the_level_that_decides():
    d = Design((2, 4, 8))
    q = adjusted_p(d.levels[1], 1, d)
    assert q == pytest.approx(ALPHA, rel=1e-4)
    assert adjusted_p(1e-3, 1, d) < ALPHA < adjusted_p(1e-2, 1, d)


def t_p(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(two-sided p, side) of stats.t_mean's test of mean 0 on each row of x, vectorized: Student-t united with
    Hall's skewness-corrected t (the larger p; 1 when Hall's statistic points the other way; n >= 3)."""
    n = x.shape[-1]
    m, sd = x.mean(-1), x.std(-1, ddof=1)
    p, side = 2 * sps.t.sf(np.abs(m / (sd / math.sqrt(n))), n - 1), np.sign(m)
    if n < 3:
        return p, side
    g = ((x - m[..., None]) ** 3).mean(-1) / sd ** 3
    a, t = g / 3, m / sd
    h = math.sqrt(n) * (((1 + a * t) ** 3 - 1) / (3 * a) + g / (6 * n))
    p = np.maximum(p, 2 * sps.t.sf(np.abs(h), n - 1))
    return np.where(np.sign(h) != side, 1.0, p), side


def acc_p(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, side) of stats.acc_linear's test of mean(b - a) = 0 over tasks for x of shape (R, tasks, n, 2) of 0/1
    outcomes, vectorized: per task the four outcome patterns with 0.5 pseudo-counts (Agresti-Min) for the
    covariance, the raw means for the centre, a normal test (test_vectorized_tests_are_the_library_tests)."""
    n = x.shape[2]
    pats = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    counts = np.stack([((x[..., 0] == a) & (x[..., 1] == b)).sum(-1) for a, b in pats], -1) + 0.5
    w = counts / counts.sum(-1, keepdims=True)
    dev = pats - (w @ pats)[..., None, :]
    cov = np.einsum("rtp,rtpi,rtpj->rtij", w, dev, dev) / n
    var = cov[..., 0, 0] + cov[..., 1, 1] - 2 * cov[..., 0, 1]
    diff = (x[..., 1].mean(-1) - x[..., 0].mean(-1)).mean(-1)
    se = np.sqrt(var.sum(-1)) / x.shape[1]
    return 2 * sps.norm.sf(np.abs(diff / se)), np.sign(diff)


def false_decisions(design: Design, p_of, data: np.ndarray) -> float:
    """Share of sequences (rows of data, units on axis -1 or -2 as p_of reads them) that some look decides."""
    hit = np.zeros(len(data), bool)
    for k, n in enumerate(design.looks):
        p, side = p_of(data[..., :n] if p_of is t_p else data[:, :, :n])
        hit |= (p <= design.levels[k]) & (side != 0)
    return float(hit.mean())


def test_vectorized_tests_are_the_library_tests(small_n_machinery):
    """The fast tests of the simulations are the library's: acc_p is stats.acc_linear's test, t_p stats.t_mean's
    (on window log-ratios against a ratio of 1)."""
    rng = np.random.default_rng(5)
    x = (rng.random((40, 3, 12, 2)) < [0.4, 0.6]).astype(float)
    p, side = acc_p(x)
    for i in range(len(x)):
        assert (p[i], side[i]) == pytest.approx(stats.acc_linear(list(x[i]), (-1.0, 1.0)).p(0.0), rel=1e-9)
    for n in (2, 6):
        w = rng.gamma(2.0, 1.0, (100, n)) - 2.0
        p, side = t_p(w)
        for i in range(len(w)):
            assert (p[i], side[i]) == pytest.approx(stats.t_mean(w[i], log_scale=True).p(1.0), rel=1e-9)


R = 20_000


@pytest.mark.parametrize("noise", ["normal", "t3", "skewed"])
def test_ppl_ratio_null_false_decisions_within_alpha(noise):
    """Window log-ratios centred on the threshold (ratio 1): any decision is false; looks at 2, 4, 8, 16
    windows."""
    rng = np.random.default_rng(1)
    x = {"normal": lambda: rng.standard_normal((R, 16)), "t3": lambda: rng.standard_t(3, (R, 16)),
         "skewed": lambda: rng.gamma(4.0, 1.0, (R, 16)) - 4.0}[noise]()
    rate = false_decisions(Design((2, 4, 8, 16)), t_p, 1.4 * x)
    assert rate <= ALPHA + margin(R), rate


@pytest.mark.parametrize("spending", ["obf", "pocock"])
def test_paired_accuracy_null_false_decisions_within_alpha(spending):
    """Paired 0/1 outcomes on 3 tasks with equal accuracy under both conditions (discordant pairs both ways
    alike), looks at 10, 20, 30, 50 documents per task."""
    rng = np.random.default_rng(2)
    cells = np.array([[0.3, 0.1, 0.1, 0.5], [0.5, 0.15, 0.15, 0.2], [0.2, 0.05, 0.05, 0.7]])
    pats = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    x = np.stack([pats[rng.choice(4, (R, 50), p=c)] for c in cells], 1)  # (R, tasks, documents, 2)
    rate = false_decisions(Design((10, 20, 30, 50), spending=spending), acc_p, x)
    assert rate <= ALPHA + margin(R), rate


def test_a_comparison_read_at_another_ones_stopping_look_keeps_its_rate():
    """Two conditions against one reference on the same windows (their log-ratios share the reference's noise):
    the scorer stops when the large effect is decided, and the null comparison is read at that look at the look's
    level (as the claims read prune_nonsw - prune_sw at prune_sw's stop)."""
    rng = np.random.default_rng(4)
    design = Design((2, 4, 6, 8))
    ref, a, b = (rng.standard_normal((R, 8)) for _ in range(3))
    null, big = a - ref, b + 3.0 - ref  # condition A: no effect; condition B: a large one
    stop = np.full(R, len(design.looks) - 1)
    for k in reversed(range(len(design.looks))):
        p, side = t_p(big[:, :design.looks[k]])
        stop = np.where((p <= design.levels[k]) & (side != 0), k, stop)
    assert np.mean(stop < 3) > 0.5  # the rule does stop early
    decided = np.zeros(R, bool)
    for k, n in enumerate(design.looks):
        p, side = t_p(null[:, :n])
        decided |= (stop == k) & (p <= design.levels[k]) & (side != 0)
    assert decided.mean() <= ALPHA + margin(R), decided.mean()


def test_default_pruning_effect_stops_early(small_n_machinery):
    """Resampling the default model's per-window log-ratios and paired documents: the perplexity ratio (> 1, by the
    t test at any n here) and the accuracy drop (< 0) are decided before the last look in nearly every replication."""
    rng = np.random.default_rng(3)
    w = Design((2, 4, 6, 8))
    looks = [run(w, ratio_t, lambda g, n: g.choice(SW_WIKI, n), rng, 1.0) for _ in range(200)]
    assert all(d == "holds" for d, _ in looks)
    assert np.mean([k < 3 for _, k in looks]) >= 0.9

    a = Design((10, 20, 30, 50))
    pats = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)  # (original, prune_sw) of each cell
    probs = [np.asarray(c, float) / sum(c) for c in SW_CELLS.values()]
    looks = [run(a, acc_diff, lambda g, n: [pats[g.choice(4, n, p=p)] for p in probs], rng, 0.0, higher=False)
             for _ in range(200)]
    assert np.mean([d == "holds" for d, _ in looks]) >= 0.95
    assert np.mean([k < 3 for _, k in looks]) >= 0.9


def test_default_pruning_effect_at_the_configured_design():
    """config.yaml's design (looks of 16 windows and 50 documents, its alpha, far below 0.05): resampling the default
    model's prune_sw documents, the accuracy drop is decided before the last look in most replications; 16 windows
    drawn from its window log-ratios are decided by the last look in every one, by the exact sign test of the median
    window (16 windows are below the t test's minimum: its smallest p, 2 / 2^16, is far below the design's levels;
    at 8 windows, 0.0078, it could decide nothing). benchmarks/sequential_tails.txt has the t test's shares."""
    import yaml

    from helpers import REPO
    from superweight.scoring.looks import look_sizes

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    seq, windows = cfg["sequential"], cfg["perplexity"]["windows"]["wikitext2"]
    assert windows < stats.MIN_N["t"]  # the median's exact test, not the t, decides at this size
    rng = np.random.default_rng(3)
    w = Design(look_sizes(seq["looks"], windows), seq["alpha"], seq["spending"])
    looks = [run(w, ratio_t, lambda g, n: g.choice(SW_WIKI, n), rng, 1.0) for _ in range(200)]
    assert all(d == "holds" for d, _ in looks)
    assert "median" in ratio_t(np.array(SW_WIKI * 2), windows).method
    w8 = Design(look_sizes(seq["looks"], 8), seq["alpha"], seq["spending"])
    assert all(run(w8, ratio_t, lambda g, n: g.permutation(SW_WIKI)[:n], rng, 1.0)[0] == "inconclusive"
               for _ in range(20))
    a = Design(look_sizes(seq["looks"], 50), seq["alpha"], seq["spending"])
    pats = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    probs = [np.asarray(c, float) / sum(c) for c in SW_CELLS.values()]
    looks = [run(a, acc_diff, lambda g, n: [pats[g.choice(4, n, p=p)] for p in probs], rng, 0.0, higher=False)
             for _ in range(200)]
    assert np.mean([d == "holds" for d, _ in looks]) >= 0.95
    assert np.mean([k < len(a.looks) - 1 for _, k in looks]) >= 0.8


def test_bad_designs_name_the_fix():
    with pytest.raises(ValueError, match="sequential looks"):
        Design((4, 4, 8))
    with pytest.raises(ValueError, match="sequential.spending"):
        Design((4, 8), spending="linear")


def test_stop_reason():
    d = Design((2, 4, 8))
    assert stop_reason({"a": "holds", "b": "continue"}, 0, d) == (False, "undecided at look 1 (n=2): b")
    stop, why = stop_reason({"a": "holds", "b": "fails"}, 1, d)
    assert stop and why.startswith("decided at look 2 (n=4)")
    assert stop_reason({"a": "inconclusive"}, 2, d)[1].startswith("maximum n=8 reached")


# --- chunked scoring on a tiny model (scoring/score.py) ---

def _tiny(seed=0):
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    cfg = tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, vocab_size=257, max_position_embeddings=256)
    return tf.AutoModelForCausalLM.from_config(cfg).eval()


def _broken(seed=0):
    """The tiny model with its output embedding scaled up: a perplexity far from the original's."""
    import torch

    m = _tiny(seed)
    with torch.no_grad():
        m.lm_head.weight.mul_(40.0)
    return m


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory, data_dir):
    import torch

    from superweight.scoring.zeroshot import materialize_tasks
    from test_evaluate_docs import _byte_tokenizer

    task_dir = materialize_tasks(data_dir, tmp_path_factory.mktemp("tasks"), ["piqa", "arc_easy"])
    ids = torch.randint(0, 257, (16 * 8 + 5,), generator=torch.Generator().manual_seed(0))
    return {"tok": _byte_tokenizer(), "task_dir": task_dir, "corpora": {"toy": ids},
            "ppl": Perplexity(seqlen=16, windows={"toy": 8}, batch_size=2, window_order="first")}


SEQ = Sequential(looks=(0.25, 0.5, 0.75, 1.0), alpha=0.05, spending="obf")


def test_chunked_scoring_without_reference_is_the_plain_score(tiny_setup):
    from superweight.scoring.score import score, score_sequential

    s = tiny_setup
    plain = score(_tiny(), s["tok"], s["corpora"], s["ppl"], {"piqa": 8}, s["task_dir"], 4)
    seq = score_sequential(_tiny(), s["tok"], s["corpora"], s["ppl"], {"piqa": 8}, s["task_dir"], SEQ, {}, 4)
    assert seq["perplexity"]["toy"]["window_nll"] == pytest.approx(plain["perplexity"]["toy"]["window_nll"], rel=1e-5)
    assert seq["perplexity"]["toy"]["ppl"] == pytest.approx(plain["perplexity"]["toy"]["ppl"], rel=1e-6)
    assert seq["perplexity"]["toy"]["windows"] == 8
    assert seq["tasks"]["piqa"]["docs"] == plain["tasks"]["piqa"]["docs"]
    assert seq["avg_acc"] == pytest.approx(plain["avg_acc"])
    rec = seq["sequential"]["windows"]["toy"]
    assert rec["looks"][-1]["n"] == rec["n"] == 8 and [x["n"] for x in rec["looks"]] == [2, 4, 6, 8]
    assert rec["why"].startswith("no comparison") and seq["sequential"]["docs"]["n"] == 8


def test_chunked_scoring_stops_once_decided_and_stays_paired(tiny_setup, small_n_machinery):
    """Against a reference scored in full: a far-off condition stops at an early look on the reference's first
    windows; the reference against itself never decides (paired differences all 0) and runs to the maximum."""
    from superweight.scoring.score import score, score_sequential

    s = tiny_setup
    ref = score(_tiny(), s["tok"], s["corpora"], s["ppl"], {"piqa": 8}, s["task_dir"], 4)
    far = score_sequential(_broken(), s["tok"], s["corpora"], s["ppl"], {}, s["task_dir"], SEQ, {"original": ref}, 4)
    rec = far["sequential"]["windows"]["toy"]
    assert rec["n"] < 8 and rec["looks"][-1]["decisions"] == {"original": "higher"}, rec
    assert far["perplexity"]["toy"]["windows"] == rec["n"] == len(far["perplexity"]["toy"]["window_nll"])
    same = score_sequential(_tiny(), s["tok"], s["corpora"], s["ppl"], {"piqa": 8}, s["task_dir"], SEQ,
                            {"original": ref}, 4)
    assert same["sequential"]["windows"]["toy"]["n"] == 8
    assert same["sequential"]["windows"]["toy"]["looks"][-1]["decisions"] == {"original": "inconclusive"}
    assert same["sequential"]["docs"]["why"].startswith("maximum n=8 reached")
    assert same["tasks"]["piqa"]["docs"] == ref["tasks"]["piqa"]["docs"]
    # per part: compared on its windows only, its documents have no comparison and run to the maximum
    part = score_sequential(_tiny(), s["tok"], s["corpora"], s["ppl"], {"piqa": 8}, s["task_dir"], SEQ,
                            {"original": ref}, 4, parts={"windows": ["original"], "docs": []})
    assert part["sequential"]["docs"]["why"].startswith("no comparison") and part["sequential"]["docs"]["n"] == 8
    assert list(part["sequential"]["windows"]["toy"]["looks"][-1]["decisions"]) == ["original"]


def test_chunked_scoring_names_the_fix_for_bad_looks_and_scores_uneven_limits_in_full(tiny_setup):
    from superweight.scoring.looks import look_sizes
    from superweight.scoring.score import score, score_sequential

    with pytest.raises(ValueError, match="fewer looks"):
        look_sizes([0.1, 0.2, 1.0], 4)
    s = tiny_setup
    # no single limit (per-task limits): the documents are scored in full, as without looks
    uneven = {"piqa": 6, "arc_easy": 3}
    full = score_sequential(_tiny(), s["tok"], {}, s["ppl"], uneven, s["task_dir"], SEQ, {}, 4)
    plain = score(_tiny(), s["tok"], {}, s["ppl"], uneven, s["task_dir"], 4)
    assert "docs" not in full["sequential"] and full["tasks"].keys() == plain["tasks"].keys() == uneven.keys()
    assert all(full["tasks"][t]["docs"] == plain["tasks"][t]["docs"] for t in uneven)


def test_config_section_is_listed_as_an_addition_and_bad_sections_name_the_fix():
    from helpers import REPO, merged

    from superweight.report.protocol import compare
    from superweight.workflow.config import ConfigError, validate

    schema = REPO / "workflow/schemas/config.schema.yaml"
    plain = validate(merged(), schema, check_files=False)
    rows = {r["key"]: r for r in compare(plain)}
    assert plain["sequential"]["compare"] and rows["sequential.looks"]["class"] == "addition"
    assert rows["sequential.looks"]["value"] == plain["sequential"]["looks"]
    off = validate(merged({"sequential": None}), schema, check_files=False)  # config/paper.yaml's way
    assert off["sequential"] is None and not [r for r in compare(off) if r["key"].startswith("sequential.")]
    bad = {"an unscored reference": ({"compare": {"prune_nonsw": ["prune_sw", "prune_sw_restore_sa"]}},
                                     "`sequential.compare.prune_nonsw` names 'prune_sw_restore_sa'.*Fix: add"),
           "a cycle": ({"compare": {"prune_sw": ["prune_nonsw"], "prune_nonsw": ["prune_sw"]}},
                       "cycle: prune_nonsw -> prune_sw -> prune_nonsw"),
           "looks finer than the maximum": ({"looks": [0.001, 0.002, 1]}, "fewer looks")}
    from superweight.scoring.looks import compared
    assert compared(plain["sequential"]["compare"], "prune_sw_restore_sa") == {"windows": ["prune_sw", "original"],
                                                                    "docs": ["prune_sw"]}
    assert compared(plain["sequential"]["compare"], "prune_nonsw") == {"windows": ["prune_sw", "original"],
                                                            "docs": ["prune_sw", "original"]}
    assert compared(plain["sequential"]["compare"], "original") == {"windows": [], "docs": []} == compared(None, "prune_sw")
    typed = Sequential.from_dict(plain["sequential"]).compare  # what a scoring job reads (read-only, tuples)
    for c in plain["sequential"]["compare"]:
        assert compared(typed, c) == compared(plain["sequential"]["compare"], c)
    with pytest.raises(ConfigError, match="sequential.compare.prune_nonsw"):
        validate(merged({"sequential": {"compare": {"prune_nonsw": {"perplexity": ["prune_sw"]}}}}), schema,
                 check_files=False)
    three = {"ablation": {"conditions": ["original", "prune_sw", "prune_nonsw"]}}
    for what, (section, line) in bad.items():
        with pytest.raises(ConfigError, match=line):
            validate(merged(three, {"sequential": section}), schema, check_files=False)
    # the default's entry for a condition the ablation does not score is ignored
    assert validate(merged(three), schema, check_files=False)["sequential"]["compare"]["prune_sw_restore_sa"]
    validate(merged({"eval": {"limit": {"piqa": 20}}}), schema, check_files=False)  # documents in full, no looks


def test_a_test_is_read_only_at_a_look():
    """A p on n units read at an earlier look's level would not keep its rate: on_design refuses an n between
    looks; the design's p at the last look is above the fixed p (its level is below alpha)."""
    from superweight.stats.sequential import on_design

    d = Design((2, 4, 6, 8))
    est = stats.ppl_ratio_ci([3.0, 3.1, 2.9, 3.2, 3.0], [3.2, 3.4, 3.0, 3.5, 3.1])
    with pytest.raises(ValueError, match="not a look"):
        on_design(est, d, 5)
    last = on_design(stats.ppl_ratio_ci([3.0, 3.1, 2.9, 3.2, 3.0, 3.1, 2.8, 3.3], [3.2, 3.4, 3.0, 3.5, 3.1, 3.3,
                                                                                  3.0, 3.4]), d, 8)
    assert last.p(1.0)[0] > stats.ppl_ratio_ci([3.0, 3.1, 2.9, 3.2, 3.0, 3.1, 2.8, 3.3],
                                               [3.2, 3.4, 3.0, 3.5, 3.1, 3.3, 3.0, 3.4]).p(1.0)[0]


def test_a_sweep_limit_of_zero_scores_no_accuracies():
    """Sweeps measured by perplexity only (limit 0): no task is scored (lm-eval would read 0 as every document),
    and scores reused from the ablation keep the perplexities and drop the tasks."""
    from superweight.scoring.limits import scored_tasks
    from superweight.scoring.score import restrict

    assert scored_tasks(["piqa", "arc_easy"], 0) == {}
    assert scored_tasks(["piqa", "arc_easy"], {"piqa": 0, "arc_easy": 5}) == {"arc_easy": 5}
    assert scored_tasks(["piqa"], None) == {"piqa": None}
    scores = {"perplexity": {"wikitext2": {"ppl": 3.0}}, "avg_acc": 0.5,
              "tasks": {"piqa": {"acc": 0.5, "n": 2, "limit": 2, "docs": {"doc_id": [0, 1], "acc": [0.0, 1.0]}}}}
    got = restrict(scores, ["wikitext2"], ["piqa"], {"piqa": 0})
    assert got["tasks"] == {} and "avg_acc" not in got and got["perplexity"] == scores["perplexity"]


def _scored(windows: list[float], record: dict | None = None, docs: dict | None = None) -> dict:
    """A result file's scores: one corpus's per-window NLLs (and one task's per-document outcomes), with the
    sequential record of a condition scored in looks."""
    s = {"perplexity": {"toy": {"window_nll": list(windows), "seqlen": 16, "windows": len(windows)}}}
    if docs is not None:
        s["tasks"] = {"piqa": {"docs": {"doc_id": list(range(len(docs["acc"]))), "acc": docs["acc"]}}}
    if record is not None:
        s["sequential"] = record
    return {"status": "done", "scores": s}


def test_the_report_decides_a_stopped_comparison_as_the_job_did():
    """The job stops a comparison at the look where its test passes the design's level; the report reads it on
    the same first n windows with the design's p-value and repeated interval: at the design's alpha it decides
    exactly what the job decided, and the interval excludes 1 exactly then (seeded cases: null, small, large
    effects)."""
    from superweight.report import compare
    from superweight.scoring.score import run_looks

    rng = np.random.default_rng(3)
    design = Design((2, 4, 6, 8), ALPHA, "obf")
    decided = set()
    for case, shift in enumerate([0.0, 0.0, 0.15, 0.15, 0.6, 2.0]):
        ref = rng.normal(3.0, 0.5, 8)
        cur = ref + shift + rng.normal(0, 0.2, 8)

        def tests(merged, n):
            return {"original": stats.ppl_ratio_ci(ref[:n], merged[:n]).p(1.0)}
        got, rec = run_looks(design, lambda a, b: list(cur[a:b]), lambda parts: [x for p in parts for x in p], tests)
        est = compare.ppl_ratio(_scored(ref), _scored(got, {"windows": {"toy": rec}}), "toy")
        job = rec["looks"][-1]["decisions"]["original"]
        assert est.n == rec["n"] == len(got) and f"look {rec['stopped_at_look']} of 4" in est.method
        p, side = est.p(1.0)
        assert (p <= ALPHA) == (job in ("higher", "lower")), (case, p, rec)
        assert (est.lo > 1 or est.hi < 1) == (p <= ALPHA), (case, est)
        decided.add(job)
    assert {"higher", "inconclusive"} <= decided  # the cases exercise both outcomes


def test_a_comparison_with_a_stopped_condition_reads_the_common_prefix_at_a_look():
    """Windows and documents beyond the stopped condition's n are not used; between looks the comparison is cut
    to the last look; the design's p is never below the fixed-sample p on the same units."""
    from superweight.report import compare
    from superweight.scoring.score import run_looks  # noqa: F401  (the record's shape comes from it)

    rng = np.random.default_rng(5)
    ref = rng.normal(3.0, 0.5, 8)
    design = Design((2, 4, 6, 8), ALPHA, "obf")
    rec = {"design": design.as_dict(), "n": 6}
    cur = list(ref[:6] + 0.3 + rng.normal(0, 0.2, 6))
    est = compare.ppl_ratio(_scored(ref), _scored(cur, {"windows": {"toy": rec}}), "toy")
    fixed = stats.ppl_ratio_ci(ref[:6], cur)
    assert est.n == 6 and est.value == pytest.approx(fixed.value)
    assert est.p(1.0)[0] == pytest.approx(adjusted_p(fixed.p(1.0)[0], 2, design), rel=1e-6)
    assert est.p(1.0)[0] >= fixed.p(1.0)[0] and est.lo <= fixed.lo and est.hi >= fixed.hi
    # 5 shared windows: read at the look of 4
    est5 = compare.ppl_ratio(_scored(ref), _scored(cur[:5], {"windows": {"toy": {**rec, "n": 5}}}), "toy")
    assert est5.n == 4 and est5.value == pytest.approx(stats.ppl_ratio_ci(ref[:4], cur[:4]).value)
    # documents: the first 25 of 50 shared, outcomes beyond them ignored
    a = rng.integers(0, 2, 50).tolist()
    b = a[:25] + [1 - x for x in a[25:]]  # would differ everywhere after document 25
    docs = {"design": Design((13, 25, 38, 50), ALPHA, "obf").as_dict(), "n": 25}
    d = compare.acc_diff(_scored(ref, docs={"acc": a}), _scored(ref, {"docs": docs}, docs={"acc": b[:25]}))
    assert d.n == 25 and d.value == 0 and "look 2 of 4" in d.method
    # a gap in the documents, or two designs: no look to read them at (n/a, never a fixed-sample test)
    gap = _scored(ref, {"docs": docs}, docs={"acc": b[:25]})
    gap["scores"]["tasks"]["piqa"]["docs"]["doc_id"][3] = 99
    assert isinstance(compare.acc_diff(_scored(ref, docs={"acc": a}), gap), stats.NA)
    other = {"design": Design((13, 25, 38, 50), 0.01, "obf").as_dict(), "n": 25}
    assert isinstance(compare.acc_diff(_scored(ref, {"docs": other}, docs={"acc": a[:25]}),
                                       _scored(ref, {"docs": docs}, docs={"acc": b[:25]})), stats.NA)
    # the stopped condition's own perplexity: the repeated interval at its look, wider than the fixed one
    own = compare.ppl(_scored(cur, {"windows": {"toy": rec}}), "toy")
    assert "look 3 of 4" in own.method and own.hi - own.lo > stats.ppl_ci(cur).hi - stats.ppl_ci(cur).lo
    # without a record: the plain comparison, as before
    plain = compare.ppl_ratio(_scored(ref), _scored(ref + 0.3), "toy")
    assert "group-sequential" not in plain.method and plain.n == 8
