import pytest
import torch

from superweight.analysis.propagation import propagation
from superweight.analysis.stopwords import (lambada_prompts, mean_next_token_probs, stopword_mass, stopword_table,
                                  token_text)
from superweight.interventions.edits import scale_weights, zero_weights
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
    # rows are decoder-layer outputs: the planted super activation appears in layer 1's output and persists in
    # channel 5 through every later layer
    assert [r["layer"] for r in orig] == [0, 1, 2, 3]
    assert all(r["channel"] == 5 for r in orig[1:])
    assert min(r["max_abs"] for r in orig[1:]) > 20 * max(r["max_abs"] for r in by["super weights removed"][1:])
    # pruning other outliers keeps the super weight, so the spike stays
    assert by["other outliers removed"][3]["channel"] == 5
    assert by["other outliers removed"][3]["max_abs"] > 20 * by["all removed"][3]["max_abs"]
    for n, p in model.named_parameters():  # everything restored
        assert torch.equal(p, before[n]), n


class _FixedNextToken(torch.nn.Module):
    """A stand-in Llama-shaped LM whose next-token logits depend on the prompt's length only (known per-prompt
    values): its decoder's hidden state already holds those logits, its "LM head" is the identity."""

    def __init__(self, logits_by_len):
        from types import SimpleNamespace

        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.head = torch.nn.Identity()
        self.model = _FixedDecoder(logits_by_len)
        self.config = SimpleNamespace(model_type="llama")

    def get_output_embeddings(self):
        return self.head

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.head(self.model(input_ids).last_hidden_state))


class _FixedDecoder(torch.nn.Module):
    def __init__(self, logits_by_len):
        super().__init__()
        self.layers = torch.nn.ModuleList()
        self.table = logits_by_len

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        from types import SimpleNamespace

        row = torch.tensor(self.table[input_ids.shape[1]], dtype=torch.float32)
        return SimpleNamespace(last_hidden_state=row.expand(1, input_ids.shape[1], -1))


class _Tok(WordTokenizer):
    def __call__(self, text, return_tensors=None):
        return {"input_ids": torch.zeros(1, len(text.split()), dtype=torch.long)}


def test_per_prompt_stopword_values_behind_the_means():
    from superweight.analysis.stopwords import mean_next_token_probs, per_prompt_summary, stopword_tracks

    tok = _Tok()
    p1 = torch.tensor([0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.0], dtype=torch.float64)
    p2 = torch.tensor([0.1, 0.1, 0.3, 0.2, 0.1, 0.1, 0.1, 0.0], dtype=torch.float64)
    model = _FixedNextToken({1: torch.log(p1 + 1e-12).tolist(), 2: torch.log(p2 + 1e-12).tolist()})
    track = stopword_tracks(tok, 8)
    assert set(track) == {"stopword_mass", "the:0", ".:1", ",:2"}
    per = {}
    mean = mean_next_token_probs(model, tok, ["a", "a b"], "t", track, per)
    assert mean.tolist() == pytest.approx(((p1 + p2) / 2).tolist(), abs=1e-6)  # float32 logits
    # stopwords: the . , of and -> 0.5+0.1+0.1+0.1+0.05 = 0.85 and 0.1+0.1+0.3+0.1+0.1 = 0.7
    assert per["stopword_mass"] == pytest.approx([0.85, 0.7], abs=1e-6)
    assert per[",:2"] == pytest.approx([0.1, 0.3], abs=1e-6)
    assert sum(per["stopword_mass"]) / 2 == pytest.approx(stopword_mass(mean, track["stopword_mass"]))
    _, summary = stopword_table(tok, mean, mean, top_k=3)
    pp = per_prompt_summary(summary, per, per)
    assert pp["the"]["token_id"] == 0 and pp["the"]["original"] == pytest.approx([0.5, 0.1], abs=1e-6)
    assert pp["stopword_mass"]["no_super_weight"] == per["stopword_mass"]


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
