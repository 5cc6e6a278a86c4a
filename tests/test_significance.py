"""Significance of the super weight against matched random outliers, on a tiny planted model."""
import pytest
import torch

from superweight.models.adapters import get_adapter
from superweight.analysis.significance import at_least, draw, pools, pruned, rows, significance
from tiny import plant, tiny_model

SW = (1, 5, 17)
N = 9


@torch.no_grad()
def _planted_with_text(n=128, seed=0):
    """A planted model with sharp predictions (lm_head scaled up) and text it samples itself: any change to the
    model can only raise its expected NLL on that text."""
    model = plant(tiny_model("llama"), *SW)
    model.lm_head.weight.mul_(30.0)
    torch.manual_seed(seed)
    ids = model.generate(torch.tensor([[1]]), do_sample=True, max_new_tokens=n - 1, min_new_tokens=n - 1, pad_token_id=0)
    return model, ids[0]


@pytest.fixture(scope="module")
def planted():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread avoids contention on a busy machine
    try:
        yield _planted_with_text()
    finally:
        torch.set_num_threads(n)


def test_planted_super_weight_ranks_first_and_a_random_weight_does_not(planted):
    model, ids = planted
    before = {n: p.clone() for n, p in model.named_parameters()}
    res = significance(model, ids, [SW], 32, 3, n_sets=N, seed=0, matrix_pool=100, model_fraction=1e-2,
                       nonsw_rule="count", nonsw_amount=20)
    for n, p in model.named_parameters():  # every pruned set was put back
        assert torch.equal(p, before[n]), n
    assert res["sw"]["ratio"] > 2
    for kind in ("same_matrix", "model_top"):
        k = res["kinds"][kind]
        assert len(k["sets"]) == N and k["n_at_least_sw"] == 0  # no random set hurts as much
        assert all(len(s["weights"]) == 1 for s in k["sets"])
    # the same_matrix sets come from the super weight's own down projection, never the super weight itself
    name = "model.layers.1.mlp.down_proj"
    assert {s["weights"][0][0] for s in res["kinds"]["same_matrix"]["sets"]} == {name}
    assert all(s["weights"][0][1] != 5 * 64 + 17 for s in res["kinds"]["same_matrix"]["sets"])
    assert res["paper_set"]["n_pruned"] == 20
    assert len(rows(res)) == 1 + 2 * N + 1
    assert "verdict" not in res and len(res["sw"]["window_nll"]) == len(res["paper_set"]["window_nll"]) == 3

    # an ordinary weight in another layer, treated as if it were the super weight: not special
    a = get_adapter(model)
    small = (3, 7, 9)
    assert abs(a.get_weight(model, *small)) < 0.5
    res2 = significance(model, ids, [small], 32, 3, n_sets=N, seed=0, matrix_pool=100, model_fraction=1e-2,
                        nonsw_rule="count", nonsw_amount=20)
    assert res2["kinds"]["same_matrix"]["n_at_least_sw"] > 0


def test_draws_are_seeded_and_matched(planted):
    model, _ = planted
    pool = pools(model, [SW, (1, 5, 30)], matrix_pool=10, model_fraction=1e-2)
    assert len(pool["same_matrix"]["model.layers.1.mlp.down_proj"]) == 10
    a = draw(model, [SW, (1, 5, 30)], pool, "same_matrix", torch.Generator().manual_seed(3))
    b = draw(model, [SW, (1, 5, 30)], pool, "same_matrix", torch.Generator().manual_seed(3))
    assert a == b and len(a) == 2 and len(set(a)) == 2
    w = model.model.layers[1].mlp.down_proj.weight
    assert {i for _, i in a} <= set(pool["same_matrix"]["model.layers.1.mlp.down_proj"].tolist())
    with pruned(model, a):
        assert all(w.view(-1)[i] == 0 for _, i in a)
    assert all(w.view(-1)[i] != 0 for _, i in a)
    with pytest.raises(ValueError, match="raise mechanism.significance.model_fraction"):
        pools(model, [SW], model_fraction=1e-9)


def test_at_least_by_hand():
    assert at_least(10.0, [1.0, 2.0, 3.0]) == 0
    assert at_least(2.0, [1.0, 2.0, 3.0]) == 2
