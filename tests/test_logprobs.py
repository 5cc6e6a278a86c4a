"""Chunked next-token log-probabilities equal the full log-softmax of the model's logits, for every family."""
import pytest
import torch
import transformers as tf

from superweight.scoring.logprobs import next_token_logprobs
from tiny import CONFIGS, H, I, V, tiny_model


def _full(model, x):
    logits = model(x).logits.float()
    return torch.log_softmax(logits[:, :-1], -1).gather(-1, x[:, 1:, None]).squeeze(-1)


@pytest.mark.parametrize("family", sorted(CONFIGS))
@pytest.mark.parametrize("chunk", [1, 7, None])
def test_chunked_equals_full_log_softmax(family, chunk):
    model = tiny_model(family)
    x = torch.randint(0, V, (2, 23), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = _full(model, x)
    got = next_token_logprobs(model, x, chunk=chunk)
    assert got.shape == (2, 22)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_final_logit_softcapping_is_applied():
    cfg = tf.Gemma2Config(hidden_size=H, intermediate_size=I, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=1, head_dim=8, vocab_size=V, max_position_embeddings=64,
                          final_logit_softcapping=0.5)  # a tight cap changes every logit
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(cfg).eval()
    x = torch.randint(0, V, (1, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = _full(model, x)
    torch.testing.assert_close(next_token_logprobs(model, x, chunk=5), want, atol=1e-5, rtol=1e-5)
