"""Choosing the clipping z as the paper does: the candidate with the lowest reconstruction error on calibration
examples (the paper: 500 WikiText-2 train examples; here the validation split, see data.wikitext2_validation_rows).

Reconstruction error (criterion ``output``, the default): for every quantized decoder linear layer, the relative
error of its output on the calibration activations, ||X (Q(W) - W)^T||^2 / ||X W^T||^2, where X holds the layer's
inputs in the *unquantized* model over all calibration tokens; averaged over layers. Why: the paper tunes on
examples, so its error involves data (a weight error needs none); the layer output is what the clipping trades
off (clipped outliers vs finer steps for the rest), as in the layer-wise reconstruction objective of GPTQ and AWQ;
inputs from the unquantized model make every candidate's error one pass of the data (X^T X per layer is kept),
and dividing each layer by its own output energy keeps the layer carrying the super activation, whose output is
orders of magnitude larger, from outweighing all others. ``weight`` (||Q(W) - W||^2 / ||W||^2, data-free) and
``perplexity`` (of the quantized model on the examples) are the options."""
from __future__ import annotations

import logging
import math
import random

import torch
from torch import nn

from superweight.models.adapters import get_adapter
from superweight.quant.rtn import RTNOptions, quantize_weights, quantized_linears
from superweight.models.meter import counted_as

log = logging.getLogger(__name__)

CRITERIA = ("output", "weight", "perplexity")


def calibration_examples(rows: list[str], n: int, seed: int = 0) -> tuple[list[int], list[str]]:
    """``n`` paragraph rows (non-empty, not a " = heading = " line), sampled without replacement with ``seed``,
    in corpus order: (their row indices, their text)."""
    para = [i for i, r in enumerate(rows) if r.strip() and not r.strip().startswith("=")]
    if n > len(para):
        raise ValueError(f"calibration asks for {n} examples but the corpus has {len(para)} paragraphs; lower "
                         "quantization.weights.calibration.examples")
    picked = sorted(random.Random(seed).sample(para, n))
    return picked, [rows[i] for i in picked]


def check_disjoint(examples: list[str], eval_texts: dict[str, str]) -> None:
    """Calibration must never overlap an evaluation window: no example may occur in an evaluation corpus (an
    error, not a warning)."""
    for name, text in eval_texts.items():
        hits = [e.strip()[:60] for e in examples if e.strip() and e.strip() in text]
        if hits:
            raise ValueError(f"{len(hits)} calibration example(s) occur in the evaluation corpus {name} "
                             f"(e.g. {hits[0]!r}); calibrate on text disjoint from it")


CALIBRATION_CORPORA = ("c4", "wikitext2_validation")


def smoothquant_texts(corpus: str, data_dir, evaluated_c4_docs: int, samples: int, seed: int,
                      eval_texts: dict[str, str]) -> tuple[list[int], list[str]]:
    """SmoothQuant's calibration text, apart from every evaluated window by construction: ``c4`` draws ``samples``
    documents after the evaluated ones (``data.c4_calibration_documents``), ``wikitext2_validation`` paragraphs of
    the validation split (the test split is evaluated). Then checked: a sample found in an evaluated corpus
    (``eval_texts``: name -> its text) is an error. Returns (document or row indices, texts)."""
    from superweight.scoring.data import c4_calibration_documents, wikitext2_validation_rows

    if corpus == "c4":
        idx, texts = c4_calibration_documents(data_dir, evaluated_c4_docs, samples, seed)
    elif corpus == "wikitext2_validation":
        try:
            idx, texts = calibration_examples(wikitext2_validation_rows(data_dir), samples, seed)
        except ValueError as e:
            raise ValueError(str(e).replace("quantization.weights.calibration.examples",
                                            "quantization.activations.calibration.samples")) from None
    else:
        raise ValueError(f"unknown calibration corpus {corpus!r}; use one of {', '.join(CALIBRATION_CORPORA)}")
    check_disjoint(texts, eval_texts)
    return idx, texts


def tokenize_examples(tok, examples: list[str], seqlen: int) -> list[torch.Tensor]:
    """Each example tokenized on its own with the tokenizer's defaults (as GPTQ does), at most ``seqlen`` tokens."""
    out = [torch.tensor(tok(e)["input_ids"][:seqlen], dtype=torch.long) for e in examples]
    return [t for t in out if len(t) >= 2]


@torch.no_grad()
def input_grams(model: nn.Module, examples: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """X^T X (float32) of every decoder linear layer's input over all calibration tokens, unquantized model."""
    a = get_adapter(model)
    grams, handles = {}, []
    for name, mod, transposed in a.linear_modules(model):
        def hook(m, args, key=name):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).float()
            g = x.T @ x
            grams[key] = grams[key] + g if key in grams else g
        handles.append(mod.register_forward_pre_hook(hook))
    device = next(model.parameters()).device
    try:
        for ids in examples:
            model(ids[None].to(device))
    finally:
        for h in handles:
            h.remove()
    return grams


@torch.no_grad()
def reconstruction_errors(model: nn.Module, grams: dict, method: str, bits: int, block, z: float, sws,
                          opts: RTNOptions = RTNOptions()) -> dict:
    """Mean over layers of the relative output error on the calibration inputs, and of the relative weight error
    (the model is not changed)."""
    out_err, w_err = [], []
    for name, _, _, w, q, _ in quantized_linears(model, method, bits, block, z, sws, 1.0, opts):
        w, d = w.float(), q.float() - w.float()
        h = grams[name].to(w.device)
        out_err.append(float(((d @ h) * d).sum() / ((w @ h) * w).sum().clamp_min(1e-30)))
        w_err.append(float((d * d).sum() / (w * w).sum().clamp_min(1e-30)))
    return {"output": sum(out_err) / len(out_err), "weight": sum(w_err) / len(w_err)}


@torch.no_grad()
def examples_nll(model: nn.Module, examples: list[torch.Tensor]) -> float:
    """Mean token NLL over the examples (each scored on its own); inf if any is not finite."""
    device = next(model.parameters()).device
    total, n = 0.0, 0
    for ids in examples:
        x = ids[None].to(device)
        logp = torch.log_softmax(model(x).logits[0, :-1].float(), -1)
        total += float(-logp.gather(-1, x[0, 1:, None]).sum())
        n += len(ids) - 1
    return total / n if math.isfinite(total) else math.inf


@counted_as("calibration")
def tune_z(load, examples: list[torch.Tensor], bits: int, block, candidates, sws, criterion: str = "output",
           opts: RTNOptions = RTNOptions()) -> dict:
    """The z among ``candidates`` with the lowest ``criterion`` on the calibration examples. ``load()`` returns a
    fresh model (one in memory at a time). Uses sw_aware (clip, quantize, restore) when super weights exist,
    else clip. Every candidate's value is returned."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown z criterion {criterion!r}; use one of {', '.join(CRITERIA)}")
    method = "sw_aware" if sws else "clip"
    values, other = {}, {}
    if criterion == "perplexity":
        for z in candidates:
            model = load()
            quantize_weights(model, method, bits, block, z, sws, progress=False, opts=opts)
            values[float(z)] = math.exp(min(examples_nll(model, examples), 700.0))
            log.info("z=%g: calibration ppl %.6g", z, values[float(z)])
            del model
    else:
        model = load()
        grams = input_grams(model, examples)
        for z in candidates:
            err = reconstruction_errors(model, grams, method, bits, block, z, sws, opts)
            values[float(z)] = err[criterion]
            other[float(z)] = err
            log.info("z=%g: output error %.6g, weight error %.6g", z, err["output"], err["weight"])
    best = min(values, key=values.get)
    return {"z": best, "method": method, "criterion": criterion, "values": {str(k): v for k, v in values.items()},
            "errors": {str(k): v for k, v in other.items()}, "examples": len(examples),
            "tokens": sum(len(e) for e in examples), "options": opts.asdict()}
