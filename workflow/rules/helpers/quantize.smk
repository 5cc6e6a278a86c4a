# Quantization's inputs: the tuned z, each job's quantization spec, Table 6's files (quantize.smk).
import json

from superweight.quant.methods import CLIPPING_METHODS, RESTORING_METHODS

Z_KEYS = ("z_candidates", "z_criterion", "calibration", "partial_block", "rounding", "clip_std", "compute_dtype")
EVAL_CORPORA = sorted(set(config["perplexity"]["corpora"]) | set(WQ["corpora"]) | set(AQ["corpora"])
                      | {config["detection"]["confirm"]["corpus"]})


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
