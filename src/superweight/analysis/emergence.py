"""When does a super weight appear during pre-training? Detection on each training checkpoint of one model, and
the weight at the final (reference) checkpoint's super-weight coordinates tracked across steps: its value, the
super activation it produces and the perplexity ratio when it is zeroed."""
from __future__ import annotations

import logging
import math
import re

from superweight.settings import Emergence

log = logging.getLogger(__name__)

Coord = tuple[int, int, int]
# torch-dependent imports stay inside the measuring functions: the summary runs in the rendering env (no torch)


class EmergenceConfigError(ValueError):
    """A bad `emergence:` config; the message names the fix."""


def step_of(revision: str, steps: dict | None = None) -> int:
    """The training step of a revision: ``steps[revision]`` when given, else the last number in its name
    (Pythia's ``step143000``, OLMo's ``step1000-tokens4B`` -> 1000 is the first; we take the first number)."""
    if steps and revision in steps:
        return int(steps[revision])
    m = re.search(r"(\d+)", revision)
    if not m:
        raise EmergenceConfigError(f"revision {revision!r} has no step number in its name; give it under "
                                   "`emergence.steps` ({revision: step})")
    return int(m.group(1))


def check(cfg: dict) -> dict:
    """Validate the `emergence:` block before any job; returns it with ``reference`` filled in."""
    revs = cfg.get("revisions") or []
    if len(revs) < 2:
        raise EmergenceConfigError("`emergence.revisions` needs at least two checkpoints (Hub revisions or directory names)")
    if len(set(revs)) != len(revs):
        raise EmergenceConfigError("`emergence.revisions` lists a revision twice")
    ref = cfg.get("reference") or revs[-1]
    if ref not in revs:
        raise EmergenceConfigError(f"`emergence.reference` {ref!r} is not one of `emergence.revisions`")
    steps = [step_of(r, cfg.get("steps")) for r in revs]
    if steps != sorted(steps):
        raise EmergenceConfigError("`emergence.revisions` must be in training order (steps increasing)")
    return {**cfg, "reference": ref}


def load_checkpoint(em: Emergence, revision: str, device: str = "cpu"):
    """(model, tokenizer) of one checkpoint: a Hub revision, or for ``source: local`` the directory ``id`` with
    ``{revision}`` filled in."""
    from superweight.models.load import ModelSpec, load_spec

    if em.source == "hub":
        spec = ModelSpec("hub", em.id, revision=revision)
    elif em.source == "local":
        spec = ModelSpec("local", em.id.format(revision=revision))
    else:
        raise EmergenceConfigError(f"`emergence.source` must be hub or local, got {em.source!r}")
    return load_spec(spec, em.dtype, device)


def sa_size(model, ids, coords) -> dict[tuple[int, int], float]:
    """Max |down projection output| in channel ``row`` of each (layer, row), on the prompt."""
    import torch

    from superweight.models.adapters import get_adapter

    a = get_adapter(model)
    got, handles = {}, []
    for l, r in {(l, r) for l, r, _ in coords}:
        def fn(mod, inp, out, key=(l, r)):
            got[key] = float(out.detach()[..., key[1]].abs().max())
        handles.append(a.down_proj(model, l).register_forward_hook(fn))
    try:
        with torch.no_grad():
            model(ids)
    finally:
        for h in handles:
            h.remove()
    return got


def measure(model, tok, text_ids, prompt: str, rule, max_iters: int, confirm_factor: float, seqlen: int,
            windows: int, track: list[Coord] | None = None) -> dict:
    """One checkpoint: detection (candidates confirmed on ``text_ids``) and, at the ``track`` coordinates (the
    reference checkpoint's super weights; its own when None), the weights, the super activation and the
    perplexity ratio with them zeroed together."""
    from superweight.models.adapters import get_adapter
    from superweight.detect.spikes import confirm, find_candidates, prompt_ids
    from superweight.interventions.edits import zeroed
    from superweight.scoring.perplexity import perplexity

    res = find_candidates(model, tok, prompt, rule, max_iters)
    if res.candidates:
        confirm(model, res, text_ids, seqlen, windows, confirm_factor)
    own = [c.coord for c in res.super_weights]
    track = [tuple(c) for c in (track if track is not None else own)]
    a = get_adapter(model)
    out = {"detection": res.to_dict(), "super_weights": [list(c) for c in own], "track": [list(c) for c in track],
           "base_ppl": res.base_ppl}
    if not track:
        return {**out, "weights": [], "sa": [], "ppl_ratio": math.nan, "detected": False}
    ids = prompt_ids(tok, prompt, next(model.parameters()).device)
    sa = sa_size(model, ids, track)
    base = res.base_ppl if res.base_ppl is not None else perplexity(model, text_ids, seqlen, windows, progress=False)["ppl"]
    weights = [a.get_weight(model, *c) for c in track]
    nonzero = [c for c, w in zip(track, weights) if w != 0.0]
    if nonzero:
        with zeroed(model, nonzero):
            pruned = perplexity(model, text_ids, seqlen, windows, progress=False)["ppl"]
    else:
        pruned = base
    return {**out, "base_ppl": base, "weights": weights, "sa": [sa[(l, r)] for l, r, _ in track],
            "ppl_ratio": pruned / base, "detected": set(track) <= set(own)}


def table(points: list[dict]) -> list[dict]:
    """One row per checkpoint (sorted by step): the tracked weights' largest |value|, the largest super
    activation, the ppl ratio, and whether detection confirmed every tracked coordinate there."""
    rows = []
    for p in sorted(points, key=lambda p: p["step"]):
        rows.append({"revision": p["revision"], "step": p["step"],
                     "weight_abs": max((abs(w) for w in p["weights"]), default=math.nan),
                     "sa_abs": max(p["sa"], default=math.nan), "ppl_ratio": p["ppl_ratio"],
                     "detected": bool(p["detected"]), "n_super_weights": len(p["super_weights"]),
                     "super_weights": p["super_weights"]})
    return rows


def crossing_step(rows: list[dict]) -> int | None:
    """The first step from which the tracked super weights are detected and confirmed at every later checkpoint
    (the step where they cross the detection threshold for good); None when the last checkpoint lacks them."""
    step = None
    for r in reversed(rows):
        if not r["detected"]:
            break
        step = r["step"]
    return step
