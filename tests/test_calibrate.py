"""z chosen as the paper: lowest reconstruction error on calibration examples disjoint from every evaluation window."""
import math

import pytest
import torch

from superweight.models.adapters import get_adapter
from superweight.quant.tune_z import (calibration_examples, check_disjoint, examples_nll, input_grams,
                                   reconstruction_errors, tune_z)
from superweight.quant.rtn import quantize_weights
from tiny import plant, tiny_model

SW = (1, 5, 17)


def _examples():
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 128, (n,), generator=g) for n in (9, 14, 6, 11)]


def test_output_error_equals_the_direct_computation():
    """The Gram-matrix form equals ||X (Q(W) - W)^T||^2 / ||X W^T||^2 with X the layer's inputs collected directly."""
    model = plant(tiny_model("llama"), *SW)
    ex = _examples()
    xs = {}
    layer = model.model.layers[2].mlp.up_proj
    h = layer.register_forward_pre_hook(lambda m, a: xs.setdefault("x", []).append(a[0].reshape(-1, a[0].shape[-1])))
    grams = input_grams(model, ex)
    h.remove()
    x = torch.cat(xs["x"])
    assert x.shape[0] == sum(len(e) for e in ex)
    name = "model.layers.2.mlp.up_proj"
    torch.testing.assert_close(grams[name], x.T @ x)
    w = layer.weight.detach().clone()
    m2 = plant(tiny_model("llama"), *SW)
    quantize_weights(m2, "sw_aware", 3, 64, 2.0, [SW], progress=False)
    d = m2.model.layers[2].mlp.up_proj.weight.detach() - w
    direct = float((x @ d.T).pow(2).sum() / (x @ w.T).pow(2).sum())
    # the mean over layers includes this layer's term; check it through a one-layer grams dict
    one = {k: (v if k == name else torch.zeros_like(v)) for k, v in grams.items()}
    err = reconstruction_errors(model, one, "sw_aware", 3, 64, 2.0, [SW])
    n_layers = len(list(get_adapter(model).linear_modules(model)))
    assert err["output"] * n_layers == pytest.approx(direct, rel=1e-4)


def test_tune_z_picks_the_lowest_reconstruction_error():
    loads = []

    def load():
        loads.append(1)
        return plant(tiny_model("llama"), *SW)

    ex = _examples()
    res = tune_z(load, ex, 3, 64, [0.5, 2.0, 50.0], [SW])
    assert len(loads) == 1 and res["method"] == "sw_aware" and res["criterion"] == "output"
    vals = {float(k): v for k, v in res["values"].items()}
    assert res["z"] == min(vals, key=vals.get) and len(set(vals.values())) == 3
    grams = input_grams(load(), ex)
    assert vals[2.0] == pytest.approx(reconstruction_errors(load(), grams, "sw_aware", 3, 64, 2.0, [SW])["output"])
    res_w = tune_z(load, ex, 3, 64, [0.5, 2.0, 50.0], [SW], "weight")
    assert res_w["values"] == {k: v["weight"] for k, v in res["errors"].items()}


def test_tune_z_perplexity_criterion_is_the_quantized_models_perplexity():
    ex = _examples()
    res = tune_z(lambda: plant(tiny_model("llama"), *SW), ex, 3, 64, [0.5, 4.0], [SW], "perplexity")
    ppl = {float(k): v for k, v in res["values"].items()}
    assert res["z"] == min(ppl, key=ppl.get)
    m = plant(tiny_model("llama"), *SW)
    quantize_weights(m, "sw_aware", 3, 64, res["z"], [SW], progress=False)
    assert ppl[res["z"]] == pytest.approx(math.exp(examples_nll(m, ex)))


def test_calibration_examples_are_paragraphs_sampled_reproducibly():
    rows = [" \n", " = Title = \n", " \n", " first paragraph . \n", " second one . \n", " = = Sub = = \n", " third . \n"]
    idx, texts = calibration_examples(rows, 2, seed=3)
    assert idx == calibration_examples(rows, 2, seed=3)[0] and idx == sorted(idx)
    assert set(idx) <= {3, 4, 6} and texts == [rows[i] for i in idx]
    with pytest.raises(ValueError, match="calibration.examples"):
        calibration_examples(rows, 4)


def test_check_disjoint_catches_an_overlap():
    check_disjoint(["a b c . \n"], {"wikitext2": "x y z"})
    with pytest.raises(ValueError, match="occur in the evaluation corpus wikitext2"):
        check_disjoint([" a b c . \n", " d . \n"], {"c4": "q", "wikitext2": "x a b c . y"})


def test_wikitext2_validation_calibration_never_overlaps_evaluation(data_dir):
    """500 paragraphs of WikiText-2 validation (the default calibration) occur in neither the WikiText-2 test text
    nor the C4 sample."""
    from superweight.scoring.data import corpus_text, wikitext2_validation_rows

    rows = wikitext2_validation_rows(data_dir)
    assert len(rows) == 3760  # the Hugging Face validation split's row count
    idx, texts = calibration_examples(rows, 500, seed=0)
    assert len(texts) == 500
    check_disjoint(texts, {c: corpus_text(c, data_dir) for c in ("wikitext2", "c4")})
