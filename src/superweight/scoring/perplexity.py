"""Perplexity, GPTQ protocol: the whole corpus tokenized once, non-overlapping windows, exp(mean token NLL).

Fewer windows than the corpus holds are taken either as GPTQ does (``order="first"``: the first k) or spread
over the corpus (``"spread"``: k windows far apart, so each tends to fall in its own article and the windows are
independent units); each window records the article (document) its first token belongs to, so that windows that
still share an article are treated as one unit by the intervals (stats.clustered).

Each token's NLL comes from the chunked next-token log-probabilities (logprobs.py): peak memory is one chunk of
positions x vocabulary, never the whole batch's float32 logits and their log-softmax."""
from __future__ import annotations

import bisect
import math

import torch
from torch import nn
from tqdm.auto import tqdm

from superweight.scoring.logprobs import next_token_logprobs
from superweight.models.meter import counted_as

# choices no config key changes, each a row of the protocol page (report/fixed_choices.py)
FIXED_CHOICES = ("ppl.windows", "ppl.nonfinite")


ORDERS = ("first", "spread")


def tokenize(tok, text: str) -> torch.Tensor:
    """The corpus as one 1-D tensor of token ids, tokenized once with the tokenizer's defaults as GPTQ does
    (``tokenizer(text)``): a Llama-style tokenizer puts one BOS at the very start and none mid-corpus."""
    return torch.tensor(tok(text)["input_ids"], dtype=torch.long)


def article_starts(tok, text: str, char_starts: list[int]) -> list[int]:
    """Token index of each article's first character in ``tokenize(tok, text)``: exact from the fast tokenizer's
    offsets (the token that covers or follows the character); a slow tokenizer gets the length of each prefix's
    own tokenization (off by at most a token or two where a merge crosses the boundary)."""
    if getattr(tok, "is_fast", False):
        offs = tok(text, return_offsets_mapping=True)["offset_mapping"]
        ends = [e if e > s else s + 1 for s, e in offs]  # special tokens (0, 0) cover nothing
        return [bisect.bisect_right(ends, c) for c in char_starts]
    return [len(tok(text[:c])["input_ids"]) if c else 0 for c in char_starts]


def windows_of(corpus_pt: str, order: str) -> dict:
    """``perplexity``'s window arguments for a tokenized corpus (tokenize_corpus: ``<corpus>.pt`` beside its
    ``.json``): {"order": order, "articles": each article's first token}."""
    import json
    from pathlib import Path

    info = Path(corpus_pt).with_suffix(".json")
    return {"order": order, "articles": json.loads(info.read_text()).get("article_starts") if info.is_file() else None}


def spread(n: int, k: int) -> list[int]:
    """k of the window indices 0..n-1, far apart, in van der Corput order: every prefix (a sequential look's
    windows) is itself spread over the whole corpus. k >= n: all, in corpus order."""
    if k >= n:
        return list(range(n))
    out, taken = [], set()
    for i in range(k):
        v, f, j = 0.0, 0.5, i
        while j:
            v, j, f = v + f * (j & 1), j >> 1, f / 2
        w = int(v * n)
        while w in taken:  # only when n < the next power of two above k
            w = (w + 1) % n
        taken.add(w)
        out.append(w)
    return out


def windows(n_tokens: int, seqlen: int, max_windows: int | None = None, drop_last: bool = True,
            order: str = "first") -> list[tuple[int, int]]:
    """[start, end) spans of non-overlapping windows. GPTQ drops the short tail (drop_last). With ``max_windows``:
    the first ones (``order="first"``, GPTQ) or ones spread over the corpus (``"spread"``, see ``spread``)."""
    if order not in ORDERS:
        raise ValueError(f"window order {order!r}; use one of {', '.join(ORDERS)}")
    if seqlen < 2:
        raise ValueError(f"seqlen must be at least 2, got {seqlen}")
    spans = [(s, min(s + seqlen, n_tokens)) for s in range(0, n_tokens, seqlen)]
    if drop_last or len(spans) and spans[-1][1] - spans[-1][0] < 2:
        spans = [sp for sp in spans if sp[1] - sp[0] == seqlen] if drop_last else spans[:-1]
    if max_windows is not None:
        spans = spans[:max_windows] if order == "first" else [spans[i] for i in spread(len(spans), max_windows)]
    if not spans:
        raise ValueError(f"corpus of {n_tokens} tokens is shorter than one window of {seqlen}; lower seqlen")
    return spans


@torch.no_grad()
@counted_as("windows")
def perplexity(model: nn.Module, ids: torch.Tensor, seqlen: int, max_windows: int | None = None,
               batch_size: int = 1, progress: bool = True, desc: str = "perplexity", chunk: int | None = None,
               order: str = "first", articles: list[int] | None = None, part: tuple[int, int] | None = None) -> dict:
    """exp(mean NLL) over all predicted tokens of the windows. Non-finite logits count as infinite NLL.
    ``chunk``: positions whose logits exist at once (default: 64 MB of float32 logits, logprobs.rows_per_chunk).
    ``order``: which windows (``windows``); ``articles``: each article's first token (``article_starts``), so each
    window records its article; ``part``: (a, b) scores only windows a..b-1 of that list (a sequential look)."""
    device = next(model.parameters()).device
    spans = windows(len(ids), seqlen, max_windows, order=order)
    if part is not None:
        spans = spans[part[0]:part[1]]
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
    out = {"ppl": ppl, "nll_mean": mean, "tokens": n_tok, "windows": len(spans), "seqlen": seqlen,
           "nonfinite_tokens": nonfinite, "window_nll": window_nll, "window_tokens": seqlen - 1,
           "window_order": order, "window_start": [s for s, _ in spans]}
    if articles is not None:
        out["window_article"] = [max(bisect.bisect_right(articles, s) - 1, 0) for s, _ in spans]
    return out
