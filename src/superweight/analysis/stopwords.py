"""Stopword probabilities (paper section 3.3): next-token probability of stopwords with and without the super
weights, and next-token case studies."""
from __future__ import annotations

import logging
import string

import torch
from torch import nn
from tqdm.auto import tqdm

from superweight.scoring.logprobs import head_inputs, head_logits

log = logging.getLogger(__name__)
# choices no config key changes, each a row of the protocol page (report/fixed_choices.py)
FIXED_CHOICES = ("stopwords.prompts", "stopwords.list", "stopwords.mass", "stopwords.token")


def stopword_set() -> set[str]:
    """English stopwords of the maintained `stop-words` package (Alir3z4/python-stop-words) plus every
    ASCII punctuation character: the paper counts "." and "," as stopwords."""
    from stop_words import get_stop_words

    return {w.lower() for w in get_stop_words("en")} | set(string.punctuation)


def token_text(tok, token_id: int) -> str:
    """The token's text with the tokenizer's space marker stripped (Ġ for byte-level BPE, ▁ for SentencePiece)."""
    return tok.decode([token_id]).strip().replace("\u2581", "").replace("\u0120", "")


def lambada_prompts(texts: list[str]) -> list[str]:
    """Each text with its last word removed (the LAMBADA target), as lm-eval builds the context."""
    return [" ".join(t.split(" ")[:-1]) for t in texts]


@torch.no_grad()
def last_logits(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """float32 next-token logits after the last position of the one sequence ``ids`` (1, positions): the LM head
    runs on that position only, so no (positions, vocabulary) tensor is made."""
    return head_logits(model, head_inputs(model, ids)[0, -1])


@torch.no_grad()
def mean_next_token_probs(model: nn.Module, tok, prompts: list[str], desc: str = "prompts",
                          track: dict[str, torch.Tensor] | None = None,
                          per_prompt: dict[str, list[float]] | None = None) -> torch.Tensor:
    """Next-token distribution after each prompt, averaged over prompts (float64, vocabulary-sized).
    ``track`` {name: token ids or boolean mask}: the probability on those tokens after each prompt is appended to
    ``per_prompt[name]`` (the per-prompt values behind a mean, for its confidence interval)."""
    device = next(model.parameters()).device
    total = None
    for p in tqdm(prompts, desc=desc, mininterval=5):
        ids = tok(p, return_tensors="pt")["input_ids"].to(device)
        probs = torch.softmax(last_logits(model, ids).double(), -1)
        total = probs if total is None else total + probs
        if track:
            pc = probs.cpu()
            for name, idx in track.items():
                per_prompt.setdefault(name, []).append(float(pc[idx].sum()))
    return (total / len(prompts)).cpu()


def stopword_tracks(tok, vocab_size: int) -> dict[str, torch.Tensor]:
    """What the stopword claims need per prompt: the stopword mass and each token whose text is "the", "." or ","
    (named "the:ID"), as ``track`` for mean_next_token_probs."""
    stops = stopword_set()
    texts = [token_text(tok, i) for i in range(vocab_size)]
    out = {"stopword_mass": torch.tensor([t.lower() in stops and t != "" for t in texts])}
    for word in ("the", ".", ","):
        for i, t in enumerate(texts):
            if t == word:
                out[f"{word}:{i}"] = torch.tensor([i])
    return out


def per_prompt_summary(summary: dict, orig: dict[str, list[float]], pruned: dict[str, list[float]]) -> dict:
    """Per-prompt values for the summary's headline quantities: the stopword mass and the token stopword_table
    chose for "the", "." and "," (``token_id_<word>``)."""
    out = {"stopword_mass": {"original": orig["stopword_mass"], "no_super_weight": pruned["stopword_mass"]}}
    for word in ("the", ".", ","):
        i = summary.get(f"token_id_{word}")
        if i is not None and f"{word}:{i}" in orig:
            out[word] = {"token_id": i, "original": orig[f"{word}:{i}"], "no_super_weight": pruned[f"{word}:{i}"]}
    return out


def stopword_mass(probs: torch.Tensor, is_stop: torch.Tensor) -> float:
    """Total probability on stopword tokens."""
    return float(probs[is_stop].sum())


def stopword_table(tok, p_orig: torch.Tensor, p_pruned: torch.Tensor, top_k: int = 30) -> tuple[list[dict], dict]:
    """Top-k tokens by original probability with both probabilities and the ratio, and a summary."""
    stops = stopword_set()
    texts = [token_text(tok, i) for i in range(len(p_orig))]
    is_stop = torch.tensor([t.lower() in stops and t != "" for t in texts])
    order = torch.argsort(p_orig, descending=True)[:top_k].tolist()
    rows = [{"rank": r + 1, "token_id": i, "token": texts[i], "stopword": bool(is_stop[i]),
             "p_original": float(p_orig[i]), "p_no_super_weight": float(p_pruned[i]),
             "ratio": float(p_pruned[i] / p_orig[i]) if p_orig[i] > 0 else float("inf")} for r, i in enumerate(order)]
    summary = {"stopword_mass_original": stopword_mass(p_orig, is_stop),
               "stopword_mass_no_super_weight": stopword_mass(p_pruned, is_stop),
               "stopword_list": "stop-words (get_stop_words('en')) + string.punctuation", "top_k": top_k}
    summary["stopword_mass_ratio"] = summary["stopword_mass_no_super_weight"] / max(summary["stopword_mass_original"], 1e-300)
    # the paper's three headline tokens: the most probable token whose text is "the", "." or ","
    for word in ("the", ".", ","):
        ids = [i for i, t in enumerate(texts) if t == word]
        if ids:
            i = max(ids, key=lambda j: float(p_orig[j]))
            summary[f"token_id_{word}"] = i
            summary[f"ratio_{word}"] = float(p_pruned[i] / p_orig[i]) if p_orig[i] > 0 else None
    return rows, summary


@torch.no_grad()
def top_next_tokens(model: nn.Module, tok, prompt: str, k: int = 5) -> list[tuple[str, float]]:
    ids = tok(prompt, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
    probs = torch.softmax(last_logits(model, ids), -1)
    vals, idx = torch.topk(probs, k)
    return [(tok.decode([int(i)]), float(v)) for v, i in zip(vals, idx)]


