"""Every intervention as a context manager restores exactly what it changed: after exit, every parameter is
bitwise equal to before (torch.equal) and no hook is left; inside, the change is there."""
import contextlib

import pytest
import torch

from superweight.settings import JobSettings
from superweight.interventions.conditions import CONDITIONS, apply_condition
from superweight.interventions.edits import pruned_all_weights_per_tensor, pruned_nonsw, scaled, zeroed
from superweight.analysis.experiments import apply
from superweight.models.adapters import get_adapter
from superweight.quant.rtn import quantized
from superweight.quant.w8a8 import W8A8, activation_absmax, sa_channels, smoothed
from tiny import plant, tiny_model

SW = (1, 5, 17)


def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _assert_same(model, before):
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _changed(model, before):
    return {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}


@pytest.fixture
def model():
    m = plant(tiny_model("gpt2"), *SW)  # GPT-2's Conv1D: transposed storage, the harder layout
    with torch.no_grad():
        m.transformer.h[2].mlp.c_proj.weight[3, 9] = 0.7  # a second weight to scale twice over
    return m


@pytest.mark.parametrize("make", [
    lambda m: zeroed(m, [SW]),
    lambda m: scaled(m, [SW, (2, 9, 3)], 1.37),  # 1.37: the product rounds, so only a saved copy restores it
    lambda m: pruned_nonsw(m, [SW], "count", 50),
    lambda m: pruned_nonsw(m, [SW], "official", 1e-3),
    lambda m: pruned_all_weights_per_tensor(m, 1e-3),
    lambda m: quantized(m, "rtn", 3, 64),
    lambda m: quantized(m, "sw_aware", 4, "8x8", 3.0, [SW], sw_factor=1.5),
    lambda m: W8A8(m, 8, sa_channels(m, [SW])),
    lambda m: W8A8(m, 8, weight_granularity="per_channel"),
], ids=["zeroed", "scaled", "prune_nonsw_count", "prune_nonsw_official", "prune_all_per_tensor", "rtn", "sw_aware",
        "w8a8_sa", "w8a8_per_channel"])
def test_weights_bitwise_equal_after_exit(model, make):
    before, hooks = _params(model), _hooks(model)
    ids = torch.randint(0, 128, (1, 10))
    with make(model):
        assert _changed(model, before)  # it did change something
        with torch.no_grad():
            model(ids)
    _assert_same(model, before)
    assert _hooks(model) == hooks


def test_smoothing_is_undone_bitwise_on_exit():
    model = plant(tiny_model("llama"), *SW)  # a family with SmoothQuant groups (RMSNorm before q/k/v and gate/up)
    stats = activation_absmax(model, torch.randint(0, 128, (64,)), 16, 4)
    before = _params(model)
    with smoothed(model, stats, 0.85) as n:
        assert n == 2 * 4 and _changed(model, before)
    _assert_same(model, before)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_conditions_are_undone_when_the_stack_closes(condition):
    model = plant(tiny_model("llama"), *SW)
    before, hooks = _params(model), _hooks(model)
    with contextlib.ExitStack() as st:
        rec = apply_condition(model, condition, [SW], "count", 20, stack=st)
        with torch.no_grad():
            model(torch.randint(0, 128, (2, 9)))
        assert bool(_changed(model, before)) == (condition != "original")
    _assert_same(model, before)
    assert _hooks(model) == hooks
    if condition == "prune_sw_restore_sa":  # plain data, copied when the stack closed: one value per sequence
        assert len(rec["restore"]["examples"]) == 1 and len(rec["restore"]["examples"][0]["token"]) == 2
    assert all(not callable(v) and not hasattr(v, "__dict__") for v in rec.values())


def test_experiment_records_are_copies():
    """W8A8's call counts and the restore's examples are copied into the record when the stack closes: scoring
    after that changes nothing in it."""
    model = plant(tiny_model("llama"), *SW)
    cfg = {"quantization": {"activations": {}},
           "ablation": {"prune_nonsw": {"rule": "count", "amount": 5}, "restore_tokens": "max"}}
    before = _params(model)
    with contextlib.ExitStack() as st:
        rec = apply(model, "aquant", {"method": "naive"}, [SW], JobSettings.from_dict(cfg), st)
        with torch.no_grad():
            model(torch.randint(0, 128, (1, 8)))
    calls = dict(rec["calls"])
    assert calls["inputs"] > 0
    _assert_same(model, before)
    with contextlib.ExitStack() as st:
        rec2 = apply(model, "scaling", {"factor": 2.0}, [SW], JobSettings.from_dict(cfg), st)
        assert get_adapter(model).get_weight(model, *SW) == 80.0
    assert rec2["changed"][0]["after"] == 80.0 and get_adapter(model).get_weight(model, *SW) == 40.0
    with W8A8(model):  # another quantized pass: the closed record does not follow it
        with torch.no_grad():
            model(torch.randint(0, 128, (1, 8)))
    assert rec["calls"] == calls
