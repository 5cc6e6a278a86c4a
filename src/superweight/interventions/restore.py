"""Restoring the super activation (paper section 3.2, "prune SW, +SA"): forward hooks put back the value the
unmodified model gives, after the super weights were zeroed; the hooks are removed and nothing else is changed on
exit."""
from __future__ import annotations

import logging
from typing import Iterable

import torch
from torch import nn

from superweight.interventions.edits import Coord, InterventionError
from superweight.models.adapters import decoder, get_adapter, run_layers

log = logging.getLogger(__name__)
# choices no config key changes, each a row of the protocol page (report/fixed_choices.py)
FIXED_CHOICES = ("restore.one_layer", "restore.several_layers")


class RestoreSuperActivation:
    """Forward hooks that put the super activation back after its super weight(s) were zeroed.

    The value put back is the *unmodified* model's on the same input:

    - super weights in one layer: that layer's input is untouched by the pruning, so the original value of
      down_proj's output channel ``row`` is recomputed in the same pass from the layer's input and the saved
      original weight row (exact, no extra cost);
    - super weights in several layers: a later layer's input already differs (upstream, the activation was put
      back at one token only), so before each forward of the model's decoder (a pre-hook on ``decoder(model)``)
      ``first_pass`` runs the decoder with every super-weight channel restored at all tokens (the original model,
      up to rounding) through decoder layers 0..k only (``run_layers``; k: the last layer holding a super weight;
      ``whole_first_pass`` runs them all, as a reference; no LM head), which records each layer's original values;
      the modified pass then puts those values back.
      The first pass cannot replay a KV cache for the original model, so a forward with a non-empty
      ``past_key_values`` is refused in this case.

    The hooks work per sequence, also where a family flattens (batch, tokens) before its MLP (OPT): the batch
    and sequence sizes are read at the first decoder layer. ``tokens``: ``max`` restores the value at the token
    where it is largest, per sequence (official code), among the tokens the forward's 2-D ``attention_mask`` keeps
    (padding never takes it); ``all`` at every token (which equals not pruning)."""

    def __init__(self, model: nn.Module, original_rows: dict[tuple[int, int], torch.Tensor], tokens: str = "max",
                 whole_first_pass: bool = False):
        if tokens not in ("max", "all"):
            raise ValueError(f"restore tokens must be 'max' or 'all', got {tokens!r}")
        self.model, self.rows, self.tokens = model, dict(sorted(original_rows.items())), tokens
        self.several_layers = len({l for l, _ in self.rows}) > 1
        self.whole_first_pass = whole_first_pass
        self.handles = []  # one per restored (layer, row)
        self._aux = []  # model- and first-layer pre-hooks
        self._shape: tuple[int, int] | None = None  # (batch, tokens) of the running forward
        self._capturing = False
        self._captured: dict[tuple[int, int], torch.Tensor] | None = None
        self._valid: torch.Tensor | None = None  # (batch, tokens) of the running forward: False at padding
        self.restored: list[dict] = []

    @classmethod
    def capture(cls, model: nn.Module, sws: Iterable[Coord], tokens: str = "max",
                whole_first_pass: bool = False) -> "RestoreSuperActivation":
        """Copy the original weight rows of the super weights' output channels (call before pruning)."""
        a = get_adapter(model)
        rows = {}
        for l, r, _ in sws:
            rows[(l, r)] = a.down_row(model, l, r).detach().clone()
        return cls(model, rows, tokens, whole_first_pass)

    def first_pass(self, args: tuple, kwargs: dict) -> dict[tuple[int, int], torch.Tensor]:
        """The original model's value of every super-weight channel at every token, {(layer, row): (batch, tokens)},
        from one pass of the model's decoder on ``args``/``kwargs`` (the model's or its decoder's forward arguments)
        through decoder layers 0..k (all of them with ``whole_first_pass``; no KV cache, no hidden states or
        attentions returned, no LM head)."""
        caches = [k for k in ("past_key_values", "cache") if kwargs.get(k) is not None]  # "cache": transformers >= 5.x
        if any(_cache_len(kwargs[k]) > 0 for k in caches):
            raise InterventionError("restoring super activations in several layers needs whole sequences: the "
                                    "original model's values cannot be recomputed from a KV cache; run without "
                                    "past_key_values")
        captured: dict[tuple[int, int], torch.Tensor] = {}
        n = len(get_adapter(self.model).layers(self.model)) if self.whole_first_pass else max(self.rows)[0] + 1
        self._captured, self._capturing = captured, True
        try:
            run_layers(self.model, n, *args, **{**kwargs, **{k: None for k in caches}, "use_cache": False,
                                               "output_hidden_states": False, "output_attentions": False})
        finally:
            self._capturing, self._captured = False, None
        if len(captured) != len(self.rows):
            raise InterventionError(f"first pass saw {len(captured)} of {len(self.rows)} super-weight channels")
        return captured

    def _model_pre(self, module, args, kwargs):
        """Before each forward of the model's decoder: its padding mask; in the several-layer case, the first pass
        (``run_layers`` calls the decoder's forward without its hooks: this one does not see it)."""
        mask = kwargs.get("attention_mask")
        self._valid = mask.bool() if torch.is_tensor(mask) and mask.dim() == 2 else None
        if self.several_layers:
            self._captured = self.first_pass(args, kwargs)
        return None

    def _model_post(self, module, args, kwargs, out):
        self._captured, self._valid = None, None  # valid for one forward only
        return None

    def _layer_pre(self, module, args, kwargs):
        h = args[0] if args else kwargs["hidden_states"]
        self._shape = (h.shape[0], h.shape[1]) if h.dim() == 3 else (1, h.shape[0])
        return None

    def _hook(self, layer: int, row: int, w_row: torch.Tensor, bias):
        def fn(mod, inp, out):
            b_sz, t_sz = self._shape if self._shape is not None else (out.shape[0] if out.dim() == 3 else 1, -1)
            x = inp[0].reshape(b_sz, t_sz, inp[0].shape[-1])  # OPT: (batch * tokens, features) -> per sequence
            o = out.reshape(b_sz, t_sz, out.shape[-1]).clone()
            orig = x @ w_row.to(x.dtype) + (bias[row] if bias is not None else 0)  # (B, T) on this pass's input
            if self._capturing:
                self._captured[(layer, row)] = orig
                o[..., row] = orig
                return o.reshape(out.shape)
            if self.several_layers:
                if self._captured is None:
                    raise InterventionError("restore with super weights in several layers must run through the "
                                            "model's own forward (its first pass did not run)")
                orig = self._captured[(layer, row)].to(o.dtype)
            if self.tokens == "all":
                o[..., row] = orig
            else:
                size = orig.abs()
                if self._valid is not None:  # the mask covers cached tokens too: this pass's are its last
                    size = size.masked_fill(~self._valid[:, -size.shape[-1]:], -1)
                t = size.argmax(dim=-1)  # per sequence
                b = torch.arange(b_sz, device=o.device)
                o[b, t, row] = orig[b, t]
                if len(self.restored) < 8:
                    self.restored.append({"layer": layer, "row": row, "token": t.tolist(),
                                          "value": orig[b, t].tolist()})
            return o.reshape(out.shape)
        return fn

    def __enter__(self):
        a = get_adapter(self.model)
        for (l, r), w_row in self.rows.items():
            mod = a.down_proj(self.model, l)
            self.handles.append(mod.register_forward_hook(self._hook(l, r, w_row, getattr(mod, "bias", None))))
        self._aux = [a.layers(self.model)[0].register_forward_pre_hook(self._layer_pre, with_kwargs=True),
                     decoder(self.model).register_forward_pre_hook(self._model_pre, with_kwargs=True),
                     decoder(self.model).register_forward_hook(self._model_post, with_kwargs=True)]
        return self

    def attach(self):
        return self.__enter__()

    def __exit__(self, *exc):
        for h in self.handles + self._aux:
            h.remove()
        self.handles, self._aux = [], []
        self._captured, self._shape, self._valid = None, None, None


def _cache_len(pkv) -> int:
    """Tokens held by a KV cache (a transformers Cache or the legacy tuple of (key, value) per layer)."""
    if hasattr(pkv, "get_seq_length"):
        return int(pkv.get_seq_length())
    try:
        return int(pkv[0][0].shape[-2])
    except (IndexError, TypeError):
        return 0
