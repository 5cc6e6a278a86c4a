"""The library's model paths at Llama-7B scale on a GPU: a random-weight model of Llama-7B's shape in float16, with
a super weight planted at the paper's coordinate (layer 2, [3968, 7003]) and its input outlier.

No Hub here, so the weights are random and perplexities are not language-model numbers; what this prints is whether
each path runs on the device in float16 at this size, finds / changes what it should, and what it costs:
detection, perplexity (chunked log-probs) original vs super weight zeroed, prune_sw_restore_sa, W8A8 naive vs
sa_aware, INT4 RTN and super-weight-aware RTN at block 16384 (time, peak memory, the super weight restored exactly).

    python benchmarks/gpu_scale.py                      # on a CUDA machine (Llama-7B shape, float16)
    python benchmarks/gpu_scale.py --device cpu --layers 4 --hidden 256 --inter 688 --dtype float32   # smoke test
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

import torch
import transformers as tf


from superweight.models.adapters import get_adapter
from superweight.detect.spikes import SpikeRule, find_candidates
from superweight.interventions.edits import zero_weights, zeroed
from superweight.interventions.restore import RestoreSuperActivation
from superweight.scoring.perplexity import perplexity
from superweight.quant.rtn import quantize_weights
from superweight.quant.w8a8 import W8A8, sa_channels


class RandomTokens:
    """A stand-in tokenizer: a prompt becomes fixed pseudo-random ids (detection needs only ids)."""

    def __init__(self, vocab: int):
        self.vocab = vocab

    def __call__(self, text, return_tensors=None, add_special_tokens=True):
        g = torch.Generator().manual_seed(len(text))
        ids = torch.randint(3, self.vocab, (1, max(8, len(text.split()) * 2)), generator=g)
        return {"input_ids": ids if return_tensors == "pt" else ids[0].tolist()}


def timed(device):
    """(seconds, peak GiB) of the block."""
    out = {}

    @contextlib.contextmanager
    def cm():
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        yield out
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            out["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out["s"] = round(time.perf_counter() - t, 2)

    return cm()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--inter", type=int, default=11008)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--boost", type=float, default=8.0, help="scale of the gate/up rows feeding the planted column")
    a = ap.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device: pass --device cpu with small sizes for a smoke test")
    dtype = getattr(torch, a.dtype)
    layer, row, col = 2, min(3968, a.hidden - 1), min(7003, a.inter - 1)
    cfg = tf.LlamaConfig(hidden_size=a.hidden, intermediate_size=a.inter, num_hidden_layers=a.layers,
                         num_attention_heads=max(1, a.hidden // 128), num_key_value_heads=max(1, a.hidden // 128),
                         vocab_size=a.vocab, max_position_embeddings=a.seqlen)
    torch.manual_seed(0)
    report = {"shape": {"layers": a.layers, "hidden": a.hidden, "intermediate": a.inter, "vocab": a.vocab},
              "dtype": a.dtype, "device": a.device, "torch": torch.__version__, "transformers": tf.__version__}
    with timed(a.device) as t, torch.device(a.device):
        model = tf.AutoModelForCausalLM.from_config(cfg, dtype=dtype).eval()
    report["build"] = dict(t)
    report["weights_gib"] = round(sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30, 2)
    ad = get_adapter(model)
    with torch.no_grad():  # the planted outlier: a large gate/up row feeding col, a large weight at [row, col]
        mlp = ad.layers(model)[layer].mlp
        mlp.gate_proj.weight[col] *= a.boost
        mlp.up_proj.weight[col] *= a.boost
        ad.set_weight(model, layer, row, col, 2.0)
    sws = [(layer, row, col)]
    # a copy on the device to put back between runs: every peak below includes it (one more weights_gib)
    original = {n: p.detach().clone() for n, p in model.named_parameters()}

    def reset():
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(original[n])

    tok = RandomTokens(a.vocab)
    with timed(a.device) as t:
        res = find_candidates(model, tok, rule=SpikeRule("relative", ratio=100), max_iters=2)
    found = [c.coord for c in res.candidates]
    report["detection"] = {**t, "candidates": [list(c) for c in found], "planted_found": sws[0] in found}
    ids = torch.randint(3, a.vocab, (a.seqlen * a.windows,), generator=torch.Generator().manual_seed(1))

    def ppl(label, **kw):
        with timed(a.device) as t:
            r = perplexity(model, ids, a.seqlen, a.windows, batch_size=4, progress=False)
        report.setdefault("perplexity", {})[label] = {"ppl": r["ppl"], "tokens": r["tokens"], **t,
                                                     "tokens_per_s": round(r["tokens"] / max(t["s"], 1e-9)), **kw}
        return r["ppl"]

    base = ppl("original")
    with zeroed(model, sws):
        ppl("prune_sw")
    restore = RestoreSuperActivation.capture(model, sws, "max")
    changed = zero_weights(model, sws)
    with restore:
        ppl("prune_sw_restore_sa", restored_tokens=None)
    report["restore_changed"] = changed
    reset()
    with W8A8(model, 8, {}):  # W8A8 quantizes the weights in place: reset() after each
        ppl("w8a8_naive")
    reset()
    with W8A8(model, 8, sa_channels(model, sws)) as q:
        ppl("w8a8_sa_aware")
        report["w8a8_sa_aware_calls"] = dict(q.calls)
    for method in ("rtn", "sw_aware"):
        reset()
        with timed(a.device) as t:
            rec = quantize_weights(model, method, 4, 16384, 9.0, sws, progress=False)
        report.setdefault("wquant_int4_block16384", {})[method] = {
            **t, "tensors": len(rec), "mean_rel_error": sum(r["rel_error"] for r in rec) / len(rec),
            "sw_before": float(original[f"model.layers.{layer}.mlp.down_proj.weight"][row, col]),
            "sw_after": ad.get_weight(model, *sws[0])}
        ppl(f"int4_{method}_block16384")
    report["ppl_ratio_prune_sw"] = report["perplexity"]["prune_sw"]["ppl"] / base
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
