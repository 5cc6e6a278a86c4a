"""Next-token log-probabilities computed only where they are used, a chunk of positions at a time.

A causal LM's forward returns float logits over the whole vocabulary at every position; with a 262k vocabulary
and a 2048-token window that is 2 GB per sequence before its log-softmax copy. Here the model runs without its
LM head (its decoder, ``adapters.decoder``), and the head is applied to ``chunk`` selected positions at a time:
peak memory is two chunks x vocabulary (the logits and their log_softmax), whatever the sequence length.
"""
from __future__ import annotations

import torch
from torch import nn

from superweight.models.adapters import decoder

# float32 bytes of one chunk of logits; the rows per chunk follow from the vocabulary size
CHUNK_BYTES = 64 * 2**20


def head_inputs(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                **forward_kwargs) -> torch.Tensor:
    """The hidden states the LM head reads, (batch, positions, hidden): one forward of the model's decoder, the
    model without its LM head (``adapters.decoder``). ``forward_kwargs`` go to its forward (e.g. ``cache``,
    ``position_ids``; no cache unless given)."""
    return decoder(model)(input_ids=input_ids, attention_mask=attention_mask,
                          **{"use_cache": False, **forward_kwargs}).last_hidden_state


def head_logits(model: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """float32 logits of the LM head for hidden states ``h`` (..., hidden), with the model's final soft-capping."""
    logits = model.get_output_embeddings()(h).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def rows_per_chunk(vocab: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    return max(1, chunk_bytes // (4 * vocab))


def selected_logprobs(model: nn.Module, h: torch.Tensor, targets: torch.Tensor,
                      chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For rows of hidden states ``h`` (n, hidden) and their next tokens ``targets`` (n,): log p(target) (float32)
    and whether the target is the argmax (lm-eval's is_greedy), ``chunk`` rows at a time."""
    vocab = model.get_output_embeddings().weight.shape[0]
    chunk = chunk or rows_per_chunk(vocab)
    lp = torch.empty(len(targets), dtype=torch.float32, device=h.device)
    greedy = torch.empty(len(targets), dtype=torch.bool, device=h.device)
    for s in range(0, len(targets), chunk):
        logits = head_logits(model, h[s:s + chunk])
        t = targets[s:s + chunk, None]
        # log_softmax, as lm-eval's HFLM and the perplexity engine compute it: the same float32 rounding, row by
        # row, whatever the chunk (a logsumexp differs from it by ~2e-5 per token over a 49k vocabulary)
        lp[s:s + chunk] = torch.log_softmax(logits, -1).gather(-1, t).squeeze(-1)
        greedy[s:s + chunk] = logits.argmax(-1) == t.squeeze(-1)
        del logits
    return lp, greedy


@torch.no_grad()
def next_token_logprobs(model: nn.Module, input_ids: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """log p(ids[:, t+1] | ids[:, :t+1]) for every position but the last: (batch, positions - 1), float32."""
    h = head_inputs(model, input_ids)[:, :-1]
    b, t, d = h.shape
    lp, _ = selected_logprobs(model, h.reshape(b * t, d), input_ids[:, 1:].reshape(-1), chunk)
    return lp.view(b, t)
