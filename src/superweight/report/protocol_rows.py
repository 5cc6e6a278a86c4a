"""The protocol page's rows: every config key that shapes a number, classified (``SETTINGS``: paper, official code,
interpretation or addition, with its reference value and source), the keys that shape none (``NO_EFFECT``), and the
paper's Table 2. Data, read by report.protocol (the comparison and the page); the choices no key changes are in
report.fixed_choices. To add a key: add it to the schema, then one ``Setting`` here (or a reason to ``NO_EFFECT``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from superweight.scoring import limits

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
    """A sweep's own limit, or eval.limit when null (what the run actually uses: scoring.limits)."""
    base = lookup(cfg, "eval.limit")
    return limits.normalized(limits.effective(raw, None if base is NOT_SET else base))


def _limit(cfg: dict, raw):
    """A per-task mapping whose every value is null is no limit (scoring.limits)."""
    return limits.normalized(raw)


def _model_of(key: str) -> str:
    return key.split(".")[1]


def _table2_id(cfg: dict, key: str, value) -> bool:
    return value in TABLE2


def _code_only(cfg: dict, key: str) -> str | None:
    return CODE_ONLY.get((lookup(cfg, f"models.{_model_of(key)}.id"), key.rsplit(".", 1)[1]))


# Fig. 6 (official figures.ipynb): each model's own scaling grid, by Hub id
FIG6_GRIDS = {
    "huggyllama/llama-7b": [0, 0.1, 0.2, 0.3, 0.4, 0.5, 1, 1.2, 1.5, 2, 3],
    "huggyllama/llama-13b": [0, 0.1, 0.2, 0.5, 0.8, 1, 1.2, 1.5, 1.8, 3],
    "huggyllama/llama-30b": [0, 0.5, 0.8, 1, 1.1, 1.2, 1.3, 1.5, 2, 3],
    "mistralai/Mistral-7B-v0.1": [0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 1, 1.2, 1.5, 2],
}


def _fig6_grid(cfg: dict, key: str, value) -> bool:
    known = FIG6_GRIDS.get(lookup(cfg, f"models.{_model_of(key)}.id"))
    return known is not None and sorted(map(float, value)) == sorted(map(float, known))


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
    S("models.*.scaling_factors", "the model's Fig. 6 grid", "Fig. 6 (official figures.ipynb): Llama-7B, Llama-13B, "
      "Llama-30B and Mistral-7B each on its own grid", same=_fig6_grid, optional=True),
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
    S("perplexity.batch_size", NO_PAPER_VALUE, "the paper does not say; GPTQ's llama_eval runs one window at a time",
      "windows per forward pass: no number changes, except SA-aware W8A8's, which replaces the super activation "
      "by the median of the whole batch tensor before quantizing (quant.w8a8, w8a8.sa_token_median)", kind=I),
    # zero-shot accuracy
    S("eval.tasks", TASKS, "Table 1; official scripts/table1_superweight_importance.sh (--tasks)"),
    S("eval.batch_size", NO_PAPER_VALUE, "the paper does not say; lm-eval's default is 1",
      "requests per forward pass: no number changes beyond float rounding, except SA-aware W8A8's (its median is "
      "over the whole batch tensor, padding included: quant.w8a8, w8a8.sa_token_median)", kind=I),
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
    S("detection.rule", "absolute", "Sec. 3: the super weight is where the down projection's input and output "
      "spike; official analyze.py:75-80 lists the layers whose input max |value| exceeds 50 and, separately, those "
      "whose output does (the pairing is read off by hand)", "this project's reading: a layer is a candidate only "
      "when its input and its output spike in the same forward pass (absolute: both above detection.threshold)",
      kind=I),
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
      "Fig. 6 (official figures.ipynb): each model has its own grid (models.<m>.scaling_factors, set for its four "
      "models in config/paper.yaml)", "the grid of a model Fig. 6 does not show: Llama-7B's points plus 0.8, a point "
      "of Llama-13B, Llama-30B and Mistral-7B", kind=I),
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
      "128x128 ... 1024x1024; per-tensor is the README's only)", "each a run of consecutive elements of the "
      "flattened weight, the official quantizer's blocks (fixed choice rtn.flat_blocks)", kind=O),
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
    S("quantization.weights.table6.blocks", [64, 4096], "Table 6's blocks 8x8 and 64x64 as the official code's "
      "blocks: runs of 64 and 4,096 consecutive elements of the flattened weight (official "
      "outliers/functional/quantization.py:65 weight.reshape(-1, blocksize))", "the paper writes 2-D blocks; flat "
      "runs are the official quantizer's convention (fixed choice rtn.flat_blocks); 8x8 tiles are the ROWSxCOLS "
      "option", kind=O),
    S("quantization.weights.table6.bits", 4, "Table 6: 4-bit"),
    S("quantization.weights.table6.factors", [1.5], "Table 6 amplifies the super weights but states no factor",
      "1.5: inside Fig. 6's range of gains (1.2-2) for Llama-7B", kind=I),
    S("quantization.activations.methods", ["fp", "naive", "sa_aware", "smoothquant"], "Tables 3, 4, 7 rows"),
    S("quantization.activations.inputs", ["q", "k", "v", "gate", "up", "down"],
      "Sec. 5.1: W8A8 on the inputs of q, k, v, gate, up and down projections",
      "SmoothQuant's fake_quant.py (quantize_llama_like) also quantizes o_proj: add 'o'"),
    S("quantization.activations.bmm", ["q", "k", "v"], "SmoothQuant (github mit-han-lab/smoothquant) "
      "smoothquant/fake_quant.py:208-226 quantize_llama_like(quantize_bmm_input=True): the q/k/v projection outputs, "
      "per token", "SmoothQuant's reading of 'the attention BMM inputs' (Sec. 5.1): q and k quantized before RoPE, "
      "the softmax output (the second BMM's operand) left alone; the paper's words name the BMM operands themselves "
      "(q and k after RoPE, the softmax output, v), which this project does not quantize", kind=I),
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
    "models.*.base": "which model an instruct variant's coordinates are compared with (claim instruct_shares_base)",
    "detection.confirm.batch_size": "sequences per forward pass",
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


def lookup(cfg: dict, key: str):
    """The value at a dotted key, or NOT_SET."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return NOT_SET
        node = node[part]
    return node
