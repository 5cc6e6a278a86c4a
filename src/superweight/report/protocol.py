"""The paper's protocol in one table, and the per-run deviation report built from it.

Every key of the config schema is classified here (``classify``; tests/test_protocol.py walks the schema and fails on
a key that is not), as one of:

- ``paper``: the value the paper states, with the table, figure or section it comes from;
- ``official code``: the paper is silent and its official code (github mengxiayu/LLMSuperWeight @ 232e4eeb, or the
  code of a method it cites, e.g. SmoothQuant) made the choice: file and line;
- ``interpretation``: the paper is silent or ambiguous and this project chose: what and why;
- ``addition``: no counterpart in the paper or its code (confirmation, joint mode, claims, intervals, ...);
- ``no effect on numbers``: presentation, paths, resources (``NO_EFFECT``).

The first four are ``Setting`` rows with a reference value: the paper's, the official code's, or the value the
project reads the paper as (config/paper.yaml sets every row to it: tests/test_protocol.py checks it after merging
paper.yaml over config/config.yaml as Snakemake does). A run's value that differs from a paper, official or
interpretation reference is a listed difference; additions are listed beside paper.yaml's value. The report says
"equals the paper" only of ``paper`` rows. Choices the config cannot change are ``FIXED`` rows. This module reads
only the config and the detection summaries: no torch, so the report is instant.
To add a key: add it to the schema, then one ``Setting`` to ``SETTINGS`` (or a reason to ``NO_EFFECT``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from superweight.provenance import package_versions

NOT_SET = object()  # the key is absent from the config (a feature not in this checkout)
NO_PAPER_VALUE = object()  # a setting without a reference value (an addition whose value is free)

OFFICIAL = "official code (github mengxiayu/LLMSuperWeight @ 232e4eeb)"
TASKS = ["arc_challenge", "arc_easy", "hellaswag", "lambada_openai", "piqa", "sciq", "winogrande"]
PAPER, OFFICIAL_CODE, INTERPRETATION, ADDITION, NO_EFFECT_CLASS = (
    "paper", "official code", "interpretation", "addition", "no effect on numbers")
CLASSES = (PAPER, OFFICIAL_CODE, INTERPRETATION, ADDITION, NO_EFFECT_CLASS)

# Table 2: Hub id -> super-weight coordinates [layer, row, col] (OLMo-1B: the paper's layer 1 and the code's layer 2;
# Llama-3-8B: the official code's only, see CODE_ONLY)
TABLE2 = {
    "huggyllama/llama-7b": [[2, 3968, 7003]],
    "huggyllama/llama-13b": [[2, 2231, 2278], [2, 2231, 6939]],
    "huggyllama/llama-30b": [[3, 5633, 12817], [3, 5633, 17439], [10, 5633, 14386]],
    "meta-llama/Llama-2-7b-hf": [[1, 2533, 7890]],
    "meta-llama/Llama-2-13b-hf": [[3, 4743, 7678]],
    "mistralai/Mistral-7B-v0.1": [[1, 2070, 7310]],
    "allenai/OLMo-1B-0724-hf": [[1, 1764, 1710], [2, 1764, 8041]],
    "allenai/OLMo-7B-0724-hf": [[1, 269, 7467], [2, 269, 8275], [7, 269, 453], [24, 269, 2300]],
    "microsoft/Phi-3-mini-4k-instruct": [[2, 525, 808], [2, 1113, 808], [2, 1693, 808], [4, 525, 2723],
                                         [4, 1113, 2723], [4, 1693, 2723]],
    "meta-llama/Meta-Llama-3-8B": [[1, 788, 2427], [1, 1384, 2427], [1, 4062, 2427]],
}
# Table 2 entries the paper does not state: (Hub id, "id" or "super_weights") -> where they come from. Such a row's
# class is official code, never paper.
CODE_ONLY = {
    ("meta-llama/Meta-Llama-3-8B", "id"): "official outliers/model.py:28 SUPER_WEIGHTS_MAP: Meta-Llama-3-8B is in "
                                          "the official code only, not in the paper",
    ("meta-llama/Meta-Llama-3-8B", "source"): "official scripts: from_pretrained (Meta-Llama-3-8B is in the official "
                                              "code only)",
    ("meta-llama/Meta-Llama-3-8B", "super_weights"): "official outliers/model.py:28 SUPER_WEIGHTS_MAP (the paper "
                                                     "gives no Llama-3-8B coordinates)",
    ("allenai/OLMo-1B-0724-hf", "super_weights"): "official outliers/model.py:29 SUPER_WEIGHTS_MAP and its issue #6: "
                                                  "[1764, 8041] in layer 2 (Table 2 says layer 1)",
}


@dataclass(frozen=True)
class Setting:
    key: str  # dotted config path; "models.*.x" is checked for every model the run runs
    paper: Any  # the reference value (the paper's, the official code's, the project's reading), or NO_PAPER_VALUE
    source: str  # the paper's table / figure / section, or the official file and line it comes from
    note: str = ""  # for an interpretation: what was chosen and why
    official: str = ""  # the option value that reproduces the official code where it differs from the paper
    resolve: Callable[[dict, Any], Any] | None = None  # the effective value from (config, raw value)
    kind: str = PAPER  # PAPER, OFFICIAL_CODE, INTERPRETATION or ADDITION
    optional: bool = False  # absent is normal (no row, not listed as not set)
    same: Callable[[dict, str, Any], bool] | None = None  # custom equality (config, key, value) -> equal
    code_only: Callable[[dict, str], str | None] | None = None  # (config, key) -> the official source where this
    # row's reference is the official code's, not the paper's (a model the paper does not state)

    def __post_init__(self):
        if self.kind not in CLASSES[:4]:
            raise ValueError(f"{self.key}: class {self.kind!r} is not one of {', '.join(CLASSES[:4])}")


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


def _model_of(key: str) -> str:
    return key.split(".")[1]


def _table2_id(cfg: dict, key: str, value) -> bool:
    return value in TABLE2


def _code_only(cfg: dict, key: str) -> str | None:
    return CODE_ONLY.get((lookup(cfg, f"models.{_model_of(key)}.id"), key.rsplit(".", 1)[1]))


def _table2_coords(cfg: dict, key: str, value) -> bool:
    known = TABLE2.get(lookup(cfg, f"models.{_model_of(key)}.id"))
    return known is not None and sorted(map(list, value)) == sorted(known)


S, P, O, I, A = Setting, PAPER, OFFICIAL_CODE, INTERPRETATION, ADDITION
SQ = "SmoothQuant (github mit-han-lab/smoothquant) examples/generate_act_scales.py"

SETTINGS: tuple[Setting, ...] = (
    # models
    S("models.*.id", "a Table 2 model", "Table 2 (the paper's nine models by Hub id)", same=_table2_id,
      code_only=_code_only),
    S("models.*.source", "hub", "Table 2: the published Hub checkpoints (official scripts: from_pretrained)",
      "package / gguf read a GGUF file, whose (possibly quantized) weights are not the published checkpoint's",
      code_only=_code_only),
    S("models.*.dtype", "float16", "official scripts: dtype=float16 for every model", kind=O),
    S("models.*.super_weights", "Table 2's coordinates", "Table 2 (OLMo-1B: layer 2 as the official code and its "
      "issue #6; Llama-3-8B: the official code only)", same=_table2_coords, optional=True, code_only=_code_only),
    S("models.*.revision", NO_PAPER_VALUE, "the paper names no revision", "unset = the Hub's main branch",
      kind=I, optional=True),
    S("models.*.file", NO_PAPER_VALUE, "no counterpart: the paper loads Hub checkpoints",
      "the GGUF file read for source gguf / package", kind=A, optional=True),
    # perplexity (Table 1, Tables 3/4/7): the GPTQ protocol the paper cites
    S("perplexity.seqlen", 2048, "Table 1 / Tables 3-4 perplexity: GPTQ protocol (datautils.py, seqlen 2048)",
      "tokens per non-overlapping window"),
    S("perplexity.windows.wikitext2", None, "GPTQ: every 2048-token window of WikiText-2 test",
      "null = every window; below 48 windows (articles) a window verdict is the exact sign test of the median "
      "window, not a test of the mean (docs/statistics.md)"),
    S("perplexity.windows.c4", 256, "GPTQ datautils get_c4_new: the first 256 x seqlen tokens"),
    S("perplexity.c4_docs", 1100, "GPTQ datautils get_c4_new: ' '.join(valdata[:1100]['text'])"),
    S("perplexity.window_order", "first", "GPTQ datautils: the first windows of the stream (all of WikiText-2; the "
      "first 256 of C4)", "spread: windows far apart over the corpus, so that they fall in different articles and "
      "the intervals' units are independent (windows that still share an article are one unit); it changes which "
      "text a fewer-window run scores, not how a window is scored; with every window scored the order is moot"),
    S("perplexity.corpora", ["wikitext2", "c4"], "Table 1 (C4 and Wiki-2 perplexity), Tables 3, 4, 7"),
    # zero-shot accuracy
    S("eval.tasks", TASKS, "Table 1; official scripts/table1_superweight_importance.sh (--tasks)"),
    S("eval.limit", None, "Table 1: full test sets; official scripts pass no --limit",
      "documents per task; null = all", resolve=_limit),
    S("eval.add_bos_token", False, "lm-eval 0.4.3 (the paper's harness, July 2024): HFLM.tok_encode sets "
      "add_special_tokens = False or self.add_bos_token (default False) for causal LMs",
      "lm-eval 0.4.13 (after #3347, 'delegate BOS to the tokenizer') left alone adds a BOS for tokenizers that "
      "add one by default, which moves the attention sink and the super activation", kind=O),
    S("eval.backend", NO_PAPER_VALUE, "no counterpart (speed only)",
      "cached: lm-eval requests scored with each shared context once; any backend must give HFLM's numbers on "
      "the same requests (tested to float32 rounding)", kind=A),
    # detection (Fig. 3, Table 2)
    S("detection.prompt", "Apple Inc. is a worldwide tech company.",
      "official analyze.py:72 plot_down_proj_input_output (Fig. 3)", kind=O),
    S("detection.rule", "absolute", "official analyze.py:77: |input| and |output| above spike_threshold", kind=O),
    S("detection.threshold", 50, "official analyze.py:77: spike_threshold=50", kind=O),
    S("detection.ratio", NO_PAPER_VALUE, "no counterpart", "only read by detection.rule: relative", kind=A),
    S("detection.column", "input_max", "Sec. 3 (the input spike's channel) and official analyze.py:61: the channel "
      "of the down projection's input maximum", "contribution is this project's addition: the input channel "
      "contributing most to the output spike (|x[token, j] * W[row, j]| largest); the two agree when the input "
      "maximum writes the output spike, where they differ the contribution names the weight that writes it"),
    S("detection.max_iters", 20, "Sec. 3: zero the candidates and repeat until no layer spikes (the official code "
      "has no loop)", "the paper's loop has no cap; a cap is a safety limit, set in config/paper.yaml well above "
      "what any Table 2 model needs (a round takes one candidate per spiking layer, and no Table 2 model has more "
      "than six super weights: at most six rounds; Phi-3, three in each of two layers, needs three). A run that "
      "stops at the cap says so (super_weights.json `cap_reached`, the log, this report)",
      kind=I),
    S("detection.use", "known", "Table 2 coordinates; official outliers/model.py:23-32 SUPER_WEIGHTS_MAP",
      "the paper's experiments use its published coordinates; detection's agreement is reported beside them"),
    S("detection.confirm.mode", "joint", "no counterpart: the paper confirms nothing by ablation on text",
      "joint: also groups that share a row, a column, a layer, or the whole candidate list zeroed together "
      "(superweight/confirm.py); single: each alone", kind=A),
    S("detection.confirm.factor", 2.0, "no counterpart", "perplexity ratio that confirms a candidate", kind=A),
    S("detection.confirm.corpus", "wikitext2_validation", "no counterpart: the paper's detection is data-free",
      "text of the confirmation perplexity: the WikiText-2 validation split, which no verdict evaluates (the "
      "evaluated WikiText-2 windows are cut from the test split); config validation refuses an evaluated corpus",
      kind=A),
    S("detection.confirm.seqlen", 2048, "no counterpart", "tokens per confirmation window", kind=A),
    S("detection.confirm.windows", 8, "no counterpart", "confirmation windows", kind=A),
    # Table 1 ablation
    S("ablation.conditions", ["original", "prune_sw", "prune_nonsw", "prune_sw_restore_sa"], "Table 1 rows"),
    S("ablation.prune_nonsw.rule", "official",
      "Table 1 'Prune Non-SW' (~7,000 other largest weights); official outliers/model.py:351-389 outlier_method "
      "search_percentage_1e-6_0-32_all with restore_and_scale_GO=1.0 (scripts/run_SW_importance_ablation.sh)",
      "the paper's text gives no rule; the code's: per tensor of decoder layers 0-31 (range(0, 32) of '0-32'), "
      "every |w| >= the int(numel * 1e-6)-th largest (ties included), super weights ranked then put back. "
      "fraction/count/per_tensor take exactly k in every layer with the super weights excluded",
      official="official", kind=O),
    S("ablation.prune_nonsw.amount", 1e-6, "official search_percentage_1e-6 (scripts/run_SW_importance_ablation.sh)",
      kind=O),
    S("ablation.restore_tokens", "max", "Table 1 'Prune SW, +SA'; official outliers/model.py:312-349 "
      "removeSW_restoreSA: the one token where |SA| is largest, per sequence", kind=O),
    # mechanism analyses
    S("analysis.stopwords.n_prompts", 500, "Fig. 5: averaged over 500 LAMBADA prompts"),
    S("analysis.scaling.factors", [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 1, 1.2, 1.5, 2, 3],
      "Fig. 6 (official figures.ipynb): Llama-7B's points plus 0.8, a point of Llama-13B, Llama-30B and "
      "Mistral-7B"),
    S("analysis.scaling.limit", None, "Fig. 6 / Table 5: full test sets",
      "null = eval.limit; 0 = accuracies not scored, the sweep measured by perplexity with its CI (the CPU "
      "default: no affordable n decides its accuracies)", resolve=_sweep_limit),
    S("analysis.scaling.corpora", ["wikitext2"], "no counterpart: Fig. 6 reports accuracy only",
      "perplexity beside the accuracies of the scaling sweep", kind=A),
    S("analysis.propagation.outliers", "official",
      "Fig. 4; official analyze.py:146-199 plot_max_activation_ablation: remove_outliers(model, 5e-7)",
      "the code removes 5e-7 per tensor of every weight tensor (embeddings, norms, LM head included), ranked "
      "with the super weights zeroed; 'ablation' uses the Table 1 rule instead", official="official", kind=O),
    S("analysis.propagation.amount", 5e-7, "official analyze.py:198: percentage = 5e-7", kind=O),
    S("analysis.case_study.prompts", NO_PAPER_VALUE, "no counterpart (the paper's case studies are figures of "
      "its own prompts)", "top next tokens with and without the super weights", kind=A),
    # mechanism experiments (issue 13): the paper has none
    S("mechanism.experiments", NO_PAPER_VALUE, "no counterpart", "which mechanism experiments run", kind=A),
    S("mechanism.corpus", "wikitext2", "no counterpart", "perplexity corpus of skip and significance", kind=A),
    S("mechanism.seqlen", 2048, "no counterpart", "tokens per window of skip and significance: with `windows`, "
      "the sizes that decide the significance verdict", kind=A),
    S("mechanism.windows", 8, "no counterpart", "windows per scored set (decide the significance verdict)",
      kind=A),
    S("mechanism.skip.offsets", NO_PAPER_VALUE, "no counterpart", kind=A),
    S("mechanism.skip.tokens", NO_PAPER_VALUE, "no counterpart", kind=A),
    S("mechanism.skip.n_prompts", NO_PAPER_VALUE, "no counterpart", kind=A),
    S("mechanism.significance.n_sets", NO_PAPER_VALUE, "no counterpart",
      "the claim tests (exact binomial) that fewer than half of the sets hurt as much as the super weights", kind=A),
    S("mechanism.significance.seed", NO_PAPER_VALUE, "no counterpart", kind=A),
    S("mechanism.significance.matrix_pool", NO_PAPER_VALUE, "no counterpart", kind=A),
    S("mechanism.significance.model_fraction", NO_PAPER_VALUE, "no counterpart", kind=A),
    # quantization (Fig. 7, Tables 3/4/6/7)
    S("quantization.weights.methods", ["rtn", "clip", "sw_aware"], "Fig. 7: RTN and SW-aware (sw_aware)",
      "clip (clipping without restoring the super weights) is the reviewers' missing baseline, run beside the "
      "paper's two; rtn_keep_sw is Table 6's quantizer", kind=A),
    S("quantization.weights.bits", [4], "Fig. 7: INT4"),
    S("quantization.weights.blocks", [16384, 65536, 262144, 1048576, "per_tensor"],
      "official README.md:86 block loop 'tensor 1048576 262144 65536 16384' (Fig. 7 shows the four blocks "
      "128x128 ... 1024x1024; per-tensor is the README's only)", kind=O),
    S("quantization.weights.corpora", ["wikitext2"], "no counterpart: Fig. 7 reports accuracy only",
      "perplexity beside the accuracies of the sweep", kind=A),
    S("quantization.weights.limit", None, "Fig. 7: full test sets",
      "null = eval.limit; 0 = accuracies not scored, the sweep measured by perplexity with its CI (the CPU "
      "default: no affordable n decides its accuracies)", resolve=_sweep_limit),
    S("quantization.weights.z", "auto", "Sec. 5.2 / Fig. 7: z tuned on 500 WikiText-2 train examples for the "
      "lowest reconstruction error", "the official README fixes z = 9", official="9"),
    S("quantization.weights.z_candidates", [3, 5, 7, 9, 12, 16, 24], "the paper gives no grid",
      "the z values tried by z: auto; spans the official README's 9", kind=I),
    S("quantization.weights.z_criterion", "output", "Sec. 5.2: 'lowest reconstruction error' (of what: not said)",
      "read as the mean relative error of each quantized layer's output on the calibration examples (a weight "
      "error needs no examples, the paper uses some); the official code has no tuning", kind=I),
    S("quantization.weights.calibration.corpus", "wikitext2_validation", "Sec. 5.2: WikiText-2 *train*",
      "no public copy here has the train split: validation, disjoint from the evaluated test split", kind=I),
    S("quantization.weights.calibration.examples", 500, "Sec. 5.2: 500 WikiText-2 train examples"),
    S("quantization.weights.calibration.seed", 0, "the paper does not say which 500 examples",
      "a seeded sample of the corpus' paragraphs", kind=I),
    S("quantization.weights.partial_block", "whole_tensor", "official outliers/functional/quantization.py:95-111 "
      "(numel not a multiple of the block: the whole tensor is one block)", "no paper model has such a tensor; "
      "'short' gives it a shorter last block", kind=O),
    S("quantization.weights.rounding", "official", "official outliers/functional/quantization.py:157-161 minmax",
      "(w - min) * (levels / (max - min)) rounded; 'divide' moves exact ties", kind=O),
    S("quantization.weights.clip_std", "unbiased", "official outliers/functional/quantization.py:79, 102: "
      "weight.abs().std()", "torch's unbiased std", kind=O),
    S("quantization.weights.compute_dtype", "weight", "official outliers/functional/quantization.py:62-163: "
      "clipping and RTN in the weight's dtype (fp16), statistics by torch's abs().mean() / abs().std()",
      "float32 is the method as written (statistics accumulated in float32)", kind=O),
    S("quantization.weights.table6.enabled", True, "Table 6"),
    S("quantization.weights.table6.method", "rtn_keep_sw", "Table 6: RTN, the super weights restored after "
      "quantizing (official restore_GO after minmax)"),
    S("quantization.weights.table6.blocks", [64, 4096], "Table 6: blocks 8x8 (64) and 64x64 (4096)"),
    S("quantization.weights.table6.bits", 4, "Table 6: 4-bit"),
    S("quantization.weights.table6.factors", [1.5], "Table 6 amplifies the super weights but states no factor",
      "1.5: inside Fig. 6's range of gains (1.2-2) for Llama-7B", kind=I),
    S("quantization.activations.methods", ["fp", "naive", "sa_aware", "smoothquant"], "Tables 3, 4, 7 rows"),
    S("quantization.activations.inputs", ["q", "k", "v", "gate", "up", "down"],
      "Sec. 5.1: W8A8 on the inputs of q, k, v, gate, up and down projections",
      "SmoothQuant's fake_quant.py (quantize_llama_like) also quantizes o_proj: add 'o'"),
    S("quantization.activations.bmm", ["q", "k", "v"], "Sec. 5.1: and the attention BMM inputs "
      "(SmoothQuant fake_quant.py quantize_bmm_input: the q/k/v projection outputs, per token)"),
    S("quantization.activations.weight_granularity", "per_tensor", "Sec. 5.1: SmoothQuant-style W8A8 (weights "
      "per tensor, activations per token: SmoothQuant's O1 setting)", "per_channel: SmoothQuant fake_quant.py's per-channel weight option"),
    S("quantization.activations.alpha", 0.85, "Table 3: SmoothQuant, alpha 0.85"),
    S("quantization.activations.calibration.corpus", "c4", f"{SQ}: the Pile validation set",
      "no copy of the Pile here: C4 validation documents after the evaluated ones (disjoint from every "
      "evaluated window by construction)", kind=I),
    S("quantization.activations.calibration.samples", 512, f"{SQ}: --num-samples 512", kind=O),
    S("quantization.activations.calibration.seqlen", 512, f"{SQ}: --seq-len 512 (each sample truncated)", kind=O),
    S("quantization.activations.calibration.seed", 42, "SmoothQuant (github mit-han-lab/smoothquant) "
      "smoothquant/calibration.py get_act_scales: dataset.shuffle(seed=42)",
      "the documents are drawn with this seed (another corpus and generator: the same number, not the same "
      "documents)", kind=O),
    S("quantization.activations.corpora", ["wikitext2", "c4"], "Tables 3, 4, 7: Wiki-2 and C4 perplexity"),
    S("quantization.activations.limit", None, "Tables 3, 4, 7: full evaluation (the tables report perplexity)",
      "null = eval.limit; 0 = accuracies not scored, the sweep measured by perplexity with its CI (the CPU "
      "default: no affordable n decides its accuracies)", resolve=_sweep_limit),
    # uncertainty and verdicts (the paper reports none)
    S("stats.level", NO_PAPER_VALUE, "no counterpart: the paper reports no intervals",
      "confidence level of every interval and verdict", kind=A),
    # sequential scoring (optional section): the paper scores every window and document
    *(S(f"sequential.{k}", NO_PAPER_VALUE, "no counterpart: the paper scores every window and document",
        why, kind=A, optional=True)
      for k, why in (("looks", "looks of the group-sequential stopping rule (fractions of each maximum)"),
                     ("alpha", "error rate each stopping test spends over its looks"),
                     ("spending", "Lan-DeMets spending function of the looks' levels"),
                     ("compare", "which ablation conditions stop once their comparisons are decided, then scored on "
                                 "fewer windows / documents than perplexity.windows / eval.limit (the claims read "
                                 "them with the design's p-values)"))),
    # emergence over training (config/emergence.yaml): not in the paper
    *(S(f"emergence.{k}", NO_PAPER_VALUE, "no counterpart: super weights over training checkpoints",
        kind=A, optional=True)
      for k in ("name", "source", "id", "revisions", "reference", "steps", "dtype", "corpus")),
)

# keys that change no number of any result: why
NO_EFFECT = {
    "data_dir": "where the data files are read (the data themselves: 'Data and environment')",
    "data_checksums": "whether the data files are compared with the shipped checksums (compare) or only recorded "
                      "(record: your own data); a mismatch stops the run before any number is computed",
    "device": "where jobs run (float rounding aside)",
    "run_models": "which models run",
    "models.*.params_b": "sizes jobs' memory and runtime requests",
    "models.*.paper": "which paper column is printed beside",
    "detection.confirm.batch_size": "sequences per forward pass",
    "perplexity.batch_size": "windows per forward pass",
    "eval.batch_size": "lm-eval batch size",
    "quantization.weights.one_job": "whether the sweep's settings run in one job or one job each (each setting starts "
                                    "from a freshly loaded model either way)",
    "analysis.stopwords.top_k": "rows listed in top_tokens.csv",
    "analysis.case_study.top_k": "tokens listed per prompt",
    "emergence.params_b": "sizes jobs' memory and runtime requests",
    **{f"resources.{k}": "sizes jobs' run-time requests (the throughput model)" for k in
       ("gpu_tflops", "cpu_gflops", "load_mb_per_s", "download_mb_per_s", "margin")},
    "resources.max_runtime": "the cluster's time limit: a job over it stops the run at start",
    **{f"plots.{k}": "figure styling" for k in ("format", "dpi", "width", "height", "colors", "log_scale",
                                                 "label_tokens")},
}

# choices no config key changes
FIXED = [
    {"choice": "detection rounds", "class": INTERPRETATION,
     "this project": "every spiking layer's candidate zeroed per round, then rerun",
     "reference": "Sec. 3: zero the super weight and rerun until no spike (one per round not said)",
     "why": "a layer's spike does not depend on later layers; taking all at once needs fewer rounds"},
]


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


# --- classification of the schema's keys ---------------------------------------------------------------------

def schema_keys(schema: dict) -> list[str]:
    """Every leaf key of the config schema, dotted; a model's keys as ``models.*.x``. A leaf is a node without
    ``properties`` (a mapping given by ``additionalProperties`` only, e.g. plots.colors, is one key)."""
    out: list[str] = []

    def walk(node: dict, prefix: list[str]):
        props = node.get("properties")
        if props:
            for k, v in props.items():
                walk(v, prefix + [k])
        elif prefix == ["models"]:
            walk(node["additionalProperties"], prefix + ["*"])
        else:
            out.append(".".join(prefix))

    walk(schema, [])
    return out


def classify(key: str) -> str | None:
    """The class of a schema key (``CLASSES``), or None when it is not classified."""
    for s in SETTINGS:
        if s.key == key:
            return s.kind
    return NO_EFFECT_CLASS if key in NO_EFFECT else None


def unclassified(schema: dict) -> list[str]:
    """Schema keys this module does not classify: each must get a ``Setting`` or a ``NO_EFFECT`` reason."""
    return [k for k in schema_keys(schema) if classify(k) is None]


def run_models(cfg: dict) -> list[str]:
    chosen = cfg.get("run_models")
    return list(chosen) if chosen is not None else list(cfg.get("models", {}))


def _expand(cfg: dict, key: str) -> list[tuple[str, Any]]:
    """(key, value) pairs of a key for this run: "models.*.x" once per run model."""
    if key.startswith("models.*."):
        rest = key[len("models.*."):]
        return [(f"models.{m}.{rest}", lookup(cfg, f"models.{m}.{rest}")) for m in run_models(cfg)]
    return [(key, lookup(cfg, key))]


_SAME = {PAPER: "same", OFFICIAL_CODE: "official code", INTERPRETATION: "interpretation", ADDITION: "addition"}


def compare(cfg: dict) -> list[dict]:
    """One row per setting (per run model for model settings): this run's value, the reference, the class, the
    status: ``same`` (a paper row equal to the paper), ``official code`` / ``interpretation`` (equal to that
    reference), ``addition``, ``differs`` (a paper, official or interpretation row away from its reference),
    ``not set``."""
    rows = []
    for s in SETTINGS:
        for key, raw in _expand(cfg, s.key):
            if raw is NOT_SET and s.optional:
                continue
            value = raw if raw is NOT_SET or s.resolve is None else s.resolve(cfg, raw)
            has_ref = s.paper is not NO_PAPER_VALUE
            code = s.code_only(cfg, key) if s.code_only else None
            kind, source = (OFFICIAL_CODE, code) if code else (s.kind, s.source)
            if raw is NOT_SET:
                status = "not set"
            elif kind == ADDITION or not has_ref:  # an addition is never a difference from the paper
                status = _SAME[kind]
            else:
                equal = s.same(cfg, key, value) if s.same else _norm(value) == _norm(s.paper)
                status = _SAME[kind] if equal else "differs"
            rows.append({"key": key, "value": None if raw is NOT_SET else value,
                         "paper": s.paper if has_ref else None, "has_paper_value": has_ref, "class": kind,
                         "status": status, "source": source, "note": s.note, "official_option": s.official or None})
    return rows


def facts(cfg: dict, data_dir: str | bool | None) -> list[dict]:
    """Fixed facts of the data and the environment that no setting changes (shared/data/README.md). ``data_dir``:
    the local data directory, or whether there is one (the workflow says only that: its path reruns nothing)."""
    local = bool(data_dir)
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
    cal = lookup(cfg, "quantization.activations.calibration")
    methods = lookup(cfg, "quantization.activations.methods")
    if isinstance(cal, dict) and (methods is NOT_SET or "smoothquant" in methods):
        out.append({"fact": "SmoothQuant calibration text", "status": "differs",
                    "note": (f"{cal.get('samples')} samples of at most {cal.get('seqlen')} tokens from "
                             + ("the C4 validation documents after the evaluated ones (perplexity.c4_docs)"
                                if cal.get("corpus") == "c4" else "WikiText-2 validation")
                             + ", none in an evaluated window (checked, an error otherwise); SmoothQuant calibrates "
                               "on 512 x 512 tokens of the Pile validation set, which no copy here supplies")})
    out.append({"fact": "lm-eval version", "status": "differs",
                "note": "the project pins lm-eval 0.4.13 (each score's provenance records the version it ran); the "
                        "paper used ~0.4.3. The one request-level change known to move results, the BOS token, is "
                        "set by eval.add_bos_token"})
    return out


VERSION_PACKAGES = ("torch", "transformers", "lm_eval", "snakemake", "datasets")
PAPER_VERSIONS = {"lm_eval": "~0.4.3 (July 2024)", "torch": "not stated (the official code has no requirements file)",
                  "transformers": "not stated (the official code has no requirements file)"}


def installed_versions() -> dict[str, str | None]:
    """Versions installed where this report is written (no import: torch stays unloaded)."""
    return package_versions(VERSION_PACKAGES)


def versions(detections: dict | None, installed: dict | None = None) -> list[dict]:
    """Library versions: those the model jobs ran with (detection's provenance, per model) where known, else the
    ones installed where the report is written; the paper's where it says."""
    installed = installed if installed is not None else installed_versions()
    ran = {}
    for m, d in (detections or {}).items():
        for p, v in ((d or {}).get("provenance", {}).get("versions") or {}).items():
            ran.setdefault(p, {}).setdefault(v, []).append(m)
    rows = []
    for p in VERSION_PACKAGES:
        if p in ran:
            used = "; ".join(f"{v} ({', '.join(ms)})" for v, ms in ran[p].items())
            where = "model jobs (detection provenance)"
        else:
            used, where = installed.get(p), "installed where this report was written"
        rows.append({"package": p, "version": used, "from": where, "paper": PAPER_VERSIONS.get(p, "not stated")})
    return rows


def detection_outcomes(cfg: dict, detections: dict | None) -> list[dict]:
    """Per model: how detection's loop stopped; ``cap_reached`` when it stopped at detection.max_iters with
    spikes left (candidates beyond the cap were never searched)."""
    out = []
    for m, d in (detections or {}).items():
        if not d:
            continue
        stopped = d.get("stopped")
        cap = d.get("max_iters", lookup(cfg, "detection.max_iters"))
        rounds = d.get("rounds", len({c.get("iteration") for c in d.get("candidates", [])}))
        out.append({"model": m, "stopped": stopped, "max_iters": None if cap is NOT_SET else cap,
                    "rounds": rounds, "cap_reached": stopped == "iteration cap",
                    "candidates": len(d.get("candidates", [])), "confirmed": len(d.get("super_weights", []))})
    return out


SELECTION_STEPS = (("detection's confirmation", "detection.confirm.corpus", None),
                   ("z: auto (weight quantization)", "quantization.weights.calibration.corpus",
                    ("quantization.weights.z", "auto")),
                   ("SmoothQuant calibration", "quantization.activations.calibration.corpus",
                    ("quantization.activations.methods", "smoothquant")))
EVALUATION_STEPS = (("Table 1 perplexity", "perplexity.corpora"), ("scaling sweep", "analysis.scaling.corpora"),
                    ("weight quantization sweep", "quantization.weights.corpora"),
                    ("W8A8 (Tables 3, 4)", "quantization.activations.corpora"),
                    ("mechanism skip / significance", "mechanism.corpus"))


def text_splits(cfg: dict, detections: dict | None = None) -> list[dict]:
    """Which text (corpus and split) each step used: the choices the run makes from data (detection's confirmation,
    z tuning, SmoothQuant's calibration) and the evaluations that judge the verdicts. Confirmation's split is what
    detection recorded (super_weights.json ``confirmed_on``) where it ran, else the config's."""
    from superweight.scoring.data import SPLITS

    rows = []
    for step, key, when in SELECTION_STEPS:
        corpus = lookup(cfg, key)
        if corpus is NOT_SET or (when and not _enabled(lookup(cfg, when[0]), when[1])):
            continue
        split = SPLITS.get(corpus, corpus)
        if corpus == "c4" and key.startswith("quantization."):  # calibration: C4 documents after the evaluated ones (data.c4_calibration_documents)
            split = "C4 validation documents after the first perplexity.c4_docs (the evaluated ones): not evaluated"
        if key == "detection.confirm.corpus" and detections:
            seen = {((d or {}).get("confirmed_on") or {}).get("split") for d in detections.values()} - {None}
            if seen:
                split = "; ".join(sorted(map(str, seen))) + " (as recorded in super_weights.json)"
        rows.append({"step": step, "role": "chooses", "key": key, "corpus": corpus, "split": split})
    for step, key in EVALUATION_STEPS:
        corpora = lookup(cfg, key)
        if corpora is NOT_SET or (key == "mechanism.corpus" and not _enabled(lookup(cfg, "mechanism.experiments"),
                                                                          ("skip", "significance"))):
            continue
        for corpus in [corpora] if isinstance(corpora, str) else corpora:
            rows.append({"step": step, "role": "evaluates", "key": key, "corpus": corpus,
                         "split": SPLITS.get(corpus, corpus)})
    return rows


def _enabled(value, wanted) -> bool:
    """Whether a config value turns a step on: equals ``wanted``, or (a list) holds it / one of them."""
    wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted)
    if isinstance(value, list):
        return bool(set(value) & set(wanted))
    return value in wanted


def report(cfg: dict, data_dir: str | bool | None, detections: dict | None = None, installed: dict | None = None) -> dict:
    """The deviation report of one run, as written to results/protocol.json. ``detections``: model -> its
    detection summary (super_weights.json), for the loop's outcome and the versions the model jobs ran."""
    rows = compare(cfg)
    outcomes = detection_outcomes(cfg, detections)
    return {"paper": "The Super Weight in Large Language Models (arXiv 2411.07191)",
            "models": run_models(cfg), "settings": rows,
            "differs": [r["key"] for r in rows if r["status"] == "differs"],
            "not_set": [r["key"] for r in rows if r["status"] == "not set"],
            "paper_same": [r["key"] for r in rows if r["class"] == PAPER and r["status"] == "same"],
            "interpretations": [r["key"] for r in rows if r["class"] == INTERPRETATION],
            "additions": [r["key"] for r in rows if r["class"] == ADDITION],
            "official": [r["key"] for r in rows if r["class"] == OFFICIAL_CODE],
            "no_effect": [{"key": k, "reason": why} for k, why in NO_EFFECT.items()],
            "fixed": FIXED,
            "facts": facts(cfg, data_dir),
            "versions": versions(detections, installed),
            "detection": outcomes,
            "text_splits": text_splits(cfg, detections),
            "detection_cap_reached": [o["model"] for o in outcomes if o["cap_reached"]]}


def _show(v, status: str) -> str:
    if status == "not set":
        return "not set"
    return "null" if v is None else json.dumps(v) if not isinstance(v, str) else v


def _table(rows: list[dict], with_class: bool = False) -> list[str]:
    head = ["setting", "this run", "reference", "status", "source", "note", "official code's option"]
    if with_class:
        head.insert(3, "class")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ref = _show(r["paper"], "") if r["has_paper_value"] else "none"
        cells = [f"`{r['key']}`", _show(r["value"], r["status"]), ref, r["status"], r["source"], r["note"],
                 r["official_option"] or ""]
        if with_class:
            cells.insert(3, r["class"])
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return lines


def markdown(rep: dict) -> str:
    """results/protocol.md: the differences, the paper's settings, the official code's, the interpretations and
    the additions in their own sections, the detection loop's outcome, the data, the library versions."""
    rows = rep["settings"]
    n = len(rep["differs"])
    by = {c: [r for r in rows if r.get("class") == c] for c in CLASSES[:4]}
    paper_rows = by[PAPER]
    n_same = sum(r["status"] == "same" for r in paper_rows)
    lines = ["# This run against the paper's protocol", "",
             f"Paper: {rep['paper']}. Models run: {', '.join(rep['models'])}.", "",
             (f"**{n} setting(s) differ from the paper's protocol:** {', '.join(rep['differs'])}." if n else
              "**No setting differs from the paper's protocol as this project reads it.**")
             + f" {n_same} of {len(paper_rows)} settings the paper states equal the paper's value; "
             f"{len(by[OFFICIAL_CODE])} follow the official code, {len(by[INTERPRETATION])} are interpretations "
             f"where the paper is silent or ambiguous, {len(by[ADDITION])} are additions with no counterpart "
             "in the paper (each in its section below)."
             + (f" Not set in this checkout: {', '.join(rep['not_set'])}." if rep["not_set"] else ""), ""]
    capped = rep.get("detection_cap_reached") or []
    if capped:
        lines += [f"**Detection stopped at its iteration cap (detection.max_iters) with spikes left for: "
                  f"{', '.join(capped)}.** Super weights beyond the cap were never searched.", ""]
    diff_rows = [r for r in rows if r["status"] == "differs"]
    lines += ["## Differences", ""]
    lines += _table(diff_rows, with_class=True) if diff_rows else ["None."]
    sections = [(PAPER, "Settings the paper states", "status `same`: this run uses the paper's value."),
                (OFFICIAL_CODE, "Settings from the official code", "the paper is silent; the reference is the value "
                 "of its official code (or of the code of a method it cites), file and line in `source`."),
                (INTERPRETATION, "Interpretations", "the paper is silent or ambiguous: the reference is the "
                 "project's reading (config/paper.yaml), the note says what was chosen and why. The paper gives none of "
                 "these values: an interpretation is never the paper's value."),
                (ADDITION, "Additions", "no counterpart in the paper or its code; the reference is "
                 "config/paper.yaml's value where it sets one.")]
    for cls, title, what in sections:
        lines += ["", f"## {title}", "", what, ""] + (_table(by[cls]) if by[cls] else ["None."])
    lines += ["", "## Choices no setting changes", "", "| choice | class | this project | reference | why |",
              "|---|---|---|---|---|"]
    lines += [f"| {f['choice']} | {f['class']} | {f['this project']} | {f['reference']} | {f['why']} |"
              for f in rep.get("fixed", [])]
    lines += ["", "## No effect on numbers", "", "| setting | why |", "|---|---|"]
    lines += [f"| `{x['key']}` | {x['reason']} |" for x in rep.get("no_effect", [])]
    if rep.get("detection"):
        lines += ["", "## Detection loop", "", "| model | stopped | rounds | cap | candidates | confirmed |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {d['model']} | {'**iteration cap (spikes left)**' if d['cap_reached'] else d['stopped']} | "
                  f"{d['rounds'] if d['rounds'] is not None else ''} | {d['max_iters']} | {d['candidates']} | "
                  f"{d['confirmed']} |" for d in rep["detection"]]
    if rep.get("text_splits"):
        lines += ["", "## Text each step used", "", "Choices the run makes from data use text no evaluation reads "
                  "(config validation refuses a confirmation corpus an evaluation shares; calibration is checked "
                  "against every evaluated corpus).", "", "| step | role | setting | corpus | split |",
                  "|---|---|---|---|---|"]
        lines += [f"| {t['step']} | {t['role']} | `{t['key']}` | {t['corpus']} | {t['split']} |"
                  for t in rep["text_splits"]]
    lines += ["", "## Data and environment", "", "| fact | status | note |", "|---|---|---|"]
    lines += [f"| {f['fact']} | {f['status']} | {f['note']} |" for f in rep["facts"]]
    lines += ["", "## Library versions", "", "| package | version | from | paper |", "|---|---|---|---|"]
    lines += [f"| {v['package']} | {v['version']} | {v['from']} | {v['paper']} |" for v in rep.get("versions", [])]
    return "\n".join(lines) + "\n"


def relevant(cfg: dict) -> dict:
    """Only the config values the report reads (a rule's params: editing anything else does not rerun it)."""
    out: dict = {}
    keys = [k for s in SETTINGS for k, _ in _expand(cfg, s.key)] + ["eval.limit", "quantization.activations.methods"]
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
