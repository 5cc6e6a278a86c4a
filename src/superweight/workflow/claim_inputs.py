"""The result files the claims read (superweight.report.claims), for the experiments a config runs, without torch:
the workflow's `claims` rule waits for exactly these. A claim whose files are not listed is reported "not
applicable: not run"; a new experiment adds its files here."""
from __future__ import annotations


def factor_names(cfg: dict) -> list[str]:
    """The scaling sweep's factors as they appear in paths (``x1``, ``x1.5``)."""
    return [f"{float(f):g}" for f in cfg["analysis"]["scaling"]["factors"]]


def claim_inputs(cfg: dict, models: list[str]) -> list[str]:
    """Every result file of every model the claims read, for the experiments ``cfg`` (validated) configures."""
    wq, aq = cfg["quantization"]["weights"], cfg["quantization"]["activations"]
    out = []
    for m in models:
        r = f"results/{m}"
        out += [f"{r}/detect/super_weights.json", f"{r}/detect/residual_stream.csv", f"{r}/stopwords/summary.json",
                f"{r}/propagation/residual_max.csv"]
        out += [f"{r}/ablation/{c}/scores.json" for c in cfg["ablation"]["conditions"]]
        out += [f"{r}/scaling/x{f}/scores.json" for f in factor_names(cfg)]
        out += [f"{r}/wquant/int{b}/{meth}/block{blk}/scores.json"
                for b in wq["bits"] for meth in wq["methods"] for blk in wq["blocks"]]
        t6 = wq["table6"]  # Table 6's plain RTN, x1 and amplified restores (wquant_amplify, wquant_restore_beats_rtn)
        if t6["enabled"]:
            amp = [f"sw_x{float(f):g}/" for f in t6["factors"] if float(f) != 1.0]
            out += [f"{r}/wquant/int{t6['bits']}/{meth}/block{blk}/{x}scores.json" for blk in t6["blocks"]
                    for meth, xs in (("rtn", [""]), (t6["method"], ["", *amp])) for x in xs]
        out += [f"{r}/aquant/w8a8/{meth}/scores.json" for meth in aq["methods"]]
        out += [f"{r}/mechanism/{exp}.json" for exp in cfg["mechanism"]["experiments"]]
    return list(dict.fromkeys(out))
