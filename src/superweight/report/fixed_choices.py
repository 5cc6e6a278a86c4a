"""The fixed choices: what shapes a number with no config key to change it, each with whose choice it is.

One row per choice (``Fixed``), read by the protocol page (report.protocol, "Choices no setting changes"). The
module that makes a choice names it in a module-level ``FIXED_CHOICES`` tuple of row names; tests/test_protocol.py
checks both directions (every declared name has a row, every row's module declares it), so a module that makes a
new such choice adds its name there and a row here.
"""
from __future__ import annotations

from dataclasses import dataclass

# whose choice: the paper's words, its official code (github mengxiayu/LLMSuperWeight @ 232e4eeb), the code of a
# method it cites (SmoothQuant, GPTQ), or this project's where all of them are silent
WHOSE = ("paper", "official code", "SmoothQuant", "GPTQ", "this project")


@dataclass(frozen=True)
class Fixed:
    name: str  # the name a module declares in FIXED_CHOICES
    module: str  # the module making the choice, dotted under superweight (e.g. "quant.w8a8")
    what: str  # what this project does
    whose: str  # one of WHOSE
    reference: str  # what the paper / its code says (file and line), or that it says nothing
    why: str  # why this choice

    def __post_init__(self):
        if self.whose not in WHOSE:
            raise ValueError(f"{self.name}: whose {self.whose!r} is not one of {', '.join(WHOSE)}")


F = Fixed
FIXED: tuple[Fixed, ...] = (
    # detection (Sec. 3)
    F("detect.spike_max", "detect.spikes",
      "a layer's input / output spike: the largest |value| over every token (BOS included: the prompt tokenized with "
      "the tokenizer's defaults) and channel of the down projection's input / output, strictly above the threshold",
      "official code", "official analyze.py:45 tokenizer(test_text), :59-61 tensor.view(-1).abs() and its max, :80 "
      "abs(value) > 50", "the paper gives no arithmetic; the official code's"),
    F("detect.rounds", "detect.spikes",
      "every spiking layer's candidate zeroed in one round, then the prompt rerun",
      "this project", "Sec. 3: zero the super weight and rerun until no spike (one per round or all: not said); the "
      "official code has no loop", "a layer's spike does not depend on later layers; taking all at once needs fewer "
      "rounds"),
    # Table 1: prune SW, restore SA
    F("restore.one_layer", "interventions.restore",
      "super weights in one layer: the super activation recomputed in the same pass from the layer's input and "
      "the saved original weight row, put back at the token where it is largest (ablation.restore_tokens)",
      "official code", "official outliers/model.py:312-349 removeSW_restoreSA (Llama-7B's one super weight only)",
      "the official hook's arithmetic, for any model"),
    F("restore.several_layers", "interventions.restore",
      "super weights in several layers: each forward first runs the original model (every super-weight channel "
      "restored at all tokens) through layers 0..k (k: the last super-weight layer), records each layer's original "
      "super activation, and the pruned pass puts those values back",
      "this project", "the paper is silent; the official code restores only Llama-7B's one layer "
      "(outliers/model.py:312-349)", "a later layer's input already differs once an earlier super weight is zeroed: "
      "its original value must come from the original model, not from the pruned pass"),
    # scaling (Fig. 6, Table 5) and Table 6's amplification
    F("edits.one_factor", "interventions.edits",
      "scaling and Table 6's amplification multiply every used super weight of the model by the same factor, "
      "together", "this project", "Sec. 3.4 scales 'the super weight' of Llama-7B (one); for a model with several "
      "the paper does not say whether they are scaled together", "one number per model, as Fig. 6 draws one line "
      "per model"),
    # W8A8 (Tables 3, 4, 7)
    F("w8a8.smooth_groups", "quant.w8a8",
      "SmoothQuant folds its scales into each layer's input norm (q, k, v) and post-attention norm (gate, up); "
      "o_proj and down_proj are not smoothed (no norm precedes them); families whose norms cannot absorb a scale "
      "(Gemma's 1 + weight, OLMo's weightless LayerNorm) are not smoothed", "SmoothQuant",
      "SmoothQuant smoothquant/smooth.py smooth_lm for Llama-like models (the paper cites SmoothQuant, Sec. 5.1)",
      "SmoothQuant's own groups"),
    F("w8a8.absmax", "quant.w8a8",
      "symmetric absmax to 127 levels each side: activations per token, weights per tensor (or per output channel), "
      "computed in float32 and cast back", "SmoothQuant",
      "SmoothQuant smoothquant/fake_quant.py:17-36 (quantize_weight_per_tensor_absmax, "
      "quantize_activation_per_token_absmax: in place, in the tensor's dtype); the paper: 'SmoothQuant-style W8A8'",
      "SmoothQuant's simulation; float32 so that fp16 rounding of the scale does not add error of its own"),
    F("w8a8.sa_token_median", "quant.w8a8",
      "SA-aware: per sequence, the element of largest |value| in the super activation's channel is replaced by the "
      "median of the whole input tensor (every token and channel of the batch) before quantizing, and put back "
      "exactly after", "this project",
      "Sec. 5.1: 'replace the super activation by the median, quantize, restore' (the median of what, and which "
      "token: not said; no official W8A8 code)", "the tensor's median is a typical value that moves no per-token "
      "scale; one token per sequence, as the super activation is one value"),
    F("w8a8.sa_where", "quant.w8a8",
      "where SA-aware W8A8 keeps the super activation: the down projection's input channel col in the super "
      "weight's layer, and residual channel row in every later layer's quantized q/k/v/gate/up input (o reads the "
      "attention output, not the residual stream)", "this project",
      "Sec. 5.1 names no position; no official W8A8 code",
      "the super activation enters the down projection at col and is carried by the residual stream at row "
      "(Fig. 4) into every later layer's inputs"),
    # weight quantization (Fig. 7, Table 6)
    F("rtn.tensors", "quant.rtn",
      "every decoder linear weight quantized (q, k, v, o, gate, up, down); embeddings, norms and the LM head left in "
      "float16", "official code",
      "official outliers/model.py:232-236 (named_parameters ending in weight, norms, embed_tokens, lm_head skipped)",
      "the paper says 'all weights'; the official loop's set"),
    F("rtn.flat_blocks", "quant.rtn",
      "a block of N is N consecutive elements of the row-major flattened (out, in) weight: Fig. 7's '128x128' is a "
      "run of 16,384, Table 6's '8x8' and '64x64' runs of 64 and 4,096 (tiles are the ROWSxCOLS option)",
      "official code", "official outliers/functional/quantization.py:65 weight.reshape(-1, blocksize)",
      "the paper writes 2-D block shapes; its numbers come from the official quantizer, which takes flat runs"),
    F("rtn.levels", "quant.rtn",
      "asymmetric min-max per block, 2^bits - 1 steps between the block's min and max (no scale shift)",
      "official code", "official outliers/functional/quantization.py:150-161 (scale_shift False)",
      "the official quantizer's default"),
    F("rtn.sw_after", "quant.rtn",
      "sw_aware and rtn_keep_sw put the super weights back after quantizing, at their original value times the "
      "factor, in the weight's dtype; clipping statistics include them", "paper",
      "Sec. 5.2 and Table 6: restore the super weight after quantization; official restore_GO after the "
      "quantizer (outliers/model.py:310, 395)", "the paper's method"),
    # perplexity (GPTQ)
    F("ppl.windows", "scoring.perplexity",
      "the corpus tokenized once with the tokenizer's defaults (one BOS at the very start for Llama tokenizers), "
      "non-overlapping windows of seqlen (stride = seqlen), the short tail dropped, every token but a window's first "
      "predicted", "GPTQ", "GPTQ datautils.py get_wikitext2 / get_c4_new and llama.py llama_eval (the paper cites "
      "GPTQ's protocol)", "the protocol the paper's perplexities follow"),
    F("ppl.nonfinite", "scoring.perplexity",
      "a non-finite logit counts as an infinite token NLL (perplexity inf), never skipped", "this project",
      "the paper is silent; GPTQ's mean loss turns NaN with a NaN logit",
      "a destroyed model must not look better by dropping its worst tokens"),
    # zero-shot accuracy (Table 1)
    F("score.acc", "scoring.score",
      "each task's lm-eval `acc` (not acc_norm); the average is the unweighted mean over the tasks", "paper",
      "Table 1's values are acc (Llama-7B HellaSwag 56.93 is acc, its acc_norm about 76) and its avg the plain "
      "mean of the seven tasks (Table 1 prints 70.11, Table 5 70.12)", "the metric the paper's numbers are"),
    F("zeroshot.zero_shot", "scoring.zeroshot",
      "every task zero-shot (num_fewshot=0) with lm-eval's own task definitions (the pinned lm-eval 0.4.13, read "
      "offline from local copies of the data), no chat template", "paper",
      "Sec. 3 / Table 1: 'zero-shot accuracy' with lm-eval; the paper's harness was lm-eval 0.4.3 (July 2024), "
      "whose task definitions are not compared with 0.4.13's here", "the paper's protocol; the version a job ran is "
      "recorded on the protocol page"),
    # stopwords (Fig. 5)
    F("stopwords.prompts", "analysis.stopwords",
      "each LAMBADA test text minus its last space-separated word, tokenized with the tokenizer's defaults; the "
      "next-token distributions averaged over the prompts", "official code",
      "official analyze.py:262, 278-294 (the first 500 texts, ' '.join(text.split(' ')[:-1]))",
      "the official Fig. 5 code"),
    F("stopwords.list", "analysis.stopwords",
      "the stopwords: the `stop-words` package's English list plus every ASCII punctuation character; a token is one "
      "when its text, stripped of the space marker and lowercased, is in the list", "this project",
      "the paper names 'the', '.', ',' and no list; the official code prints the top tokens and uses none",
      "a maintained published list; the paper counts '.' and ',' as stopwords"),
    F("stopwords.mass", "analysis.stopwords",
      "the stopword mass: the total next-token probability on stopword tokens, with and without the super weights, "
      "and its ratio", "this project", "Fig. 5 reports single tokens' probabilities only",
      "one number for 'stopwords rise', beside the paper's three tokens"),
    F("stopwords.token", "analysis.stopwords",
      "'the', '.' and ',': the token whose text is exactly the word with the highest original probability",
      "this project", "Fig. 5 names the words, not the token ids (a tokenizer has several 'the' tokens)",
      "the one the model uses most in that place"),
    # Fig. 4
    F("propagation.max", "analysis.propagation",
      "per decoder layer, the largest |output| (the residual stream after the layer) over every token and channel "
      "of the detection prompt", "official code",
      "official analyze.py:168-199 plot_max_activation_ablation (hooks on the decoder layers' outputs)",
      "the official Fig. 4 code"),
)


def by_name() -> dict[str, Fixed]:
    return {f.name: f for f in FIXED}


def rows() -> list[dict]:
    """The rows as the protocol page and protocol.json show them."""
    return [{"choice": f.name, "module": f"superweight.{f.module}", "whose": f.whose, "this project": f.what,
             "reference": f.reference, "why": f.why} for f in FIXED]
