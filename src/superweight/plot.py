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


def residual_stream(res: pd.DataFrame, title: str, path, style: dict) -> None:
    """Fig. 4: max |residual stream| per layer, one line per condition (column 'condition')."""
    c = style.get("colors", {})
    fig, ax = _fig(style)
    keys = {"super weights zeroed": "pruned"}  # style key of each condition's colour
    for i, (cond, d) in enumerate(res.groupby("condition", sort=False)):
        ax.plot(d["layer"], d["max_abs"], "o-", ms=3, label=cond, color=c.get(keys.get(cond, cond), f"C{i}"))
    if style.get("log_scale", True):
        ax.set_yscale("log")
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("max |hidden state|")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path, style)
