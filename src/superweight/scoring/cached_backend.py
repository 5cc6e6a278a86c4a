"""An lm-eval model backend (``eval.backend: cached``) that computes each shared context once.

lm-eval's HFLM runs every (context, continuation) request as its own sequence: a multiple-choice document's
context is recomputed for each choice (SciQ's ~300-token passage four times) and the LM head is applied at
every position. Here the requests of one document are a group: their common token prefix runs once, batched
over groups (left-padded, keys/values kept in the model's cache), and each continuation runs on a copy of its
group's cache. The LM head is applied only at the scored positions (``logprobs.selected_logprobs``), so no
(batch, positions, vocabulary) float32 tensor exists.

Tokenization is lm-eval's own (``TemplateLM.loglikelihood``: the whitespace move, empty contexts) with HFLM's
``tok_encode`` (``add_bos_token``, a BOS already in the text), and the same left truncation to ``max_length``:
the token sequences scored are HFLM's, and so are the numbers up to float rounding. Tasks, metrics and
aggregation stay lm-eval's. Sharing a prefix is exact for models whose output at a token depends only on the
tokens before it. An intervention that looks at a whole sequence (an argmax or a median over its tokens:
``backends.whole_sequence``) runs with ``whole_sequences``: each distinct model input (context + continuation minus
its last token, as HFLM builds it) runs whole, without a cache, so each per-sequence statistic sees exactly that
sequence, as HFLM at batch size 1; requests with the same input share it. ``batched``: inputs share a forward,
right-padded, with an ``attention_mask`` that the intervention's statistics honour (the restored super activation);
``alone``: one input per forward, unpadded, for a statistic over the whole batch tensor (SA-aware W8A8's median).
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import torch
from lm_eval.api.model import TemplateLM
from lm_eval.models.utils import has_bos_prefix, resolve_max_length
from tqdm import tqdm

from superweight.scoring.logprobs import head_inputs, selected_logprobs

log = logging.getLogger(__name__)

BACKENDS = ("hf", "cached")  # eval.backend; per experiment, "cached" may become one of WHOLE (backends.eval_backend)
WHOLE = {"cached_whole": "batched", "cached_alone": "alone"}  # cached, whole sequences: the backend's whole_sequences
DEFAULT_MAX_LENGTH = 2048  # HFLM's default when neither the config nor the tokenizer gives one
# batching: a forward of fewer positions runs a CPU's matrix products less efficiently (2x at 40 than at 300 for
# SmolLM2), padding computes positions for nothing: a batch grows to MIN_TOKENS, then stops at 10% padding
MIN_TOKENS = 256
PAD_SLACK = 1.1


@dataclass
class _Group:
    """Requests sharing ``prefix``. With ``tail`` (the members' contexts are the same tokens), the prefix ends with
    the context's last token, whose output scores every member's first continuation token; each row's suffix is
    then its continuation minus the last token (empty for a one-token continuation). Without it, a suffix holds
    the rest of its input, the scored positions last."""
    prefix: list[int]
    tail: bool = False
    rows: list[tuple[int, list[int], list[int]]] = field(default_factory=list)  # (request, suffix, continuation)


def _common_prefix(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    first = seqs[0]
    for i in range(n):
        if any(s[i] != first[i] for s in seqs[1:]):
            return i
    return n


class CachedLM(TemplateLM):
    """``loglikelihood`` with each document's shared context computed once; see the module docstring."""

    def __init__(self, model, tokenizer, batch_size: int = 8, device: str = "cpu", add_bos_token: bool | None = None,
                 max_length: int | None = None, whole_sequences: str | None = None):
        super().__init__()
        if whole_sequences not in (None, "batched", "alone"):
            raise ValueError(f"whole_sequences must be None, 'batched' or 'alone', got {whole_sequences!r}")
        self.whole_sequences = whole_sequences
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = int(batch_size)
        self._device = torch.device(device)
        self.add_bos_token = add_bos_token
        self.max_length = max_length or resolve_max_length(model.config, tokenizer, default=DEFAULT_MAX_LENGTH)
        # tokens: positions computed (padded_tokens: with padding); request_tokens: HFLM's, one sequence per request
        self.stats = {"requests": 0, "groups": 0, "forwards": 0, "tokens": 0, "padded_tokens": 0, "request_tokens": 0}
        self._keys: list | None = None

    # --- tokenization: HFLM's ------------------------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.tokenizer.eos_token_id

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        if add_special_tokens is None:
            add_special_tokens = self.add_bos_token
            if has_bos_prefix(string, self.tokenizer.decode(self.prefix_token_id)):
                add_special_tokens = False
        kw = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
        return self.tokenizer.encode(string, **kw)

    # --- scoring ---------------------------------------------------------------------------------------------
    def loglikelihood(self, requests, disable_tqdm: bool = False):
        # the document of each request groups the requests that share a context; TemplateLM tokenizes in order
        self._keys = [(r.task_name, r.doc_id) if r.doc_id is not None else None for r in requests]
        try:
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)
        finally:
            self._keys = None

    def _groups(self, requests) -> list[_Group]:
        by_key: dict = {}
        for i, (_, ctx, cont) in enumerate(requests):
            if not ctx or not cont:
                raise ValueError(f"request {i}: empty {'context' if not ctx else 'continuation'} after tokenization")
            if len(cont) > self.max_length:
                raise ValueError(f"request {i}: continuation of {len(cont)} tokens exceeds max_length {self.max_length}")
            key = self._keys[i] if self._keys and self._keys[i] is not None else tuple(ctx)
            by_key.setdefault(key, []).append(i)
        groups = []
        for members in by_key.values():
            # HFLM's model input: context + continuation, left-truncated to max_length + 1, minus the last token
            xs = [(requests[i][1] + requests[i][2])[-(self.max_length + 1):][:-1] for i in members]
            conts = [requests[i][2] for i in members]
            self.stats["request_tokens"] += sum(len(x) for x in xs)  # what one sequence per request computes
            # the shared prefix ends at the first scored position of every member; a lone request runs whole
            first = {len(x) - len(c) for x, c in zip(xs, conts)}
            lcp = _common_prefix(xs) if len(xs) > 1 else 0
            tail = len(first) == 1 and lcp > min(first)
            p = min(first) + 1 if tail else min(lcp, min(first))
            g = _Group(xs[0][:p], tail and p > 0)
            g.rows = [(i, x[p:], c) for i, x, c in zip(members, xs, conts)]
            groups.append(g)
        return groups

    def _score(self, blocks: list[torch.Tensor], conts: list[list[int]]) -> list[tuple[float, bool]]:
        """(sum log p, all greedy) per continuation from the head inputs of its scored positions."""
        lp, greedy = selected_logprobs(self.model, torch.cat(blocks), torch.tensor(sum(conts, []), device=self.device))
        sizes = [len(c) for c in conts]
        return [(float(a.sum()), bool(g.all())) for a, g in zip(lp.split(sizes), greedy.split(sizes))]

    def _pad_right(self, seqs: list[list[int]]) -> torch.Tensor:
        width = max(len(s) for s in seqs)
        self.stats["tokens"] += sum(len(s) for s in seqs)
        self.stats["padded_tokens"] += width * len(seqs)
        self.stats["forwards"] += 1
        return torch.tensor([s + [0] * (width - len(s)) for s in seqs], device=self.device)

    def _run_plain(self, rows) -> list[tuple[float, bool]]:
        """Rows with no shared prefix: one sequence each, as HFLM runs them."""
        h = head_inputs(self.model, self._pad_right([s for _, s, _ in rows]))
        return self._score([h[b, len(s) - len(c):len(s)] for b, (_, s, c) in enumerate(rows)], [c for *_, c in rows])

    def _run_cached(self, groups: list[_Group], budget: int) -> dict[int, tuple[float, bool]]:
        """One forward over the groups' prefixes (left-padded), then their rows on copies of the cache."""
        from transformers import DynamicCache

        plen = torch.tensor([len(g.prefix) for g in groups], device=self.device)
        width = int(plen.max())
        ids = torch.tensor([[0] * (width - len(g.prefix)) + g.prefix for g in groups], device=self.device)
        mask = (torch.arange(width, device=self.device)[None] >= (width - plen)[:, None]).long()
        pos = (mask.cumsum(-1) - 1).clamp_min(0)
        self.stats["tokens"] += int(plen.sum())
        self.stats["padded_tokens"] += ids.numel()
        self.stats["forwards"] += 1
        cache = DynamicCache(config=self.model.config)
        last = head_inputs(self.model, ids, mask, position_ids=pos, cache=cache, use_cache=True)[:, -1]
        _zero_padding(cache, width - plen, width)
        out = {}
        # a one-token continuation after a tail prefix is scored by the prefix's last position alone
        done = [(gi, r) for gi, g in enumerate(groups) for r in g.rows if not r[1]]
        for (i, _, c), res in zip((r for _, r in done), self._score([last[gi, None] for gi, _ in done],
                                                                    [r[2] for _, r in done]) if done else []):
            out[i] = res
        # rows of any group share a forward (each reads its own group's cache): similar lengths together
        flat = sorted(((gi, r) for gi, g in enumerate(groups) for r in g.rows if r[1]), key=lambda x: -len(x[1][1]))
        for chunk in _batches(flat, lambda x: len(x[1][1]), budget, extra=width):
            gidx = torch.tensor([gi for gi, _ in chunk], device=self.device)
            rows = [row for _, row in chunk]
            suffix = self._pad_right([r[1] for r in rows])
            m = torch.cat([mask[gidx], torch.ones_like(suffix)], 1)
            p = plen[gidx, None] + torch.arange(suffix.shape[1], device=self.device)[None]
            h = head_inputs(self.model, suffix, m, position_ids=p, cache=_select(cache, gidx), use_cache=True)
            blocks = []
            for b, (gi, (_, sfx, cont)) in enumerate(chunk):
                k = len(cont) - groups[gi].tail  # scored positions in the suffix
                blocks.append(torch.cat([last[gi, None]] * groups[gi].tail + [h[b, len(sfx) - k:len(sfx)]]))
            for (i, _, _), res in zip(rows, self._score(blocks, [r[2] for r in rows])):
                out[i] = res
        return out

    def _run_whole(self, requests, bar) -> dict[int, tuple[float, bool]]:
        """Each distinct model input whole (``whole_sequences``); its requests scored from that one forward."""
        by_input: dict[tuple, list[int]] = {}
        for i, (_, ctx, cont) in enumerate(requests):
            if not ctx or not cont:
                raise ValueError(f"request {i}: empty {'context' if not ctx else 'continuation'} after tokenization")
            if len(cont) > self.max_length:
                raise ValueError(f"request {i}: continuation of {len(cont)} tokens exceeds max_length {self.max_length}")
            x = (ctx + cont)[-(self.max_length + 1):][:-1]  # HFLM's model input
            self.stats["request_tokens"] += len(x)
            by_input.setdefault(tuple(x), []).append(i)
        self.stats["groups"] += len(by_input)
        inputs = sorted(by_input, key=len, reverse=True)  # longest first, as HFLM
        budget = self.batch_size * len(inputs[0]) if inputs and self.whole_sequences == "batched" else 0
        out = {}
        for batch in _batches(inputs, len, budget):
            ids = self._pad_right([list(x) for x in batch])
            mask = (torch.arange(ids.shape[1], device=self.device)[None]
                    < torch.tensor([len(x) for x in batch], device=self.device)[:, None]).long()
            h = head_inputs(self.model, ids, mask if len(batch) > 1 else None)
            rows = [(b, i) for b, x in enumerate(batch) for i in by_input[x]]
            conts = [requests[i][2] for _, i in rows]
            blocks = [h[b, len(batch[b]) - len(c):len(batch[b])] for (b, _), c in zip(rows, conts)]
            out.update(zip((i for _, i in rows), self._score(blocks, conts)))
            bar.update(len(rows))
        return out

    @torch.no_grad()
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        if self.whole_sequences:
            self.stats["requests"] += len(requests)
            bar = tqdm(total=len(requests), disable=disable_tqdm, mininterval=5,
                       desc="Running loglikelihood requests (cached, whole sequences)")
            res = self._run_whole(requests, bar)
            bar.close()
            return self._answers(requests, res)
        groups = self._groups(requests)
        self.stats["requests"] += len(requests)
        self.stats["groups"] += len(groups)
        res: dict[int, tuple[float, bool]] = {}
        # positions per forward: HFLM's largest batch (batch_size of the longest inputs)
        budget = self.batch_size * max(len(g.prefix) + len(r[1]) for g in groups for r in g.rows)
        # longest first (as HFLM: similar lengths share a batch, and a memory error shows at once)
        shared = sorted((g for g in groups if g.prefix), key=lambda g: -len(g.prefix))
        plain = sorted((r for g in groups if not g.prefix for r in g.rows), key=lambda r: -len(r[1]))
        bar = tqdm(total=len(requests), disable=disable_tqdm, desc="Running loglikelihood requests (cached)",
                   mininterval=5)
        for batch in _batches(shared, lambda g: len(g.prefix), budget):
            res.update(self._run_cached(batch, budget))
            bar.update(sum(len(g.rows) for g in batch))
        for rows in _batches(plain, lambda r: len(r[1]), budget):
            res.update(zip((r[0] for r in rows), self._run_plain(rows)))
            bar.update(len(rows))
        bar.close()
        return self._answers(requests, res)

    def _answers(self, requests, res: dict[int, tuple[float, bool]]) -> list[tuple[float, bool]]:
        out = [res[i] for i in range(len(requests))]
        for (pair, _, _), answer in zip(requests, out):
            self.cache_hook.add_partial("loglikelihood", pair, answer)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("the cached backend scores loglikelihood and multiple-choice tasks only; "
                                  "set eval.backend: hf for loglikelihood_rolling tasks (e.g. wikitext)")

    def generate_until(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("the cached backend scores loglikelihood and multiple-choice tasks only; "
                                  "set eval.backend: hf for generation tasks")


def _batches(items: list, length, budget: int, extra: int = 0):
    """Consecutive runs of ``items`` (sorted longest first) whose padded size, count x (``extra`` + the first's
    length), stays within ``budget``; once a run holds MIN_TOKENS, it is also cut where padding would exceed
    PAD_SLACK x its tokens."""
    batch, tokens = [], 0
    for it in items:
        n = length(it)
        if batch:
            width = length(batch[0])
            if ((len(batch) + 1) * (width + extra) > budget
                    or (tokens >= MIN_TOKENS and (len(batch) + 1) * width > PAD_SLACK * (tokens + n))):
                yield batch
                batch, tokens = [], 0
        batch.append(it)
        tokens += n
    if batch:
        yield batch


def _zero_padding(cache, pad: torch.Tensor, width: int) -> None:
    """Zero the cached keys/values of left padding: they are masked, but a fully masked row may hold NaN, and
    a NaN times an attention weight of 0 is NaN. A sliding-window layer keeps only the last positions."""
    for layer in cache.layers:
        kept = layer.keys.shape[-2]
        for b, n in enumerate((pad - (width - kept)).clamp_min(0).tolist()):
            if n:
                layer.keys[b, :, :n] = 0
                layer.values[b, :, :n] = 0


def _select(cache, index: torch.Tensor):
    """A cache holding batch entries ``index`` of ``cache`` (repeats allowed); ``cache`` itself is unchanged."""
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    for layer in new.layers:
        layer.batch_select_indices(index)
    return new


def build_lm(model, tok, backend: str = "hf", batch_size: int = 8, device: str = "cpu",
             add_bos_token: bool | None = None):
    """The lm-eval model object for ``eval.backend`` (or one of ``WHOLE``: cached, each sequence whole)."""
    if backend == "cached" or backend in WHOLE:
        return CachedLM(model, tok, batch_size=batch_size, device=device, add_bos_token=add_bos_token,
                        whole_sequences=WHOLE.get(backend))
    if backend == "hf":
        from lm_eval.models.huggingface import HFLM

        return HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size, device=device, add_bos_token=add_bos_token)
    raise ValueError(f"eval.backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
