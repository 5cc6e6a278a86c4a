"""One place that turns a scoring job's experiment (an ablation condition, a scaling factor, a weight or activation
quantization setting) into its change of the loaded model. It reaches up to ``quant``, so it lives in ``analysis``,
not in the torch-free ``workflow`` package whose scripts call it."""
from __future__ import annotations

import contextlib
import logging

from superweight.interventions.applicability import NotApplicable, same_model
from superweight.interventions.conditions import NEEDS_SW, apply_condition
from superweight.interventions.edits import scaled
from superweight.detect.used import NONE_USED
from superweight.settings import JobSettings

log = logging.getLogger(__name__)


def identity(kind: str, spec: dict, sws) -> dict | None:
    """``apply``'s record for an experiment that leaves the model as it is (scaling x1, W8A8 ``fp``), whose scores
    are therefore the original model's; None for any other. Raises NotApplicable where ``apply`` would."""
    if kind == "scaling" and float(spec["factor"]) == 1.0:
        if not sws:
            raise NotApplicable(NONE_USED)
        return {"factor": 1.0, "super_weights": [list(c) for c in sws], "changed": [],
                "note": "factor 1 leaves every weight as it is"}
    if kind == "aquant" and spec["method"] == "fp":
        return {"method": "fp", "bits": 8}
    return None


def reused_record(kind: str, spec: dict, sws, source: dict) -> dict:
    """The intervention record of an experiment whose model is an ablation condition's (``same_model``),
    checked against that condition's record ``source``: scaling x0 must have zeroed exactly these super weights."""
    condition = same_model(kind, spec)
    if condition == "original":
        return identity(kind, spec, sws)
    if condition != "prune_sw":
        raise ValueError(f"{kind} {spec} is not an ablation condition's model")
    if not sws:
        raise NotApplicable(NONE_USED)
    zeroed = {tuple(c) for c in source.get("super_weights", [])}
    if zeroed != {tuple(c) for c in sws} or not source.get("changed"):
        raise ValueError(f"prune_sw zeroed {sorted(zeroed)}, not this run's super weights {sorted(map(tuple, sws))}")
    return {"factor": 0.0, "super_weights": [list(c) for c in sws], "changed": source["changed"],
            "note": "factor 0 zeroes the super weights: the ablation's prune_sw model"}


def apply(model, kind: str, spec: dict, sws, cfg: JobSettings, stack: contextlib.ExitStack, corpora: dict | None = None,
          calibration: dict | None = None):
    """Change ``model`` for one experiment until ``stack`` closes; returns the record stored in scores.json (plain
    data; a restore's examples are copied into it when the stack closes). Weight quantization (``wquant``) and
    SmoothQuant's smoothing change the weights in place for good (the job's model is not used again; ``rtn.quantized``
    and ``w8a8.smoothed`` are the restoring forms, at the cost of a copy of the weights); every other change is
    undone on close.

    kind: ``ablation`` (spec: condition), ``scaling`` (factor), ``wquant`` (method, bits, block),
    ``aquant`` (method). ``calibration``: SmoothQuant's calibration samples ({"examples": [token tensors], "record":
    how they were drawn}), text apart from every evaluated window (rule smoothquant_calibration). ``cfg``: the job's
    settings (its kind's section: `ablation`, `quantization.weights` or `quantization.activations`)."""
    if kind == "ablation":
        if spec["condition"] in NEEDS_SW and not sws:
            raise NotApplicable(NONE_USED)
        a = cfg.ablation
        return apply_condition(model, spec["condition"], sws, a.prune_nonsw.rule, a.prune_nonsw.amount,
                               a.restore_tokens, stack=stack)
    if kind == "scaling":
        if not sws:
            raise NotApplicable(NONE_USED)
        return {"factor": spec["factor"], "super_weights": [list(c) for c in sws],
                "changed": stack.enter_context(scaled(model, sws, spec["factor"]))}
    if kind == "wquant":
        from superweight.quant.rtn import RTNOptions, quantize_weights

        q = cfg.quantization.weights
        if spec["method"] in ("sw_aware", "rtn_keep_sw") and not sws:
            raise NotApplicable(NONE_USED)
        z = spec.get("z", q.z)
        factor = float(spec.get("sw_factor", 1.0))  # Table 6: the super weights put back x factor after quantizing
        opts = RTNOptions.from_config(q)
        rec = quantize_weights(model, spec["method"], spec["bits"], spec["block"], z, sws, sw_factor=factor, opts=opts)
        return {"method": spec["method"], "bits": spec["bits"], "block": spec["block"], "sw_factor": factor,
                "restored": [x for r in rec for x in r.get("restored", [])], "options": opts.asdict(),
                "z": z if spec["method"] in ("clip", "sw_aware") else None,
                "block_layout": "tile" if "x" in str(spec["block"]) else "flat row-major", "tensors": rec,
                "whole_tensor_blocks": sum(r["block_used"] != str(spec["block"]) for r in rec),
                "mean_rel_error": sum(r["rel_error"] for r in rec) / len(rec), "super_weights": [list(c) for c in sws]}
    if kind == "aquant":
        from superweight.quant.w8a8 import W8A8, activation_absmax, sa_channels, smooth

        q = cfg.quantization.activations
        method = spec["method"]
        inputs, bmm = q.inputs, q.bmm
        rec = {"method": method, "bits": 8, "inputs": list(inputs), "bmm": list(bmm)}
        if method == "fp":
            return rec
        if method == "sa_aware":
            if not sws:
                raise NotApplicable(NONE_USED)
            ch = sa_channels(model, sws, inputs)
            rec["sa_channels"] = len(ch)
        else:
            ch = {}
        granularity = q.weight_granularity
        rec["weight_granularity"] = granularity
        w8a8 = W8A8(model, 8, ch, inputs, bmm, granularity)  # checks the roles before any work
        if method == "smoothquant":
            if not calibration or not calibration.get("examples"):
                raise ValueError("smoothquant needs its calibration samples (rule smoothquant_calibration)")
            try:
                stats = activation_absmax(model, calibration["examples"])
            except ValueError as e:
                raise NotApplicable(str(e)) from None
            rec["smoothed_groups"] = smooth(model, stats, q.alpha)
            rec.update(alpha=q.alpha, calibration={**calibration.get("record", {}),
                                                      "samples": len(calibration["examples"]),
                                                      "tokens": sum(len(x) for x in calibration["examples"])})
        stack.enter_context(w8a8)
        rec.update(quantized_projections=list(w8a8.inputs), bmm_projections=list(w8a8.bmm), calls=dict(w8a8.calls))
        stack.callback(lambda: rec.update(calls=dict(w8a8.calls)))  # counted while scoring: copied when it closes
        return rec
    raise ValueError(f"unknown experiment kind {kind!r}")
