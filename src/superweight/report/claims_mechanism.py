"""The claims about how the super weight acts (mechanism experiments, issue 13; super-activation propagation,
Fig. 4), registered in the one claims registry (superweight.report.claims). The experiment jobs write
measurements only; the verdicts, their tests and their wording are made here, with the registry's machinery
(minimum n, Holm over the model's family, direction and the paper's strength)."""
from __future__ import annotations

import math

import numpy as np

from superweight import paths
from superweight.interventions.applicability import NotApplicable
from superweight.report.registry import WIKI, Context, claim, t1_ratios
from superweight.stats.intervals import fieller_units, ppl_ratio_ci, proportion
from superweight.report.verdicts import Finding, Grade, Sub
from superweight.detect.used import NONE_USED


DETECT = paths.DETECT  # a mechanism result is checked against the super weights detection used, when present


def _done(ctx: Context, rel: str) -> dict:
    """A mechanism result run on the model's used super weights; NotApplicable with the job's reason when it was
    skipped, or when it zeroed another list than the one the ablation zeroes (a stale file: rerun it)."""
    r = ctx.ran(rel, NONE_USED)
    if "super_weights" in r and ctx.has(DETECT):
        ran, used = sorted(tuple(c) for c in r["super_weights"]), sorted(ctx.super_weights())
        if ran != used:
            raise NotApplicable(f"{rel} was run on {ran}, not on the used super weights {used}: rerun it")
    return r


def hadamard_checks(quantities: list[dict], outputs: list[dict], top_fraction: float,
                    share_min: float) -> tuple[list[bool], list[str]]:
    """The Hadamard test's checks and their evidence, at the super activation's token: per super weight, (a) the
    down projection's input at ``col`` ranks in the top k channels by |value| (k = super weights in the layer),
    (b) every factor (act(gate) and up, or the pre-activation) in the top ``top_fraction`` of channels (at least
    rank k); per output row, (c) the super weights' terms x[col] * W[row, col] are at least ``share_min`` of the
    output."""
    per_layer: dict[int, int] = {}
    for s in outputs:
        per_layer[s["layer"]] = per_layer.get(s["layer"], 0) + 1
    checks, parts = [], []
    for s in outputs:
        key = (s["layer"], s["row"], s["col"])
        mine = [q for q in quantities if (q["layer"], q["row"], q["col"]) == key]
        prod = next(q for q in mine if "down input" in q["quantity"])
        facs = [q for q in mine if q["quantity"] in ("act(gate)", "up", "pre-activation")]
        k = per_layer[s["layer"]]
        top = [q["abs_rank"] <= max(k, math.floor(top_fraction * q["n_channels"])) for q in facs]
        checks += [prod["abs_rank"] <= k, all(top)]
        fac = ", ".join(f"{q['quantity']} rank {q['abs_rank']} (z {q['z']:.1f})" for q in facs)
        parts.append(f"L{key[0]} [{key[1]}, {key[2]}] token {s['token']}: input rank {prod['abs_rank']}/"
                     f"{prod['n_channels']} (needs <= {k}, z {prod['z']:.1f}), {fac}")
    groups: dict[tuple[int, int], list[dict]] = {}
    for s in outputs:
        groups.setdefault((s["layer"], s["row"]), []).append(s)
    for (l, r), ss in groups.items():
        share = sum(s["sw_term"] for s in ss) / ss[0]["output"] if ss[0]["output"] else math.nan
        checks.append(share >= share_min)
        parts.append(f"L{l} row {r}: super weights' share of the output {share:.3g} (needs >= {share_min:g})")
    return checks, parts


@claim("mechanism_hadamard", "§3.2 (mechanism 1); review: low confidence",
       "The super weight amplifies an input outlier formed by the Hadamard product of the MLP's factors "
       "(act(gate) x up; act(up) for plain MLPs).",
       "stated as the mechanism, no number",
       "at the super activation's token of the detection prompt, for the used super weights: the down projection's "
       "input at the super weight's column ranks in the layer's top k channels (k = super weights in the layer), "
       "each factor in the top 1% of channels, and the super weights' terms are >= 50% of the row's output. One "
       "deterministic pass on one prompt (n = 1, no interval): holds when every check holds, else fails.",
       ("mechanism/hadamard.json",), uses=(DETECT,), descriptive=True, top_fraction=0.01, share_min=0.5,
       strength="the paper gives no number: not graded")
def _mech_hadamard(ctx: Context, t: dict) -> Finding:
    r = _done(ctx, "mechanism/hadamard.json")
    if "quantities" not in r:
        raise NotApplicable("mechanism/hadamard.json has no per-quantity ranks (written by an older version): "
                            "rerun mechanism_hadamard")
    checks, parts = hadamard_checks(r["quantities"], r["outputs"], t["top_fraction"], t["share_min"])
    v = ("holds (one deterministic pass; the paper gives no number to grade its strength)" if all(checks) else
         f"fails (one deterministic pass; {sum(not c for c in checks)} of {len(checks)} checks fail)")
    return Finding(v, "; ".join(parts), {"checks_passed": sum(checks), "checks": len(checks)})


@claim("mechanism_skip", "§3.2; review: skip-connection ablation asked for",
       "The super weight acts through the super activation that the skip connection carries to later layers.",
       "no number (the paper's restore-SA condition recovers part of the loss, Table 1)",
       "keeping the super weight but removing its layer's row-channel contribution from the residual stream right "
       "after the layer (offset 1) reproduces more than half of prune-SW's rise in mean window NLL: share = "
       "mean(NLL_skip - NLL_orig) / mean(NLL_prune - NLL_orig) over the same windows, Fieller interval with t "
       "quantiles, one sub-test of the Holm family; not applicable if prune-SW multiplies perplexity by less than 2.",
       ("mechanism/skip.json",), uses=(DETECT,), fraction=0.5, not_hurt=2.0,
       strength="the paper gives no number: not graded")
def _mech_skip(ctx: Context, t: dict) -> Finding:
    r = _done(ctx, "mechanism/skip.json")
    rows = r.get("conditions") or []
    if not rows:
        raise NotApplicable(NONE_USED)
    by = {x["condition"]: x for x in rows}
    o, p = by.get("original"), by.get("prune_sw")
    first = next((x for x in rows if x.get("offset") == 1), None)
    if o is None or p is None or first is None:
        raise NotApplicable("the run has no original, prune_sw or offset-1 condition")
    if not p["ppl"] / o["ppl"] >= t["not_hurt"]:
        raise NotApplicable(f"zeroing the super weights multiplies perplexity by only {p['ppl'] / o['ppl']:.3g} "
                            f"(< {t['not_hurt']:g})")
    wo, ws, wp = (np.asarray(x["window_nll"], float) for x in (o, first, p))
    e = fieller_units(ws - wo, wp - wo, ctx.level, method="Fieller (t) over windows",
                      clusters=o.get("window_article"), unit="window")
    return Finding(None, "", subs=[Sub("share of prune-SW's log-ppl rise reproduced", e, t["fraction"], unit="")],
                   notes=[f"removed after layer {first['from_layer'] - 1}: ppl x{first['ppl'] / o['ppl']:.3g} vs "
                          f"prune-SW x{p['ppl'] / o['ppl']:.3g}"])


@claim("mechanism_significance", "§3.1, Table 1; review: statistical validation asked for",
       "Pruning the super weights hurts more than pruning other large weights of the same count.",
       "Table 1 (Llama-7B): prune SW Wiki-2 ppl 1211 vs prune non-SW (~7,000 other outliers) 6.08: x199",
       "direction: for each matched kind (one weight per super weight from the same matrix's top magnitudes; as "
       "many from the model's top 1e-4), the share of the N random matched sets whose perplexity ratio is at least "
       "the super weights' is < 1/2 (exact binomial test and Clopper-Pearson interval: the super weights hurt more "
       "than a typical matched set), and ppl(super weights pruned) / ppl(the paper's non-SW set pruned) > 1 "
       "(the window test on paired log-differences: t from 48 windows (articles), below that the exact sign test of the median window); each one sub-test of the Holm family. Strength: Table 1's x199.",
       ("mechanism/significance.json",), uses=(DETECT,), share=0.5, ratio=1.0,
       strength="Table 1 (the model's own row; Llama-7B's for a model outside the paper): ppl(super weights pruned) / "
       "ppl(other outliers pruned) at least x199 (Wiki-2), within the strength margin")
def _mech_significance(ctx: Context, t: dict) -> Finding:
    r = _done(ctx, "mechanism/significance.json")
    sw = r["sw"]["ratio"]
    subs = []
    for kind, k in r["kinds"].items():
        ratios = [s["ratio"] for s in k["sets"]]
        hi = sum(x >= sw for x in ratios)
        subs.append(Sub(f"{kind}: share of {len(ratios)} random sets hurting at least as much", proportion(hi, len(ratios)),
                        t["share"], higher=False, unit=""))
    paper = r["paper_set"]
    e = ppl_ratio_ci(paper["window_nll"], r["sw"]["window_nll"], True, **ctx.kw(),
                     clusters=r["sw"].get("window_article"))
    t1, who = ctx.paper("table1")
    x = t1_ratios(t1, "prune_sw", "prune_nonsw").get(WIKI)
    subs.append(Sub(f"ppl(super weights pruned)/ppl(paper's {paper['n_pruned']} other outliers pruned)", e,
                    t["ratio"], grades=(Grade("Table 1", x, f"Table 1's x{x:.3g} (Wiki-2, {who})"),) if x else ()))
    return Finding(None, "", subs=subs, notes=[f"super weights pruned: ppl x{sw:.4g}; the paper's set: "
                                               f"x{paper['ratio']:.4g}"], no_grade=f"the paper's Table 1 has no "
                   f"number for {who}: not graded")


def _sa_layers(rows: list[dict]) -> dict[str, dict[int, dict]]:
    by: dict[str, dict[int, dict]] = {}
    for x in rows:
        by.setdefault(x["condition"], {})[int(x["layer"])] = {"max_abs": float(x["max_abs"]),
                                                              "channel": int(x["channel"])}
    return by


@claim("other_outliers_keep_sa", "§3.3, Fig. 4",
       "Removing the other largest-magnitude weights (the super weights kept) keeps the super activation; removing "
       "the super weights removes it.",
       "Fig. 4 (Llama-7B, one prompt): the super activation after layer 2 with the other outliers removed as in the "
       "original, gone with the super weight removed; the text gives no number",
       "one prompt, one forward pass per condition (propagation/residual_max.csv: the largest |value| of each "
       "decoder layer's output), at the output of each layer holding a used super weight: (a) kept: with the other "
       "outliers removed the maximum is >= 1/2 of the original's and in a super weight's row channel; (b) removed: "
       "with the super weights removed it is <= 1/2 of the original's (the maximum over all channels bounds the "
       "super activation's channel). Holds when (a) and (b) hold at every such layer, fails when a ratio is on the "
       "wrong side, inconclusive when the recorded maximum is in another channel (the file then does not measure "
       "the super activation). Descriptive: n = 1 prompt, no interval and no multiplicity family; it cannot say "
       "how often this holds across prompts. The paper gives no number to grade its strength.",
       ("propagation/residual_max.csv", "detect/super_weights.json"), descriptive=True, keep=0.5, drop=0.5,
       strength="the paper gives no number: not graded")
def _other_outliers_keep_sa(ctx: Context, t: dict) -> Finding:
    sws = ctx.super_weights()
    if not sws:
        raise NotApplicable(NONE_USED)
    by = _sa_layers(ctx.rows("propagation/residual_max.csv"))
    need = ("original", "other outliers removed", "super weights removed")
    if any(c not in by for c in need):
        raise NotApplicable(f"propagation/residual_max.csv lacks a condition of {', '.join(need)}")
    rows_ = sorted({r for _, r, _ in sws})
    bad, unsure, parts, est = [], [], [], {}
    for layer in sorted({l for l, _, _ in sws}):
        o, k, s = (by[c].get(layer) for c in need)
        if o is None or k is None or s is None:
            raise NotApplicable(f"propagation/residual_max.csv has no layer {layer}")
        kept, gone = k["max_abs"] / o["max_abs"], s["max_abs"] / o["max_abs"]
        est[f"layer {layer}"] = {"original": o["max_abs"], "kept_ratio": kept, "removed_ratio": gone}
        parts.append(f"after layer {layer}: max |value| {o['max_abs']:.4g} (channel {o['channel']}), other outliers "
                     f"removed x{kept:.3g} (channel {k['channel']}, needs >= x{t['keep']:g}), super weights removed "
                     f"x{gone:.3g} (channel {s['channel']}, needs <= x{t['drop']:g})")
        if o["channel"] not in rows_:
            unsure.append(f"after layer {layer} the original maximum is in channel {o['channel']}, not a super "
                          f"weight row {rows_}")
            continue
        if kept < t["keep"]:
            bad.append(f"with the other outliers removed the maximum after layer {layer} is x{kept:.3g} of the "
                       f"original's")
        elif k["channel"] not in rows_:
            unsure.append(f"with the other outliers removed the maximum after layer {layer} is in channel "
                          f"{k['channel']}, not a super weight row")
        if gone > t["drop"]:
            (bad if s["channel"] in rows_ else unsure).append(
                f"with the super weights removed the maximum after layer {layer} is x{gone:.3g} of the original's"
                + ("" if s["channel"] in rows_ else f" (channel {s['channel']})"))
    if bad:
        v = "fails (descriptive, one prompt: " + "; ".join(bad) + ")"
    elif unsure:
        v = "inconclusive (one prompt: " + "; ".join(unsure) + ")"
    else:
        v = ("holds (descriptive, one prompt and one pass per condition; the paper gives no number to grade its "
             "strength)")
    return Finding(v, "; ".join(parts), est)
