"""Command line: ``superweight detect MODEL_OR_PATH`` prints the super weights as a table."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _table(rows: list[dict], cols: list[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(cols, widths)) for r in rows]
    return "\n".join(out)


def detect_cmd(args) -> int:
    from .data import resolve_data_dir, wikitext2_text
    from .detect import SpikeRule, detect_model
    from .load import ModelSourceError, load_any

    try:
        model, tok = load_any(args.model, dtype=args.dtype, device=args.device)
    except ModelSourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = None
    if not args.no_confirm:
        data_dir = resolve_data_dir(args.data_dir)
        text = wikitext2_text(data_dir)
    rule = SpikeRule(args.rule, threshold=args.threshold, ratio=args.ratio)
    summary, _, _ = detect_model(model, tok, text, args.prompt, rule, args.max_iters, args.factor, args.seqlen,
                                 args.windows, mode=args.mode, batch_size=args.batch_size)
    rows = [{"layer": c["layer"], "row": c["row"], "col": c["col"], "weight": f"{c['weight']:.4g}",
             "in": f"{c['in_value']:.4g}", "out": f"{c['out_value']:.4g}", "iter": c["iteration"],
             "ppl x": "-" if c["ppl_ratio"] is None else f"{c['ppl_ratio']:.3g}",
             "group x": "-" if c["group_ratio"] is None else f"{c['group_ratio']:.3g}",
             "super weight": {True: "yes", False: "no", None: "unconfirmed"}[c["confirmed"]], "status": c["status"]}
            for c in summary["candidates"]]
    print(f"{args.model}: {summary['status']} ({len(summary['candidates'])} candidate(s), stopped: {summary['stopped']})")
    if rows:
        print(_table(rows, list(rows[0])))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="superweight", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("detect", help="find the super weights of a model")
    d.add_argument("model", help="Hub id, local directory, .gguf file, or package:NAME[/FILE.gguf]")
    d.add_argument("--prompt", default="Apple Inc. is a worldwide tech company.")
    d.add_argument("--rule", choices=["absolute", "relative"], default="absolute")
    d.add_argument("--threshold", type=float, default=50.0)
    d.add_argument("--ratio", type=float, default=1000.0)
    d.add_argument("--max-iters", type=int, default=3)
    d.add_argument("--factor", type=float, default=2.0, help="perplexity ratio that confirms a candidate")
    d.add_argument("--mode", choices=["joint", "single"], default="joint",
                   help="joint: also zero the candidates of one residual channel together (default); single: each alone")
    d.add_argument("--batch-size", type=int, default=4, help="sequences per forward pass in confirmation")
    d.add_argument("--seqlen", type=int, default=512)
    d.add_argument("--windows", type=int, default=4)
    d.add_argument("--data-dir", default=None, help="data directory (default: $SUPERWEIGHT_DATA, else the Hub)")
    d.add_argument("--no-confirm", action="store_true", help="skip confirmation by ablation")
    d.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    d.add_argument("--device", default="cpu")
    d.add_argument("-v", "--verbose", action="store_true", help="also log every forward batch (debug)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # progress (a line per detection iteration and per confirmed candidate) on stderr; the table on stdout
    logging.getLogger("superweight").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    return detect_cmd(args)


if __name__ == "__main__":
    sys.exit(main())
