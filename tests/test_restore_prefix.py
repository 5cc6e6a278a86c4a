"""The restore's first pass through decoder layers 0..k only (``run_layers``): in every tiny family, the same
captured values and the same model outputs, bitwise, as the whole first pass; the model's layer list, every
parameter and the hooks are never changed."""
import pytest
import torch

from superweight.interventions.edits import zero_weights
from superweight.interventions.restore import RestoreSuperActivation
from superweight.models.adapters import decoder, get_adapter, run_layers
from tiny import CONFIGS, L, plant, tiny_model

SWS = [(1, 5, 17), (2, 5, 30)]  # the last super-weight layer is 2: the first pass needs layers 0..2 of 4
FAMILIES = sorted(CONFIGS)


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _calls(model):
    """Forward-pre hooks counting each decoder layer's calls: (counts, handles)."""
    counts = [0] * L
    handles = [blk.register_forward_pre_hook(lambda m, a, i=i: counts.__setitem__(i, counts[i] + 1))
               for i, blk in enumerate(get_adapter(model).layers(model))]
    return counts, handles


def _batch():
    torch.manual_seed(3)
    ids = torch.randint(4, 128, (2, 10))
    mask = torch.ones_like(ids)
    mask[1, -3:] = 0  # right padding in the second sequence
    return ids, mask


@pytest.mark.parametrize("family", FAMILIES)
def test_truncated_first_pass_equals_the_whole_one(family, one_thread):
    """Captured values torch.equal; logits (and hidden states requested by the caller) torch.equal; the truncated
    restore runs the layer after the last super weight once per forward, the whole one twice. Each restore is the
    first to request hidden states in turn: the truncated pass must not leave transformers' capturing hooks on a
    prefix of the layers."""
    model = tiny_model(family)
    for sw in SWS:
        plant(model, *sw)
    ids, mask = _batch()
    a = get_adapter(model)
    with torch.no_grad():  # the unmodified model's super-weight channel
        orig = {}
        hs = [a.down_proj(model, l).register_forward_hook(
            lambda m, i, o, l=l: orig.update({l: o.reshape(*ids.shape, -1)[..., 5].clone()})) for l, _, _ in SWS]
        model(ids, attention_mask=mask)
        for h in hs:
            h.remove()
    cut = RestoreSuperActivation.capture(model, SWS, "max")
    whole = RestoreSuperActivation.capture(model, SWS, "max", whole_first_pass=True)
    zero_weights(model, SWS)
    got, hooks = {}, []
    for name, restore in (("cut", cut), ("whole", whole)):
        counts, handles = _calls(model)
        with restore, torch.no_grad():
            captured = restore.first_pass((ids,), {"attention_mask": mask})
            first = list(counts)
            out = model(ids, attention_mask=mask, output_hidden_states=True)
        for h in handles:
            h.remove()
        got[name] = (captured, out, first, [c - f for c, f in zip(counts, first)])
        hooks.append(_hooks(model))
    (c_cap, c_out, c_first, c_fwd), (w_cap, w_out, w_first, w_fwd) = got["cut"], got["whole"]
    assert c_first == [1, 1, 1, 0] and w_first == [1] * L  # the explicit first pass alone
    assert c_fwd == [2, 2, 2, 1] and w_fwd == [2] * L  # a restored forward: first pass, then the modified pass
    assert c_cap.keys() == w_cap.keys() == {(1, 5), (2, 5)}
    for k in c_cap:
        assert torch.equal(c_cap[k], w_cap[k]), k
        torch.testing.assert_close(c_cap[k], orig[k[0]], rtol=1e-5, atol=1e-4)  # the original model's values
    assert torch.equal(c_out.logits, w_out.logits)
    assert len(c_out.hidden_states) == len(w_out.hidden_states) == L + 1
    assert all(torch.equal(x, y) for x, y in zip(c_out.hidden_states, w_out.hidden_states))
    # none left by either restore (the first output_hidden_states installs transformers' capturing hooks for good:
    # on every layer, as the hidden states' count shows, since the first pass requests none)
    assert hooks[0] == hooks[1]


@pytest.mark.parametrize("family", FAMILIES)
def test_run_layers_runs_a_prefix_and_changes_nothing(family, one_thread):
    """Layers 0 and 1 only, each giving what it gives in the whole forward; the decoder's own hooks do not see the
    pass; the model's layer list is the same object throughout, its parameters, state and hooks unchanged."""
    model = plant(tiny_model(family), *SWS[0])
    a = get_adapter(model)
    layers, hooks = a.layers(model), _hooks(model)
    before = [(n, p.detach().clone()) for n, p in model.named_parameters()]
    keys = list(model.state_dict())
    ids, mask = _batch()
    out1, whole = [], []  # layer 1's hidden states, per pass; the decoder's forwards its hooks saw
    h = layers[1].register_forward_hook(lambda m, i, o: out1.append(o[0] if isinstance(o, tuple) else o))
    d = decoder(model).register_forward_pre_hook(lambda m, args: whole.append(1))
    counts, handles = _calls(model)
    with torch.no_grad():
        model(ids, attention_mask=mask, use_cache=False)
        h2 = run_layers(model, 2, ids, attention_mask=mask, use_cache=False)
        assert a.layers(model) is layers and len(layers) == L
    for x in handles + [h, d]:
        x.remove()
    assert counts == [2, 2, 1, 1] and whole == [1]  # the whole forward, then layers 0 and 1 only
    assert torch.equal(out1[0], out1[1])  # layer 1's output is the whole forward's
    assert h2.shape == (*ids.shape, model.config.hidden_size) or h2.shape[:2] == ids.shape
    assert a.layers(model) is layers and _hooks(model) == hooks and list(model.state_dict()) == keys
    after = list(model.named_parameters())
    assert [n for n, _ in after] == [n for n, _ in before]
    assert all(torch.equal(p, q) for (_, p), (_, q) in zip(after, before))


def test_run_layers_refuses_a_bad_count():
    model = tiny_model("llama")
    ids = torch.randint(4, 100, (1, 5))
    for n in (0, L + 1):
        with pytest.raises(ValueError, match=rf"n={n} not in 1..{L}"):
            run_layers(model, n, ids)
