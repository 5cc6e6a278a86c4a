"""Tiny random models built in code, with planted super weights whose coordinates the tests know."""
from __future__ import annotations

import torch
import transformers as tf

from superweight.models.adapters import get_adapter

H, I, L, V = 32, 64, 4, 128

CONFIGS = {
    "llama": lambda: tf.LlamaConfig(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                    num_key_value_heads=4, vocab_size=V, max_position_embeddings=256),
    "mistral": lambda: tf.MistralConfig(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                        num_key_value_heads=2, vocab_size=V, max_position_embeddings=256),
    "qwen2": lambda: tf.Qwen2Config(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                    num_key_value_heads=2, vocab_size=V, max_position_embeddings=256),
    "gemma": lambda: tf.GemmaConfig(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                    num_key_value_heads=1, head_dim=8, vocab_size=V, max_position_embeddings=256),
    "phi3": lambda: tf.Phi3Config(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                  num_key_value_heads=4, vocab_size=V, max_position_embeddings=256, pad_token_id=0),
    "olmo": lambda: tf.OlmoConfig(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                  vocab_size=V, max_position_embeddings=256, pad_token_id=0),
    "gpt2": lambda: tf.GPT2Config(n_embd=H, n_inner=I, n_layer=L, n_head=4, vocab_size=V, n_positions=256),
    "opt": lambda: tf.OPTConfig(hidden_size=H, ffn_dim=I, num_hidden_layers=L, num_attention_heads=4, vocab_size=V,
                                word_embed_proj_dim=H, max_position_embeddings=256),
    "gpt_neox": lambda: tf.GPTNeoXConfig(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                         vocab_size=V, max_position_embeddings=256),
    "falcon": lambda: tf.FalconConfig(hidden_size=H, ffn_hidden_size=I, num_hidden_layers=L, num_attention_heads=4,
                                      vocab_size=V, max_position_embeddings=256),
    "gemma2": lambda: tf.Gemma2Config(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                      num_key_value_heads=1, head_dim=8, vocab_size=V, max_position_embeddings=256),
    "olmo2": lambda: tf.Olmo2Config(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                    vocab_size=V, max_position_embeddings=256, pad_token_id=0, eos_token_id=1),
    "qwen3": lambda: tf.Qwen3Config(hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=4,
                                    num_key_value_heads=2, head_dim=8, vocab_size=V, max_position_embeddings=256),
}

# the MLP modules whose output rows feed the down projection's input channel ``col``
_UP = {
    "llama": ["mlp.gate_proj", "mlp.up_proj"], "mistral": ["mlp.gate_proj", "mlp.up_proj"],
    "qwen2": ["mlp.gate_proj", "mlp.up_proj"], "gemma": ["mlp.gate_proj", "mlp.up_proj"],
    "olmo": ["mlp.gate_proj", "mlp.up_proj"], "phi3": ["mlp.gate_up_proj"], "gpt2": ["mlp.c_fc"],
    "opt": ["fc1"], "gpt_neox": ["mlp.dense_h_to_4h"], "falcon": ["mlp.dense_h_to_4h"],
    "gemma2": ["mlp.gate_proj", "mlp.up_proj"], "olmo2": ["mlp.gate_proj", "mlp.up_proj"],
    "qwen3": ["mlp.gate_proj", "mlp.up_proj"],
}


def tiny_model(family: str = "llama", seed: int = 0):
    torch.manual_seed(seed)
    cfg = CONFIGS[family]()
    cfg._attn_implementation = "eager"
    model = tf.AutoModelForCausalLM.from_config(cfg).eval()
    return model


def _get(mod, path):
    for p in path.split("."):
        mod = getattr(mod, p)
    return mod


# OLMo-2 feeds its MLP the un-normalized residual stream (small at init): a larger boost makes the outlier
_BOOST = {"olmo2": 600.0}


@torch.no_grad()
def plant(model, layer: int, row: int, col: int, weight: float = 40.0, boost: float | None = None,
          family: str | None = None):
    """A super weight at (layer, row, col) and a matching input outlier at channel col."""
    family = family or model.config.model_type
    boost = boost if boost is not None else _BOOST.get(family, 60.0)
    a = get_adapter(model)
    block = a.layers(model)[layer]
    for name in _UP[family]:
        m = _get(block, name)
        w = m.weight
        if family == "gpt2":  # Conv1D (in, out)
            w[:, col] *= boost
            if m.bias is not None:
                m.bias[col] = 1.0
        elif family == "phi3":  # fused gate|up
            w[col] *= boost
            w[I + col] *= boost
        else:
            w[col] *= boost
            if getattr(m, "bias", None) is not None:
                m.bias[col] = 1.0
    a.set_weight(model, layer, row, col, weight)
    return model


class ToyTokenizer:
    """Enough of a tokenizer for detection on tiny models: one id per character."""

    def __call__(self, text, return_tensors=None, add_special_tokens=True):
        ids = [ord(ch) % V for ch in text]
        if return_tensors == "pt":
            return {"input_ids": torch.tensor([ids])}
        return {"input_ids": ids}


BIG_V = 262144  # Gemma-3's vocabulary: the case where full-vocabulary logits dominate memory


def tiny_big_vocab(hidden: int = H, layers: int = 2, seed: int = 0):
    """A tiny Llama with a 262,144-token vocabulary and tied embeddings (as Gemma-3 270M): its weights are mostly
    the embedding, and a forward's full logits would dwarf them."""
    torch.manual_seed(seed)
    cfg = tf.LlamaConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=4, vocab_size=BIG_V, max_position_embeddings=2048,
                         tie_word_embeddings=True)
    cfg._attn_implementation = "eager"
    return tf.AutoModelForCausalLM.from_config(cfg).eval()
