"""Figures in the style of the paper, drawn from result files only."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def _fig(style: dict):
    return plt.subplots(figsize=(style.get("width", 6.4), style.get("height", 3.6)))


def _save(fig, path, style):
    fig.tight_layout()
    fig.savefig(path, dpi=style.get("dpi", 150))
    plt.close(fig)


def down_proj_maxima(layers: pd.DataFrame, sw_layers: list[int], title: str, path, style: dict) -> None:
    """Fig. 3: max |down_proj input| and |output| per layer (original model), super-weight layers marked."""
    c = style.get("colors", {})
    fig, ax = _fig(style)
    ax.plot(layers["layer"], layers["in_max"], "o-", ms=3, color=c.get("input", "C0"), label="max |down_proj input|")
    ax.plot(layers["layer"], layers["out_max"], "s-", ms=3, color=c.get("output", "C3"), label="max |down_proj output|")
    for i, l in enumerate(sorted(set(sw_layers))):
        ax.axvline(l, color=c.get("marker", "C2"), ls="--", lw=1, label="confirmed super weight" if i == 0 else None)
    if style.get("log_scale", True):
        ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("max |activation|")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path, style)


def residual_stream(res: pd.DataFrame, title: str, path, style: dict, xlabel: str = "layer (0 = embeddings)") -> None:
    """Fig. 4: max |residual stream| per layer, one line per condition (column 'condition')."""
    c = style.get("colors", {})
    fig, ax = _fig(style)
    keys = {"super weights zeroed": "pruned"}  # style key of each condition's colour
    for i, (cond, d) in enumerate(res.groupby("condition", sort=False)):
        ax.plot(d["layer"], d["max_abs"], "o-", ms=3, label=cond, color=c.get(keys.get(cond, cond), f"C{i}"))
    if style.get("log_scale", True):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("max |hidden state|")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path, style)


def stopword_bars(df: pd.DataFrame, summary: dict, model: str, path, style: dict) -> None:
    """Fig. 5: the top tokens' mean next-token probability, original vs super weights zeroed; stopwords in colour."""
    c = style.get("colors", {})
    fig, ax = _fig(style)
    if summary.get("status") == "skipped" or df.empty:
        ax.text(0.5, 0.5, f"{model}: no confirmed super weight\n(stopword analysis not applicable)",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        _save(fig, path, style)
        return
    n = min(len(df), style.get("label_tokens", 20)) or len(df)
    d = df.head(n)
    x = range(len(d))
    ax.bar([i - 0.2 for i in x], d["p_original"], 0.4, label="original", color=c.get("original", "C0"))
    ax.bar([i + 0.2 for i in x], d["p_no_super_weight"], 0.4, label="super weights zeroed", color=c.get("pruned", "C3"))
    ax.set_xticks(list(x))
    ax.set_xticklabels([repr(t)[1:-1] or "␣" for t in d["token"].astype(str)], rotation=70, fontsize=7)
    for lab, stop in zip(ax.get_xticklabels(), d["stopword"].astype(str) == "True"):
        if stop:
            lab.set_color(c.get("stopword", "C1"))
            lab.set_fontweight("bold")
    ax.set_ylabel("mean next-token probability")
    ratios = ", ".join(f"{w!r} x{summary[f'ratio_{w}']:.2g}" for w in ("the", ".", ",") if summary.get(f"ratio_{w}"))
    ax.set_title(f"{model}: {summary['n_prompts']} LAMBADA prompts; stopwords (coloured labels) hold "
                 f"{summary['stopword_mass_original']:.2f} -> {summary['stopword_mass_no_super_weight']:.2f} "
                 f"of the mass\n{ratios}  (paper, Llama-7B: 'the' x2.1, '.' x4.9, ',' x10.5)", fontsize=8)
    ax.legend(fontsize=7)
    _save(fig, path, style)


def scaling_curve(df: pd.DataFrame, path, style: dict) -> None:
    """Fig. 6: average zero-shot accuracy against the super-weight scaling factor, one line per model."""
    fig, ax = _fig(style)
    skipped = []
    for i, (model, d) in enumerate(df.groupby("model", sort=True)):
        if "avg" not in d or d["avg"].isna().all():
            skipped.append(model)
            continue
        ax.plot(d["factor"], d["avg"], "o-", ms=4, label=model, color=style.get("colors", {}).get(model, f"C{i}"))
    ax.axvline(1.0, color="grey", ls=":", lw=1)
    ax.set_xlabel("super-weight scaling factor (1 = original)")
    ax.set_ylabel("average zero-shot accuracy (%)")
    title = "Super-weight scaling"
    if skipped:
        title += f" (no confirmed super weight: {', '.join(skipped)})"
    ax.set_title(title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    _save(fig, path, style)


def wquant_curves(df: pd.DataFrame, bits: int, path, style: dict) -> None:
    """Fig. 7: average accuracy (left) and WikiText-2 perplexity (right) against block size, a line per method
    (and per model when several)."""
    d = df[(df["bits"] == bits) & df.get("note", pd.Series("", index=df.index)).fillna("").eq("")]
    blocks = list(dict.fromkeys(d["block"]))
    w, h = style.get("width", 6.4), style.get("height", 3.6)
    fig, axes = plt.subplots(1, 2, figsize=(w * 1.6, h))
    models = d["model"].unique()
    for i, ((model, method), g) in enumerate(d.groupby(["model", "method"], sort=False)):
        label = method if len(models) == 1 else f"{model} {method}"
        x = [blocks.index(b) for b in g["block"]]
        if "avg" in g:
            axes[0].plot(x, g["avg"], "o-", ms=4, label=label, color=f"C{i}")
        ppl = g.get("Wiki-2 ppl", g.get("C4 ppl"))
        if ppl is not None:
            axes[1].plot(x, ppl, "o-", ms=4, label=label, color=f"C{i}")
    for ax in axes:
        ax.set_xticks(range(len(blocks)))
        ax.set_xticklabels(blocks, rotation=30, fontsize=7)
        ax.set_xlabel("block size (elements of the flattened tensor, or tile)")
    axes[0].set_ylabel("average zero-shot accuracy (%)")
    axes[1].set_ylabel("perplexity")
    if style.get("log_scale", True):
        axes[1].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"INT{bits} round-to-nearest weight quantization: rtn = plain, clip = z-score clipping, "
                 "sw_aware = clipping + super weights kept", fontsize=8)
    _save(fig, path, style)
