"""Figures in the style of the paper, drawn from result files only; styled by the config's `plots` (settings.Plots)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from superweight.detect.used import NONE_USED
from superweight.settings import Plots


def _fig(style: Plots):
    return plt.subplots(figsize=(style.width, style.height))


def _wrap(t, width_px: float, renderer) -> None:
    """Re-wrap a text artist's lines (at spaces, from its text as first set) to the widest wrap that is at most
    ``width_px`` wide."""
    import textwrap

    text = getattr(t, "_sw_unwrapped", None) or t.get_text()
    t._sw_unwrapped = text
    t.set_text(text)
    if not text or t.get_window_extent(renderer).width <= width_px:
        return
    chars = max(len(line) for line in text.split("\n"))
    while chars > 10 and t.get_window_extent(renderer).width > width_px:
        chars -= max(1, chars // 40)
        t.set_text("\n".join(textwrap.fill(line, chars, break_long_words=False, break_on_hyphens=False)
                             for line in text.split("\n")))


def _room(t, renderer, fw: float) -> float:
    """The width a horizontal text has inside the canvas, given where it is anchored and how it is aligned."""
    bb = t.get_window_extent(renderer)
    ha = t.get_horizontalalignment()
    if ha == "center":
        cx = (bb.x0 + bb.x1) / 2
        return 2 * min(cx, fw - cx)
    return fw - bb.x0 if ha == "left" else bb.x1


def fit_text(fig) -> None:
    """Keep every title and note inside the canvas: the suptitle, each axes' titles and the texts placed on the
    axes or the figure are wrapped (at spaces) to the room they have where they are anchored (a title centred over
    an axes is cut at both figure edges when wider than twice its distance to the nearer edge), then tight_layout
    leaves room for the extra lines, the tick labels and the axis labels."""
    renderer = fig.canvas.get_renderer()
    fw = fig.bbox.width
    for _ in range(2):  # tight_layout moves the axes, which changes the room a centred title has
        texts = [fig._suptitle] if fig._suptitle is not None else []
        texts += list(fig.texts)
        for ax in fig.axes:
            texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        for t in texts:
            if t.get_visible() and t.get_text() and t.get_rotation() == 0:
                _wrap(t, 0.96 * _room(t, renderer, fw), renderer)
        fig.tight_layout()


def _save(fig, path, style: Plots):
    fit_text(fig)
    fig.savefig(path, dpi=style.dpi)
    plt.close(fig)


def _candidate_confirmed(c: dict) -> bool:
    """Detection's own flag when it records one, else its status text ("confirmed ...")."""
    if c.get("confirmed") is not None:
        return bool(c["confirmed"])
    return str(c.get("status", "")).startswith("confirmed")


def down_proj_maxima(layers: pd.DataFrame, sw_layers: list[int], title: str, path, style: Plots,
                     candidates: list[dict] | None = None) -> None:
    """Fig. 3: max |down_proj input| and |output| per layer (original model); confirmed super weights as dashed
    lines, candidates that confirmation rejected as dotted grey lines with x markers (their ppl ratio noted)."""
    c = style.colors
    fig, ax = _fig(style)
    ax.plot(layers["layer"], layers["in_max"], "o-", ms=3, color=c.get("input", "C0"), label="max |down_proj input|")
    ax.plot(layers["layer"], layers["out_max"], "s-", ms=3, color=c.get("output", "C3"), label="max |down_proj output|")
    for i, l in enumerate(sorted(set(sw_layers))):
        ax.axvline(l, color=c.get("marker", "C2"), ls="--", lw=1.2, label="confirmed super weight" if i == 0 else None)
    rejected = [x for x in candidates or [] if not _candidate_confirmed(x) and x["layer"] not in set(sw_layers)]
    out_at = dict(zip(layers["layer"], layers["out_max"]))
    for i, x in enumerate(sorted(rejected, key=lambda x: x["layer"])):
        ax.axvline(x["layer"], color="grey", ls=":", lw=1,
                   label="candidate, not confirmed" if i == 0 else None)
        if x["layer"] in out_at:
            ax.plot([x["layer"]], [out_at[x["layer"]]], "x", color="grey", ms=7)
            r = x.get("ppl_ratio")
            if isinstance(r, (int, float)):
                ax.annotate(f"x{r:.2g}", (x["layer"], out_at[x["layer"]]), fontsize=6, color="grey",
                            xytext=(2, 4), textcoords="offset points")
    if style.log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("max |activation|")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)
    _save(fig, path, style)


def residual_stream(res: pd.DataFrame, title: str, path, style: Plots, xlabel: str = "layer (0 = embeddings)") -> None:
    """Fig. 4: max |residual stream| per layer, one line per condition (column 'condition')."""
    c = style.colors
    fig, ax = _fig(style)
    keys = {"super weights zeroed": "pruned"}  # style key of each condition's colour
    for i, (cond, d) in enumerate(res.groupby("condition", sort=False)):
        ax.plot(d["layer"], d["max_abs"], "o-", ms=3, label=cond, color=c.get(keys.get(cond, cond), f"C{i}"))
    if style.log_scale:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("max |hidden state|")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path, style)


PUNCT_NAMES = {",": "comma", ".": "period", "'": "apostrophe", '"': "quote", "`": "backtick", ":": "colon",
               ";": "semicolon", "!": "exclamation", "?": "question mark", "-": "hyphen", "(": "left paren",
               ")": "right paren", "\n": "newline", " ": "space", "\t": "tab", "—": "em dash", "–": "en dash",
               "’": "right quote", "“": "left dquote", "”": "right dquote", "…": "ellipsis"}


def token_label(t: str) -> str:
    """A token as a readable axis label: words as they are; punctuation and whitespace named, with the character
    in brackets (a bare "," and "'" are indistinguishable at tick-label size)."""
    if t and all(ch in PUNCT_NAMES for ch in t):
        return "+".join(PUNCT_NAMES[ch] for ch in t) + (f" [{t}]" if t.strip() else "")
    if not t.strip():
        return "␣" if not t else repr(t)[1:-1]
    if not any(ch.isalnum() for ch in t):
        return f"[{t}]"
    return t


def _ci(e) -> str:
    if e is None:
        return ""
    return f" [{e.lo:.2g}, {e.hi:.2g}]"


def stopword_bars(df: pd.DataFrame, summary: dict, model: str, path, style: Plots,
                  ratio_cis: dict | None = None) -> None:
    """Fig. 5: the top tokens' mean next-token probability, original vs super weights zeroed; stopwords in colour;
    the headline ratios with their 95% CI over prompts (``ratio_cis``: {"stopword_mass"|"the"|"."|",": Estimate})."""
    c = style.colors
    fig, ax = _fig(style)
    if summary.get("status") == "skipped" or df.empty:
        ax.text(0.5, 0.5, f"{model}: {NONE_USED}\n(stopword analysis not applicable)",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        _save(fig, path, style)
        return
    n = min(len(df), style.label_tokens) or len(df)
    d = df.head(n)
    x = range(len(d))
    ax.bar([i - 0.2 for i in x], d["p_original"], 0.4, label="original", color=c.get("original", "C0"))
    ax.bar([i + 0.2 for i in x], d["p_no_super_weight"], 0.4, label="super weights zeroed", color=c.get("pruned", "C3"))
    ax.set_xticks(list(x))
    ax.set_xticklabels([token_label(t) for t in d["token"].astype(str)], rotation=70, fontsize=7)
    for lab, stop in zip(ax.get_xticklabels(), d["stopword"].astype(str) == "True"):
        if stop:
            lab.set_color(c.get("stopword", "C1"))
            lab.set_fontweight("bold")
    ax.set_ylabel("mean next-token probability")
    cis = ratio_cis or {}
    ratios = ", ".join(f"{token_label(w)} x{summary[f'ratio_{w}']:.2g}" + _ci(cis.get(w))
                       for w in ("the", ".", ",") if summary.get(f"ratio_{w}"))
    ax.set_title(f"{model}: n = {summary['n_prompts']} LAMBADA prompts; stopwords (coloured labels) hold "
                 f"{summary['stopword_mass_original']:.2f} -> {summary['stopword_mass_no_super_weight']:.2f} "
                 f"of the mass (x{summary['stopword_mass_ratio']:.3g}{_ci(cis.get('stopword_mass'))})\n{ratios}\n"
                 f"(paper, Llama-7B: the x2.1, period x4.9, comma x10.5; [95% CI over prompts])", fontsize=7)
    ax.legend(fontsize=7)
    _save(fig, path, style)


def _measured(d: pd.DataFrame, col: str | None) -> bool:
    return bool(col) and col in d and not d[col].isna().all()


def scaling_curve(df: pd.DataFrame, path, style: Plots) -> None:
    """Fig. 6: average zero-shot accuracy (± 1 SE) against the super-weight scaling factor, one line per model; a
    sweep scored by perplexity only (``limit: 0``) is drawn as the perplexity measured (WikiText-2, else C4) with
    its 95% CI instead; the models with nothing to draw are named after their note (e.g. no super weight used)."""
    col = next((c for c in ("avg", "Wiki-2 ppl", "C4 ppl") if _measured(df, c)), None)
    acc = col == "avg"
    fig, ax = _fig(style)
    skipped, ns = {}, set()  # why a model is not drawn: the models
    for i, (model, d) in enumerate(df.groupby("model", sort=True)):
        if col is None or d[col].isna().all():
            notes = [x for x in d.get("note", pd.Series(dtype=object)).dropna() if x]
            skipped.setdefault(notes[0] if notes else "not measured", []).append(model)
            continue
        if acc:
            yerr = d["avg se"] if "avg se" in d else None
            ns |= _docs_per_task(d)
        else:
            yerr = ([(d[col] - d[f"{col} lo"]).clip(lower=0), (d[f"{col} hi"] - d[col]).clip(lower=0)]
                    if f"{col} lo" in d else None)
            ns |= {int(v) for v in d.get(f"{col} n", pd.Series(dtype=float)).dropna()}
        ax.errorbar(d["factor"], d[col], yerr=yerr, fmt="o-", ms=4, capsize=3, label=model,
                    color=style.colors.get(model, f"C{i}"))
    if col is None:
        ax.text(0.5, 0.5, "nothing measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        title = "Super-weight scaling"
    elif acc:
        ax.set_ylabel("average zero-shot accuracy (%), ± 1 SE")
        title = "Super-weight scaling" + (f" (n = {_n_text(ns)} documents per task)" if ns else "")
    else:
        ax.set_yscale("log")
        ax.set_ylabel(f"{'WikiText-2' if col == 'Wiki-2 ppl' else 'C4'} perplexity (95% CI)")
        title = "Super-weight scaling: perplexity (" + (f"n = {_n_text(ns)} windows; " if ns else "") + \
            "accuracies not scored)"
    if col is not None:
        ax.axvline(1.0, color="grey", ls=":", lw=1)
        ax.set_xlabel("super-weight scaling factor (1 = original)")
    if skipped:
        title += "\n" + "; ".join(f"{why}: {', '.join(ms)}" for why, ms in skipped.items())
    ax.set_title(title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    _save(fig, path, style)


def _docs_per_task(d: pd.DataFrame) -> set:
    cols = [c for c in d.columns if c.endswith(" n") and c != "avg n" and not c.endswith("ppl n")]
    return {int(v) for c in cols for v in d[c].dropna()}


def _n_text(ns: set) -> str:
    """The n of a non-empty set of sizes: one number or a range (callers leave out an n that is not known)."""
    return str(min(ns)) if len(ns) == 1 else f"{min(ns)}-{max(ns)}"


def _block_x(blocks: list[str]) -> dict[str, float]:
    """Block size in elements on a log axis; per_channel and per_tensor (sizes that vary by tensor) placed 4x
    below / above the numeric blocks and labelled by name."""
    from superweight.report.tables import block_order

    num = {b: block_order(b) for b in blocks if b not in ("per_channel", "per_tensor")}
    lo, hi = (min(num.values()), max(num.values())) if num else (1024.0, 1024.0)
    return {b: num.get(b, lo / 4 if b == "per_channel" else hi * 4) for b in blocks}


def wquant_curves(df: pd.DataFrame, bits: int, path, style: Plots) -> None:
    """Fig. 7: average accuracy (± 1 SE) and perplexity (95% CI over windows) against block size on a log axis, a
    line per method (and per model when several), one panel per quantity measured (accuracy only when scored), a
    legend on each and the n of what was measured in the title."""
    noted = df.get("note", pd.Series("", index=df.index)).fillna("")
    d = df[(df["bits"] == bits) & noted.eq("")]
    not_run = sorted({f"{r['model']} {r['method']}: {r['note']}"
                      for _, r in df[(df["bits"] == bits) & noted.ne("")].iterrows()})
    pcol = next((c for c in ("Wiki-2 ppl", "C4 ppl") if _measured(d, c)), None)
    panels = [q for q, on in (("avg", _measured(d, "avg")), (pcol, pcol is not None)) if on]
    w, h = style.width, style.height
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(w * (1.6 if len(panels) > 1 else 1), h), squeeze=False)
    axes = list(axes[0])
    models = d["model"].unique()
    for ax, col in zip(axes, panels):
        shown = d[d[col].notna()]
        blocks = list(dict.fromkeys(shown["block"]))
        xs = _block_x(blocks)
        for i, ((model, method), g) in enumerate(shown.groupby(["model", "method"], sort=False)):
            label = method if len(models) == 1 else f"{model} {method}"
            if col == "avg":
                err = g.get("avg se")
            else:
                err = ([(g[col] - g[f"{col} lo"]).clip(lower=0).fillna(0),
                        (g[f"{col} hi"] - g[col]).clip(lower=0).fillna(0)] if f"{col} lo" in g else None)
            ax.errorbar([xs[b] for b in g["block"]], g[col], yerr=err, fmt="o-", ms=4, capsize=3, label=label,
                        color=f"C{i}")
        ax.set_xscale("log")
        ax.set_xticks([xs[b] for b in blocks])
        ax.set_xticklabels(blocks, rotation=30, fontsize=7)
        ax.minorticks_off()
        lo, hi = min(xs.values()), max(xs.values())
        ax.set_xlim(lo / 2, hi * 2)  # every tick inside the axis, one point or many
        ax.set_xlabel("block size (elements of the flattened tensor, or tile; log scale)")
        if col == "avg":
            ax.set_ylabel("average zero-shot accuracy (%), ± 1 SE")
        else:
            ax.set_ylabel(f"{col} (95% CI over windows)")
            if style.log_scale:
                ax.set_yscale("log")
        ax.legend(fontsize=7)
    if not panels:
        axes[0].text(0.5, 0.5, "nothing measured at these bits (see the note above)", ha="center", va="center",
                     transform=axes[0].transAxes)
        axes[0].set_axis_off()
    docs = _docs_per_task(d) if "avg" in panels else set()
    wins = {int(v) for v in d[f"{pcol} n"].dropna()} if pcol and f"{pcol} n" in d else set()
    said = [f"{_n_text(n)} {what}" for n, what in ((docs, "documents per task"), (wins, "windows")) if n]
    said = [f"n = {', '.join(said)}"] if said else []
    said += [] if "avg" in panels else ["accuracies not scored"]
    fig.suptitle(f"INT{bits} round-to-nearest weight quantization: rtn = plain, clip = z-score clipping, "
                 f"sw_aware = clipping + super weights kept" + (f" ({'; '.join(said)})" if said else "")
                 + (f"\nnot run: {'; '.join(not_run)}" if not_run else ""), fontsize=8)
    _save(fig, path, style)
