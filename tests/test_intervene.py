import contextlib

import pytest
import torch

from superweight.interventions.conditions import NoSuperWeight, apply_condition
from superweight.models.adapters import get_adapter
from superweight.interventions.edits import InterventionError, prune_nonsw, scale_weights, zero_weights
from superweight.interventions.restore import RestoreSuperActivation
from tiny import I, plant, tiny_model

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
    with pytest.raises(NoSuperWeight), contextlib.ExitStack() as st:
        apply_condition(model, "prune_sw", [], stack=st)
    model = plant(model, *SW)
    with contextlib.ExitStack() as st:
        rec = apply_condition(model, "prune_sw_restore_sa", [SW], stack=st)
        assert rec["restore"]["hooks"] == 1
        assert get_adapter(model).get_weight(model, *SW) == 0.0


def _down_outs(model, ids, layers):
    """Down-projection inputs and outputs of ``layers`` in one forward (reshaped per sequence)."""
    a, got, hs = get_adapter(model), {}, []
    for l in layers:
        hs.append(a.down_proj(model, l).register_forward_hook(
            lambda m, i, o, l=l: got.update({l: (i[0].detach().reshape(*ids.shape, -1).clone(),
                                                 o.detach().reshape(*ids.shape, -1).clone())})))
    with torch.no_grad():
        logits = model(ids).logits
    for h in hs:
        h.remove()
    return got, logits


def test_restore_in_several_layers_uses_the_unmodified_models_values():
    """Super weights in layers 1 and 2 writing channel 5: layer 2's input is already changed by the pruning
    (layer 1's activation is put back at one token only), yet layer 2 gets the original model's value."""
    model = tiny_model("llama")
    sws = [(1, 5, 17), (2, 5, 30)]
    for sw in sws:
        plant(model, *sw)
    ids = torch.randint(0, 128, (2, 12))
    orig, _ = _down_outs(model, ids, [1, 2])
    restore = RestoreSuperActivation.capture(model, sws, "max")
    zero_weights(model, sws)
    with restore:
        got, _ = _down_outs(model, ids, [1, 2])
    assert not torch.allclose(got[2][0], orig[2][0], rtol=1e-3, atol=1e-3)  # layer 2 sees a changed input
    for l in (1, 2):
        t = orig[l][1][..., 5].abs().argmax(-1)
        for b in range(2):
            assert got[l][1][b, t[b], 5] == pytest.approx(float(orig[l][1][b, t[b], 5]), rel=1e-5), (l, b)
    # recomputing layer 2's value from its changed input (the earlier behaviour) gives something else
    w_row = restore.rows[(2, 5)]
    t = orig[2][1][..., 5].abs().argmax(-1)
    stale = (got[2][0] @ w_row)[torch.arange(2), t]
    assert not torch.allclose(stale, orig[2][1][torch.arange(2), t, 5], rtol=1e-3)
    assert len(restore.handles) == 0


def test_restore_in_several_layers_refuses_a_kv_cache():
    model = tiny_model("llama")
    sws = [(1, 5, 17), (2, 5, 30)]
    for sw in sws:
        plant(model, *sw)
    ids = torch.randint(0, 128, (1, 8))
    restore = RestoreSuperActivation.capture(model, sws, "max")
    zero_weights(model, sws)
    with torch.no_grad():
        pkv = model(ids, use_cache=True).past_key_values  # a filled cache
        with restore, pytest.raises(InterventionError, match="whole sequences"):
            model(ids[:, -1:], past_key_values=pkv, use_cache=True)


def test_opt_restores_per_sequence():
    """OPT runs its MLP on (batch * tokens, features): a batch of two sequences restores one token in each,
    so the batch's logits equal each sequence's alone."""
    model = plant(tiny_model("opt"), *SW)
    ids = torch.randint(4, 128, (2, 10))
    restore = RestoreSuperActivation.capture(model, [SW], "max")
    zero_weights(model, [SW])
    with restore, torch.no_grad():
        batch = model(ids).logits
        alone = torch.cat([model(ids[b:b + 1]).logits for b in range(2)])
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-5)
    assert len(restore.restored[0]["token"]) == 2  # one restored token per sequence


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_restore_first_pass_is_the_original_model_and_exit_restores_everything():
    """Several layers: ``first_pass`` (an explicit whole forward) returns the unmodified model's values of every
    super-weight channel at every token; after the context, no hook is left and every weight is bitwise equal."""
    model = tiny_model("llama")
    sws = [(1, 5, 17), (2, 5, 30)]
    for sw in sws:
        plant(model, *sw)
    ids = torch.randint(0, 128, (2, 12))
    orig, _ = _down_outs(model, ids, [1, 2])
    restore = RestoreSuperActivation.capture(model, sws, "max")
    zero_weights(model, sws)
    before, hooks = _snapshot(model), _hook_count(model)
    with restore, torch.no_grad():
        got = restore.first_pass((ids,), {})
        model(ids)
    for l in (1, 2):
        torch.testing.assert_close(got[(l, 5)], orig[l][1][..., 5], rtol=1e-5, atol=1e-4)
    assert _hook_count(model) == hooks and _changed(model, before) == {}
    with pytest.raises(InterventionError, match="first pass did not run"):  # the hooks alone, outside the model
        with restore, torch.no_grad():
            get_adapter(model).down_proj(model, 1)(torch.zeros(1, 3, I))
    assert _hook_count(model) == hooks


@pytest.mark.parametrize("sws", [[SW], [(1, 5, 17), (2, 5, 30)]], ids=["one_layer", "two_layers"])
def test_restore_skips_padding_the_attention_mask_marks(sws):
    """A right-padded batch with its attention mask restores, in each sequence, the token an unpadded run restores:
    padding whose activation is larger does not take the argmax (without the mask it does)."""
    model = tiny_model("llama")
    for sw in sws:
        plant(model, *sw)
    torch.manual_seed(1)
    seq = torch.randint(0, 128, (1, 6))
    with torch.no_grad():  # the padding token: the one whose super activation is largest after ``seq``
        orig, _ = _down_out(model, torch.cat([seq.expand(128, -1), torch.arange(128)[:, None]], 1), 1)
    pad = int(orig[:, -1, 5].abs().argmax())
    ids = torch.cat([seq, torch.full((1, 4), pad)], 1)
    mask = torch.tensor([[1] * 6 + [0] * 4])
    restore = RestoreSuperActivation.capture(model, sws, "max")
    zero_weights(model, sws)
    with restore, torch.no_grad():
        alone = model(seq).logits
        masked = model(ids, attention_mask=mask).logits[:, :6]
        unmasked = model(ids).logits[:, :6]
    torch.testing.assert_close(masked, alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unmasked, alone, rtol=1e-3, atol=1e-3)
