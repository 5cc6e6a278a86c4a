"""One place that turns a scoring job's wildcards into an intervention on the loaded model."""
from __future__ import annotations

import contextlib
import logging

import torch

from .ablation import NEEDS_SW, apply_condition
from .intervene import scale_weights

log = logging.getLogger(__name__)


class NotApplicable(RuntimeError):
    """The experiment cannot run on this model (e.g. it has no confirmed super weight)."""


def calibration_ids(ids: torch.Tensor, seqlen: int, windows: int) -> torch.Tensor:
    """Calibration windows taken from the *end* of a corpus, away from the evaluation windows at its start."""
    n = min(windows * seqlen, len(ids) // 2)
    return ids[len(ids) - n:]


def identity(kind: str, spec: dict, sws) -> dict | None:
    """``apply``'s record for an experiment that leaves the model as it is (scaling x1, W8A8 ``fp``), whose scores
    are therefore the original model's; None for any other. Raises NotApplicable where ``apply`` would."""
    if kind == "scaling" and float(spec["factor"]) == 1.0:
        if not sws:
            raise NotApplicable("no confirmed super weight")
        return {"factor": 1.0, "super_weights": [list(c) for c in sws], "changed": [],
                "note": "factor 1 leaves every weight as it is"}
    if kind == "aquant" and spec["method"] == "fp":
        return {"method": "fp", "bits": 8}
    return None


def whole_sequence(kind: str, spec: dict, cfg: dict) -> str | None:
    """Why the experiment's model is not causal token by token (its output at a token depends on later tokens or
    on the batch), or None. Such a model must see each lm-eval request as one sequence: ``eval.backend: hf``."""
    if kind == "ablation" and spec["condition"] == "prune_sw_restore_sa" and cfg["ablation"]["restore_tokens"] == "max":
        return "restore_tokens: max puts the super activation back at the token where it is largest in the sequence"
    if kind == "aquant" and spec["method"] == "sa_aware":
        return "sa_aware finds the super activation per sequence and quantizes with the whole tensor's median"
    return None


def eval_backend(kind: str, spec: dict, cfg: dict) -> str:
    """``eval.backend``, or ``hf`` where the cached backend would not be exact (see ``whole_sequence``)."""
    backend = cfg["eval"].get("backend", "hf")
    if backend == "cached" and (why := whole_sequence(kind, spec, cfg)):
        log.info("eval.backend hf for %s %s: %s", kind, spec, why)
        return "hf"
    return backend


def apply(model, kind: str, spec: dict, sws, cfg: dict, stack: contextlib.ExitStack, corpora: dict | None = None):
    """Change ``model`` for one experiment; returns the record stored in scores.json.

    kind: ``ablation`` (spec: condition), ``scaling`` (factor), ``wquant`` (method, bits, block),
    ``aquant`` (method)."""
    if kind == "ablation":
        if spec["condition"] in NEEDS_SW and not sws:
            raise NotApplicable("no confirmed super weight")
        a = cfg["ablation"]
        rec = apply_condition(model, spec["condition"], sws, a["prune_nonsw"]["rule"], a["prune_nonsw"]["amount"],
                              a["restore_tokens"], stack)
        restore = rec.pop("_restore", None)
        if restore is not None:
            rec["restore"]["examples"] = restore.restored  # filled while scoring
        return rec
    if kind == "scaling":
        if not sws:
            raise NotApplicable("no confirmed super weight")
        return {"factor": spec["factor"], "super_weights": [list(c) for c in sws],
                "changed": scale_weights(model, sws, spec["factor"])}
    if kind == "wquant":
        from .quantize import quantize_weights

        q = cfg["quantization"]["weights"]
        if spec["method"] in ("sw_aware", "rtn_keep_sw") and not sws:
            raise NotApplicable("no confirmed super weight")
        z = spec.get("z", q["z"])
        amplified = None
        if spec.get("amplify") is not None:  # Table 6: the super weights scaled up before quantizing
            if not sws:
                raise NotApplicable("no confirmed super weight")
            amplified = scale_weights(model, sws, spec["amplify"])
        rec = quantize_weights(model, spec["method"], spec["bits"], spec["block"], z, sws)
        return {"method": spec["method"], "bits": spec["bits"], "block": spec["block"], "amplify": spec.get("amplify"),
                "amplified": amplified,
                "z": z if spec["method"] in ("clip", "sw_aware") else None,
                "block_layout": "tile" if "x" in str(spec["block"]) else "flat row-major", "tensors": rec,
                "mean_rel_error": sum(r["rel_error"] for r in rec) / len(rec), "super_weights": [list(c) for c in sws]}
    if kind == "aquant":
        from .quantize import W8A8, activation_absmax, sa_channels, smooth

        q = cfg["quantization"]["activations"]
        method = spec["method"]
        rec = {"method": method, "bits": 8}
        if method == "fp":
            return rec
        if method == "sa_aware":
            if not sws:
                raise NotApplicable("no confirmed super weight")
            ch = sa_channels(model, sws)
            rec["sa_channels"] = len(ch)
        else:
            ch = {}
        if method == "smoothquant":
            cal = q["calibration"]
            ids = calibration_ids(corpora[cal["corpus"]], cfg["perplexity"]["seqlen"], cal["windows"])
            try:
                stats = activation_absmax(model, ids, cfg["perplexity"]["seqlen"], cal["windows"])
            except ValueError as e:
                raise NotApplicable(str(e)) from None
            rec["smoothed_groups"] = smooth(model, stats, q["alpha"])
            rec.update(alpha=q["alpha"], calibration={**cal, "tokens": len(ids), "from": "end of corpus"})
        stack.enter_context(W8A8(model, 8, ch))
        return rec
    raise ValueError(f"unknown experiment kind {kind!r}")
