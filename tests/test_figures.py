"""Every figure keeps its text whole and draws only what was measured: each figure function is drawn on tiny
synthetic data with titles as long as the workflow's real ones, and every text element it draws (titles, labels,
tick labels, legends, notes) must lie inside the canvas of the saved image; drawn again from results with a
quantity missing (no accuracies, one corpus, no stopwords, ...), it has a panel for each quantity measured and no
other, every tick inside its axis and no unknown n ("n = ?")."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import FixedLocator  # noqa: E402

from superweight.report import figures as plot

from superweight.report import figures_mechanism as pm  # noqa: E402
from superweight.settings import Plots  # noqa: E402

STYLE = Plots(width=6.4, height=3.6, dpi=60, log_scale=True)
MODEL = "smollm2-135m"
# the shape of the workflow's real titles (workflow/scripts/plot_detect.py, plot_mechanism.py)
DETECT_TITLE = (f"{MODEL}: down_proj activations, prompt 'Apple Inc. is a worldwide tech company.' (n = 1 prompt; "
                "confirmed by ppl x2 on 4 x 512 tokens)\nsuper weights: L3 [507, 430], L4 [507, 1217]")
VERDICT = "holds (paper strength): every random set of the same size leaves perplexity within x1.01 [0.99, 1.02]"


def drawn_texts(fig):
    """(text, window extent) of every text the figure draws: tick labels only of the ticks in view."""
    renderer = fig.canvas.get_renderer()
    ticks = set()
    drawn = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for t in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks |= {t.label1, t.label2}
            ticks |= {axis.label, axis.offsetText}
            if ax.axison:  # an axes turned off draws no axis (its title and texts still show)
                drawn |= {axis.label, axis.offsetText}
                for t in axis._update_ticks():  # the ticks Matplotlib draws (within the view limits)
                    drawn |= {lab for lab in (t.label1, t.label2) if lab.get_visible()}
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip() or (t in ticks and t not in drawn):
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        out.append((t.get_text(), t.get_window_extent(renderer)))
    return out


@pytest.fixture
def saved(monkeypatch, tmp_path):
    """Each figure saved by a plot function, kept open for inspection (plot._save closes it)."""
    figs, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))

    def check(name):
        assert figs, f"{name}: no figure saved"
        fig = figs.pop()
        w, h = fig.bbox.width, fig.bbox.height
        texts = drawn_texts(fig)
        assert texts, name
        for text, bb in texts:
            assert bb.x0 >= -1 and bb.y0 >= -1 and bb.x1 <= w + 1 and bb.y1 <= h + 1, (
                f"{name}: text {text!r} at x {bb.x0:.0f}..{bb.x1:.0f}, y {bb.y0:.0f}..{bb.y1:.0f} outside the "
                f"{w:.0f} x {h:.0f} canvas")
        close(fig)
        check.fig = fig  # still readable after close: its axes and texts
        return texts
    check.path = tmp_path / "fig.png"
    return check


def test_detection_figures(saved):
    rng = np.random.default_rng(0)
    layers = pd.DataFrame({"layer": range(30), "in_max": rng.uniform(1, 10, 30), "out_max": rng.uniform(1, 10, 30)})
    layers.loc[3, ["in_max", "out_max"]] = [900.0, 1200.0]
    cands = [{"layer": 3, "confirmed": True}, {"layer": 29, "confirmed": False, "ppl_ratio": 1.3}]
    plot.down_proj_maxima(layers, [3, 4], DETECT_TITLE, saved.path, STYLE, cands)
    titles = [t for t, _ in saved("down_proj_maxima") if "down_proj activations" in t]
    assert titles and titles[0].count("\n") >= 2  # the long title wrapped, not cut
    res = pd.DataFrame({"condition": ["original"] * 31 + ["super weights zeroed"] * 31, "layer": list(range(31)) * 2,
                        "max_abs": rng.uniform(1, 3000, 62)})
    plot.residual_stream(res, f"{MODEL}: residual stream, n = 1 prompt (L3 [507, 430], L4 [507, 1217], "
                              "L5 [507, 999], L6 [12, 34])", saved.path, STYLE)
    saved("residual_stream")


def test_stopword_figure(saved):
    toks = ["the", ",", ".", "\n", " a", "and", "’", "of", "to", "in", "is", "was", "he", "she", "it", "—", "…",
            "that", "for", "with"]
    df = pd.DataFrame({"token": toks, "p_original": np.linspace(0.2, 0.01, 20),
                       "p_no_super_weight": np.linspace(0.3, 0.02, 20), "stopword": ["True", "False"] * 10})
    summary = {"n_prompts": 500, "stopword_mass_original": 0.31, "stopword_mass_no_super_weight": 0.55,
               "stopword_mass_ratio": 1.77, "ratio_the": 2.1, "ratio_.": 4.9, "ratio_,": 10.5}
    plot.stopword_bars(df, summary, MODEL, saved.path, STYLE)
    saved("stopwords")
    plot.stopword_bars(pd.DataFrame(), {"status": "skipped"}, MODEL, saved.path, STYLE)
    saved("stopwords, skipped")


def test_scaling_and_quantization_figures(saved):
    rows = [{"model": m, "factor": f, "avg": 40 + f, "avg se": 1.0, "ARC-c n": 50}
            for m in (MODEL, "olmo-1b-0724") for f in (0, 0.5, 1, 1.5, 2, 3)]
    rows.append({"model": "a-model-without-a-super-weight-and-a-long-name", "factor": 1.0, "avg": np.nan})
    plot.scaling_curve(pd.DataFrame(rows), saved.path, STYLE)
    saved("scaling")
    # a perplexity-only sweep (limit 0): the figure draws WikiText-2 perplexity with its CI, and says so
    ppl = [{"model": MODEL, "factor": f, "Wiki-2 ppl": 30 + 100 * (f == 0), "Wiki-2 ppl lo": 28 + 90 * (f == 0),
            "Wiki-2 ppl hi": 33 + 120 * (f == 0), "Wiki-2 ppl n": 16} for f in (0, 1, 1.5)]
    plot.scaling_curve(pd.DataFrame(ppl), saved.path, STYLE)
    texts = " ".join(t for t, _ in saved("scaling, perplexity"))
    assert "perplexity" in texts and "16 windows" in texts and "accuracies not scored" in texts
    q = [{"model": MODEL, "method": m, "bits": 4, "block": b, "avg": 50.0, "avg se": 2.0, "Wiki-2 ppl": 30.0 + i,
          "Wiki-2 ppl lo": 28.0, "Wiki-2 ppl hi": 35.0 + i, "Wiki-2 ppl n": 4, "ARC-c n": 10, "note": ""}
         for m in ("rtn", "clip", "sw_aware") for i, b in enumerate(["per_channel", "16384", "1048576", "per_tensor"])]
    plot.wquant_curves(pd.DataFrame(q), 4, saved.path, STYLE)
    saved("weight quantization")


def test_mechanism_figures(saved):
    title = f"{MODEL}: significance"  # measurements: the verdict is the claims table's
    rng = np.random.default_rng(1)
    ch = pd.DataFrame([{"layer": 3, "row": 507, "col": 430, "quantity": q, "channel": c, "value": rng.normal()}
                       for q in ("gate", "up", "act*up", "down input", "row terms") for c in range(64)])
    pm.hadamard_figure(ch, f"{MODEL}: hadamard", saved.path, STYLE)
    saved("hadamard")
    skip = pd.DataFrame({"condition": ["original", "prune_sw", "skip_from_2", "skip_from_3", "skip_from_4"],
                         "ppl_ratio": [1, 900, 800, 3, 1.1], "stopword_mass_ratio": [1, 1.8, 1.7, 1.1, 1.0],
                         "windows": 4, "n_prompts": 40})
    pm.skip_figure(skip, f"{MODEL}: skip", saved.path, STYLE)
    saved("skip")
    sig = pd.DataFrame({"kind": ["super_weights", "paper_set"] + ["random_same_row"] * 5 + ["random_magnitude"] * 5,
                        "ratio": [900.0, 950.0] + list(rng.uniform(1, 1.05, 10)), "n_weights": 7000})
    res = {"kinds": {"random_same_row": {"n_at_least_sw": 0}, "random_magnitude": {"n_at_least_sw": 1}}, "n_sets": 50}
    pm.significance_figure(sig, res, title, saved.path, STYLE)
    saved("significance")
    for fn, args in ((pm.hadamard_figure, (pd.DataFrame(),)), (pm.skip_figure, (pd.DataFrame(),)),
                     (pm.significance_figure, (pd.DataFrame(), {}))):
        fn(*args, title, saved.path, STYLE)
        saved(f"{fn.__name__}, not applicable")
    em = pd.DataFrame({"step": [1000, 2000, 4000, 8000], "weight_abs": [0.1, 0.5, 2, 3], "sa_abs": [1, 10, 300, 400],
                       "ppl_ratio": [1, 2, 500, 900], "detected": [False, False, True, True]})
    pm.emergence_figure(em, f"olmo-1b-0724: super weights over training — {VERDICT}", 4000, saved.path, STYLE)
    saved("emergence")


# --- drawn from results with a quantity missing: a panel per quantity measured, nothing unknown ---

def panels(fig, texts) -> list[dict]:
    """What each visible axes draws: its title, y label, drawn tick labels, lines; and no text says "n = ?"."""
    assert not any("?" in t for t, _ in texts), [t for t, _ in texts if "?" in t]
    out = []
    for ax in fig.axes:
        if not ax.axison:
            continue
        lo, hi = sorted(ax.get_xlim())
        if isinstance(ax.xaxis.get_major_locator(), FixedLocator):  # ticks set by the figure, not chosen in view
            off = [t for t in ax.get_xticks() if not lo <= t <= hi]
            assert not off, f"{ax.get_ylabel()}: ticks {off} off the axis {lo, hi}"
        assert ax.lines or ax.patches or ax.containers, f"{ax.get_ylabel()}: an empty panel"
        out.append({"title": ax.get_title(), "ylabel": ax.get_ylabel(), "legend": ax.get_legend_handles_labels()[1],
                    "xticks": [t.get_text() for t in ax.get_xticklabels()]})
    return out


def drawn_panels(saved, name: str) -> list[dict]:
    texts = saved(name)
    return panels(saved.fig, texts)


def _wquant(saved, **scores):
    from synth import result

    from superweight.report.tables import quant_rows

    recs = [result(MODEL, "wquant", method=m, bits=4, block=b, **scores)
            for m in ("rtn", "clip", "sw_aware") for b in (64, 4096, 1048576)]
    plot.wquant_curves(quant_rows(recs), 4, saved.path, STYLE)
    drawn = drawn_panels(saved, "weight quantization")
    return drawn, saved.fig._suptitle.get_text().replace("\n", " ")


def test_weight_quantization_draws_a_panel_per_quantity_measured(saved):
    both, title = _wquant(saved, acc=0.5, n=20, ppl=30.0, n_windows=4)
    assert [p["ylabel"] for p in both] == ["average zero-shot accuracy (%), ± 1 SE",
                                           "Wiki-2 ppl (95% CI over windows)"]
    assert "n = 20 documents per task, 4 windows" in title
    for p in both:  # every block a tick, every method a line, on each panel
        assert p["xticks"] == ["64", "4096", "1048576"] and sorted(p["legend"]) == ["clip", "rtn", "sw_aware"], p
    ppl_only, title = _wquant(saved, acc=None, ppl=30.0, n_windows=4)  # the default run: accuracies not scored
    assert [p["ylabel"] for p in ppl_only] == ["Wiki-2 ppl (95% CI over windows)"]
    assert "(n = 4 windows; accuracies not scored)" in title and "documents" not in title
    c4, _ = _wquant(saved, acc=None, ppl={"c4": 30.0}, n_windows=4)  # one corpus, not WikiText-2
    assert [p["ylabel"] for p in c4] == ["C4 ppl (95% CI over windows)"]
    acc_only, title = _wquant(saved, acc=0.5, n=20, ppl=None)
    assert [p["ylabel"] for p in acc_only] == ["average zero-shot accuracy (%), ± 1 SE"] and "windows" not in title


def test_scaling_draws_what_was_measured(saved):
    from synth import result

    from superweight.report.tables import scaling_rows

    def draw(*extra, **scores):
        recs = [result(MODEL, "scaling", factor=f, **scores) for f in (0.0, 1.0, 2.0)] + list(extra)
        plot.scaling_curve(scaling_rows(recs), saved.path, STYLE)
        return drawn_panels(saved, "scaling")

    acc = draw(result("other", "scaling", status="skipped", factor=1.0), acc=0.5, n=20, ppl=30.0)
    assert acc[0]["ylabel"].startswith("average zero-shot accuracy") and acc[0]["legend"] == [MODEL]
    assert "(n = 20 documents per task)" in acc[0]["title"] and "no super weight used: other" in acc[0]["title"]
    c4 = draw(acc=None, ppl={"c4": 30.0}, n_windows=4)  # perplexity only, and only C4
    assert len(c4) == 1 and c4[0]["ylabel"] == "C4 perplexity (95% CI)" and "n = 4 windows" in c4[0]["title"]


def test_mechanism_and_detection_figures_draw_what_was_measured(saved):
    skip = pd.DataFrame({"condition": ["original", "prune_sw", "skip_from_2"], "ppl_ratio": [1, 900, 800],
                         "windows": 4, "n_prompts": 0})  # no stopword measurement
    pm.skip_figure(skip, f"{MODEL}: skip", saved.path, STYLE)
    drawn = drawn_panels(saved, "skip, perplexity only")
    assert [p["ylabel"] for p in drawn] == ["perplexity / original (4 windows)"]
    em = pd.DataFrame({"step": [1000, 2000, 4000], "weight_abs": [0.1, 0.5, 2], "sa_abs": [1, 10, 300],
                       "ppl_ratio": [float("nan")] * 3, "detected": [False, True, True]})  # no perplexity scored
    pm.emergence_figure(em, f"olmo-1b-0724: super weights over training — {VERDICT}", 2000, saved.path, STYLE)
    drawn = drawn_panels(saved, "emergence, no perplexity")
    assert [p["ylabel"] for p in drawn] == ["|tracked weight|", "super activation |value|"]
    sig = pd.DataFrame({"kind": ["super_weights"] + ["random_same_row"] * 3, "ratio": [900.0, 1.0, 1.01, 1.02],
                        "n_weights": 7})  # no paper outlier set (not a paper model)
    pm.significance_figure(sig, {"kinds": {"random_same_row": {"n_at_least_sw": 0}}, "n_sets": 3},
                           f"{MODEL}: significance", saved.path, STYLE)
    drawn = drawn_panels(saved, "significance, no paper set")
    assert len(drawn) == 1 and drawn[0]["legend"] == ["super weights (x900)"]
    ch = pd.DataFrame([{"layer": 3, "row": 507, "col": 4, "quantity": q, "channel": c, "value": 1.0 + (c == 4)}
                       for q in ("gate", "up") for c in range(8)])  # two factors recorded, not five
    pm.hadamard_figure(ch, f"{MODEL}: hadamard", saved.path, STYLE)
    drawn = drawn_panels(saved, "hadamard, two quantities")
    assert [p["title"] for p in drawn] == ["gate", "up"]
    layers = pd.DataFrame({"layer": range(6), "in_max": [1, 900, 2, 2, 2, 2], "out_max": [1, 1200, 2, 2, 2, 2]})
    plot.down_proj_maxima(layers, [], DETECT_TITLE, saved.path, STYLE, None)  # nothing confirmed, no candidates
    drawn = drawn_panels(saved, "down_proj_maxima, nothing confirmed")
    assert len(drawn) == 1 and drawn[0]["legend"] == ["max |down_proj input|", "max |down_proj output|"]
    res = pd.DataFrame({"condition": ["original"] * 5, "layer": range(5), "max_abs": [1, 2, 900, 900, 900]})
    plot.residual_stream(res, f"{MODEL}: residual stream (no super weight used)", saved.path, STYLE)
    drawn = drawn_panels(saved, "residual_stream, original only")
    assert len(drawn) == 1 and drawn[0]["legend"] == ["original"]
    toks = pd.DataFrame({"token": ["the", ","], "p_original": [0.2, 0.1], "p_no_super_weight": [0.3, 0.2],
                         "stopword": ["True", "False"]})
    summary = {"n_prompts": 5, "stopword_mass_original": 0.3, "stopword_mass_no_super_weight": 0.5,
               "stopword_mass_ratio": 1.7}  # no per-token ratios
    plot.stopword_bars(toks, summary, MODEL, saved.path, STYLE)
    drawn = drawn_panels(saved, "stopwords, no per-token ratios")
    assert len(drawn) == 1 and drawn[0]["xticks"][:2] == ["the", "comma [,]"]
