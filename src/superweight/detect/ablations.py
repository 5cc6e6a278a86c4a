"""Perplexity of many weight ablations at once, for confirmation. Ablations never touch the weights: a hook
recomputes the ablated output channel from the weight row with those columns zeroed, separately for each sequence of a batch, so several candidates' ablations share one forward batch.
A batch whose zeroed weights all lie in layer L or later runs layers L..n only (``adapters.run_from``), from the
hidden states the unmodified model's pass gave for the same windows (``Prefix``): the layers below would compute
nothing new.
"""
from __future__ import annotations

import contextlib
import logging
import math
from collections import defaultdict

import torch
from torch import nn

from superweight.detect.limits import PREFIX_BYTES
from superweight.models.adapters import LayerInputs, get_adapter, layer_output, per_sequence, run_from
from superweight.scoring.logprobs import next_token_logprobs, selected_logprobs
from superweight.scoring.perplexity import windows

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]


class Prefix:
    """Outputs of chosen decoder layers for each window, recorded during the unmodified model's pass, with the
    layers' other inputs (``adapters.LayerInputs``) for that batch shape. A batch whose zeroed weights all lie in
    layer L or later (and whose windows and shape are recorded) starts from the output of layer L - 1 and runs
    layers L..n only (``adapters.run_from``): layers 0 .. L - 1 would compute exactly what they computed for the
    unmodified model, so the perplexities are unchanged and the work shrinks by the layers skipped. ``layers``:
    the layers whose inputs may be replayed (candidates' layers); the latest are kept first while the recorded
    states fit ``max_bytes``."""

    def __init__(self, model: nn.Module, layers, n_windows: int, seqlen: int, max_bytes: int = PREFIX_BYTES):
        self.model = model
        self.blocks = get_adapter(model).layers(model)
        p = next(model.parameters())
        per_layer = n_windows * seqlen * model.config.get_text_config().hidden_size * p.element_size()
        self.keep, used = [], 0
        for l in sorted({l - 1 for l in layers if 0 < l <= len(self.blocks)}, reverse=True):
            if used + per_layer <= max_bytes:
                self.keep.append(l)
                used += per_layer
        self.saved: dict[tuple[int, int], torch.Tensor] = {}  # (layer, window) -> (tokens, hidden)
        self.inputs: dict[tuple[int, int], LayerInputs] = {}  # (batch, tokens) -> the layers' other inputs
        self.skipped_layers = 0  # layer-sequence computations saved, for the log

    @contextlib.contextmanager
    def record(self, windows: list[int], outputs: bool):
        """Record, during the forward passes inside the block, the kept layers' outputs for ``windows`` (when
        ``outputs``: the unmodified model's batches) and the inputs of every layer above the lowest kept one (for
        this batch shape: they depend on the shape only, so any batch, ablated or not, records them)."""
        if not self.keep:
            yield
            return

        def hook(l):
            def fn(mod, inp, out):
                for b, w in enumerate(windows):
                    self.saved[(l, w)] = layer_output(out)[b].detach().clone()  # safe from in-place edits downstream
            return fn
        handles = [self.blocks[l].register_forward_hook(hook(l)) for l in self.keep] if outputs else []
        try:
            with LayerInputs.record(self.model, range(min(self.keep) + 1, len(self.blocks))) as inputs:
                yield
            self.inputs.setdefault(inputs.shape, inputs)
        finally:
            for h in handles:
                h.remove()

    def start(self, sets: list[frozenset], windows: list[int], seqlen: int) -> int:
        """The first layer this batch computes: k + 1 for the latest layer k below every set's zeroed weights whose
        outputs of these windows are recorded (with the layer inputs of a batch of this shape); 0 when there is
        none."""
        if not all(sets) or (len(windows), seqlen) not in self.inputs:
            return 0
        first = min(l for s in sets for l, _, _ in s)
        ready = [k for k in self.keep if k < first and all((k, w) in self.saved for w in windows)]
        return max(ready) + 1 if ready else 0

    def logprobs(self, start: int, windows: list[int], x: torch.Tensor) -> torch.Tensor:
        """``next_token_logprobs`` of ``x`` (the windows' tokens), computed from layer ``start`` on."""
        hidden = torch.stack([self.saved[(start - 1, w)] for w in windows])
        h = run_from(self.model, hidden, start, self.inputs[tuple(x.shape)])[:, :-1]
        b, t, d = h.shape
        lp, _ = selected_logprobs(self.model, h.reshape(b * t, d), x[:, 1:].reshape(-1))
        self.skipped_layers += start * len(windows)
        return lp.view(b, t)


class _Ablations:
    """Forward hooks zeroing a different set of down-projection weights in each sequence of a batch."""

    def __init__(self, model: nn.Module, sets: list[frozenset]):
        self.model, self.sets = model, sets
        self.handles = []

    def __enter__(self):
        a = get_adapter(self.model)
        by_layer: dict[int, dict[int, dict[int, list[int]]]] = defaultdict(lambda: defaultdict(dict))
        for b, s in enumerate(self.sets):
            for l, r, c in s:
                by_layer[l][r].setdefault(b, []).append(c)
        n_seq = len(self.sets)
        for l, rows in by_layer.items():
            mod = a.down_proj(self.model, l)
            plan = []
            for r, per_seq in rows.items():
                w = a.down_row(self.model, l, r).detach()
                idx = torch.tensor(sorted(per_seq), device=w.device)
                w_rows = w.expand(len(idx), -1).clone()
                for k, b in enumerate(sorted(per_seq)):
                    w_rows[k, per_seq[b]] = 0
                plan.append((r, idx, w_rows))
            self.handles.append(mod.register_forward_hook(self._hook(plan, getattr(mod, "bias", None), n_seq)))
        return self

    @staticmethod
    def _hook(plan, bias, n_seq):
        def fn(mod, inp, out):
            x = per_sequence(inp[0], n_seq)
            o = per_sequence(out, n_seq).clone()
            for r, idx, w_rows in plan:
                o[idx, :, r] = torch.einsum("bti,bi->bt", x[idx], w_rows.to(x.dtype)) + (
                    bias[r] if bias is not None else 0)
            return o.reshape(out.shape)
        return fn

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []


@torch.no_grad()
def ablation_perplexities(model: nn.Module, ids: torch.Tensor, seqlen: int, max_windows: int | None,
                          sets: list[frozenset], batch_size: int = 4, on_done=None,
                          prefix: Prefix | None = None) -> list[dict]:
    """Perplexity on the same windows (GPTQ protocol, as ``perplexity.perplexity``) for each set of zeroed
    weights; ``batch_size`` (set, window) sequences per forward. ``on_done(i, result)`` is called as soon as set
    ``i`` is complete (progress). Non-finite token NLLs count as infinite. Log-probs are chunked (logprobs.py), so
    peak memory is the forward's activations, not the batch's full logits. ``prefix``: batches of the unmodified
    model (the empty set) record it, later batches start at their first ablated layer (``Prefix``); a batch of a
    shape not seen before runs whole and records the layer inputs for that shape."""
    device = next(model.parameters()).device
    spans = windows(len(ids), seqlen, max_windows)
    jobs = [(i, w) for i in range(len(sets)) for w in range(len(spans))]
    nll = [[None] * len(spans) for _ in sets]
    bad = [[0] * len(spans) for _ in sets]
    results: list[dict | None] = [None] * len(sets)
    n_batches = math.ceil(len(jobs) / batch_size)
    for k in range(n_batches):
        chunk = jobs[k * batch_size:(k + 1) * batch_size]
        x = torch.stack([ids[spans[w][0]:spans[w][1]] for _, w in chunk]).to(device)
        batch_sets, batch_windows = [sets[i] for i, _ in chunk], [w for _, w in chunk]
        start = prefix.start(batch_sets, batch_windows, seqlen) if prefix is not None else 0
        with contextlib.ExitStack() as stack:
            if prefix is not None and start == 0:
                stack.enter_context(prefix.record(batch_windows, outputs=not any(batch_sets)))
            stack.enter_context(_Ablations(model, batch_sets))
            # chunked over positions: no (batch, seqlen, vocab) logits
            lp = prefix.logprobs(start, batch_windows, x) if start else next_token_logprobs(model, x)
        for b, (i, w) in enumerate(chunk):
            tok_nll = -lp[b].double()
            finite = torch.isfinite(tok_nll)
            bad[i][w] = int((~finite).sum())
            nll[i][w] = float(tok_nll.mean()) if bad[i][w] == 0 else math.inf
        log.debug("confirmation forward batch %d/%d: %d sequence(s) of %d tokens", k + 1, n_batches, len(chunk), seqlen)
        for i in sorted({i for i, _ in chunk}):
            if results[i] is None and all(v is not None for v in nll[i]):
                mean = sum(nll[i]) / len(spans)  # every window has seqlen - 1 predicted tokens
                results[i] = {"zeroed": sorted(list(c) for c in sets[i]),
                              "ppl": math.exp(mean) if mean < 700 else math.inf, "nll_mean": mean,
                              "windows": len(spans), "seqlen": seqlen, "tokens": len(spans) * (seqlen - 1),
                              "nonfinite_tokens": sum(bad[i]), "window_nll": list(nll[i])}
                if on_done is not None:
                    on_done(i, results[i])
    return results
