"""A real (fast) character-level tokenizer that adds a BOS by default, as Llama's does: ids fit the tiny models."""
from __future__ import annotations

import string

UNK, BOS, EOS = 0, 1, 2  # UNK first: lm-eval pads log-likelihood batches with id 0, which must not read as a BOS


def bos_tokenizer():
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    chars = [c for c in string.printable if c not in "\x0b\x0c"]
    vocab = {"<unk>": UNK, "<s>": BOS, "</s>": EOS, **{c: i + 3 for i, c in enumerate(chars)}}
    t = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    t.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", BOS)])
    t.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
