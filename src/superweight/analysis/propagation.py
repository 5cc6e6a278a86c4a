"""Super-activation propagation (paper Fig. 4): the largest residual-stream value after each decoder layer, with the
super weights and / or the other large weights removed."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from superweight.interventions.edits import prune_all_weights_per_tensor, prune_nonsw, undo_prune, zeroed
from superweight.models.adapters import get_adapter, layer_output

# choices no config key changes, each a row of the protocol page (report/fixed_choices.py)
FIXED_CHOICES = ("propagation.max",)


@torch.no_grad()
def layer_output_maxima(model: nn.Module, input_ids: torch.Tensor) -> list[dict]:
    """Per decoder layer, max |output| (the residual stream after that layer) with its channel and token, from
    hooks on the decoder layers as the official Fig. 4 code: layer i is decoder layer i's output (no embeddings,
    no final norm)."""
    got: dict[int, torch.Tensor] = {}

    def hook(i):
        def fn(mod, inp, out):
            got[i] = layer_output(out).detach()
        return fn

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(get_adapter(model).layers(model))]
    try:
        model(input_ids)
    finally:
        for h in handles:
            h.remove()
    rows = []
    for i in sorted(got):
        a = got[i].reshape(-1, got[i].shape[-1]).float().abs()  # (tokens, channels) of the one prompt
        t, c = divmod(int(a.argmax()), a.shape[1])
        rows.append({"layer": i, "max_abs": float(a.max()), "channel": c, "token": t})
    return rows


def propagation(model: nn.Module, tok, prompt: str, sws, nonsw_rule: str, nonsw_amount: float,
                outliers: str = "ablation", official_amount: float = 5e-7) -> list[dict]:
    """Max |decoder-layer output| per layer for: original, super weights removed, other outliers removed, and
    all of them removed. The model is restored afterwards.

    ``outliers``: ``ablation`` removes the other outliers by the ablation's ``prune_nonsw`` rule (decoder linear
    weights, super weights kept); ``official`` by the official Fig. 4 code: ``official_amount`` per tensor over
    every weight tensor, ranked with the super weights zeroed, which are then put back."""
    if outliers not in ("ablation", "official"):
        raise ValueError(f"propagation outliers must be 'ablation' or 'official', got {outliers!r}")
    ids = tok(prompt, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
    rows = [{"condition": "original", **r} for r in layer_output_maxima(model, ids)]
    if sws:
        with zeroed(model, sws):
            rows += [{"condition": "super weights removed", **r} for r in layer_output_maxima(model, ids)]
    if outliers == "official":
        summary = None
        try:
            with contextlib.ExitStack() as st:
                if sws:
                    st.enter_context(zeroed(model, sws))
                summary = prune_all_weights_per_tensor(model, official_amount, keep_undo=True)
                all_removed = layer_output_maxima(model, ids)
            # the super weights are back: only the other outliers are removed
            rows += [{"condition": "other outliers removed", **r} for r in layer_output_maxima(model, ids)]
            if sws:
                rows += [{"condition": "all removed", **r} for r in all_removed]
        finally:
            if summary is not None:
                undo_prune(model, summary)
        return rows
    summary = prune_nonsw(model, sws, nonsw_rule, nonsw_amount, keep_undo=True)
    try:
        rows += [{"condition": "other outliers removed", **r} for r in layer_output_maxima(model, ids)]
        if sws:
            with zeroed(model, sws):
                rows += [{"condition": "all removed", **r} for r in layer_output_maxima(model, ids)]
    finally:
        undo_prune(model, summary)
    return rows
