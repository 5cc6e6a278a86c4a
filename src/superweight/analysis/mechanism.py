"""The paper's mechanism, measured: Hadamard amplification of the super weight's input, and the
skip-connection ablation (the super activation removed from the residual stream, the weight kept).

Both read the MLP's parts through the family adapter (``up_path``, ``gate_path``, ``act_path``,
``mlp_out``), so they run on every supported family without per-family code here."""
from __future__ import annotations

import logging
import math
from typing import Iterable

import torch
from torch import nn

from superweight.models.adapters import get_adapter

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]

# Verdict thresholds, fixed before looking at any model (see each verdict's docstring).
FACTOR_TOP_FRACTION = 0.01  # a factor is an outlier at col if it ranks in the top 1% of channels (at least rank 1)
SHARE_MIN = 0.5  # the super weight's term is at least half of the row's output
SKIP_FRACTION = 0.5  # removing the activation after its layer reproduces at least half of prune-SW's log-ppl rise
NOT_HURT = 2.0  # prune-SW below this perplexity ratio leaves nothing for the skip ablation to explain


def super_weights_of(summary: dict) -> list[Coord]:
    """The super weights a downstream experiment uses: ``used`` when detection wrote it, else ``super_weights``."""
    rows = summary.get("used", summary.get("super_weights", []))
    return [(int(c["layer"]), int(c["row"]), int(c["col"])) if isinstance(c, dict) else tuple(map(int, c))
            for c in rows]


def _flat(t: torch.Tensor, shape: torch.Size | None = None) -> torch.Tensor:
    """(tokens, features) of the first sequence; OPT runs its MLP on (batch * tokens, features)."""
    t = t.detach()
    if t.dim() == 3:
        return t[0]
    return t if shape is None else t.reshape(*shape[:-1], t.shape[-1])[0]


def channel_stats(v: torch.Tensor, col: int) -> dict:
    """Value at ``col``, its rank by |value| among all channels (1 = largest), and its z-score."""
    v = v.double()
    absv = v.abs()
    rank = int((absv > absv[col]).sum()) + 1
    sd = float(v.std(unbiased=False))
    return {"value": float(v[col]), "abs_rank": rank, "n_channels": len(v),
            "z": (float(v[col]) - float(v.mean())) / sd if sd > 0 else math.nan,
            "ratio_to_median": float(absv[col] / absv.median()) if float(absv.median()) > 0 else math.inf}


@torch.no_grad()
def capture_mlp(model: nn.Module, ids: torch.Tensor, layers: Iterable[int]) -> dict[int, dict[str, torch.Tensor]]:
    """One forward pass; per layer the (tokens, channels) factors of the down projection's input (first sequence):
    ``gate`` (pre-activation) and ``up`` for gated MLPs, ``pre`` for plain ones; ``act`` = the activation of
    gate / pre; ``down_in`` and ``down_out`` as the down projection saw and produced them."""
    a = get_adapter(model)
    got: dict[int, dict[str, torch.Tensor]] = {l: {} for l in layers}
    handles = []

    def keep(l, key):
        def fn(mod, inp, out):
            if key == "down":
                got[l]["down_in"] = _flat(inp[0]).float()
                got[l]["down_out"] = _flat(out).float()
            else:
                got[l][key] = _flat(out).float()
        return fn

    for l in got:
        handles.append(a.down_proj(model, l).register_forward_hook(keep(l, "down")))
        handles.append(a.layer_module(model, l, a.up_path).register_forward_hook(keep(l, "up_out")))
        if a.gate_path is not None and not a.fused_gate_up:
            handles.append(a.layer_module(model, l, a.gate_path).register_forward_hook(keep(l, "gate_out")))
    try:
        model(ids)
    finally:
        for h in handles:
            h.remove()
    for l, d in got.items():
        act = a.layer_module(model, l, a.act_path)
        up_out = d.pop("up_out")
        if a.gate_path is None:
            d["pre"] = up_out
            d["act"] = act(up_out)
        else:
            if a.fused_gate_up:
                d["gate"], d["up"] = up_out.chunk(2, dim=-1)
            else:
                d["gate"], d["up"] = d.pop("gate_out"), up_out
            d["act"] = act(d["gate"])
    return got


def _factors(a, d: dict) -> list[tuple[str, torch.Tensor]]:
    if a.gate_path is None:
        return [("pre-activation", d["pre"]), ("act(pre) = down input", d["act"])]
    return [("gate (pre-activation)", d["gate"]), ("act(gate)", d["act"]), ("up", d["up"]),
            ("act(gate) * up = down input", d["act"] * d["up"])]


@torch.no_grad()
def hadamard(model: nn.Module, ids: torch.Tensor, sws: Iterable[Coord]) -> tuple[list[dict], list[dict], list[dict]]:
    """Decompose each super weight's input and output at the super activation's token.

    The token is where |down_proj output| in channel ``row`` is largest (first sequence). Returns
    (rows: one per super weight and quantity with value, rank by |value| among channels, z-score;
    per-channel values behind them; one summary per super weight with the output decomposition
    x[col] * W[row, col] against the row's other terms and the factorization check)."""
    a = get_adapter(model)
    sws = list(sws)
    caught = capture_mlp(model, ids, sorted({l for l, _, _ in sws}))
    rows, channels, summaries = [], [], []
    for l, r, c in sws:
        d = caught[l]
        t = int(d["down_out"][:, r].abs().argmax())
        x = d["down_in"][t]
        recon = _factors(a, d)[-1][1][t]
        rel_err = float((recon - x).abs().max() / x.abs().max().clamp_min(1e-30))
        if rel_err > 1e-2:
            raise RuntimeError(f"layer {l}: the factors do not reproduce the down projection's input "
                               f"(max relative error {rel_err:.3g}); the adapter's MLP paths are wrong for this model")
        w_row = a.down_row(model, l, r).float()
        contrib = x * w_row
        bias = getattr(a.down_proj(model, l), "bias", None)
        b = float(bias[r]) if bias is not None else 0.0
        out = float(d["down_out"][t, r])
        key = {"layer": l, "row": r, "col": c, "token": t}
        quantities = [(name, v[t]) for name, v in _factors(a, d)]
        quantities += [("weight W[row, :]", w_row), ("contribution x * W[row, :]", contrib)]
        for name, v in quantities:
            rows.append({**key, "quantity": name, **channel_stats(v, c)})
            channels += [{**key, "quantity": name, "channel": j, "value": float(val)} for j, val in enumerate(v.tolist())]
        sw_term = float(contrib[c])
        others = float(contrib.sum()) - sw_term
        mask = torch.ones_like(contrib, dtype=torch.bool)
        mask[c] = False
        summaries.append({**key, "output": out, "sw_term": sw_term, "others_sum": others, "bias": b,
                          "others_max_abs": float(contrib[mask].abs().max()), "sw_share": sw_term / out if out else math.nan,
                          "factorization_rel_error": rel_err, "gated": a.gate_path is not None})
        log.info("layer %d [%d, %d] token %d: x*w = %.4g of output %.4g (others %.4g)", l, r, c, t, sw_term, out, others)
    return rows, channels, summaries


def verdict_hadamard(rows: list[dict], summaries: list[dict], top_fraction: float = FACTOR_TOP_FRACTION,
                     share_min: float = SHARE_MIN, reason: str | None = None) -> dict:
    """Claim (paper mechanism 1): the super weight amplifies an input outlier formed by the Hadamard product of
    the MLP's factors. Test at the super-activation token, per super weight: (a) the down projection's input at
    ``col`` ranks among the top k channels by |value|, k = the number of super weights in that layer (1 for a lone
    one); (b) every factor (act(gate) and up, or the pre-activation) ranks in the top ``top_fraction`` of channels
    (at least rank 1); and per output channel: (c) the super weights' terms x[col] * W[row, col] together make at
    least ``share_min`` of the output. holds: all of them everywhere; fails: otherwise."""
    test = " ".join(verdict_hadamard.__doc__.split())
    if not summaries:
        return {"verdict": "not applicable", "evidence": reason or "no confirmed super weight", "test": test}
    per_layer = {}
    for s in summaries:
        per_layer[s["layer"]] = per_layer.get(s["layer"], 0) + 1
    checks, parts = [], []
    for s in summaries:
        mine = [r for r in rows if (r["layer"], r["row"], r["col"]) == (s["layer"], s["row"], s["col"])]
        prod = next(r for r in mine if "down input" in r["quantity"])
        facs = [r for r in mine if r["quantity"] in ("act(gate)", "up", "pre-activation")]
        k = per_layer[s["layer"]]
        top = lambda r: r["abs_rank"] <= max(k, math.floor(top_fraction * r["n_channels"]))  # noqa: E731
        checks += [prod["abs_rank"] <= k, all(top(r) for r in facs)]
        fac_txt = ", ".join(f"{r['quantity']} rank {r['abs_rank']} (z {r['z']:.1f})" for r in facs)
        parts.append(f"L{s['layer']} [{s['row']}, {s['col']}] token {s['token']}: input rank {prod['abs_rank']}/"
                     f"{prod['n_channels']} (z {prod['z']:.1f}); {fac_txt}")
    groups: dict[tuple[int, int], list[dict]] = {}
    for s in summaries:
        groups.setdefault((s["layer"], s["row"]), []).append(s)
    for (l, r), ss in groups.items():
        share = sum(s["sw_term"] for s in ss) / ss[0]["output"] if ss[0]["output"] else math.nan
        checks.append(share >= share_min)
        parts.append(f"L{l} row {r}: super weights' share of the output {share:.2f}")
    return {"verdict": "holds" if all(checks) else "fails", "evidence": "; ".join(parts),
            "thresholds": {"input_rank": "<= super weights in the layer", "factor_top_fraction": top_fraction,
                           "share_min": share_min}, "test": test}


# --- skip-connection ablation ------------------------------------------------------------------------------

class SkipAblation:
    """Keep the super weights but remove their layer's contribution in the row channel from the residual stream
    entering layer ``layer + offset`` (offset 1: right at the layer's own residual add, so no later layer sees
    the super activation; larger offsets let it travel the skip connection up to that layer).

    The contribution is what the layer's MLP adds to the residual in channel ``row`` (the adapter's ``mlp_out``),
    captured in the same forward pass. ``tokens``: ``all`` subtracts it at every token, ``max`` only where it is
    largest (the super activation's token)."""

    def __init__(self, model: nn.Module, sws: Iterable[Coord], offset: int, tokens: str = "all"):
        if tokens not in ("all", "max"):
            raise ValueError(f"skip tokens must be 'all' or 'max', got {tokens!r}")
        if offset < 1:
            raise ValueError(f"skip offset must be at least 1 (the layer after the super weight's), got {offset}")
        self.model, self.offset, self.tokens = model, offset, tokens
        self.a = get_adapter(model)
        n = len(self.a.layers(model))
        targets = sorted({(l, r) for l, r, _ in sws})
        self.targets = [(l, r) for l, r in targets if l + offset < n]
        self.kept = [(l, r) for l, r in targets if l + offset >= n]  # no layer after them to remove it from
        if not self.targets:
            raise ValueError(f"offset {offset} puts the removal past the last layer for every super weight ({n} layers)")
        if self.kept:
            log.warning("offset %d: %s left in place (no layer L + %d in a %d-layer model)", offset, self.kept, offset, n)
        self.handles, self.caught, self.log = [], {}, []

    def _capture(self, l, r):
        def fn(mod, inp, out):
            self.caught[(l, r)] = out[..., r].detach().clone()
        return fn

    def _subtract(self, k, targets):
        def fn(mod, args, kwargs):
            h = args[0] if args else kwargs["hidden_states"]
            h = h.clone()
            for l, r in targets:
                c = self.caught.pop((l, r)).reshape(h.shape[:-1]).to(h.dtype)
                if self.tokens == "max":
                    keep = torch.zeros_like(c)
                    t = c.abs().argmax(-1)
                    b = torch.arange(c.shape[0], device=c.device)
                    keep[b, t] = c[b, t]
                    c = keep
                before = h[..., r].clone()
                h[..., r] -= c
                i = int(c.abs().flatten().argmax())
                if len(self.log) < 16:
                    self.log.append({"from_layer": k, "layer": l, "row": r, "max_abs_removed": float(c.abs().max()),
                                     "residual_before": float(before.flatten()[i]), "residual_after": float(h[..., r].flatten()[i])})
                if c.abs().max() > 0 and torch.equal(before, h[..., r]):
                    raise RuntimeError(f"skip ablation at layer {k} changed nothing in channel {r}")
            if args:
                return (h, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": h}
        return fn

    def __enter__(self):
        by_k: dict[int, list] = {}
        for l, r in self.targets:
            self.handles.append(self.a.mlp_out(self.model, l).register_forward_hook(self._capture(l, r)))
            by_k.setdefault(l + self.offset, []).append((l, r))
        layers = self.a.layers(self.model)
        for k, targets in by_k.items():
            self.handles.append(layers[k].register_forward_pre_hook(self._subtract(k, targets), with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []


def skip_conditions(n_layers: int, sws: Iterable[Coord], offsets: Iterable[int]) -> list[dict]:
    """The conditions of the skip experiment: original, prune_sw, and the removal at each offset that stays inside
    the model for at least one super weight. ``from_layer`` is the earliest super weight's layer + offset;
    ``left_in_place`` lists the (layer, row) whose layer + offset is past the last layer."""
    layers = sorted({(l, r) for l, r, _ in sws})
    conds = [{"condition": "original"}, {"condition": "prune_sw"}]
    for o in sorted(set(offsets)):
        if layers[0][0] + o < n_layers:
            conds.append({"condition": f"skip_from_L+{o}", "offset": o, "from_layer": layers[0][0] + o,
                          "left_in_place": [list(t) for t in layers if t[0] + o >= n_layers]})
    return conds


def log_ratio_fraction_ci(nll_orig, nll_skip, nll_prune, n_boot: int = 2000, seed: int = 0, level: float = 0.95):
    """Share of prune-SW's rise in mean NLL that the skip ablation reproduces, with a paired bootstrap CI over
    windows (the same windows in all three conditions). Returns (estimate, low, high)."""
    o, s, p = (torch.tensor(x, dtype=torch.float64) for x in (nll_orig, nll_skip, nll_prune))
    if not (torch.isfinite(o).all() and torch.isfinite(s).all() and torch.isfinite(p).all()):
        return math.nan, math.nan, math.nan

    def frac(idx):
        den = (p[idx] - o[idx]).mean(-1)
        return (s[idx] - o[idx]).mean(-1) / den

    est = float(frac(torch.arange(len(o))[None])[0])
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(o), (n_boot, len(o)), generator=g)
    boots = frac(idx)
    boots = boots[torch.isfinite(boots)]
    if len(boots) == 0:
        return est, math.nan, math.nan
    q = torch.tensor([(1 - level) / 2, 1 - (1 - level) / 2], dtype=torch.float64)
    lo, hi = torch.quantile(boots, q).tolist()
    return est, lo, hi


def verdict_skip(rows: list[dict], fraction: float = SKIP_FRACTION, not_hurt: float = NOT_HURT,
                 reason: str | None = None) -> dict:
    """Claim: the super weight acts through the super activation the skip connection carries. Test: removing the
    layer's row-channel contribution right after its layer (offset 1, the super weight kept) reproduces at least
    ``fraction`` of prune-SW's rise in mean NLL; 95% paired bootstrap CI over windows. holds: CI low >= fraction;
    fails: CI high < fraction; inconclusive otherwise. Not applicable without a super weight or when prune-SW
    multiplies perplexity by less than ``not_hurt``. The job's log shows this; the claims table recomputes the
    verdict from the stored windows (superweight.report.claims, mechanism_skip: Fieller interval, minimum n, Holm)."""
    if not rows:
        return {"verdict": "not applicable", "evidence": reason or "no confirmed super weight", "test": " ".join(verdict_skip.__doc__.split())}
    by = {r["condition"]: r for r in rows}
    test = " ".join(verdict_skip.__doc__.split())
    prune = by.get("prune_sw")
    first = next((r for r in rows if r.get("offset") == 1), None)
    if prune is None or first is None:
        return {"verdict": "not applicable", "evidence": "the run has no prune_sw or offset-1 condition", "test": test}
    if not prune["ppl_ratio"] >= not_hurt:
        return {"verdict": "not applicable", "test": test,
                "evidence": f"zeroing the super weights multiplies perplexity by only {prune['ppl_ratio']:.3g} (< {not_hurt})"}
    est, lo, hi = first["fraction_of_prune_sw"], first["fraction_ci_low"], first["fraction_ci_high"]
    ev = (f"removed after layer {first['from_layer'] - 1}: ppl x{first['ppl_ratio']:.3g} vs prune-SW x{prune['ppl_ratio']:.3g}; "
          f"share of prune-SW's log-ppl rise {est:.2f} [95% CI {lo:.2f}, {hi:.2f}] over {first['windows']} windows")
    if math.isnan(lo):
        v = "inconclusive"
    else:
        v = "holds" if lo >= fraction else "fails" if hi < fraction else "inconclusive"
    return {"verdict": v, "evidence": ev, "estimate": est, "ci": [lo, hi], "threshold": fraction, "test": test}


def skip_experiment(model: nn.Module, tok, ids: torch.Tensor, prompts: list[str], sws: Iterable[Coord], seqlen: int,
                    windows: int, offsets: Iterable[int], tokens: str = "all", seed: int = 0) -> list[dict]:
    """Perplexity (per-window NLL kept) and the stopword shift for: original, prune_sw, and the skip ablation at
    each offset (super weights kept). The stopword shift compares each condition's mean next-token distribution
    on ``prompts`` with the original's. The model is left as it was."""
    import contextlib

    from superweight.analysis.stopwords import mean_next_token_probs, stopword_table
    from superweight.interventions.edits import zeroed
    from superweight.scoring.perplexity import perplexity

    sws = list(sws)
    n_layers = len(get_adapter(model).layers(model))
    rows, p_orig = [], None
    for cond in skip_conditions(n_layers, sws, offsets):
        name = cond["condition"]
        ctx = (contextlib.nullcontext() if name == "original" else zeroed(model, sws) if name == "prune_sw"
               else SkipAblation(model, sws, cond["offset"], tokens))
        with ctx as sk:
            ppl = perplexity(model, ids, seqlen, windows, progress=False)
            probs = mean_next_token_probs(model, tok, prompts, name) if prompts else None
            removed = sk.log[:4] if isinstance(sk, SkipAblation) else None
        if name == "original":
            p_orig = probs
        row = {**cond, "tokens": tokens if "offset" in cond else None, "ppl": ppl["ppl"], "windows": ppl["windows"],
               "seqlen": seqlen, "window_nll": ppl["window_nll"], "removed": removed}
        if probs is not None:
            _, summ = stopword_table(tok, p_orig, probs, top_k=1)
            row.update({"n_prompts": len(prompts), "stopword_mass": summ["stopword_mass_no_super_weight"],
                        "stopword_mass_ratio": summ["stopword_mass_ratio"],
                        **{f"ratio_{w}": summ.get(f"ratio_{w}") for w in ("the", ".", ",")}})
        rows.append(row)
        log.info("%s: ppl %.4g%s", name, ppl["ppl"], f", stopword mass x{row.get('stopword_mass_ratio', math.nan):.3g}")
    base = rows[0]
    prune = rows[1]
    for r in rows:
        r["ppl_ratio"] = r["ppl"] / base["ppl"]
        if "offset" in r:
            est, lo, hi = log_ratio_fraction_ci(base["window_nll"], r["window_nll"], prune["window_nll"], seed=seed)
            r.update(fraction_of_prune_sw=est, fraction_ci_low=lo, fraction_ci_high=hi)
    return rows
