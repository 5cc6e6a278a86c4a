# Quantization's inputs: the tuned z, each job's quantization spec, Table 6's files (quantize.smk).
import json
from types import SimpleNamespace

from superweight.quant.methods import RESTORING_METHODS
from superweight.workflow.config import evaluated_corpora

Z_KEYS = ("z_candidates", "z_criterion", "calibration", "partial_block", "rounding", "clip_std", "compute_dtype")
# every corpus a verdict evaluates: calibration must occur in none (detection's confirmation text is a choice, not an
# evaluation: config validation keeps it apart from these too)
EVAL_CORPORA = sorted(evaluated_corpora(config))


def z_input(wildcards):
    """With z: auto, the clipping methods wait for the model's tuned z (the run plan's z_files)."""
    z = PLAN.z_files(wildcards.model, [{"method": wildcards.wmethod, "bits": wildcards.bits, "block": wildcards.block}])
    return z[0] if z else []


def wquant_spec(wildcards, input, sw_factor=None):
    """The weight quantization a job applies: method, bits, block, the restored super weights' factor (Table 6)
    and, with z: auto, the tuned z."""
    restored = {} if sw_factor is None else {"sw_factor": sw_factor}
    z = {"z": json.loads(Path(input.z).read_text())["z"]} if input.z else {}
    return {"method": wildcards.wmethod, "bits": int(wildcards.bits), "block": wildcards.block, **restored, **z}


WQ_SETTINGS = PLAN.wquant  # every weight-quantization setting, as the run plan lists them


def sweep_z_input(wildcards):
    """The one-job sweep's tuned z files (z: auto), one per clipping setting's bits and block."""
    return PLAN.z_files(wildcards.model)


def sweep_specs(wildcards, input, output):
    """The one-job sweep's experiments: [scores.json, spec] per setting, in the run plan's order."""
    out = []
    for s, path in zip(WQ_SETTINGS, output):
        wc = SimpleNamespace(model=wildcards.model, bits=str(s.bits), wmethod=s.method, block=s.block)
        out.append([path, wquant_spec(wc, SimpleNamespace(z=z_input(wc)), sw_factor=s.factor)])
    return out


def table6_inputs(wildcards):
    """Per model and block: plain RTN, the super weights restored at their value (x1) and x each factor."""
    return [s.pattern().format(model=m) for m in MODELS for s in PLAN.table6]
