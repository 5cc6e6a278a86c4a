"""evaluate() keeps each document's outcome, keyed by doc_id, consistent with lm-eval's aggregate."""
import pytest
import torch
import transformers as tf

from superweight.scoring.zeroshot import materialize_tasks, task_result


def _byte_tokenizer():
    """A byte-level tokenizer built in code (256 byte tokens + EOS), no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab["<eos>"] = 256
    t = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    return tf.PreTrainedTokenizerFast(tokenizer_object=t, eos_token="<eos>", pad_token="<eos>")


def test_task_result_sorts_by_doc_id_and_checks_the_aggregate():
    samples = [{"doc_id": 2, "acc": 1.0, "acc_norm": 0.0}, {"doc_id": 0, "acc": 0.0, "acc_norm": 1.0},
               {"doc_id": 1, "acc": 1.0, "acc_norm": 1.0}]
    r = task_result({"acc,none": 2 / 3, "acc_norm,none": 2 / 3}, samples, 3)
    assert r["docs"] == {"doc_id": [0, 1, 2], "acc": [0.0, 1.0, 1.0], "acc_norm": [1.0, 1.0, 0.0]}
    assert r["n"] == 3 and r["acc_se"] == pytest.approx((2 / 3 * 1 / 3 / 3) ** 0.5)
    with pytest.raises(RuntimeError, match="does not average"):
        task_result({"acc,none": 0.9}, samples, 3)


def test_evaluate_keeps_per_document_outcomes(tmp_path, data_dir):
    from superweight.scoring.zeroshot import evaluate

    torch.manual_seed(0)
    cfg = tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, vocab_size=257, max_position_embeddings=2048)
    model = tf.AutoModelForCausalLM.from_config(cfg).eval()
    task_dir = materialize_tasks(data_dir, tmp_path / "tasks", ["piqa", "lambada_openai"])
    out = evaluate(model, _byte_tokenizer(), {"piqa": 4, "lambada_openai": 3}, task_dir, batch_size=4)
    piqa, lam = out["piqa"], out["lambada_openai"]
    assert piqa["docs"]["doc_id"] == [0, 1, 2, 3] and len(piqa["docs"]["acc_norm"]) == 4
    assert sum(piqa["docs"]["acc"]) / 4 == pytest.approx(piqa["acc"])
    assert piqa["acc_se"] == pytest.approx((piqa["acc"] * (1 - piqa["acc"]) / 4) ** 0.5)
    assert lam["n"] == 3 and "acc_norm" not in lam["docs"] and lam["acc_norm"] is None
