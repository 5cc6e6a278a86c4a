# Quantization's inputs: the tuned z, each job's quantization spec, Table 6's files (quantize.smk).
import json
from types import SimpleNamespace

from superweight.quant.methods import CLIPPING_METHODS, RESTORING_METHODS
from superweight.workflow.config import evaluated_corpora

Z_KEYS = ("z_candidates", "z_criterion", "calibration", "partial_block", "rounding", "clip_std", "compute_dtype")
# every corpus a verdict evaluates: calibration must occur in none (detection's confirmation text is a choice, not an
# evaluation: config validation keeps it apart from these too)
EVAL_CORPORA = sorted(evaluated_corpora(config))


def z_input(wildcards):
    """With z: auto, the clipping methods wait for the model's tuned z."""
    if WQ["z"] == "auto" and wildcards.wmethod in CLIPPING_METHODS:
        return f"results/{wildcards.model}/wquant/int{wildcards.bits}/z_block{wildcards.block}.json"
    return []


def wquant_spec(wildcards, input, sw_factor=None):
    """The weight quantization a job applies: method, bits, block, the restored super weights' factor (Table 6)
    and, with z: auto, the tuned z."""
    restored = {} if sw_factor is None else {"sw_factor": sw_factor}
    z = {"z": json.loads(Path(input.z).read_text())["z"]} if input.z else {}
    return {"method": wildcards.wmethod, "bits": int(wildcards.bits), "block": wildcards.block, **restored, **z}


def wquant_settings():
    """Every weight-quantization setting the run scores, as (bits, method, block, Table 6 factor or None): Fig. 7's
    sweep and, when enabled, Table 6's plain RTN and restored super weights (x1 and x each factor)."""
    out = [(b, m, str(blk), None) for b in WQ["bits"] for m in WQ["methods"] for blk in WQ["blocks"]]
    t = WQ["table6"]
    if t["enabled"]:
        for blk in t["blocks"]:
            out += [(t["bits"], "rtn", str(blk), None), (t["bits"], t["method"], str(blk), None)]
            # the factor as its file name writes it (:g), so both job shapes score the same number
            out += [(t["bits"], t["method"], str(blk), float(f"{float(f):g}")) for f in t["factors"] if float(f) != 1.0]
    return list(dict.fromkeys(out))


def wquant_path(bits, method, block, factor=None):
    """A setting's scores.json, under results/{model} (a pattern with the {model} wildcard)."""
    restored = [f"sw_x{factor:g}"] if factor is not None else []
    return str(Path("results", "{model}", "wquant", f"int{bits}", method, f"block{block}", *restored, "scores.json"))


def sweep_z_input(wildcards):
    """The one-job sweep's tuned z files (z: auto), one per clipping setting's bits and block."""
    z = (z_input(SimpleNamespace(model=wildcards.model, bits=str(b), wmethod=m, block=blk))
         for b, m, blk, _ in wquant_settings())
    return sorted({f for f in z if f})


def sweep_specs(wildcards, input, output):
    """The one-job sweep's experiments: [scores.json, spec] per setting, in wquant_settings' order."""
    out = []
    for (b, m, blk, f), path in zip(wquant_settings(), output):
        wc = SimpleNamespace(model=wildcards.model, bits=str(b), wmethod=m, block=blk)
        out.append([path, wquant_spec(wc, SimpleNamespace(z=z_input(wc)), sw_factor=f)])
    return out


def table6_inputs(wildcards):
    """Per model and block: plain RTN, the super weights restored at their value (x1) and x each factor."""
    t = WQ["table6"]
    base = "results/{m}/wquant/int{b}/{meth}/block{blk}"
    out = []
    for m in MODELS:
        for blk in t["blocks"]:
            out.append(f"{base.format(m=m, b=t['bits'], meth='rtn', blk=blk)}/scores.json")
            p = base.format(m=m, b=t["bits"], meth=t["method"], blk=blk)
            out.append(f"{p}/scores.json")
            out += [f"{p}/sw_x{float(f):g}/scores.json" for f in t["factors"] if float(f) != 1.0]
    return out
