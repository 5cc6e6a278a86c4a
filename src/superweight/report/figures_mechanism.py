"""Figures of the mechanism experiments, drawn from their result files only."""
from __future__ import annotations

import math

import pandas as pd

from superweight.report.figures import _fig, _save, plt
from superweight.detect.used import NONE_USED
from superweight.settings import Plots


def _note(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9)
    ax.set_axis_off()


def hadamard_figure(channels: pd.DataFrame, title: str, path, style: Plots) -> None:
    """Per super weight (rows of panels): |value| of each factor, the down input and the row's terms over the
    channels, the super weight's channel marked."""
    if channels.empty:
        fig, ax = _fig(style)
        _note(ax, f"{title}\n{NONE_USED}: not applicable")
        return _save(fig, path, style)
    c = style.colors
    keys = list(channels.groupby(["layer", "row", "col"], sort=False).groups)[:4]
    quants = [q for q in channels["quantity"].unique() if not q.startswith("weight")]
    fig, axes = plt.subplots(len(keys), len(quants), squeeze=False,
                             figsize=(style.width * 1.6, 1.9 * len(keys) + 0.6))
    for i, key in enumerate(keys):
        sub = channels[(channels["layer"] == key[0]) & (channels["row"] == key[1]) & (channels["col"] == key[2])]
        for j, q in enumerate(quants):
            ax = axes[i][j]
            d = sub[sub["quantity"] == q]
            ax.plot(d["channel"], d["value"].abs(), lw=0.5, color=c.get("original", "C0"))
            hit = d[d["channel"] == key[2]]
            ax.plot(hit["channel"], hit["value"].abs(), "o", ms=4, color=c.get("pruned", "C3"))
            if style.log_scale:
                ax.set_yscale("symlog", linthresh=1e-2)
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(q, fontsize=7)
            if j == 0:
                ax.set_ylabel(f"L{key[0]} [{key[1]}, {key[2]}]\n|value|", fontsize=7)
    fig.suptitle(title + " (dot: the super weight's channel, at the super activation's token)", fontsize=8)
    _save(fig, path, style)


def _measured(df: pd.DataFrame, col: str) -> bool:
    return col in df and not df[col].isna().all()


def skip_figure(df: pd.DataFrame, title: str, path, style: Plots) -> None:
    """Perplexity ratio and stopword-mass ratio per condition (a panel each, when measured): prune-SW against the
    skip ablation by layer."""
    d = df[df["condition"] != "original"] if "condition" in df else df
    panels = [c for c in ("ppl_ratio", "stopword_mass_ratio") if _measured(d, c)]
    fig, axes = plt.subplots(1, max(1, len(panels)), squeeze=False,
                             figsize=(style.width * (1.4 if len(panels) > 1 else 1),
                                      style.height))
    axes = list(axes[0])
    if not panels:
        _note(axes[0], f"{title}\n{NONE_USED}: not applicable" if df.empty else f"{title}\nnothing measured")
        return _save(fig, path, style)
    c = style.colors
    colors = [c.get("pruned", "C3") if x == "prune_sw" else c.get("original", "C0") for x in d["condition"]]
    labels = [x if x == "prune_sw" else x.replace("skip_from_", "skip from ") for x in d["condition"]]
    for ax, col in zip(axes, panels):
        ax.bar(labels, d[col], color=colors)
        ax.axhline(1, color="k", lw=0.5)
        if col == "ppl_ratio":
            if style.log_scale:
                ax.set_yscale("log")
            ax.set_ylabel(f"perplexity / original ({int(df['windows'].iloc[0])} windows)", fontsize=8)
        else:
            ax.set_ylabel(f"stopword mass / original ({int(df['n_prompts'].iloc[0])} prompts)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7, rotation=30)
    fig.suptitle(title, fontsize=9)
    _save(fig, path, style)


def significance_figure(df: pd.DataFrame, result: dict, title: str, path, style: Plots) -> None:
    """Perplexity ratios of the random matched sets (dots, one column per kind, with how many reach the super
    weights'), the super weights' (line) and the paper's outlier set (dashed)."""
    fig, ax = _fig(style)
    if df.empty:
        _note(ax, f"{title}\n{NONE_USED}: not applicable")
        return _save(fig, path, style)
    c = style.colors
    kinds = [k for k in df["kind"].unique() if k not in ("super_weights", "paper_set")]
    for i, k in enumerate(kinds):
        d = df[df["kind"] == k]
        ax.plot([i] * len(d), d["ratio"], "o", ms=4, alpha=0.6, color=c.get("original", "C0"))
        k_hi = result["kinds"][k]["n_at_least_sw"]
        ax.text(i, d["ratio"].max(), f" {k_hi} of {len(d)} >= super weights", fontsize=7, va="bottom")
    sw = float(df[df["kind"] == "super_weights"]["ratio"].iloc[0])
    ax.axhline(sw, color=c.get("pruned", "C3"), label=f"super weights (x{sw:.3g})")
    paper = df[df["kind"] == "paper_set"]
    if len(paper):
        ax.axhline(float(paper["ratio"].iloc[0]), color=c.get("other_outliers", "C4"), ls="--",
                   label=f"paper's outlier set ({int(paper['n_weights'].iloc[0])} weights)")
    ax.set_xticks(range(len(kinds)), [k.replace("_", " ") for k in kinds], fontsize=8)
    ax.set_xlim(-0.5, len(kinds) - 0.5)
    if style.log_scale and (df["ratio"] > 0).all() and all(map(math.isfinite, df["ratio"])):
        ax.set_yscale("log")
    ax.set_ylabel(f"perplexity / original (N = {result['n_sets']} sets per kind)", fontsize=8)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    _save(fig, path, style)


def emergence_figure(df: pd.DataFrame, title: str, crossing, path, style: Plots) -> None:
    """Super weight value, super activation size and prune-SW perplexity ratio against training step: a panel for
    each quantity measured."""
    panels = [(col, label) for col, label in (("weight_abs", "|tracked weight|"), ("sa_abs", "super activation |value|"),
                                              ("ppl_ratio", "ppl ratio, tracked weights zeroed")) if _measured(df, col)]
    height = style.height * (1.6 if len(panels) > 1 else 1)
    fig, axes = plt.subplots(max(1, len(panels)), 1, sharex=True, squeeze=False,
                             figsize=(style.width, height))
    axes = [row[0] for row in axes]
    if not panels:
        _note(axes[0], f"{title}\nnothing measured")
        return _save(fig, path, style)
    c = style.colors
    for ax, (col, label) in zip(axes, panels):
        ax.plot(df["step"], df[col], "o-", ms=3, color=c.get("original", "C0"))
        det = df[df["detected"]]
        ax.plot(det["step"], det[col], "o", ms=6, mfc="none", color=c.get("marker", "C2"),
                label="confirmed super weight at this step")
        if crossing is not None:
            ax.axvline(crossing, color=c.get("pruned", "C3"), ls="--", lw=1, label=f"emerges at step {crossing}")
        if style.log_scale:
            ax.set_yscale("log")
        ax.set_ylabel(label, fontsize=7)
    if (df["step"] > 0).all():
        axes[-1].set_xscale("log")
    axes[-1].set_xlabel("training step")
    axes[0].legend(fontsize=6)
    axes[0].set_title(title, fontsize=9)
    _save(fig, path, style)
