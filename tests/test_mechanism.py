"""Hadamard decomposition and skip-connection ablation on tiny models with a planted super weight."""
import copy

import pytest
import torch

from superweight.models.adapters import get_adapter
from superweight.detect.spikes import DEFAULT_PROMPT
from superweight.analysis.hadamard import channel_stats, hadamard
from superweight.analysis.skip import SkipAblation, skip_conditions
from superweight.report.claims_mechanism import hadamard_checks
from tiny import CONFIGS, ToyTokenizer, plant, tiny_model

SW = (1, 5, 17)
IDS = ToyTokenizer()(DEFAULT_PROMPT, return_tensors="pt")["input_ids"]


def _linear_out(mod, x, ch):
    """Output channel ``ch`` of a Linear or GPT-2 Conv1D, by hand from its weight."""
    w = mod.weight[:, ch] if type(mod).__name__ == "Conv1D" else mod.weight[ch]
    b = mod.bias[ch] if getattr(mod, "bias", None) is not None else 0.0
    return x @ w + b


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_hadamard_recovers_the_planted_factors(family):
    model = plant(tiny_model(family), *SW)
    a = get_adapter(model)
    got = {}
    h1 = a.layer_module(model, 1, a.up_path).register_forward_hook(lambda m, i, o: got.update(x=i[0].detach()))
    h2 = a.down_proj(model, 1).register_forward_hook(lambda m, i, o: got.update(y=o.detach(), d=i[0].detach()))
    with torch.no_grad():
        model(IDS)
    h1.remove(), h2.remove()
    x = got["x"].reshape(-1, got["x"].shape[-1])  # (tokens, hidden), OPT included
    y = got["y"].reshape(-1, got["y"].shape[-1])
    t = int(y[:, 5].abs().argmax())
    rows, channels, summaries = hadamard(model, IDS, [SW])
    val = {r["quantity"]: r for r in rows}
    (s,) = summaries
    assert s["token"] == t
    up_mod = a.layer_module(model, 1, a.up_path)
    with torch.no_grad():
        if a.gate_path is None:
            pre = _linear_out(up_mod, x[t], 17)
            assert val["pre-activation"]["value"] == pytest.approx(float(pre), rel=1e-4)
            product = a.layer_module(model, 1, a.act_path)(pre)
        elif a.fused_gate_up:  # Phi-3: [gate | up]
            gate, up = _linear_out(up_mod, x[t], 17), _linear_out(up_mod, x[t], 64 + 17)
            product = a.layer_module(model, 1, a.act_path)(gate) * up
        else:
            gate = _linear_out(a.layer_module(model, 1, a.gate_path), x[t], 17)
            up = _linear_out(up_mod, x[t], 17)
            assert val["gate (pre-activation)"]["value"] == pytest.approx(float(gate), rel=1e-4)
            assert val["up"]["value"] == pytest.approx(float(up), rel=1e-4)
            product = a.layer_module(model, 1, a.act_path)(gate) * up
    prod = next(r for q, r in val.items() if "down input" in q)
    assert prod["value"] == pytest.approx(float(product), rel=1e-4)
    assert prod["abs_rank"] == 1 and prod["z"] ** 2 > 0.5 * (prod["n_channels"] - 1)  # a lone spike: z^2 near n-1
    # the output: x[col] * 40 against the row's other terms, summing to the down projection's output
    assert s["sw_term"] == pytest.approx(float(product) * 40.0, rel=1e-4)
    assert s["sw_term"] + s["others_sum"] + s["bias"] == pytest.approx(float(y[t, 5]), rel=1e-4, abs=1e-4)
    assert len(channels) == len(rows) * 64  # every quantity over the 64 intermediate channels
    checks, evidence = hadamard_checks(rows, summaries, 0.01, 0.5)  # the claim's checks on the measured ranks
    assert all(checks), evidence


def test_hadamard_two_super_weights_in_one_row():
    """Llama-13B has two super weights in one row: each input ranks in the layer's top 2, their terms share the output."""
    model = plant(tiny_model("llama"), *SW)
    mlp = model.model.layers[1].mlp
    with torch.no_grad():  # a second input outlier at col 30, at the same token as col 17's
        mlp.gate_proj.weight[30] = mlp.gate_proj.weight[17]
        mlp.up_proj.weight[30] = 0.8 * mlp.up_proj.weight[17]
    get_adapter(model).set_weight(model, 1, 5, 30, 25.0)
    rows, _, summaries = hadamard(model, IDS, [SW, (1, 5, 30)])
    ranks = sorted(r["abs_rank"] for r in rows if "down input" in r["quantity"])
    assert ranks == [1, 2]
    checks, evidence = hadamard_checks(rows, summaries, 0.01, 0.5)
    assert all(checks), evidence
    assert any(e.startswith("L1 row 5: super weights' share") for e in evidence)


def test_hadamard_checks_fail_without_an_outlier():
    model = tiny_model("llama")
    get_adapter(model).set_weight(model, *SW, 3.0)  # a large weight, but no input outlier at col
    rows, _, summaries = hadamard(model, IDS, [SW])
    checks, evidence = hadamard_checks(rows, summaries, 0.01, 0.5)
    assert not all(checks), evidence


def test_channel_stats_by_hand():
    v = torch.tensor([1.0, -2.0, 10.0, 0.5])
    s = channel_stats(v, 1)
    assert s["abs_rank"] == 2 and s["value"] == -2.0
    assert s["z"] == pytest.approx((-2.0 - 2.375) / float(v.double().std(unbiased=False)))


def _zero_row(model, layer, row):
    a = get_adapter(model)
    with torch.no_grad():
        a.down_row(model, layer, row).zero_()
        b = getattr(a.down_proj(model, layer), "bias", None)
        if b is not None:
            b[row] = 0.0


@pytest.mark.parametrize("family", [f for f in sorted(CONFIGS) if f not in ("gemma2", "olmo2")])
def test_skip_at_its_own_layer_equals_removing_the_row_output(family):
    """Offset 1 removes the layer's whole row-channel contribution: by hand, the down projection's row (and bias)
    set to zero, where the MLP output is added to the residual as it is (not post-normed)."""
    model = plant(tiny_model(family), *SW)
    ref = copy.deepcopy(model)
    _zero_row(ref, 1, 5)
    with torch.no_grad():
        expected, base = ref(IDS).logits, model(IDS).logits
        with SkipAblation(model, [SW], 1) as sk:
            got = model(IDS).logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(got, base, atol=1e-3)
    assert get_adapter(model).get_weight(model, *SW) == 40.0  # the super weight is kept
    assert sk.log[0]["max_abs_removed"] > 50 and sk.handles == []


@pytest.mark.parametrize("family,tokens", [("llama", "all"), ("gemma2", "all"), ("olmo2", "max"), ("opt", "max")])
def test_skip_from_layer_k_subtracts_the_hand_computed_contribution(family, tokens):
    """Offset 2: the inputs of layers <= L+1 are untouched; layer L+2's input is the original minus layer L's
    MLP contribution in channel row (computed by hand from the MLP's output), at every token or the largest."""
    model = plant(tiny_model(family), *SW)
    a = get_adapter(model)

    def inputs():
        got = {}
        hs = [lay.register_forward_pre_hook(lambda m, args, kw, i=i: got.__setitem__(i, (args[0] if args else kw["hidden_states"]).detach().clone()),
                                            with_kwargs=True) for i, lay in enumerate(a.layers(model))]
        hs.append(a.mlp_out(model, 1).register_forward_hook(lambda m, i, o: got.__setitem__("mlp", o.detach().clone())))
        return got, hs

    got0, hs = inputs()
    with torch.no_grad():
        model(IDS)
    [h.remove() for h in hs]
    with SkipAblation(model, [SW], 2, tokens):
        got1, hs = inputs()  # registered after the ablation's hooks: they see the modified input
        with torch.no_grad():
            model(IDS)
        [h.remove() for h in hs]
    c = got0["mlp"][..., 5].reshape(got0[0].shape[:-1])
    if tokens == "max":
        keep = torch.zeros_like(c)
        keep[0, c[0].abs().argmax()] = c[0, c[0].abs().argmax()]
        c = keep
    for i in (0, 1, 2):
        torch.testing.assert_close(got1[i], got0[i])
    expected = got0[3].clone()
    expected[..., 5] -= c
    torch.testing.assert_close(got1[3], expected)


def test_skip_conditions_and_bad_offsets():
    conds = skip_conditions(4, [SW, (3, 5, 2)], [1, 2, 5])
    assert [c["condition"] for c in conds] == ["original", "prune_sw", "skip_from_L+1", "skip_from_L+2"]
    assert conds[-1]["from_layer"] == 3 and conds[-1]["left_in_place"] == [[3, 5]]
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="past the last layer for every super weight"):
        SkipAblation(model, [SW], 3)
    sk = SkipAblation(model, [SW, (3, 5, 2)], 1)  # the last layer's super weight has no later layer: left in place
    assert sk.targets == [(1, 5)] and sk.kept == [(3, 5)]
    with pytest.raises(ValueError, match="at least 1"):
        SkipAblation(model, [SW], 0)


def test_skip_experiment_measures_the_share_without_a_verdict():
    """The job's rows: per-window NLLs and the point share of prune-SW's NLL rise, by hand from those windows."""
    from superweight.analysis.skip import skip_experiment

    model = plant(tiny_model("llama"), *SW)
    ids = torch.randint(0, model.config.vocab_size, (96,), generator=torch.Generator().manual_seed(0))
    rows = skip_experiment(model, None, ids, [], [SW], 32, 3, [1, 2])
    assert [r["condition"] for r in rows] == ["original", "prune_sw", "skip_from_L+1", "skip_from_L+2"]
    o, p = (torch.tensor(r["window_nll"], dtype=torch.float64) for r in rows[:2])
    for r in rows[2:]:
        s = torch.tensor(r["window_nll"], dtype=torch.float64)
        assert r["fraction_of_prune_sw"] == pytest.approx(float((s - o).mean() / (p - o).mean()), rel=1e-6)
        assert "verdict" not in r and "fraction_ci_low" not in r
    assert rows[1]["ppl_ratio"] == pytest.approx(rows[1]["ppl"] / rows[0]["ppl"])
    assert get_adapter(model).get_weight(model, *SW) == 40.0  # the model is left as it was
