"""Detection on tiny random models with planted super weights."""
import pytest
import torch

from superweight.models.adapters import UnsupportedModelError, get_adapter
from superweight.detect.spikes import (DEFAULT_PROMPT, Candidate, SpikeRule, activation_maxima, detect_model,
                                      find_candidates, residual_maxima)
from superweight.detect.used import KnownCoordinateError, compare_known, used_list, used_super_weights
from tiny import CONFIGS, ToyTokenizer, tiny_model, plant

RULE = SpikeRule("absolute", threshold=5.0)


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_detect_finds_planted_weight(family):
    model = plant(tiny_model(family), layer=1, row=5, col=17)
    before = {n: p.clone() for n, p in model.named_parameters()}
    res = find_candidates(model, ToyTokenizer(), DEFAULT_PROMPT, RULE, max_iters=4)
    assert [c.coord for c in res.candidates] == [(1, 5, 17)]
    assert res.candidates[0].weight == pytest.approx(40.0)
    assert res.stopped == "no spike"
    # the model is left exactly as it was
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


@pytest.mark.parametrize("family,ratio", [("llama", 1000.0), ("gpt2", 100.0)])
def test_relative_rule_finds_planted_weight(family, ratio):
    model = plant(tiny_model(family), layer=2, row=9, col=40)
    res = find_candidates(model, ToyTokenizer(), rule=SpikeRule("relative", ratio=ratio))
    assert [c.coord for c in res.candidates] == [(2, 9, 40)]


def test_unplanted_model_has_no_candidate():
    res = find_candidates(tiny_model("llama"), ToyTokenizer(), rule=RULE)
    assert res.candidates == [] and res.stopped == "no spike"
    assert res.to_dict()["status"] == "no confirmed super weight"


def test_iterative_loop_returns_both_weights_of_one_layer():
    """Two weights in one row: the loop finds the stronger, zeroes it, and finds the other next."""
    model = tiny_model("llama")
    plant(model, 1, 5, 17, weight=40.0)
    plant(model, 1, 5, 30, weight=-25.0)
    res = find_candidates(model, ToyTokenizer(), rule=RULE, max_iters=5)
    coords = {c.coord: c.iteration for c in res.candidates}
    assert set(coords) == {(1, 5, 17), (1, 5, 30)}
    assert sorted(coords.values()) == [0, 1]  # a second iteration was needed
    assert res.stopped == "no spike"


def test_two_layers():
    model = tiny_model("qwen2")
    plant(model, 0, 3, 10)
    plant(model, 2, 20, 50)
    res = find_candidates(model, ToyTokenizer(), rule=RULE)
    assert {c.coord for c in res.candidates} == {(0, 3, 10), (2, 20, 50)}


def test_gpt2_conv1d_orientation():
    """GPT-2 stores c_proj as (in, out); coordinates are still (row = out, col = in)."""
    model = tiny_model("gpt2")
    a = get_adapter(model)
    assert a.down_shape(model) == (32, 64)
    a.set_weight(model, 0, 3, 60, 7.0)
    assert model.transformer.h[0].mlp.c_proj.weight[60, 3].item() == 7.0


def test_activation_maxima_and_residual_spike_persists():
    model = plant(tiny_model("llama"), 1, 5, 17)
    ids = ToyTokenizer()(DEFAULT_PROMPT, return_tensors="pt")["input_ids"]
    st = activation_maxima(model, ids)
    assert [s.layer for s in st] == [0, 1, 2, 3]
    assert st[1].out_channel == 5 and st[1].in_channel == 17
    res = residual_maxima(model, ids)
    assert len(res) == 5  # embeddings + 4 layers
    # the planted super activation enters the residual stream at layer 1 and stays in channel 5
    assert all(r["channel"] == 5 for r in res[2:])
    assert res[2]["max_abs"] > 50 * res[1]["max_abs"]


def test_bad_coordinates_and_unknown_family():
    model = tiny_model("llama")
    a = get_adapter(model)
    with pytest.raises(IndexError, match="layer 9 not in 0..3"):
        a.get_weight(model, 9, 0, 0)
    with pytest.raises(IndexError, match="col 64 not in 0..63"):
        a.get_weight(model, 0, 0, 64)
    with pytest.raises(UnsupportedModelError, match="Supported: .*llama"):
        get_adapter("mamba")


def _cand(coord, confirmed):
    return Candidate(*coord, weight=1.0, in_value=1.0, out_value=1.0, token=0, iteration=0, confirmed=confirmed)


def test_compare_known():
    cands = [_cand((2, 1, 1), True), _cand((3, 4, 5), True), _cand((4, 0, 0), False), _cand((5, 5, 5), False)]
    rows = compare_known(cands, [(2, 1, 1), (1, 0, 0), (4, 0, 0)])
    assert {(r["layer"], r["status"]) for r in rows} == {(2, "found"), (1, "missed"), (4, "found-unconfirmed"),
                                                          (3, "new")}  # (5, ...) unconfirmed and unknown: not listed


def test_used_list_by_source():
    cands = [_cand((2, 1, 1), True), _cand((3, 4, 5), True), _cand((4, 0, 0), False)]
    known = [(2, 1, 1), (1, 0, 0)]
    src = lambda use: {(u["layer"], u["row"], u["col"]): u["source"] for u in used_list(cands, known, use)}
    assert src("detected") == {(2, 1, 1): "both", (3, 4, 5): "detected"}
    assert src("known") == {(1, 0, 0): "known", (2, 1, 1): "both"}
    assert src("both") == {(1, 0, 0): "known", (2, 1, 1): "both", (3, 4, 5): "detected"}
    with pytest.raises(KnownCoordinateError, match="`models.m.super_weights` lists no coordinates"):
        used_list(cands, None, "known", "models.m.super_weights")
    assert used_super_weights({"used": used_list(cands, known, "both")}) == [(1, 0, 0), (2, 1, 1), (3, 4, 5)]
    with pytest.raises(KeyError, match="rerun the detect rule"):
        used_super_weights({"super_weights": []})


def test_stopped_says_no_new_candidate_when_spikes_remain():
    """A spike that zeroing finds no new weight for: GPT-2's down-projection bias keeps channel 5 above the
    threshold after the only weight of its row (the planted one) is zeroed."""
    model = plant(tiny_model("gpt2"), 1, 5, 17)
    a = get_adapter(model)
    with torch.no_grad():
        row = a.down_row(model, 1, 5)
        keep = float(row[17])
        row.zero_()
        row[17] = keep
        a.down_proj(model, 1).bias[5] = 500.0
    res = find_candidates(model, ToyTokenizer(), rule=RULE, max_iters=4)
    assert [c.coord for c in res.candidates] == [(1, 5, 17)]
    assert RULE(res.iterations[-1][1])  # layer 1 still spikes in the last iteration
    assert res.stopped == "no new candidate"


def test_known_coordinate_outside_the_model_is_one_clear_line():
    model = tiny_model("llama")
    with pytest.raises(KnownCoordinateError) as e:
        detect_model(model, ToyTokenizer(), None, rule=RULE, known=[(1, 5, 17), (7, 5, 17)],
                     known_key="models.tiny.super_weights")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("`models.tiny.super_weights`") and "layer 7 not in 0..3" in msg
    assert "Fix" in msg


def test_detect_model_without_confirmation_uses_known_or_nothing():
    model = plant(tiny_model("llama"), 1, 5, 17)
    s, _, _ = detect_model(model, ToyTokenizer(), None, rule=RULE, known=[(1, 5, 17)], use="detected")
    assert s["candidates"][0]["status"] == "not tested" and s["used"] == []
    assert s["known"] == [{"layer": 1, "row": 5, "col": 17, "status": "found-unconfirmed",
                           "candidate_status": "not tested"}]
    s, _, _ = detect_model(model, ToyTokenizer(), None, rule=RULE, known=[(1, 5, 17)], use="known")
    assert used_super_weights(s) == [(1, 5, 17)] and s["used"][0]["source"] == "known"
