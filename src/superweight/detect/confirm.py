"""Confirmation of detection candidates by ablation on real text: which candidates are super weights.

Rule, mode ``joint`` (the default):

1. every candidate is zeroed alone; it is *confirmed alone* when perplexity rises by ``factor`` or more;
2. the candidates that fail alone and write the same residual channel (the same ``row``, in any layer) form a
   group, zeroed together. Those confirmed alone are left out of it: a dominant weight would make the group pass
   and hide whether the others matter (ablating it already breaks the model);
3. a group of two or more that reaches ``factor`` is reduced by backward elimination with leave-one-out: each round
   puts every member back in turn (the set less that member zeroed), then drops, least needed first, each member
   whose removal leaves a set that still reaches ``factor`` (one pass per removal); rounds repeat until none can go.
   The set left is *confirmed in group*: each of its members is needed (without any one it falls below
   ``factor``). The dropped members are *not needed in group*;
4. sets across rows: the candidates still below the factor (in no passing group) are grouped again by a shared
   column of one layer, then by a shared layer, then all together, each new set (one not tested before) zeroed
   and, when it reaches ``factor``, reduced as in 3. Phi-3's super weights (Table 2: three rows sharing one column
   in each of two layers) can matter only as the whole set: no row, column or layer group reaches the factor, the
   whole list does, and leave-one-out keeps every member that is needed.

Mode ``single`` is step 1 only (the project's earlier rule). A candidate confirmed alone is confirmed in both
modes, so ``joint`` only adds weights that matter as a set. Not covered: a weight that matters only together with
one that is confirmed alone.

Ablations never touch the weights: a hook recomputes the ablated output channel from the weight row with those
columns zeroed, separately for each sequence of a batch, so several candidates' ablations share one forward batch.
A batch whose zeroed weights all lie in layer L or later runs layers L..n only (``adapters.run_from``), from the
hidden states the unmodified model's pass gave for the same windows (``_Prefix``): the layers below would compute
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
MODES = ("joint", "single")


class _Prefix:
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
                          prefix: _Prefix | None = None) -> list[dict]:
    """Perplexity on the same windows (GPTQ protocol, as ``perplexity.perplexity``) for each set of zeroed
    weights; ``batch_size`` (set, window) sequences per forward. ``on_done(i, result)`` is called as soon as set
    ``i`` is complete (progress). Non-finite token NLLs count as infinite. Log-probs are chunked (logprobs.py), so
    peak memory is the forward's activations, not the batch's full logits. ``prefix``: batches of the unmodified
    model (the empty set) record it, later batches start at their first ablated layer (``_Prefix``); a batch of a
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


def channel_groups(coords: list[Coord]) -> dict[int, list[Coord]]:
    """Coordinates writing the same residual channel (row), across layers; only groups of two or more."""
    groups: dict[int, list[Coord]] = defaultdict(list)
    for c in coords:
        groups[c[1]].append(c)
    return {r: sorted(g) for r, g in sorted(groups.items()) if len(g) > 1}


GROUP_KINDS = ("row", "column", "layer", "all")


def _groups(kind: str, coords: list[Coord]) -> dict:
    """Candidates that share a row (residual channel, any layer), a column of one layer, a layer, or all of them:
    key -> members, only groups of two or more."""
    if kind == "row":
        return channel_groups(coords)
    key = {"column": lambda c: (c[0], c[2]), "layer": lambda c: c[0], "all": lambda c: "all"}[kind]
    groups: dict = defaultdict(list)
    for c in coords:
        groups[key(c)].append(c)
    return {k: sorted(g) for k, g in sorted(groups.items(), key=lambda kv: str(kv[0])) if len(g) > 1}


def _what(kind: str, key) -> str:
    return {"row": lambda: f"channel {key}", "column": lambda: f"column {key[1]} of layer {key[0]}",
            "layer": lambda: f"layer {key}", "all": lambda: "all unconfirmed candidates"}[kind]()


def _shares(kind: str, key, c: Coord) -> bool:
    return {"row": lambda: c[1] == key, "column": lambda: (c[0], c[2]) == tuple(key), "layer": lambda: c[0] == key,
            "all": lambda: True}[kind]()


def _eliminate(kind, key, g, coords, out, ratio, run, factor, groups_rec) -> None:
    """One group zeroed together; if it reaches ``factor``, backward elimination with leave-one-out (module rule)."""
    what = _what(kind, key)
    gr = ratio(g)
    rec = {"kind": kind, "key": list(key) if isinstance(key, tuple) else key,
           "channel": key if kind == "row" else None, "members": [list(c) for c in g], "ppl_ratio": gr,
           "passed": gr >= factor,
           "left_out_confirmed_alone": [list(c) for c in coords
                                        if _shares(kind, key, c) and out[c]["status"] == "confirmed alone"],
           "elimination": [], "confirmed": []}
    groups_rec.append(rec)
    for m in g:
        if out[m]["group_ratio"] is None or gr >= factor:
            out[m]["group_ratio"] = gr
    if gr < factor:
        for m in g:
            out[m]["reason"] += f"; its group of {what} ({len(g)}) zeroed: x{gr:.3g} < {factor:g}"
        return
    kept = list(g)  # backward elimination, least needed first, while the rest still passes
    while True:
        run([frozenset(kept) - {m} for m in kept], lambda s: f"{what}: set of {len(s)}")
        loo = {m: ratio(set(kept) - {m}) for m in kept}
        rnd = {"set": [list(c) for c in kept], "ppl_ratio": ratio(kept),
               "leave_one_out": [{"without": list(m), "ppl_ratio": loo[m]} for m in kept], "removed": []}
        rec["elimination"].append(rnd)
        for m in sorted((m for m in kept if loo[m] >= factor), key=lambda m: -loo[m]):
            rest = set(kept) - {m}
            run([frozenset(rest)], lambda s: f"{what}: set of {len(s)}")  # one pass per removal
            if len(kept) == 1 or ratio(rest) < factor:
                continue
            rnd["removed"].append(list(m))
            out[m]["loo_ratio"] = ratio(rest)
            out[m]["status"] = "not needed in group"
            out[m]["reason"] = (f"group of {what} ({len(g)}) zeroed: x{gr:.3g} >= {factor:g}; a set of "
                                f"{len(rest)} without it still reaches x{ratio(rest):.3g}; alone "
                                f"x{out[m]['ppl_ratio']:.3g}")
            log.info("%s: %s not needed (the other %d reach x%.3g)", what, _fmt(m), len(rest), ratio(rest))
            kept = sorted(rest)
        if not rnd["removed"]:  # every member is needed: without any one the set falls below the factor
            for m in kept:
                out[m]["loo_ratio"] = loo[m]
            break
    rec["confirmed"] = [list(c) for c in kept]
    for m in kept:
        out[m]["status"] = "confirmed in group"
        out[m]["reason"] = (f"group of {what} ({len(g)}) zeroed: x{gr:.3g} >= {factor:g}; needed in "
                            f"the set of {len(kept)} (x{ratio(kept):.3g}): without it x{loo[m]:.3g} < "
                            f"{factor:g}; alone x{out[m]['ppl_ratio']:.3g}")


def _fmt(c: Coord) -> str:
    return f"layer {c[0]} [{c[1]}, {c[2]}]"


def confirm_candidates(model: nn.Module, coords: list[Coord], ids: torch.Tensor, seqlen: int,
                       max_windows: int | None, factor: float = 2.0, mode: str = "joint",
                       batch_size: int = 4, reuse_prefix: bool = True) -> dict:
    """Apply the module's rule to the candidates ``coords``. Returns ``{"base_ppl", "per_candidate": {coord:
    {ppl_ratio, status, reason, group_ratio, loo_ratio}}, "groups": [...], "ablations": [...]}`` where
    ``ablations`` holds every perplexity measured (zeroed set, ppl, per-window NLL). ``reuse_prefix``: ablations
    start at their first zeroed layer from the unmodified model's hidden states (same perplexities, less work)."""
    if mode not in MODES:
        raise ValueError(f"detection.confirm.mode must be one of {', '.join(MODES)}, got {mode!r}")
    if batch_size < 1:
        raise ValueError(f"detection.confirm.batch_size must be at least 1, got {batch_size}")
    cache: dict[frozenset, dict] = {}

    def run(sets: list[frozenset], label) -> None:
        todo = [s for s in dict.fromkeys(sets) if s not in cache]
        if not todo:
            return

        def done(i, res):
            cache[todo[i]] = res
            base = cache.get(frozenset())
            what = label(todo[i])
            if not todo[i]:
                log.info("confirmation: %s: ppl %.4g", what, res["ppl"])
            else:
                log.info("confirmation %d/%d: %s zeroed: ppl %.4g (x%.3g)", i + 1, len(todo), what, res["ppl"],
                         res["ppl"] / base["ppl"])

        ablation_perplexities(model, ids, seqlen, max_windows, todo, batch_size, done, prefix)

    n = len(coords)
    n_windows = len(windows(len(ids), seqlen, max_windows))
    prefix = _Prefix(model, {c[0] for c in coords}, n_windows, seqlen) if reuse_prefix else None
    log.info("confirmation (%s, factor %g): %d candidate(s), %d window(s) of %d tokens, %d sequence(s) per forward",
             mode, factor, n, n_windows, seqlen, batch_size)
    run([frozenset()], lambda s: "original model")
    base = cache[frozenset()]["ppl"]
    run([frozenset([c]) for c in coords], lambda s: _fmt(next(iter(s))))

    def ratio(s) -> float:
        return cache[frozenset(s)]["ppl"] / base

    out: dict[Coord, dict] = {}
    for c in coords:
        r = ratio([c])
        ok = r >= factor
        out[c] = {"ppl_ratio": r, "group_ratio": None, "loo_ratio": None,
                  "status": "confirmed alone" if ok else "below factor",
                  "reason": f"zeroed alone: ppl x{r:.3g} {'>=' if ok else '<'} {factor:g}"}
    groups_rec = []
    if mode == "joint":
        for kind in GROUP_KINDS:  # rows first, then sets across rows, each from the candidates still unconfirmed
            pool = [c for c in coords if out[c]["status"] == "below factor"]
            groups = {k: g for k, g in _groups(kind, pool).items() if frozenset(g) not in cache}
            run([frozenset(g) for g in groups.values()], lambda s, kind=kind: f"{kind} group ({len(s)})")
            for key, g in groups.items():
                _eliminate(kind, key, g, coords, out, ratio, run, factor, groups_rec)
    for c in coords:
        log.info("%s: %s (%s)", _fmt(c), out[c]["status"], out[c]["reason"])
    if prefix is not None:
        n_layers = len(prefix.blocks)
        total = n_layers * n_windows * len(cache)
        log.info("confirmation: %d of %d layer passes over a window started from the unmodified model's hidden "
                 "states (%.0f%% of the decoder's work skipped)", prefix.skipped_layers, total,
                 100 * prefix.skipped_layers / max(total, 1))
    return {"base_ppl": base, "per_candidate": out, "groups": groups_rec,
            "ablations": [{**v, "ppl_ratio": v["ppl"] / base} for v in cache.values()]}
