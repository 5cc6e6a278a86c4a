"""Perplexity, GPTQ protocol: the whole corpus tokenized once, non-overlapping windows, exp(mean token NLL).

Each token's NLL comes from the chunked next-token log-probabilities (logprobs.py): peak memory is one chunk of
positions x vocabulary, never the whole batch's float32 logits and their log-softmax."""
from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

from superweight.scoring.logprobs import next_token_logprobs
from superweight.models.meter import counted_as


def tokenize(tok, text: str) -> torch.Tensor:
    """The corpus as one 1-D tensor of token ids, tokenized once with the tokenizer's defaults as GPTQ does
    (``tokenizer(text)``): a Llama-style tokenizer puts one BOS at the very start and none mid-corpus."""
    return torch.tensor(tok(text)["input_ids"], dtype=torch.long)


def windows(n_tokens: int, seqlen: int, max_windows: int | None = None, drop_last: bool = True) -> list[tuple[int, int]]:
    """[start, end) spans of non-overlapping windows. GPTQ drops the short tail (drop_last)."""
    if seqlen < 2:
        raise ValueError(f"seqlen must be at least 2, got {seqlen}")
    spans = [(s, min(s + seqlen, n_tokens)) for s in range(0, n_tokens, seqlen)]
    if drop_last or len(spans) and spans[-1][1] - spans[-1][0] < 2:
        spans = [sp for sp in spans if sp[1] - sp[0] == seqlen] if drop_last else spans[:-1]
    if max_windows is not None:
        spans = spans[:max_windows]
    if not spans:
        raise ValueError(f"corpus of {n_tokens} tokens is shorter than one window of {seqlen}; lower seqlen")
    return spans


@torch.no_grad()
@counted_as("windows")
def perplexity(model: nn.Module, ids: torch.Tensor, seqlen: int, max_windows: int | None = None,
               batch_size: int = 1, progress: bool = True, desc: str = "perplexity", chunk: int | None = None) -> dict:
    """exp(mean NLL) over all predicted tokens of the windows. Non-finite logits count as infinite NLL.
    ``chunk``: positions whose logits exist at once (default: 64 MB of float32 logits, logprobs.rows_per_chunk)."""
    device = next(model.parameters()).device
    spans = windows(len(ids), seqlen, max_windows)
    nll_sum, n_tok, nonfinite = 0.0, 0, 0
    window_nll: list[float] = []  # mean NLL of each window, for uncertainty over windows
    batches = [spans[i:i + batch_size] for i in range(0, len(spans), batch_size)]
    for batch in tqdm(batches, desc=desc, disable=not progress, mininterval=5):
        x = torch.stack([ids[s:e] for s, e in batch]).to(device)
        tok_nll = -next_token_logprobs(model, x, chunk)
        bad = ~torch.isfinite(tok_nll)
        nonfinite += int(bad.sum())
        nll_sum += float(tok_nll[~bad].double().sum()) + (math.inf if bad.any() else 0.0)
        for row, row_bad in zip(tok_nll.double(), bad):
            window_nll.append(math.inf if row_bad.any() else float(row.mean()))
        n_tok += tok_nll.numel()
    mean = nll_sum / n_tok
    ppl = math.exp(mean) if mean < 700 else math.inf
    return {"ppl": ppl, "nll_mean": mean, "tokens": n_tok, "windows": len(spans), "seqlen": seqlen,
            "nonfinite_tokens": nonfinite, "window_nll": window_nll, "window_tokens": seqlen - 1}
