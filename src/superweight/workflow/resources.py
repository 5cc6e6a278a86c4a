"""Memory and run time a workflow job needs, estimated from the model's size facts and the job's own work.

Memory grows with vocabulary x batch x sequence length as well as with parameters: a forward over one batch, the
LM head's logits (one chunk of positions in the package's engines; the whole batch, twice, in lm-eval's own `hf`
backend), and the weights. The workflow's submit host sizes jobs before any model is loaded, so this module imports
no torch: the facts come from a prepared or local model's config.json and safetensors headers, a GGUF file's header,
or, for a Hub model not on disk, the config's ``params_b``.

Units: MB = 10**6 bytes, as Snakemake's ``mem_mb`` (its benchmark ``max_rss`` is in MiB = 2**20 bytes).
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, replace
from pathlib import Path

from superweight.detect.limits import PREFIX_BYTES  # detection's recorded hidden states, at most
from superweight.settings import Confirm, Detection, Eval, Perplexity, Resources, WeightQuant

MiB = 2**20
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
CHUNK_BYTES = 64 * MiB  # float32 logits of one chunk of positions: logprobs.CHUNK_BYTES (a test keeps them equal)
BASE_BYTES = 500 * MiB  # a job's interpreter with torch, transformers, lm-eval, datasets and a tokenizer loaded
LOAD_COPIES = 1.5  # loading holds some of the file's pages beside the model's tensors
PREPARE_COPIES = 1.5  # GGUF (memory-mapped) -> dequantized float32 model -> safetensors written tensor by tensor
EVAL_TOKENS = 512  # longest zero-shot request assumed (context + continuation, in tokens; sciq passages reach it)
PROMPT_TOKENS = 256  # a detection / stopword / case-study prompt, at most (memory)
PROMPT_RUN_TOKENS = 80  # ... on average (run time: the default run's stopword prompts, 16,166 tokens in 200 passes)
HEADROOM = 1.25  # the request over the estimated peak (allocator slack, page cache of data files)
RUNTIME_FLOOR_MIN = 10
START_S = {"cpu": 5, "gpu": 30}  # interpreter and imports to the first load (default run: 3 s; a GPU: CUDA's start)
CONVERT_S_PER_GB = 60  # prepare_model: dequantize a GGUF, write safetensors, per GB of float32 (44 s measured)

# lm-eval's evaluation split sizes (documents), choices per document and typical tokens per request, for run time
TASKS = {"arc_challenge": (1172, 4, 60), "arc_easy": (2376, 4, 50), "hellaswag": (10042, 4, 120),
         "lambada_openai": (5153, 1, 100), "piqa": (1838, 2, 60), "sciq": (1000, 4, 350),
         "winogrande": (1267, 2, 40), "boolq": (3270, 2, 160)}
CORPUS_TOKENS = {"wikitext2": 340_000}  # the whole test split (C4's windows are always capped in config)


@dataclass(frozen=True)
class ModelFacts:
    """What sizes a job: parameters held in memory (tied embeddings once), vocabulary, widths, depth, heads."""

    params: int
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    source: str  # where the facts were read

    @property
    def weights_mb(self) -> float:
        return self.params * 4 / 1e6


def _text_config(cfg: dict) -> dict:
    return cfg["text_config"] if isinstance(cfg.get("text_config"), dict) else cfg


def _get(cfg: dict, *keys, default=None):
    for k in keys:
        if cfg.get(k) is not None:
            return int(cfg[k])
    return default


def params_from_shape(vocab: int, hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int | None,
                      head_dim: int | None = None, tied: bool = True) -> int:
    """Parameters of a decoder with gated MLPs: an upper bound for the non-gated families."""
    head_dim = head_dim or hidden // heads
    q, kv = heads * head_dim, (kv_heads or heads) * head_dim
    per_layer = hidden * q * 2 + hidden * kv * 2 + 3 * hidden * intermediate + 2 * hidden
    return vocab * hidden * (1 if tied else 2) + layers * per_layer + hidden


def safetensors_params(directory: str | Path) -> int | None:
    """Elements of every tensor in the directory's safetensors files, read from their JSON headers."""
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        return None
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        n += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return n


def facts_from_dir(directory: str | Path) -> ModelFacts:
    """From a save_pretrained directory: config.json, and the safetensors headers for the exact parameter count."""
    cfg = json.loads((Path(directory) / "config.json").read_text())
    t = _text_config(cfg)
    hidden = _get(t, "hidden_size", "n_embd", "d_model")
    inter = _get(t, "intermediate_size", "ffn_dim", "n_inner", default=4 * hidden)
    layers = _get(t, "num_hidden_layers", "n_layer", "num_layers")
    heads = _get(t, "num_attention_heads", "n_head")
    vocab = _get(t, "vocab_size", default=_get(cfg, "vocab_size"))
    params = safetensors_params(directory) or params_from_shape(
        vocab, hidden, inter, layers, heads, _get(t, "num_key_value_heads"), _get(t, "head_dim"),
        bool(cfg.get("tie_word_embeddings", True)))
    return ModelFacts(params, vocab, hidden, inter, layers, heads, f"{directory}/config.json")


def facts_from_gguf(path: str | Path) -> ModelFacts:
    from superweight.models.sources import gguf_header

    meta, shapes = gguf_header(path)
    arch = meta.get("general.architecture", "")
    get = lambda k: int(meta[f"{arch}.{k}"]) if f"{arch}.{k}" in meta else None  # noqa: E731
    vocab = get("vocab_size") or int(meta.get("tokenizer.ggml.tokens", 0))
    return ModelFacts(sum(math.prod(s) for s in shapes.values()), vocab, get("embedding_length"),
                      get("feed_forward_length"), get("block_count"), get("attention.head_count"), str(path))


def facts_from_params(params_b: float, vocab: int = 262_144) -> ModelFacts:
    """Only the parameter count is known (a Hub model not yet on disk): shapes of a typical decoder of that size,
    and the largest common vocabulary, so that the logits are not underestimated."""
    params = int(params_b * 1e9)
    hidden = max(256, int(round((params / 150) ** 0.5 / 64)) * 64)  # ~ L = hidden / 64 layers of 12 hidden^2
    return ModelFacts(params, vocab, hidden, 4 * hidden, max(1, params // (12 * hidden * hidden)), max(1, hidden // 64),
                      f"params_b {params_b}")


def model_facts(source: dict, prepared: str | Path | None = None) -> ModelFacts:
    """Facts of a model from, in order: its prepared directory, a local directory, a GGUF file (``source`` with
    ``id`` the file's path, as the workflow resolves a packaged one), a cached Hub config.json, ``params_b``."""
    if prepared and (Path(prepared) / "config.json").is_file():
        return facts_from_dir(prepared)
    kind, ident = source.get("source"), str(source.get("id", ""))
    if kind == "local" and (Path(ident) / "config.json").is_file():
        return facts_from_dir(ident)
    if kind == "gguf":
        f = Path(ident) if not source.get("file") else Path(ident) / source["file"]
        if f.is_file():
            return facts_from_gguf(f)
    if kind == "hub":
        try:
            from huggingface_hub import try_to_load_from_cache

            cfg = try_to_load_from_cache(ident, "config.json", revision=source.get("revision"))
            if isinstance(cfg, str):
                facts = facts_from_dir(Path(cfg).parent)
                if source.get("params_b") and safetensors_params(Path(cfg).parent) is None:  # beats the formula's
                    facts = replace(facts, params=int(float(source["params_b"]) * 1e9))
                return facts
        except ImportError:
            pass
    return facts_from_params(float(source.get("params_b") or 1.0))


# --- memory: bytes of each part of a job ---


def weights_bytes(f: ModelFacts, dtype: str = "float32") -> float:
    return f.params * DTYPE_BYTES[dtype]


def forward_bytes(f: ModelFacts, batch: int, seqlen: int, dtype: str = "float32") -> float:
    """Live activations of one layer's forward over a batch: the residual stream and its normed copy, q/k/v/o, the
    MLP's gate, up and product, and the attention scores and probabilities (float32, eager attention's bound)."""
    tokens = batch * seqlen
    return tokens * (6 * f.hidden + 3 * f.intermediate) * DTYPE_BYTES[dtype] + 2 * batch * f.heads * seqlen**2 * 4


def chunked_logits_bytes(f: ModelFacts, rows: int) -> float:
    """The chunked log-probs (logprobs.py): the head's inputs for ``rows`` positions, one chunk of float32 logits
    and logsumexp's temporary of the same size."""
    chunk = min(rows, max(1, CHUNK_BYTES // (4 * f.vocab)))
    return rows * f.hidden * 4 + 2 * chunk * f.vocab * 4


def full_logits_bytes(f: ModelFacts, batch: int, seqlen: int) -> float:
    """lm-eval's `hf` backend: float32 logits of the whole (padded) batch and their log-softmax, both alive at once.
    (The Gemma-3 270M job of issue 15, 11.7 GB at batch 8, fits 2 x 8 x ~600 tokens x 262,144 x 4 bytes.)"""
    return 2 * batch * seqlen * f.vocab * 4


def prefix_bytes(f: ModelFacts, confirm: Confirm, dtype: str = "float32") -> float:
    """Confirmation keeps, per window, the output of the layer below each candidate's layer (ablations.Prefix):
    at most every layer's, and at most PREFIX_BYTES."""
    return min(PREFIX_BYTES, f.layers * confirm.windows * confirm.seqlen * f.hidden * DTYPE_BYTES[dtype])


def perplexity_bytes(f: ModelFacts, batch: int, seqlen: int, dtype: str = "float32") -> float:
    return forward_bytes(f, batch, seqlen, dtype) + chunked_logits_bytes(f, batch * seqlen)


def zero_shot_bytes(f: ModelFacts, batch: int, backend: str = "hf", dtype: str = "float32") -> float:
    """One batch of zero-shot requests of EVAL_TOKENS tokens: the harness's backend makes every position's logits;
    the shared-context backend (`cached`) scores continuations with the chunked log-probs."""
    logits = full_logits_bytes(f, batch, EVAL_TOKENS) if backend == "hf" else chunked_logits_bytes(f, batch * EVAL_TOKENS)
    return forward_bytes(f, batch, EVAL_TOKENS, dtype) + logits


def quantize_bytes(f: ModelFacts) -> float:
    """Simulated quantization works tensor by tensor: a few float32 copies of the largest decoder matrix."""
    return 4 * f.hidden * max(f.intermediate, f.hidden) * 4


def gram_bytes(f: ModelFacts) -> float:
    """z: auto by output reconstruction error (calibrate.py) keeps X^T X of every quantized linear's input, float32:
    per layer q/k/v/o and gate/up read hidden-wide inputs, down an intermediate-wide one."""
    return f.layers * (6 * f.hidden**2 + f.intermediate**2) * 4


@dataclass(frozen=True)
class Work:
    """What a model job does besides holding the model, as its rule declares it (workflow/rules/*.smk build it
    with the functions below from the config keys they pass to their script): the batches it runs, for memory,
    and the tokens its forward passes process, for run time."""

    tokens: int = 10 * PROMPT_RUN_TOKENS  # forward tokens (default: a few prompts)
    windows: tuple[int, int] | None = None  # (batch, seqlen) of its perplexity windows
    prompts: bool = False  # single prompts of up to PROMPT_TOKENS with next-token log-probs
    zero_shot: tuple[int, str] | None = None  # (batch, backend) of its zero-shot requests
    quantize: bool = False  # simulated quantization, tensor by tensor
    gram: bool = False  # X^T X of every quantized linear's input (z chosen by output error)
    prefix: Confirm | None = None  # detection's confirm settings: the hidden states it records
    prepare: bool = False  # a model source made ready (no forward pass)
    convert: bool = True  # ... by converting it to safetensors (GGUF, package); False: a Hub fetch into its cache
    keeps_weights: bool = False  # a host-memory copy of the weights it changes, put back on exit (W8A8)


def preparing(source: str) -> Work:
    """prepare_model's work: a Hub model is fetched into the Hugging Face cache (no weights loaded, nothing
    copied); a GGUF or package source is dequantized and written as safetensors."""
    return Work(tokens=0, prepare=True, convert=source != "hub")


def prompts(n: int = 10) -> Work:
    """``n`` prompt forwards (stopwords: two per prompt; propagation and Hadamard: a few)."""
    return Work(tokens=n * PROMPT_RUN_TOKENS, prompts=True)


def detection(det: Detection) -> Work:
    """Iterated detection with confirmation: the base perplexity and one per candidate (a few spiking layers per
    iteration; the cap is a safety limit, config/paper.yaml: 20, and no Table 2 model needs more than six rounds);
    confirmation forwards ``batch_size`` (set, window) sequences at once."""
    conf = det.confirm
    return Work(tokens=(1 + 4 * min(det.max_iters, 6)) * conf.seqlen * conf.windows,
                windows=(conf.batch_size, conf.seqlen), prefix=conf)


def scoring(ppl: Perplexity, corpora, ev: Eval, backend: str | None = None, passes: int = 1,
            quantize: bool = False, keeps_weights: bool = False) -> Work:
    """Perplexity on ``corpora`` (``passes`` times: W8A8 calibrates on them first) and the zero-shot tasks at the
    documents ``ev`` limits them to (the experiment's own: scoring.limits.eval_for) with ``backend`` (default
    ``ev.backend``); ``keeps_weights``: the intervention holds a host copy of the weights it changes (W8A8 restores
    them on exit)."""
    backend = backend or ev.backend
    return Work(tokens=passes * ppl_tokens(ppl, corpora) + eval_tokens(ev, backend),
                windows=(ppl.batch_size, ppl.seqlen), zero_shot=(ev.batch_size, backend), quantize=quantize,
                keeps_weights=keeps_weights)


def z_tuning(ppl: Perplexity, weights: WeightQuant) -> Work:
    """z candidates scored on calibration windows (about ten C4-sized passes), quantizing each time."""
    return Work(tokens=10 * ppl_tokens(ppl, ["c4"]), windows=(1, ppl.seqlen), quantize=True,
                gram=weights.z_criterion == "output")


def windows_and_prompts(seqlen: int, windows: int, passes: int, n_prompts: int = 0) -> Work:
    """``passes`` conditions, each over ``windows`` perplexity windows of ``seqlen`` and ``n_prompts`` prompts
    (the mechanism experiments)."""
    return Work(tokens=passes * (seqlen * windows + n_prompts * PROMPT_RUN_TOKENS), windows=(1, seqlen), prompts=True)


def job_bytes(work: Work, f: ModelFacts, dtype: str = "float32", on_gpu: bool = False) -> float:
    """Estimated peak resident memory of a job doing ``work`` (host memory): on a CPU the weights (LOAD_COPIES of
    them while loading), its largest batch and what quantization and detection hold beside it; on a GPU the
    activations and the weights live there, and the host holds the weights once in ``dtype`` while they load, or the
    host copy of the weights W8A8 changes (``keeps_weights``), whichever is larger."""
    if work.prepare:
        return BASE_BYTES + (PREPARE_COPIES * f.params * 4 if work.convert else 0)
    batches = []
    if work.windows:
        batches.append(perplexity_bytes(f, *work.windows, dtype))
    if work.prompts:
        batches.append(forward_bytes(f, 1, PROMPT_TOKENS, dtype) + chunked_logits_bytes(f, PROMPT_TOKENS))
    if work.zero_shot:
        batches.append(zero_shot_bytes(f, *work.zero_shot, dtype))
    act = max(batches, default=0.0)
    act += (quantize_bytes(f) if work.quantize else 0) + (gram_bytes(f) if work.gram else 0)
    act += prefix_bytes(f, work.prefix, dtype) if work.prefix else 0
    kept = weights_bytes(f, dtype) if work.keeps_weights else 0  # in host memory on a GPU too
    if on_gpu:
        return BASE_BYTES + max(weights_bytes(f, dtype), kept)
    return BASE_BYTES + LOAD_COPIES * weights_bytes(f, dtype) + kept + act


def disk_mb(work: Work, f: ModelFacts, dtype: str = "float32") -> int:
    """What prepare_model writes: a converted model as float32 safetensors, or a Hub checkpoint in the Hugging
    Face cache (in ``dtype``, as the paper's checkpoints are stored in half precision)."""
    return int(math.ceil((f.params * 4 if work.convert else weights_bytes(f, dtype)) / 1e6))


def mem_mb(work: Work, f: ModelFacts, dtype: str = "float32", on_gpu: bool = False, attempt: int = 1) -> int:
    """The job's memory request: HEADROOM x the estimated peak, doubled on each retry."""
    return int(math.ceil(HEADROOM * job_bytes(work, f, dtype, on_gpu) / 1e6)) * attempt


# --- run time: forward tokens x 2 x params FLOPs at the device's rate, plus loading, times a margin ---


@dataclass(frozen=True)
class Rates:
    """The throughput model behind run-time requests, in bytes and FLOP/s: config `resources` (superweight.settings
    .Resources holds its defaults, the schema's), or a config file of the user's.

    ``cpu_flops``: a 2-thread CPU job's rate, job by job (forward passes at about 170-240 GFLOP/s and what else the
    job does), fitted to the default run's model jobs on the 2-core machine (benchmarks/runtime_estimate.txt).
    ``gpu_flops``: one GPU's sustained half-precision forward rate (the default, 100 TFLOP/s, is about a third of an
    A100's dense float16 peak and a tenth of an H100's: eager attention at batch 1-8 reaches far less than peak).
    ``load_bytes_per_s``: reading the weights from the Hugging Face cache or a prepared directory;
    ``download_bytes_per_s``: fetching a Hub checkpoint into the cache. ``margin``: request = margin x estimate (a
    retry multiplies it by the attempt). ``max_runtime_min``: the longest job the cluster accepts (its partition's
    time limit); a longer request stops the run at start."""

    cpu_flops: float = Resources.cpu_gflops * 1e9
    gpu_flops: float = Resources.gpu_tflops * 1e12
    load_bytes_per_s: float = Resources.load_mb_per_s * 1e6
    download_bytes_per_s: float = Resources.download_mb_per_s * 1e6
    margin: float = float(Resources.margin)
    max_runtime_min: int = Resources.max_runtime

    @classmethod
    def of(cls, r: Resources) -> "Rates":
        return cls(cpu_flops=float(r.cpu_gflops) * 1e9, gpu_flops=float(r.gpu_tflops) * 1e12,
                   load_bytes_per_s=float(r.load_mb_per_s) * 1e6,
                   download_bytes_per_s=float(r.download_mb_per_s) * 1e6, margin=float(r.margin),
                   max_runtime_min=int(r.max_runtime))

    @classmethod
    def from_config(cls, cfg: dict | None) -> "Rates":
        """From a config's `resources` (absent keys: the schema's defaults)."""
        return cls.of(Resources.from_dict((cfg or {}).get("resources") or {}))


def _limited(n: int, limit) -> int:
    return n if limit is None else min(n, int(limit))


def eval_tokens(ev: Eval, backend: str | None = None) -> int:
    """Tokens the zero-shot tasks run through the model (per-task limits: scoring.limits): every request
    whole with lm-eval's `hf` backend (and the cached backend's whole-sequence modes); a document's shared context
    once with `cached`, whose continuations are a few tokens each."""
    from superweight.scoring.limits import task_limits

    limits = task_limits(ev.tasks, ev.limit)
    shared = (backend or ev.backend) == "cached"
    total = 0
    for t in ev.tasks:
        docs, choices, tokens = TASKS.get(t, (1000, 4, 200))
        n = _limited(docs, limits[t])
        total += n * (1 if shared else choices) * tokens
    return total


def ppl_tokens(ppl: Perplexity, corpora) -> int:
    total = 0
    for c in corpora:
        n = ppl.windows_of(c)
        total += ppl.seqlen * (n if n is not None else CORPUS_TOKENS.get(c, 1_000_000) // ppl.seqlen)
    return total


def estimate_s(work: Work, f: ModelFacts, dtype: str = "float32", on_gpu: bool = False,
               rates: Rates = Rates(), repeats: int = 1) -> float:
    """Estimated seconds of a job: start-up, then ``repeats`` times (a sweep in one job reloads the model per
    setting) reading the weights in ``dtype`` and its forward tokens x 2 x params FLOPs at the device's rate; for
    prepare, converting a GGUF or downloading a Hub checkpoint."""
    if work.prepare:  # a conversion, or a download into the cache (the network decides: a guess)
        return START_S["cpu"] + (CONVERT_S_PER_GB * f.weights_mb / 1e3 if work.convert
                                 else weights_bytes(f, dtype) / rates.download_bytes_per_s)
    flops = 2 * f.params * work.tokens
    per_repeat = weights_bytes(f, dtype) / rates.load_bytes_per_s + flops / (rates.gpu_flops if on_gpu
                                                                             else rates.cpu_flops)
    return START_S["gpu" if on_gpu else "cpu"] + repeats * per_repeat


def runtime_min(work: Work, f: ModelFacts, on_gpu: bool = False, attempt: int = 1, dtype: str = "float32",
                rates: Rates = Rates(), repeats: int = 1) -> int:
    """Minutes to request: ``rates.margin`` x the estimate, at least RUNTIME_FLOOR_MIN, times the attempt on a
    retry, but a retry never above ``rates.max_runtime_min`` (a first request over it stops the run at start)."""
    minutes = math.ceil(rates.margin * estimate_s(work, f, dtype, on_gpu, rates, repeats) / 60)
    first = int(max(RUNTIME_FLOOR_MIN, minutes))
    return first if attempt == 1 else max(first, min(first * attempt, rates.max_runtime_min))
