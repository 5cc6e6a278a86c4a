"""False-decision rates of the sequential verdict tests at the configured design and at Holm-level alphas, where
the t and normal approximations are read in their far tails (issue 24; a statistician's review).

Prints, per alpha and noise shape, the share of null sequences that some look decides (the design's looks over 8
windows; paired accuracy over 50 documents on 3 tasks), beside the fixed-sample test at the maximum alone, and how
often the default model's prune_sw effect (its 8 per-window log-ratios in random orders; its paired documents
resampled) stops before
the last look. R sequences per cell; a rate's Monte-Carlo SE is sqrt(rate / R).

    PYTHONPATH=tests python benchmarks/sequential_tails.py [R] > benchmarks/sequential_tails.txt
"""
import sys
import warnings
from pathlib import Path

import numpy as np
import yaml

from test_sequential import SW_CELLS, SW_WIKI, acc_p, t_p  # the tests' vectorized library tests (PYTHONPATH=tests)

from superweight.scoring.looks import look_sizes
from superweight.stats.sequential import Design

R = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/config.yaml").read_text())["sequential"]
ALPHAS = sorted({cfg["alpha"], 0.05, 0.01, 0.05 / 24})
W = look_sizes(cfg["looks"], 8)
D = look_sizes(cfg["looks"], 50)


def rates(design: Design, p_of, data, docs: bool = False) -> tuple[float, float]:
    """(any look decides, the fixed test at the maximum decides at alpha)."""
    hit = np.zeros(len(data), bool)
    for k, n in enumerate(design.looks):
        p, side = p_of(data[:, :, :n] if docs else data[..., :n])
        hit |= (p <= design.levels[k]) & (side != 0)
    p, side = p_of(data)
    return float(hit.mean()), float(((p <= design.alpha) & (side != 0)).mean())


def main():
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # t on constant rows: p = 1 / nan, never decides
    rng = np.random.default_rng(11)
    noise = {"normal": rng.standard_normal((R, 8)), "t3": rng.standard_t(3, (R, 8)),
             "gamma(4)": rng.gamma(4.0, 1.0, (R, 8)) - 4.0, "gamma(1)": rng.gamma(1.0, 1.0, (R, 8)) - 1.0}
    cells = np.array([[0.3, 0.1, 0.1, 0.5], [0.5, 0.15, 0.15, 0.2], [0.2, 0.05, 0.05, 0.7]])
    pats = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    acc = np.stack([pats[rng.choice(4, (R, 50), p=c)] for c in cells], 1)
    print(f"R = {R} null sequences per cell; looks {list(W)} of 8 windows, {list(D)} of 50 documents, "
          f"{cfg['spending']} spending; config alpha {cfg['alpha']}")
    print(f"{'alpha':>9} {'data':>22} {'sequential':>11} {'x alpha':>8} {'fixed n=max':>12} {'x alpha':>8}")
    for a in ALPHAS:
        for name, x in noise.items():
            s, f = rates(Design(W, a, cfg["spending"]), t_p, x)
            print(f"{a:9.5f} {'windows ' + name:>22} {s:11.5f} {s / a:8.2f} {f:12.5f} {f / a:8.2f}")
        s, f = rates(Design(D, a, cfg["spending"]), acc_p, acc, docs=True)
        print(f"{a:9.5f} {'paired accuracy':>22} {s:11.5f} {s / a:8.2f} {f:12.5f} {f / a:8.2f}")
    # the default model's prune_sw effect, resampled: how early the configured design stops
    r = min(R, 20_000)
    w = rng.permuted(np.tile(np.asarray(SW_WIKI), (r, 1)), axis=1)  # the 8 windows in random orders
    probs = [np.asarray(c, float) / sum(c) for c in SW_CELLS.values()]
    x = np.stack([pats[rng.choice(4, (r, 50), p=p)] for p in probs], 1)
    for what, design, p_of, data, docs in (("windows (x227)", Design(W, cfg["alpha"], cfg["spending"]), t_p, w, False),
                                           ("documents", Design(D, cfg["alpha"], cfg["spending"]), acc_p, x, True)):
        stop = np.full(r, len(design.looks))
        for k in reversed(range(len(design.looks))):
            p, side = p_of(data[:, :, :design.looks[k]] if docs else data[..., :design.looks[k]])
            stop = np.where((p <= design.levels[k]) & (side != 0), k, stop)
        share = [float(np.mean(stop == k)) for k in range(len(design.looks) + 1)]
        print(f"prune_sw {what}: stops at look 1..{len(design.looks)} / never: "
              + ", ".join(f"{100 * s:.1f}%" for s in share)
              + f"; mean n {np.mean([design.looks[min(k, len(design.looks) - 1)] for k in stop]):.1f}")


if __name__ == "__main__":
    main()
