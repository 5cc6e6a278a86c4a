"""Every adapter on a tiny model built from its family's real transformers config class, with a planted super
weight: every intervention, the restore hook, W8A8 hooks (detection, Hadamard and skip: test_detect, test_mechanism)."""
import contextlib

import pytest
import torch

from superweight.ablation import apply_condition
from superweight.adapters import get_adapter
from superweight.intervene import RestoreSuperActivation
from superweight.quantize import W8A8, sa_channels
from tiny import CONFIGS, plant, tiny_model

SW = (1, 5, 17)
IDS = torch.randint(0, 128, (1, 12), generator=torch.Generator().manual_seed(0))


def _logits(model):
    with torch.no_grad():
        return model(IDS).logits


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_every_intervention_and_hook(family):
    model = plant(tiny_model(family), *SW)
    a = get_adapter(model)
    assert a.family and a.mlp_out(model, 1) is not None
    base = _logits(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def reset():
        model.load_state_dict(state)

    # prune_sw: exactly the super weight goes to zero
    with contextlib.ExitStack() as st:
        rec = apply_condition(model, "prune_sw", [SW], stack=st)
    assert rec["changed"][0]["before"] == 40.0 and a.get_weight(model, *SW) == 0.0
    pruned = _logits(model)
    assert not torch.allclose(pruned, base, atol=1e-4)
    reset()
    # prune_nonsw: the super weight is kept, other weights zeroed
    with contextlib.ExitStack() as st:
        rec = apply_condition(model, "prune_nonsw", [SW], "count", 5, stack=st)
    assert rec["prune_nonsw"]["n_pruned"] == 5 and a.get_weight(model, *SW) == 40.0
    reset()
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
    with contextlib.ExitStack() as st:
        from superweight.intervene import scale_weights

        scale_weights(model, [SW], 1.5)
    assert a.get_weight(model, *SW) == 60.0
    reset()
    # W8A8 with the super activation kept: hooks on every named input, finite and changed logits
    ch = sa_channels(model, [SW])
    with W8A8(model, sa_channels=ch) as q:
        from superweight.quantize import PAPER_BMM, PAPER_INPUTS

        per_layer = len(a.role_paths(PAPER_INPUTS)) + len(a.role_paths(PAPER_BMM))  # input pre-hooks + BMM output hooks
        assert len(q.handles) == len(a.layers(model)) * per_layer
        y = _logits(model)
    assert torch.isfinite(y).all() and not torch.equal(y, base)
    reset()
    torch.testing.assert_close(_logits(model), base)
