"""Command line: ``superweight detect MODEL_OR_PATH`` prints the super weights as a table; ``superweight plan
[SNAKEMAKE ARGS]`` prints what a run of the workflow would request (jobs, GPU- and CPU-hours, disk, the largest
requests, the jobs over the cluster's time limit) from its dry run, and writes it to results/plan.md and .json.

Exit codes: 0 done, 1 (plan) a job over resources.max_runtime, 2 a usage or input error (one line on stderr naming
the fix)."""
from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path


class InputError(Exception):
    """A bad input found before or while loading; main prints it as one line and exits 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (argparse prints the whole usage block first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}. Fix: see `{self.prog} --help`\n")


def _bounded(kind, low, inclusive=True):
    """An argparse type: ``kind`` (int/float) that is >= low (or > low)."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if v < low or (not inclusive and v == low):
            raise argparse.ArgumentTypeError(f"{v} must be {'>=' if inclusive else '>'} {low}")
        return v

    return parse


def _device(text):
    if not re.fullmatch(r"cpu|cuda(:[0-9]+)?|mps", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device: use cpu, cuda, cuda:N or mps")
    return text


def _table(rows: list[dict]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True)


def _data_dir(arg: str | None) -> Path | None:
    """--data-dir wins over $SUPERWEIGHT_DATA; neither: the Hugging Face Hub."""
    from superweight.scoring.data import resolve_data_dir

    if arg is not None:
        d = Path(arg).expanduser().resolve()
        if not d.is_dir():
            raise InputError(f"--data-dir {arg}: no such directory. Fix: point it at a directory laid out like "
                             "shared/data, or leave it out to use $SUPERWEIGHT_DATA or the Hub")
        return d
    return resolve_data_dir(None)


CONFIRM_SPLITS = {"validation": "wikitext2_validation", "test": "wikitext2"}  # --confirm-split -> corpus


def _confirmation_text(args) -> str | None:
    """WikiText-2 for confirming candidates (the validation split unless --confirm-split test), checked before the
    model loads."""
    from superweight.scoring.data import DataError, corpus_text
    from superweight.workflow.verify import verify_data

    if args.no_confirm:
        return None
    data_dir = _data_dir(args.data_dir)
    corpus = CONFIRM_SPLITS[args.confirm_split]
    try:  # the shipped file's checksum unless --own-data: a changed or truncated file is not the benchmark
        verify_data(data_dir, [corpus], "record" if args.own_data else "compare")
        return corpus_text(corpus, data_dir)
    except DataError as e:
        raise InputError(str(e).replace("set `data_dir` in config (or the environment variable SUPERWEIGHT_DATA)",
                                        "pass --data-dir (or set SUPERWEIGHT_DATA)")
                         .replace("set `data_checksums: record` in config", "pass --own-data")) from None
    except Exception as e:  # the Hub (no data directory): offline, missing dataset
        first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise InputError(f"cannot read WikiText-2 from the Hugging Face Hub ({first}). Fix: pass --data-dir DIR "
                         "(laid out like shared/data), set SUPERWEIGHT_DATA, or use --no-confirm") from None


def _check_seqlen(args, positions) -> None:
    """A confirmation window no longer than the model's positions."""
    if positions and not args.no_confirm and args.seqlen > int(positions):
        raise InputError(f"--seqlen {args.seqlen} is above the model's {int(positions):,} positions. Fix: pass "
                         f"--seqlen {int(positions)} or less")


def detect_cmd(args) -> int:
    from superweight.models.adapters import UnsupportedModelError, get_adapter
    from superweight.models.sources import ModelSourceError, ModelSpec, model_shape

    log = logging.getLogger("superweight.cli")
    spec = ModelSpec.guess(args.model)
    if not args.prompt.strip():
        raise InputError("--prompt is empty: detection reads the down projections' activations on the prompt's "
                         "tokens. Fix: pass a sentence, e.g. --prompt 'Apple Inc. is a worldwide tech company.'")
    if args.device.startswith("cuda"):
        from superweight.workflow.command_line import has_cuda

        if has_cuda() is False:
            raise InputError(f"--device {args.device}: this host has no CUDA device (torch sees none). Fix: pass "
                             "--device cpu, or run on a GPU host")
    try:  # cheap checks first: no torch is imported before the source and the data are known to be there
        shape = model_shape(spec)  # a missing file or directory fails here; the family from config.json
        if shape is not None and shape.model_type is not None:
            get_adapter(shape.model_type)
        _check_seqlen(args, shape.positions if shape is not None else None)
        text = _confirmation_text(args)
        from superweight.models.load import load_any

        log.info("loading %s (%s)", spec.id, spec.source)
        model, tok = load_any(args.model, dtype=args.dtype, device=args.device)
        get_adapter(model)  # a GGUF's family is known only once loaded
        _check_seqlen(args, getattr(model.config, "max_position_embeddings", None))  # a Hub model's, once loaded
    except (ModelSourceError, UnsupportedModelError) as e:
        raise InputError(f"{args.model}: {e}") from None
    from superweight.detect.spikes import SpikeRule, detect_model

    rule = SpikeRule(args.rule, threshold=args.threshold, ratio=args.ratio)
    summary, _, _ = detect_model(model, tok, text, args.prompt, rule, args.max_iters, args.factor, args.seqlen,
                                 args.windows, mode=args.mode, batch_size=args.batch_size,
                                 corpus=CONFIRM_SPLITS[args.confirm_split])
    rows = [{"layer": c["layer"], "row": c["row"], "col": c["col"], "weight": f"{c['weight']:.4g}",
             "in": f"{c['in_value']:.4g}", "out": f"{c['out_value']:.4g}", "iter": c["iteration"],
             "ppl x": "-" if c["ppl_ratio"] is None else f"{c['ppl_ratio']:.3g}",
             "group x": "-" if c["group_ratio"] is None else f"{c['group_ratio']:.3g}",
             "super weight": {True: "yes", False: "no", None: "unconfirmed"}[c["confirmed"]], "status": c["status"]}
            for c in summary["candidates"]]
    on = f", confirmed on {summary['confirmed_on']['split']}" if summary.get("confirmed_on") else ""
    print(f"{args.model}: {summary['status']} ({len(summary['candidates'])} candidate(s), stopped: {summary['stopped']}"
          f"{on})")
    if rows:
        print(_table(rows))
    return 0


LIMIT_LINE = re.compile(r"resources\.max_runtime = ([0-9]+) min")


def plan_cmd(args, snakemake_args: list[str]) -> int:
    """The dry run of the workflow in the current directory (every job with --all), summed per rule."""
    import subprocess

    from superweight.workflow.plan import dry_run_total, jobs_from_dry_run, markdown, summarize, to_json

    cmd = [sys.executable, "-m", "snakemake", "-n", *(["--forceall"] if args.all else []), *snakemake_args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    text = r.stdout + r.stderr
    if r.returncode != 0:
        why = next((line.strip() for line in text.splitlines() if "error" in line.lower()), text.strip()[-300:])
        raise InputError(f"the dry run failed: {why}. Fix: run `snakemake -n {' '.join(snakemake_args)}` to see it "
                         "whole")
    jobs = jobs_from_dry_run(text)
    total = dry_run_total(text)
    if total is not None and total != len(jobs) + 1:  # the table counts `all`
        raise InputError(f"the dry run lists {total} jobs but printed the details of {len(jobs) + 1} (a --quiet flag, "
                         "or `quiet:` in a profile?). Fix: run `superweight plan` without them")
    limit = LIMIT_LINE.search(text)
    if not limit:
        raise InputError("the dry run did not state resources.max_runtime. Fix: run `superweight plan` in the "
                         "workflow's directory (the one with the Snakefile)")
    plan = summarize(jobs, int(limit.group(1)))
    page = markdown(plan, "Run plan" + (f" ({' '.join(snakemake_args)})" if snakemake_args else ""))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.md").write_text(page)
    (out / "plan.json").write_text(to_json(plan))
    print(page + f"\nwritten: {out / 'plan.md'}, {out / 'plan.json'}")
    return 1 if plan["over_limit"] else 0


def parser() -> argparse.ArgumentParser:
    from superweight import __version__

    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = _Parser(prog="superweight", description=__doc__, formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"superweight {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    d = sub.add_parser("detect", help="find the super weights of a model", formatter_class=fmt,
                       description="Data-free detection: hooks on every down projection, one prompt, the spike rule, "
                                   "the zero-and-rerun loop; each candidate confirmed by the perplexity ratio when "
                                   "it alone is zeroed (WikiText-2 validation: text an evaluation on the test split "
                                   "never reads).")
    d.add_argument("model", help="Hub id (org/name), local save_pretrained directory, .gguf file, or "
                                 "package:NAME[/FILE.gguf]")
    d.add_argument("--prompt", default="Apple Inc. is a worldwide tech company.", help="the detection prompt")
    d.add_argument("--rule", choices=["absolute", "relative"], default="absolute",
                   help="spike rule: |input| and |output| above --threshold, or above --ratio x the layer's median")
    d.add_argument("--threshold", type=_bounded(float, 0, inclusive=False), default=50.0,
                   help="absolute rule's threshold (the official code's value)")
    d.add_argument("--ratio", type=_bounded(float, 1, inclusive=False), default=1000.0,
                   help="relative rule's max / median ratio")
    d.add_argument("--max-iters", type=_bounded(int, 1), default=3, help="rounds of zeroing candidates and rerunning")
    d.add_argument("--factor", type=_bounded(float, 1, inclusive=False), default=2.0,
                   help="perplexity ratio that confirms a candidate")
    d.add_argument("--mode", choices=["joint", "single"], default="joint",
                   help="joint: also zero the candidates of one residual channel together; single: each alone")
    d.add_argument("--batch-size", type=_bounded(int, 1), default=4, help="sequences per forward pass in confirmation")
    d.add_argument("--seqlen", type=_bounded(int, 2), default=512, help="tokens per confirmation window")
    d.add_argument("--windows", type=_bounded(int, 1), default=4, help="confirmation windows")
    d.add_argument("--data-dir", default=None,
                   help="data directory laid out like shared/data (wins over $SUPERWEIGHT_DATA; neither: the Hub)")
    d.add_argument("--confirm-split", choices=list(CONFIRM_SPLITS), default="validation",
                   help="WikiText-2 split the confirmation reads; test: the split perplexities are usually reported on "
                        "(choosing and evaluating on the same text)")
    d.add_argument("--no-confirm", action="store_true", help="skip confirmation by ablation (no data needed)")
    d.add_argument("--own-data", action="store_true",
                   help="the data directory is your own: its WikiText-2 is not compared with the shipped checksums")
    d.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"], help="weights' dtype")
    d.add_argument("--device", type=_device, default="cpu", help="torch device: cpu, cuda, cuda:N or mps")
    d.add_argument("-v", "--verbose", action="count", default=0,
                   help="progress (a line per iteration and candidate) is always on stderr; -v: every forward batch")
    pl = sub.add_parser("plan", help="what a workflow run would request, before submitting it", formatter_class=fmt,
                        description="Runs `snakemake -n` with the arguments that follow (e.g. --configfile "
                                    "config/paper.yaml --profile profiles/slurm) in the current directory and sums "
                                    "the jobs' requests per rule. Exit 1 when a job is over resources.max_runtime.")
    pl.add_argument("--all", action="store_true", help="every job of the config, also those whose results exist")
    pl.add_argument("--out", default="results", help="directory for plan.md and plan.json")
    pl.set_defaults(verbose=0)
    return p


def main(argv=None) -> int:
    args, rest = parser().parse_known_args(argv)
    if rest and args.cmd != "plan":
        parser().error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # progress on stderr (never silent for long); the table on stdout
    logging.getLogger("superweight").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return plan_cmd(args, rest) if args.cmd == "plan" else detect_cmd(args)
    except InputError as e:
        print(f"superweight: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
