import contextlib

import pytest
import torch

from superweight.ablation import NoSuperWeight, apply_condition
from superweight.adapters import get_adapter
from superweight.intervene import InterventionError, RestoreSuperActivation, prune_nonsw, scale_weights, zero_weights
from tiny import tiny_model, plant

SW = (1, 5, 17)


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _changed(model, before):
    """{param name: number of changed entries}"""
    return {n: int((p != before[n]).sum()) for n, p in model.named_parameters() if (p != before[n]).any()}


def test_zero_changes_exactly_the_super_weight():
    model = plant(tiny_model("llama"), *SW)
    before = _snapshot(model)
    rec = zero_weights(model, [SW])
    assert rec == [{"layer": 1, "row": 5, "col": 17, "before": 40.0, "after": 0.0}]
    assert _changed(model, before) == {"model.layers.1.mlp.down_proj.weight": 1}
    with pytest.raises(InterventionError, match="already 0"):
        zero_weights(model, [SW])


def test_scale_gpt2_transposed():
    model = plant(tiny_model("gpt2"), *SW)
    scale_weights(model, [SW], 2.0)
    assert model.transformer.h[1].mlp.c_proj.weight[17, 5].item() == 80.0


@pytest.mark.parametrize("rule,amount,expected", [("count", 7, 7), ("fraction", 1e-3, None)])
def test_prune_nonsw_global(rule, amount, expected):
    model = plant(tiny_model("llama"), *SW)
    a = get_adapter(model)
    before = _snapshot(model)
    total = sum(m.weight.numel() for _, m, _ in a.linear_modules(model))
    n = expected if expected is not None else int(total * amount)
    s = prune_nonsw(model, [SW], rule, amount)
    assert s["n_pruned"] == n == sum(_changed(model, before).values())
    assert a.get_weight(model, *SW) == 40.0  # the super weight is kept
    # exactly the n largest-magnitude decoder linear weights other than the super weight went to zero
    mags = torch.cat([before[f"{name}.weight"].abs().flatten() for name, _, _ in a.linear_modules(model)])
    mags = mags[mags != 40.0]
    threshold = torch.topk(mags, n).values.min()
    assert s["smallest_pruned"] == pytest.approx(float(threshold))
    for name, mod, _ in a.linear_modules(model):
        w0 = before[f"{name}.weight"]
        pruned = (mod.weight == 0) & (w0 != 0)
        assert (w0[pruned].abs() >= threshold).all()
    # norms and embeddings untouched
    assert all("norm" not in k and "embed" not in k and "lm_head" not in k for k in _changed(model, before))


def test_prune_nonsw_per_tensor_prunes_nothing_in_small_tensors():
    model = plant(tiny_model("llama"), *SW)
    before = _snapshot(model)
    s = prune_nonsw(model, [SW], "per_tensor", 1e-6)  # every tensor has < 1e6 elements
    assert s["n_pruned"] == 0 and _changed(model, before) == {}
    s = prune_nonsw(model, [SW], "per_tensor", 1e-2)  # 32*64 = 2048 elements -> 20 each
    assert s["per_module"]["model.layers.0.mlp.down_proj"] == 20


def _down_out(model, ids, layer):
    got = {}
    h = get_adapter(model).down_proj(model, layer).register_forward_hook(lambda m, i, o: got.update(y=o.detach().clone()))
    with torch.no_grad():
        logits = model(ids).logits
    h.remove()
    return got["y"], logits


def test_restore_puts_back_the_original_activation():
    model = plant(tiny_model("llama"), *SW)
    ids = torch.randint(0, 128, (2, 12))
    orig, _ = _down_out(model, ids, 1)
    restore = RestoreSuperActivation.capture(model, [SW], "max")
    zero_weights(model, [SW])
    pruned, _ = _down_out(model, ids, 1)
    with restore:
        restored, _ = _down_out(model, ids, 1)
    t = orig[..., 5].abs().argmax(-1)
    for b in range(2):
        assert restored[b, t[b], 5] == pytest.approx(float(orig[b, t[b], 5]), rel=1e-5)
        assert restored[b, t[b], 5] != pruned[b, t[b], 5]
    mask = torch.ones_like(orig, dtype=torch.bool)
    mask[torch.arange(2), t, 5] = False
    assert torch.equal(restored[mask], pruned[mask])  # nothing else restored
    assert len(restore.handles) == 0  # hooks removed on exit


def test_restore_at_every_token_equals_not_pruning():
    model = plant(tiny_model("llama"), *SW)
    ids = torch.randint(0, 128, (1, 16))
    _, logits0 = _down_out(model, ids, 1)
    restore = RestoreSuperActivation.capture(model, [SW], "all")
    zero_weights(model, [SW])
    with restore:
        _, logits = _down_out(model, ids, 1)
    torch.testing.assert_close(logits, logits0, rtol=1e-5, atol=1e-5)


def test_conditions_need_a_super_weight():
    model = tiny_model("llama")
    with pytest.raises(NoSuperWeight):
        apply_condition(model, "prune_sw", [])
    model = plant(model, *SW)
    with contextlib.ExitStack() as st:
        rec = apply_condition(model, "prune_sw_restore_sa", [SW], stack=st)
        assert rec["restore"]["hooks"] == 1
        assert get_adapter(model).get_weight(model, *SW) == 0.0
