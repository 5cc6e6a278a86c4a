"""adapters.run_from on a tiny model of every family: running decoder layers k..n from layer k - 1's recorded
output gives the whole forward pass's logits (float32 rounding), and the family helpers (tuple outputs, OPT's
flattened MLP input) read the same tensors."""
import pytest
import torch

from superweight.models.adapters import LayerInputs, first_sequence, get_adapter, layer_output, per_sequence, run_from
from superweight.scoring.logprobs import head_logits
from tiny import CONFIGS, L, tiny_model


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_run_from_layer_k_equals_the_whole_pass(family):
    model = tiny_model(family)
    ids = torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(1))
    blocks = get_adapter(model).layers(model)
    outs = {}
    handles = [b.register_forward_hook(lambda m, a, o, i=i: outs.__setitem__(i, layer_output(o).detach().clone()))
               for i, b in enumerate(blocks)]
    with torch.no_grad(), LayerInputs.record(model) as inputs:
        want = model(ids, use_cache=False).logits
    for h in handles:
        h.remove()
    assert inputs.shape == (2, 12) and sorted(inputs.calls) == list(range(L))
    with torch.no_grad():
        for k in range(1, L + 1):
            got = head_logits(model, run_from(model, outs[k - 1], k, inputs))
            torch.testing.assert_close(got, want.float(), rtol=1e-5, atol=1e-5, msg=f"{family}: from layer {k}")
        with pytest.raises(ValueError, match="same shape"):
            run_from(model, outs[0][:1], 1, inputs)
    assert not any("forward" in b.__dict__ for b in blocks)  # nothing swapped


def test_run_from_refuses_layers_not_recorded():
    model = tiny_model("llama")
    ids = torch.randint(0, 128, (1, 8))
    with torch.no_grad(), LayerInputs.record(model, layers=[3]) as inputs:
        model(ids, use_cache=False)
    with pytest.raises(ValueError, match=r"layers \[2\] were not recorded"):
        run_from(model, torch.zeros(1, 8, 32), 2, inputs)


def test_sequence_helpers():
    t = torch.arange(2 * 3 * 4.0).reshape(2, 3, 4)
    flat = t.reshape(6, 4)  # OPT's MLP input
    assert torch.equal(per_sequence(flat, 2), t) and torch.equal(per_sequence(t, 2), t)
    assert torch.equal(first_sequence(t), t[0]) and torch.equal(first_sequence(flat, 2), t[0])
    assert torch.equal(first_sequence(t[0]), t[0])  # one flattened sequence
    assert layer_output((t, None)) is t and layer_output(t) is t
