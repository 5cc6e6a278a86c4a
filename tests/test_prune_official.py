"""The official code's outlier rules, on tensors whose result is worked out by hand here.

Official non-SW pruning (outliers/model.py, search_percentage): per tensor, k = int(numel * amount), threshold = the
k-th largest |w| with the super weight ranked too, zero every |w| >= threshold (ties included), put the super
weight back. Official Fig. 4 removal (analyze.py remove_outliers): the same per-tensor cut over every weight tensor."""
import pytest
import torch
from torch import nn

from superweight.analysis.propagation import layer_output_maxima, propagation
from superweight.detect.spikes import residual_maxima
from superweight.interventions.edits import prune_all_weights_per_tensor, prune_nonsw, undo_prune
from tiny import ToyTokenizer, plant, tiny_model

SW = (1, 5, 17)
AMOUNT = 0.0015  # k = int(2048 * 0.0015) = 3 in each 32x64 / 64x32 MLP matrix, 1 in each 32x32 attention matrix


def _planted(dtype):
    """A tiny Llama whose decoder linear weights are 0 except a few hand-placed values."""
    model = tiny_model("llama").to(dtype)
    with torch.no_grad():
        for layer in model.model.layers:
            for mod in layer.modules():
                if isinstance(mod, nn.Linear):
                    mod.weight.zero_()
        a = model.model.layers[1].mlp.down_proj.weight  # holds the super weight
        a[5, 17] = 40.0
        a[0, 0], a[1, 1], a[2, 2] = 3.0, -2.0, 1.0
        b = model.model.layers[0].mlp.down_proj.weight  # a tie at the threshold
        b[0, 0], b[1, 1], b[2, 2], b[3, 3], b[4, 4] = 5.0, 4.0, -4.0, 4.0, 1.0
        q = model.model.layers[0].self_attn.q_proj.weight  # k = 1
        q[0, 1], q[2, 3] = -0.5, 0.25
    return model


def _zeroed_positions(model, before):
    return {(n, tuple(i.tolist())) for n, p in model.named_parameters()
            for i in ((p == 0) & (before[n] != 0)).nonzero()}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_official_nonsw_pruning_by_hand(dtype):
    model = _planted(dtype)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    s = prune_nonsw(model, [SW], "official", AMOUNT)
    # layer 1 down: |w| = 40 (SW), 3, 2, 1 -> 3rd largest = 2: 40, 3, -2 selected, the SW put back -> 3 and -2 zeroed
    # layer 0 down: 5, 4, 4, 4, 1 -> 3rd largest = 4: 5 and all three 4s (a tie beyond k)
    # layer 0 q_proj: k = 1 -> only -0.5. Every other tensor is all zeros: nothing changes.
    d1, d0, q = "model.layers.1.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.weight", \
        "model.layers.0.self_attn.q_proj.weight"
    assert _zeroed_positions(model, before) == {(d1, (0, 0)), (d1, (1, 1)), (d0, (0, 0)), (d0, (1, 1)), (d0, (2, 2)),
                                                (d0, (3, 3)), (q, (0, 1))}
    assert s["n_pruned"] == 7 and s["ties_beyond_k"] == 1
    assert s["super_weights_ranked_and_kept"] == ["model.layers.1.mlp.down_proj"]
    assert model.model.layers[1].mlp.down_proj.weight[5, 17].item() == 40.0
    assert model.model.layers[1].mlp.down_proj.weight[2, 2].item() == 1.0


def test_project_per_tensor_rule_takes_exactly_k_without_the_super_weight():
    model = _planted(torch.float32)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    s = prune_nonsw(model, [SW], "per_tensor", AMOUNT)
    # layer 1 down: the SW is not ranked, so 3, -2 and 1 go; layer 0 down: exactly 3 of 5, 4, 4, 4
    z = _zeroed_positions(model, before)
    d1 = "model.layers.1.mlp.down_proj.weight"
    assert {(d1, (0, 0)), (d1, (1, 1)), (d1, (2, 2))} <= z
    assert s["per_module"]["model.layers.0.mlp.down_proj"] == 3 and len(z) == 3 + 3 + 1


def test_official_all_weights_rule_by_hand():
    net = nn.Sequential(nn.Linear(4, 5), nn.LayerNorm(5))
    with torch.no_grad():
        net[0].weight.copy_(torch.arange(20, dtype=torch.float32).reshape(5, 4) / 10 - 1.0)  # -1.0 ... 0.9
        net[0].bias.fill_(7.0)
        net[1].weight.fill_(1.0)  # 5 equal values
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    s = prune_all_weights_per_tensor(net, 0.1, keep_undo=True)
    # linear weight: k = int(20 * 0.1) = 2; |w| sorted: 1.0, 0.9, 0.9, ... -> threshold 0.9: -1.0, -0.9 and 0.9
    w = before["0.weight"].flatten()
    assert sorted(w[(net[0].weight.flatten() == 0) & (w != 0)].tolist()) == pytest.approx([-1.0, -0.9, 0.9])
    # the norm's weight: k = int(5 * 0.1) = 0 -> skipped; biases never ranked
    assert torch.equal(net[1].weight, before["1.weight"]) and torch.equal(net[0].bias, before["0.bias"])
    assert s["n_pruned"] == 3
    undo_prune(net, s)
    assert all(torch.equal(p, before[n]) for n, p in net.named_parameters())


def test_layer_outputs_are_the_residual_stream_after_each_decoder_layer():
    model = plant(tiny_model("llama"), *SW)
    ids = torch.randint(0, 128, (1, 10))
    with torch.no_grad():
        outs, hs = layer_output_maxima(model, ids), residual_maxima(model, ids)
    assert [r["layer"] for r in outs] == [0, 1, 2, 3]
    for r, h in zip(outs[:-1], hs[1:-1]):  # hidden_states: embeddings first, final norm last
        assert r["max_abs"] == pytest.approx(h["max_abs"]) and r["channel"] == h["channel"]


def test_propagation_with_the_official_outlier_rule():
    model = plant(tiny_model("llama"), *SW)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    rows = propagation(model, ToyTokenizer(), "Summer is hot. Winter is", [SW], "count", 5, outliers="official",
                       official_amount=0.01)  # 1% of each tensor with >= 100 elements (norms of 32 are skipped)
    by = {}
    for r in rows:
        by.setdefault(r["condition"], []).append(r)
    assert list(by) == ["original", "super weights removed", "other outliers removed", "all removed"]
    # the super weight is kept when the other outliers go: its activation still leads channel 5 after layer 1
    other, gone = by["other outliers removed"], by["all removed"]
    assert all(r["channel"] == 5 for r in other[1:])
    assert min(r["max_abs"] for r in other[1:]) > 10 * max(r["max_abs"] for r in gone[1:])
    for n, p in model.named_parameters():  # everything restored
        assert torch.equal(p, before[n]), n


def test_official_rule_prunes_only_the_official_scripts_layers():
    """search_percentage_1e-6_0-32_all: decoder layers 0-31 only. A 34-layer model keeps layers 32 and 33 whole
    under the official rule; per_tensor prunes them too."""
    import transformers as tf

    torch.manual_seed(0)
    cfg = tf.LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=34, num_attention_heads=2,
                         num_key_value_heads=2, vocab_size=64, max_position_embeddings=64)
    cfg._attn_implementation = "eager"
    base = tf.AutoModelForCausalLM.from_config(cfg).eval()
    amount = 1 / 256  # k = 2 in each 16x32 MLP matrix, 1 in each 16x16 attention matrix
    counts = {}
    for rule in ("official", "per_tensor"):
        model = type(base)(cfg).eval()
        model.load_state_dict(base.state_dict())
        before = {n: p.clone() for n, p in model.named_parameters()}
        s = prune_nonsw(model, [], rule, amount)
        changed = {int(n.split(".")[2]) for n, p in model.named_parameters()
                   if n.startswith("model.layers.") and not torch.equal(p, before[n])}
        counts[rule] = changed
        if rule == "official":
            assert s["layers"] == [0, 32] and s["layers_outside_range"] == [32, 33]
    assert counts["official"] == set(range(32))
    assert counts["per_tensor"] == set(range(34))
