"""Data-free super-weight detection (paper section 3): hooks on every down projection, the spike rule, the iterative
zero-and-rerun loop, then confirmation by ablation on real text (``confirm``) and the used list (``detect.used``)."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from superweight.models.adapters import Adapter, first_sequence, get_adapter
from superweight.models.meter import counted_as

log = logging.getLogger(__name__)
# choices no config key changes, each a row of the protocol page (report/fixed_choices.py)
FIXED_CHOICES = ("detect.spike_max", "detect.rounds")

Coord = tuple[int, int, int]

DEFAULT_PROMPT = "Apple Inc. is a worldwide tech company."


@dataclass
class LayerStats:
    """Max |value| of one layer's down-projection input and output, with channel and token."""

    layer: int
    in_max: float
    in_channel: int
    in_token: int
    in_median: float
    out_max: float
    out_channel: int
    out_token: int
    out_median: float
    contrib_channel: int  # input channel contributing most to the output max (the candidate's col)


@dataclass
class Candidate:
    layer: int
    row: int
    col: int
    weight: float
    in_value: float  # down_proj input at (token, col)
    out_value: float  # down_proj output at (token, row)
    token: int
    iteration: int
    ppl_ratio: float | None = None  # perplexity with it zeroed alone / original
    confirmed: bool | None = None  # None: not tested
    status: str = "not tested"  # confirmed alone | confirmed in group | not needed in group | below factor
    reason: str = ""
    group_ratio: float | None = None  # its group (a row, column, layer or all candidates) zeroed together (joint)
    loo_ratio: float | None = None  # that group less this candidate

    @property
    def coord(self) -> tuple[int, int, int]:
        return (self.layer, self.row, self.col)


@dataclass
class SpikeRule:
    """``absolute``: both maxima above ``threshold`` (official code: 50).
    ``relative``: both maxima above ``ratio`` times the layer's median |value| (massive-activations style).
    ``column``: a candidate's col, ``contribution`` (the input channel contributing most to the output spike) or
    ``input_max`` (the channel of the input maximum, as the official analyze.py reads it)."""

    kind: str = "absolute"
    threshold: float = 50.0
    ratio: float = 1000.0
    column: str = "contribution"

    def __post_init__(self):
        if self.kind not in ("absolute", "relative"):
            raise ValueError(f"spike rule must be 'absolute' or 'relative', got {self.kind!r}")
        if self.column not in ("contribution", "input_max"):
            raise ValueError(f"detection.column must be 'contribution' or 'input_max', got {self.column!r}")

    def __call__(self, s: LayerStats) -> bool:
        if self.kind == "absolute":
            return s.in_max > self.threshold and s.out_max > self.threshold
        return (s.in_max > self.ratio * max(s.in_median, 1e-12)) and (s.out_max > self.ratio * max(s.out_median, 1e-12))


@dataclass
class DetectionResult:
    candidates: list[Candidate]
    iterations: list[list[LayerStats]]  # per iteration, per layer
    prompt: str
    rule: dict
    stopped: str  # "no spike", "no new candidate" (spikes remain, no new weight found) or "iteration cap"
    # (the cap reached with spikes left: extra["cap_reached"], reported in the summary, the log and protocol.md)
    base_ppl: float | None = None
    confirm_factor: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def super_weights(self) -> list[Candidate]:
        return [c for c in self.candidates if c.confirmed]

    def to_dict(self) -> dict:
        return {
            "prompt": self.prompt, "rule": self.rule, "stopped": self.stopped, "base_ppl": self.base_ppl,
            "confirm_factor": self.confirm_factor,
            "super_weights": [asdict(c) for c in self.super_weights],  # the detected (confirmed) ones
            "candidates": [asdict(c) for c in self.candidates],
            "status": "confirmed super weight" if self.super_weights else "no confirmed super weight",
            **self.extra,
        }


def prompt_ids(tok, prompt: str, device) -> torch.Tensor:
    return tok(prompt, return_tensors="pt")["input_ids"].to(device)


@torch.no_grad()
def activation_maxima(model: nn.Module, input_ids: torch.Tensor, adapter: Adapter | None = None) -> list[LayerStats]:
    """One forward pass; per layer the max |input| and |output| of the down projection (first sequence)."""
    adapter = adapter or get_adapter(model)
    caught: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(i):
        def fn(mod, inp, out):
            caught[i] = (first_sequence(inp[0]).float(), first_sequence(out).float())
        return fn

    handles = [adapter.down_proj(model, i).register_forward_hook(hook(i)) for i in range(len(adapter.layers(model)))]
    try:
        model(input_ids)
    finally:
        for h in handles:
            h.remove()
    stats = []
    for i in sorted(caught):
        x, y = caught[i]
        xa, ya = x.abs(), y.abs()
        in_tok, in_ch = divmod(int(xa.argmax()), xa.shape[1])
        out_tok, out_ch = divmod(int(ya.argmax()), ya.shape[1])
        w_row = adapter.down_row(model, i, out_ch).float()
        contrib = (x[out_tok] * w_row).abs()
        stats.append(LayerStats(i, float(xa.max()), in_ch, in_tok, float(xa.median()),
                                float(ya.max()), out_ch, out_tok, float(ya.median()), int(contrib.argmax())))
    return stats


@torch.no_grad()
def residual_maxima(model: nn.Module, input_ids: torch.Tensor) -> list[dict]:
    """Per layer, max |hidden state| of the residual stream (index 0 = embeddings) with its channel and token."""
    hs = model(input_ids, output_hidden_states=True).hidden_states
    rows = []
    for i, h in enumerate(hs):
        a = h[0].float().abs()
        t, c = divmod(int(a.argmax()), a.shape[1])
        rows.append({"layer": i, "max_abs": float(a.max()), "channel": c, "token": t})
    return rows


@counted_as("detection")
def find_candidates(model: nn.Module, tok, prompt: str = DEFAULT_PROMPT, rule: SpikeRule | None = None,
                    max_iters: int = 5) -> DetectionResult:
    """Iterate: find spiking layers, zero their candidate weights, rerun, until no spike or the cap.

    The model is left exactly as it was (every zeroed weight is put back and checked)."""
    adapter = get_adapter(model)
    rule = rule or SpikeRule()
    device = next(model.parameters()).device
    ids = prompt_ids(tok, prompt, device)
    found: list[Candidate] = []
    iterations: list[list[LayerStats]] = []
    stopped = "iteration cap"
    try:
        for it in range(max_iters):
            stats = activation_maxima(model, ids, adapter)
            iterations.append(stats)
            spiking = [s for s in stats if rule(s)]
            new = []
            for s in spiking:
                row, col = s.out_channel, s.contrib_channel if rule.column == "contribution" else s.in_channel
                if any(c.coord == (s.layer, row, col) for c in found):
                    continue
                w = adapter.get_weight(model, s.layer, row, col)
                if w == 0.0:
                    continue
                caught_in = s.in_max if col == s.in_channel else None
                new.append(Candidate(s.layer, row, col, w, caught_in if caught_in is not None else float("nan"),
                                     s.out_max, s.out_token, it))
            log.info("detection iteration %d: %d spiking layer(s) %s, %d new candidate(s)", it, len(spiking),
                     [s.layer for s in spiking], len(new))
            if not new:
                stopped = "no new candidate" if spiking else "no spike"
                break
            for c in new:
                if c.in_value != c.in_value:  # col is not the input max: record the input there
                    c.in_value = _input_at(model, adapter, ids, c)
                log.info("iteration %d: candidate layer %d [%d, %d] weight %.4g, in %.4g, out %.4g",
                         it, c.layer, c.row, c.col, c.weight, c.in_value, c.out_value)
                adapter.set_weight(model, c.layer, c.row, c.col, 0.0)
            found.extend(new)
        else:
            iterations.append(activation_maxima(model, ids, adapter))
            if not any(rule(s) for s in iterations[-1]):
                stopped = "no spike"
            if stopped == "iteration cap":
                log.warning("detection stopped at its iteration cap (detection.max_iters = %d) with spikes left in "
                            "layer(s) %s: super weights beyond it were not searched; raise detection.max_iters",
                            max_iters, [s.layer for s in iterations[-1] if rule(s)])
            else:
                log.info("detection reached the iteration cap (%d); no spike left", max_iters)
    finally:
        for c in found:
            adapter.set_weight(model, c.layer, c.row, c.col, c.weight)
            assert adapter.get_weight(model, c.layer, c.row, c.col) == c.weight
    return DetectionResult(found, iterations, prompt, asdict(rule), stopped,
                           extra={"max_iters": max_iters, "rounds": len({c.iteration for c in found}),
                                  "cap_reached": stopped == "iteration cap"})


@torch.no_grad()
def _input_at(model, adapter, ids, c: Candidate) -> float:
    got = {}

    def keep(mod, inp, out):  # returns None: a forward hook's return value would replace the output
        got.setdefault("x", first_sequence(inp[0]))

    h = adapter.down_proj(model, c.layer).register_forward_hook(keep)
    try:
        model(ids)
    finally:
        h.remove()
    return float(got["x"][c.token, c.col])


@counted_as("confirmation")
def confirm(model: nn.Module, result: DetectionResult, ids: torch.Tensor, seqlen: int, max_windows: int,
            factor: float = 2.0, mode: str = "joint", batch_size: int = 4) -> DetectionResult:
    """Confirm the candidates by ablation (rule in ``superweight.detect.confirm``: ``joint`` or ``single``)."""
    from superweight.detect.confirm import confirm_candidates

    res = confirm_candidates(model, [c.coord for c in result.candidates], ids, seqlen, max_windows, factor, mode,
                             batch_size)
    result.base_ppl, result.confirm_factor = res["base_ppl"], factor
    for c in result.candidates:
        for k, v in res["per_candidate"][c.coord].items():
            setattr(c, k, v)
        c.confirmed = c.status in ("confirmed alone", "confirmed in group")
    result.extra["confirm"] = {"mode": mode, "factor": factor, "seqlen": seqlen, "windows": max_windows,
                               "batch_size": batch_size, "groups": res["groups"], "ablations": res["ablations"]}
    return result


def detect_model(model: nn.Module, tok, text: str | None, prompt: str = DEFAULT_PROMPT, rule: SpikeRule | None = None,
                 max_iters: int = 3, confirm_factor: float = 2.0, seqlen: int = 512, windows: int = 4,
                 known: list[Coord] | None = None, mode: str = "joint", batch_size: int = 4,
                 use: str = "detected", known_key: str = "super_weights", corpus: str | None = None):
    """Detection end to end: candidates, confirmation on ``text`` (skipped when None), residual maxima
    with and without the confirmed super weights, comparison with known coordinates, the ``used`` list.
    ``corpus`` names the text (a ``scoring.data.SPLITS`` key); the summary's ``confirmed_on`` records it and its split
    (None when confirmation was skipped).

    Known coordinates are checked against the model first (``known_key`` names them in the error).
    Returns (summary dict, per-iteration per-layer maxima rows, residual-stream rows)."""
    from superweight.detect.confirm import MODES
    from superweight.detect.used import USES, check_known, compare_known, used_list
    from superweight.interventions.edits import zeroed
    from superweight.scoring.data import SPLITS
    from superweight.scoring.perplexity import tokenize

    check_known(model, known, known_key)
    if mode not in MODES:
        raise ValueError(f"detection.confirm.mode must be one of {', '.join(MODES)}, got {mode!r}")
    if use not in USES:
        raise ValueError(f"detection.use must be one of {', '.join(USES)}, got {use!r}")
    result = find_candidates(model, tok, prompt, rule, max_iters)
    log.info("detection: %d candidate(s), stopped: %s", len(result.candidates), result.stopped)
    if text is not None and result.candidates:
        log.info("tokenizing the confirmation text (%d characters)", len(text))
        ids = tokenize(tok, text)
        confirm(model, result, ids, seqlen, windows, confirm_factor, mode, batch_size)
    elif result.candidates:
        for c in result.candidates:
            c.reason = "confirmation skipped"
    summary = result.to_dict()
    summary["confirmed_on"] = None if text is None else {"corpus": corpus, "split": SPLITS.get(corpus, "not named")}
    sws = [c.coord for c in result.super_weights]
    if known is not None:
        summary["known"] = compare_known(result.candidates, [tuple(k) for k in known])
    summary["use"] = use
    summary["used"] = used_list(result.candidates, known, use, known_key)
    layer_rows = [{"iteration": it, **asdict(s)} for it, stats in enumerate(result.iterations) for s in stats]
    ids = prompt_ids(tok, prompt, next(model.parameters()).device)
    residual = [{"condition": "original", **r} for r in residual_maxima(model, ids)]
    if sws:
        with zeroed(model, sws):
            residual += [{"condition": "super weights zeroed", **r} for r in residual_maxima(model, ids)]
    summary["n_layers"] = len(get_adapter(model).layers(model))
    return summary, layer_rows, residual
