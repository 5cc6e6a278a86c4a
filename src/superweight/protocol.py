"""The paper's protocol in one table, and the per-run deviation report built from it.

Each row is one setting that shapes a result: its config key, the paper's value, where that value comes from
(the paper's table / figure, or a file of the official code, github mengxiayu/LLMSuperWeight @ 232e4eeb), and,
where the official code does something the paper does not say, the option value that reproduces the code.
config/paper.yaml sets every row to the paper's value (tests/test_protocol.py checks it after merging it over
config/config.yaml as Snakemake does). This module reads only the config: no torch, so the report is instant.
To add a setting, add one ``Setting`` to ``SETTINGS``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

NOT_SET = object()  # the key is absent from the config (a feature not in this checkout)
NO_PAPER_VALUE = object()  # a setting the paper does not have (e.g. speed-only choices)

OFFICIAL = "official code (github mengxiayu/LLMSuperWeight)"
TASKS = ["arc_challenge", "arc_easy", "hellaswag", "lambada_openai", "piqa", "sciq", "winogrande"]


@dataclass(frozen=True)
class Setting:
    key: str  # dotted config path; "models.*.x" is checked for every model the run runs
    paper: Any  # the paper's value, or NO_PAPER_VALUE
    source: str  # the paper's table / figure, or the official file it comes from
    note: str = ""
    official: str = ""  # the option value that reproduces the official code where it differs from the paper
    resolve: Callable[[dict, Any], Any] | None = None  # the effective value from (config, raw value)


def _sweep_limit(cfg: dict, raw):
    """A sweep's own limit, or eval.limit when null (what the run actually uses)."""
    if raw is not None:
        return raw
    base = lookup(cfg, "eval.limit")
    return None if base is NOT_SET else _limit(cfg, base)


def _limit(cfg: dict, raw):
    """A per-task mapping whose every value is null is no limit."""
    if isinstance(raw, dict) and all(v is None for v in raw.values()):
        return None
    return raw


SETTINGS: tuple[Setting, ...] = (
    # perplexity (Table 1, Tables 3/4/7): the GPTQ protocol the paper cites
    Setting("perplexity.seqlen", 2048, "Table 1 / Tables 3-4 perplexity: GPTQ protocol (datautils.py, seqlen 2048)",
            "tokens per non-overlapping window"),
    Setting("perplexity.windows.wikitext2", None, "GPTQ: every 2048-token window of WikiText-2 test",
            "null = every window"),
    Setting("perplexity.windows.c4", 256, "GPTQ datautils get_c4_new: the first 256 x seqlen tokens"),
    Setting("perplexity.c4_docs", 1100, "GPTQ datautils get_c4_new: ' '.join(valdata[:1100]['text'])"),
    Setting("perplexity.corpora", ["wikitext2", "c4"], "Table 1 (C4 and Wiki-2 perplexity), Tables 3, 4, 7"),
    # zero-shot accuracy
    Setting("eval.tasks", TASKS, "Table 1; official scripts/table1_superweight_importance.sh (--tasks)"),
    Setting("eval.limit", None, "Table 1: full test sets; official scripts pass no --limit",
            "documents per task; null = all", resolve=_limit),
    Setting("eval.add_bos_token", False, "lm-eval 0.4.3 (the paper's harness, July 2024): HFLM.tok_encode sets "
            "add_special_tokens = False or self.add_bos_token (default False) for causal LMs",
            "lm-eval 0.4.13 (after #3347, 'delegate BOS to the tokenizer') left alone adds a BOS for tokenizers that "
            "add one by default, which moves the attention sink and the super activation"),
    Setting("eval.backend", NO_PAPER_VALUE, "speed only", "any backend must give HFLM's numbers on the same requests"),
    # detection (Fig. 3, Table 2)
    Setting("detection.prompt", "Apple Inc. is a worldwide tech company.",
            "official analyze.py plot_down_proj_input_output (Fig. 3)"),
    Setting("detection.rule", "absolute", "official analyze.py: |input| and |output| above spike_threshold"),
    Setting("detection.threshold", 50, "official analyze.py: spike_threshold=50"),
    Setting("detection.use", "known", "Table 2 coordinates; official outliers/model.py SUPER_WEIGHTS_MAP",
            "the paper's experiments use its published coordinates; detection's agreement is reported beside them"),
    Setting("detection.confirm.mode", "joint", "Table 2 lists up to six super weights per model and every "
            "experiment zeroes them together (official outliers/model.py restore_GO over all coordinates)",
            "a model's super weights are confirmed as the set they act in"),
    # Table 1 ablation
    Setting("ablation.conditions", ["original", "prune_sw", "prune_nonsw", "prune_sw_restore_sa"], "Table 1 rows"),
    Setting("ablation.prune_nonsw.rule", "official",
            "Table 1 'Prune Non-SW' (~7,000 other largest weights); official outliers/model.py outlier_method "
            "search_percentage_1e-6_0-32_all with restore_and_scale_GO=1.0 (scripts/run_SW_importance_ablation.sh)",
            "the paper's text gives no rule; the code's: per tensor, every |w| >= the int(numel * 1e-6)-th largest "
            "(ties included), super weights ranked then put back. fraction/count/per_tensor take exactly k with the "
            "super weights excluded", official="official"),
    Setting("ablation.prune_nonsw.amount", 1e-6, "official search_percentage_1e-6 (scripts/run_SW_importance_ablation.sh)"),
    Setting("ablation.restore_tokens", "max", "Table 1 'Prune SW, +SA'; official outliers/model.py removeSW_restoreSA: "
            "the one token where |SA| is largest, per sequence"),
    # mechanism analyses
    Setting("analysis.stopwords.n_prompts", 500, "Fig. 5: averaged over 500 LAMBADA prompts"),
    Setting("analysis.scaling.factors", [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 1, 1.2, 1.5, 2, 3],
            "Fig. 6 (Llama-7B points of the official figures.ipynb)"),
    Setting("analysis.scaling.limit", None, "Fig. 6 / Table 5: full test sets", "null = eval.limit",
            resolve=_sweep_limit),
    Setting("analysis.propagation.outliers", "official",
            "Fig. 4; official analyze.py plot_max_activation_ablation: remove_outliers(model, 5e-7)",
            "the code removes 5e-7 per tensor of every weight tensor (embeddings, norms, LM head included), ranked "
            "with the super weights zeroed; 'ablation' uses the Table 1 rule instead", official="official"),
    Setting("analysis.propagation.amount", 5e-7, "official analyze.py plot_max_activation_ablation: percentage = 5e-7"),
    # quantization (Fig. 7, Tables 3/4/6/7)
    Setting("quantization.weights.bits", [4], "Fig. 7: INT4"),
    Setting("quantization.weights.blocks", [16384, 65536, 262144, 1048576, "per_tensor"],
            "Fig. 7 (128x128 ... 1024x1024); official README block loop 'tensor 1048576 262144 65536 16384'"),
    Setting("quantization.weights.limit", None, "Fig. 7: full test sets", "null = eval.limit", resolve=_sweep_limit),
    Setting("quantization.weights.z", "auto", "Sec. 5.2 / Fig. 7: z tuned on 500 WikiText-2 train examples for the "
            "lowest reconstruction error", "the official README fixes z = 9", official="9"),
    Setting("quantization.weights.z_criterion", "output", "Sec. 5.2: 'lowest reconstruction error'",
            "read as the mean relative error of each quantized layer's output on the calibration examples (the paper "
            "does not say of what); the official code has no tuning"),
    Setting("quantization.weights.calibration.examples", 500, "Sec. 5.2: 500 WikiText-2 train examples"),
    Setting("quantization.weights.partial_block", NO_PAPER_VALUE, "official outliers/quantize.py",
            "a tensor not a multiple of the block: the code quantizes it whole (no paper model has one); 'short' "
            "gives it a shorter last block", official="whole_tensor"),
    Setting("quantization.weights.rounding", NO_PAPER_VALUE, "official outliers/quantize.py minmax",
            "(w - min) * (levels / (max - min)) rounded; 'divide' moves exact ties", official="official"),
    Setting("quantization.weights.clip_std", NO_PAPER_VALUE, "official outliers/quantize.py: weight.abs().std()",
            "torch's unbiased std", official="unbiased"),
    Setting("quantization.weights.compute_dtype", NO_PAPER_VALUE, "official outliers/quantize.py",
            "the code clips and rounds in the weight's dtype (fp16); float32 is the method as written",
            official="weight"),
    Setting("quantization.weights.table6.method", "rtn_keep_sw", "Table 6: RTN, the super weights restored after "
            "quantizing (official restore_GO after minmax)"),
    Setting("quantization.weights.table6.blocks", [64, 4096], "Table 6: blocks 8x8 (64) and 64x64 (4096)"),
    Setting("quantization.weights.table6.bits", 4, "Table 6: 4-bit"),
    Setting("quantization.activations.inputs", ["q", "k", "v", "gate", "up", "down"],
            "Sec. 5.1: W8A8 on the inputs of q, k, v, gate, up and down projections",
            "SmoothQuant's fake_quant.py (quantize_llama_like) also quantizes o_proj: add 'o'"),
    Setting("quantization.activations.bmm", ["q", "k", "v"], "Sec. 5.1: and the attention BMM inputs "
            "(SmoothQuant fake_quant.py quantize_bmm_input: the q/k/v projection outputs, per token)"),
    Setting("quantization.activations.alpha", 0.85, "Table 3: SmoothQuant, alpha 0.85"),
    Setting("quantization.activations.corpora", ["wikitext2", "c4"], "Tables 3, 4, 7: Wiki-2 and C4 perplexity"),
    Setting("quantization.activations.limit", None, "Tables 3, 4, 7: full evaluation", "null = eval.limit",
            resolve=_sweep_limit),
    # uncertainty (the paper reports none)
    Setting("stats.level", NO_PAPER_VALUE, "the paper reports no intervals", "confidence level of every interval"),
    Setting("stats.bootstrap", NO_PAPER_VALUE, "the paper reports no intervals", "bootstrap resamples"),
    # models
    Setting("models.*.dtype", "float16", "official scripts: dtype=float16 for every model"),
)


def lookup(cfg: dict, key: str):
    """The value at a dotted key, or NOT_SET."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return NOT_SET
        node = node[part]
    return node


def _norm(v):
    """For comparison: numbers as floats, lists as sorted multisets (a sweep's order does not matter)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return sorted((_norm(x) for x in v), key=repr)
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


def run_models(cfg: dict) -> list[str]:
    chosen = cfg.get("run_models")
    return list(chosen) if chosen is not None else list(cfg.get("models", {}))


def _expand(cfg: dict, s: Setting) -> list[tuple[str, Any]]:
    """(key, value) pairs of a setting for this run: "models.*.x" once per run model."""
    if s.key.startswith("models.*."):
        rest = s.key[len("models.*."):]
        return [(f"models.{m}.{rest}", lookup(cfg, f"models.{m}.{rest}")) for m in run_models(cfg)]
    return [(s.key, lookup(cfg, s.key))]


def compare(cfg: dict) -> list[dict]:
    """One row per setting (per run model for model settings): this run's value, the paper's, the status."""
    rows = []
    for s in SETTINGS:
        for key, raw in _expand(cfg, s):
            value = raw if raw is NOT_SET or s.resolve is None else s.resolve(cfg, raw)
            if raw is NOT_SET:
                status = "not set"
            elif s.paper is NO_PAPER_VALUE:
                status = "no paper value"
            else:
                status = "same" if _norm(value) == _norm(s.paper) else "differs"
            rows.append({"key": key, "value": None if raw is NOT_SET else value,
                         "paper": None if s.paper is NO_PAPER_VALUE else s.paper,
                         "has_paper_value": s.paper is not NO_PAPER_VALUE, "status": status,
                         "source": s.source, "note": s.note, "official_option": s.official or None})
    return rows


def facts(cfg: dict, data_dir: str | None) -> list[dict]:
    """Fixed facts of the data and the environment that no setting changes (shared/data/README.md)."""
    local = data_dir is not None
    out = [
        {"fact": "WikiText-2 test", "status": "same",
         "note": ("rebuilt from wiki.test.raw (byte-identical to the official file) into the Hugging Face rows, "
                  "joined by \"\\n\\n\" as GPTQ") if local else "the Hugging Face wikitext-2-raw-v1 test rows, "
                                                                 "joined by \"\\n\\n\" as GPTQ"},
        {"fact": "C4 validation", "status": "differs" if local else "same",
         "note": ("the shipped c4_validation_2k.parquet is a 2,000-document sample of C4-en of unverified split and "
                  "order (shared/data/README.md): its first documents are not GPTQ's first 1100 of validation shard "
                  "0, so C4 perplexity approximates the paper's, not number for number") if local else
                 "validation shard 0 from the Hugging Face Hub, as GPTQ"},
        {"fact": "zero-shot tasks", "status": "same",
         "note": ("offline copies of lm-eval's built-in tasks (same prompts, splits and metrics, tested to render "
                  "identically), zero-shot, metric acc") if local else "lm-eval's built-in tasks, zero-shot, metric acc"},
        {"fact": "tokenizer", "status": "may differ",
         "note": "the model's default (fast) tokenizer; GPTQ's datautils load use_fast=False, which can split some "
                 "texts differently for SentencePiece models"},
    ]
    if lookup(cfg, "quantization.weights.z") == "auto":
        out.append({"fact": "z calibration text", "status": "differs",
                    "note": "500 examples of WikiText-2 *validation* (checked disjoint from every evaluation corpus); "
                            "the paper used WikiText-2 train, which no public copy here supplies"})
    out.append({"fact": "lm-eval version", "status": "differs",
                "note": "the project pins lm-eval 0.4.13 (each score's provenance records the version it ran); the "
                        "paper used ~0.4.3. The one request-level change known to move results, the BOS token, is "
                        "set by eval.add_bos_token"})
    return out


def report(cfg: dict, data_dir: str | None) -> dict:
    """The deviation report of one run, as written to results/protocol.json."""
    rows = compare(cfg)
    return {"paper": "The Super Weight in Large Language Models (arXiv 2411.07191)",
            "models": run_models(cfg), "settings": rows,
            "differs": [r["key"] for r in rows if r["status"] == "differs"],
            "not_set": [r["key"] for r in rows if r["status"] == "not set"],
            "facts": facts(cfg, data_dir)}


def _show(v, status: str) -> str:
    if status == "not set":
        return "not set"
    return "null" if v is None else json.dumps(v) if not isinstance(v, str) else v


def markdown(rep: dict) -> str:
    """results/protocol.md: the settings table, then the facts."""
    n = len(rep["differs"])
    lines = [f"# This run against the paper's protocol", "",
             f"Paper: {rep['paper']}. Models run: {', '.join(rep['models'])}.", "",
             (f"**{n} setting(s) differ from the paper:** {', '.join(rep['differs'])}." if n else
              "**Every setting equals the paper's.**")
             + (f" Not set in this checkout: {', '.join(rep['not_set'])}." if rep["not_set"] else ""), "",
             "| setting | this run | paper | status | source | note | official code's option |",
             "|---|---|---|---|---|---|---|"]
    for r in rep["settings"]:
        paper = _show(r["paper"], "") if r["has_paper_value"] else "no paper value"
        cells = [f"`{r['key']}`", _show(r["value"], r["status"]), paper, r["status"], r["source"], r["note"],
                 r["official_option"] or ""]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "## Data and environment", "", "| fact | status | note |", "|---|---|---|"]
    lines += [f"| {f['fact']} | {f['status']} | {f['note']} |" for f in rep["facts"]]
    return "\n".join(lines) + "\n"


def relevant(cfg: dict) -> dict:
    """Only the config values the report reads (a rule's params: editing anything else does not rerun it)."""
    out: dict = {}
    keys = [k for s in SETTINGS for k, _ in _expand(cfg, s)] + ["eval.limit"]
    for key in keys:
        v = lookup(cfg, key)
        if v is NOT_SET:
            continue
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = v
    out["run_models"] = run_models(cfg)
    return out
