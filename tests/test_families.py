"""Every adapter on a tiny model built from its family's real transformers config class, with a super weight planted
at coordinates of its own: every intervention, the restore hook, W8A8 hooks and their error bounds (detection,
Hadamard and skip: test_detect, test_mechanism)."""
import contextlib

import pytest
import torch

from superweight.interventions.conditions import apply_condition
from superweight.models.adapters import get_adapter
from superweight.interventions.restore import RestoreSuperActivation
from superweight.quant.w8a8 import W8A8, sa_channels
from tiny import CONFIGS, H, I, L, plant, tiny_model

# a different (layer, row, col) per family, so an adapter that mixes up rows and columns, or layers, cannot pass
COORDS = {f: (k % (L - 1), (5 + 7 * k) % H, (17 + 11 * k) % I) for k, f in enumerate(sorted(CONFIGS))}
IDS = torch.randint(0, 128, (1, 12), generator=torch.Generator().manual_seed(0))


def _logits(model):
    with torch.no_grad():
        return model(IDS).logits


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _down_io(model, layer):
    """The down projection's input and output at ``layer`` for IDS."""
    io = {}
    h = get_adapter(model).down_proj(model, layer).register_forward_hook(
        lambda m, args, out: io.update(x=args[0].detach().clone(), y=out.detach().clone()))
    _logits(model)
    h.remove()
    return io["x"], io["y"]


def test_coordinates_differ_per_family():
    assert len(set(COORDS.values())) == len(COORDS) and len({c[0] for c in COORDS.values()}) > 1


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_every_intervention_and_hook(family):
    SW = COORDS[family]
    model = plant(tiny_model(family), *SW)
    a = get_adapter(model)
    assert a.family and a.mlp_out(model, 1) is not None
    base = _logits(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def reset():
        model.load_state_dict(state)

    # prune_sw: exactly the super weight goes to zero, and the down projection's output moves by the planted
    # product only: channel `row` by weight x input[col] at every token, every other channel not at all
    layer, row, col = SW
    x_before, y_before = _down_io(model, layer)
    with contextlib.ExitStack() as st:
        rec = apply_condition(model, "prune_sw", [SW], stack=st)
        assert rec["changed"][0]["before"] == 40.0 and a.get_weight(model, *SW) == 0.0
        x_after, y_after = _down_io(model, layer)
        pruned = _logits(model)
    assert a.get_weight(model, *SW) == 40.0  # put back when the stack closed
    torch.testing.assert_close(x_after, x_before)  # the layer's own input is upstream of the weight
    moved = y_before - y_after
    torch.testing.assert_close(moved[..., row], 40.0 * x_before[..., col], rtol=1e-4, atol=1e-3)
    others = torch.ones(moved.shape[-1], dtype=torch.bool)
    others[row] = False
    assert moved[..., others].abs().max() <= 1e-3 * y_before.abs().max()
    assert x_before[..., col].abs().max() > 10 * x_before.abs().median()  # the planted input outlier is there
    assert not torch.allclose(pruned, base, atol=1e-4)
    # prune_nonsw: the super weight is kept, other weights zeroed
    with contextlib.ExitStack() as st:
        rec = apply_condition(model, "prune_nonsw", [SW], "count", 5, stack=st)
        assert rec["prune_nonsw"]["n_pruned"] == 5 and a.get_weight(model, *SW) == 40.0
    # restore at every token after pruning equals the original model; at the max token it differs from pruned
    for tokens, check in (("all", lambda y: torch.testing.assert_close(y, base, rtol=1e-4, atol=1e-4)),
                          ("max", lambda y: not torch.allclose(y, pruned, atol=1e-4))):
        restore = RestoreSuperActivation.capture(model, [SW], tokens)
        with contextlib.ExitStack() as st:
            apply_condition(model, "prune_sw", [SW], stack=st)
            with restore:
                y = _logits(model)
        assert restore.handles == []
        assert check(y) is not False
        reset()
    # scaling
    from superweight.interventions.edits import scaled

    with scaled(model, [SW], 1.5):
        assert a.get_weight(model, *SW) == 60.0
    assert a.get_weight(model, *SW) == 40.0
    # W8A8 with the super activation kept: hooks on every named input; each quantized weight and input within half
    # a quantization step of its original (per tensor / per token absmax / 127), the super activation exact
    ch = sa_channels(model, [SW])
    down = a.down_proj(model, layer)
    weights = {n: m.weight.detach().clone() for n, m in model.named_modules() if hasattr(m, "weight")
               and isinstance(getattr(m, "weight"), torch.Tensor)}
    seen = {}
    raw = down.register_forward_pre_hook(lambda m, args: seen.__setitem__("raw", args[0].detach().clone()))
    with W8A8(model, sa_channels=ch) as q:
        from superweight.quant.w8a8 import PAPER_BMM, PAPER_INPUTS

        per_layer = len(a.role_paths(PAPER_INPUTS)) + len(a.role_paths(PAPER_BMM))  # input pre-hooks + BMM output hooks
        assert len(q.handles) == len(a.layers(model)) * per_layer
        quant = down.register_forward_pre_hook(lambda m, args: seen.__setitem__("quant", args[0].detach().clone()))
        y = _logits(model)
        quant.remove()
        changed = {n: m.weight.detach().clone() for n, m in model.named_modules() if n in weights
                   and not torch.equal(m.weight, weights[n])}
    raw.remove()
    assert all(torch.equal(m.weight, weights[n]) for n, m in model.named_modules() if n in weights)  # put back
    assert torch.isfinite(y).all() and not torch.equal(y, base)
    assert len(changed) == len(a.layers(model)) * len(a.role_paths(PAPER_INPUTS)), sorted(changed)
    for n, wq in changed.items():
        w = weights[n].float()
        step = w.abs().max() / 127
        assert (wq.float() - w).abs().max() <= step / 2 * (1 + 1e-5), n
        torch.testing.assert_close(wq.float() / step, torch.round(wq.float() / step), rtol=0, atol=1e-3)
    x, xq = seen["raw"].float(), seen["quant"].float()
    if x.dim() == 2:  # OPT's MLP sees (batch x tokens, features): one sequence
        x, xq = x[None], xq[None]
    if a.down_path in {p for (l, p) in ch if l == layer}:  # the down projection's input keeps its outlier exactly
        t = x[..., col].abs().argmax(-1)
        b = torch.arange(x.shape[0])
        assert torch.equal(xq[b, t, col], x[b, t, col])
        x, xq = x.clone(), xq.clone()
        x[b, t, col] = xq[b, t, col] = 0.0
        bound = x.abs().amax(-1, keepdim=True) / 127 / 2 + x.median().abs() / 127  # the median stands in for it
    else:
        bound = x.abs().amax(-1, keepdim=True) / 127 / 2
    assert ((xq - x).abs() <= bound * (1 + 1e-4) + 1e-6).all()
    reset()
    torch.testing.assert_close(_logits(model), base)
