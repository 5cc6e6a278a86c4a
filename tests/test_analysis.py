import pytest
import torch

from superweight.analysis import (lambada_prompts, mean_next_token_probs, propagation, stopword_mass, stopword_table,
                                  token_text)
from superweight.intervene import scale_weights, zero_weights
from tiny import BIG_V, ToyTokenizer, plant, tiny_big_vocab, tiny_model

SW = (1, 5, 17)


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


def test_scale_one_is_identity_and_zero_is_pruning():
    ids = torch.randint(0, 128, (1, 12))
    model = plant(tiny_model("llama"), *SW)
    base = _logits(model, ids)
    scale_weights(model, [SW], 1.0)
    assert torch.equal(_logits(model, ids), base)
    scale_weights(model, [SW], 0.0)
    scaled0 = _logits(model, ids)
    other = plant(tiny_model("llama"), *SW)
    zero_weights(other, [SW])
    assert torch.equal(scaled0, _logits(other, ids))
    assert not torch.allclose(scaled0, base)


class WordTokenizer:
    """decode() of a tiny fixed vocabulary, with byte-level BPE space markers on some words."""

    vocab = ["\u0120the", ".", ",", "\u0120cat", "\u0120of", "dog", "\u2581and", "zebra"]

    def decode(self, ids):
        return "".join(self.vocab[i] for i in ids)


def test_stopword_mass_on_hand_built_distribution():
    tok = WordTokenizer()
    assert token_text(tok, 0) == "the" and token_text(tok, 6) == "and"
    p0 = torch.tensor([0.10, 0.05, 0.05, 0.40, 0.10, 0.10, 0.10, 0.10], dtype=torch.float64)
    p1 = torch.tensor([0.20, 0.20, 0.30, 0.10, 0.05, 0.05, 0.05, 0.05], dtype=torch.float64)
    rows, s = stopword_table(tok, p0, p1, top_k=3)
    # stopwords: the . , of and -> 0.10+0.05+0.05+0.10+0.10 = 0.40; after: 0.2+0.2+0.3+0.05+0.05 = 0.80
    assert s["stopword_mass_original"] == pytest.approx(0.40)
    assert s["stopword_mass_no_super_weight"] == pytest.approx(0.80)
    assert s["ratio_the"] == pytest.approx(2.0) and s["ratio_,"] == pytest.approx(6.0)
    assert rows[0]["token"] == "cat" and rows[0]["stopword"] is False and rows[0]["ratio"] == pytest.approx(0.25)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    is_stop = torch.tensor([True, True, True, False, True, False, True, False])
    assert stopword_mass(p0, is_stop) == pytest.approx(0.40)


def test_lambada_prompts_drop_last_word():
    assert lambada_prompts(["a b c", "x  y"]) == ["a b", "x "]


def test_propagation_of_planted_spike():
    model = plant(tiny_model("llama"), *SW)
    before = {n: p.clone() for n, p in model.named_parameters()}
    rows = propagation(model, ToyTokenizer(), "Summer is hot. Winter is", [SW], "count", 5)
    by = {}
    for r in rows:
        by.setdefault(r["condition"], []).append(r)
    assert list(by) == ["original", "super weights removed", "other outliers removed", "all removed"]
    orig = by["original"]
    # the planted super activation appears after layer 1 (hidden state 2) and persists in channel 5 through the
    # residual stream (the last hidden state is after the final norm, so it is left out)
    assert all(r["channel"] == 5 for r in orig[2:-1])
    assert min(r["max_abs"] for r in orig[2:-1]) > 20 * max(r["max_abs"] for r in by["super weights removed"][2:-1])
    # pruning other outliers keeps the super weight, so the spike stays
    assert by["other outliers removed"][3]["channel"] == 5
    assert by["other outliers removed"][3]["max_abs"] > 20 * by["all removed"][3]["max_abs"]
    for n, p in model.named_parameters():  # everything restored
        assert torch.equal(p, before[n]), n


def test_mean_next_token_probs_equal_full_softmax_and_make_no_all_positions_logits():
    from test_perplexity import _Allocations

    model = tiny_big_vocab()
    tok, prompts = ToyTokenizer(), ["Summer is hot. Winter is", "The capital of France is", "a"]
    with torch.no_grad():
        want = sum(torch.softmax(model(tok(p, return_tensors="pt")["input_ids"]).logits[0, -1].double(), -1)
                   for p in prompts) / len(prompts)
    with _Allocations() as a:
        got = mean_next_token_probs(model, tok, prompts)
    assert got.shape == (BIG_V,) and got.dtype == torch.float64
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-5)
    assert float(got.sum()) == pytest.approx(1.0)
    # the longest prompt's logits at every position would be 24 x 262,144 floats; one position's are the largest
    largest, op = max(a.sizes)
    assert largest <= BIG_V * 8, (largest, op)  # one float64 distribution
