"""Confirmation by ablation (single and joint rules, batched ablations) on tiny models with planted super weights."""
import math

import pytest
import torch

from superweight.detect.ablations import ablation_perplexities
from superweight.detect.confirm import channel_groups, confirm_candidates
from superweight.interventions.edits import zeroed
from superweight.scoring.perplexity import perplexity
from tiny import plant, tiny_model


@pytest.mark.parametrize("family", ["llama", "gpt2", "opt"])
def test_batched_ablations_equal_zeroing_the_weights(family):
    """Several ablation sets share one forward batch; each equals perplexity with those weights really zeroed."""
    model = plant(tiny_model(family), 1, 5, 17)
    ids = torch.randint(4, 128, (70,))
    sets = [frozenset(), frozenset({(1, 5, 17)}), frozenset({(1, 5, 17), (2, 9, 3)}), frozenset({(0, 1, 2)})]
    got = ablation_perplexities(model, ids, 16, 2, sets, batch_size=3)
    for s, g in zip(sets, got):
        if s:
            with zeroed(model, s):
                want = perplexity(model, ids, 16, 2, progress=False)
        else:
            want = perplexity(model, ids, 16, 2, progress=False)
        assert g["ppl"] == pytest.approx(want["ppl"], rel=1e-5), s
        assert g["window_nll"] == pytest.approx(want["window_nll"], rel=1e-5)
        assert g["zeroed"] == sorted(list(c) for c in s)
    assert abs(got[1]["ppl"] / got[0]["ppl"] - 1) > 1e-4  # the ablation changed far more than the tolerance


def _own_text(model, n=34):
    """Greedy text of the model itself: the planted super activation decides every prediction, so the model
    is sure of it and loses that certainty when the activation goes."""
    ids = torch.tensor([[7, 3]])
    with torch.no_grad():
        for _ in range(n - 2):
            ids = torch.cat([ids, model(ids).logits[:, -1:].argmax(-1)], dim=1)
    return ids[0]


def _confident(model):
    """A larger output head, so the model is sure of its own text (a random tiny model is near uniform)."""
    with torch.no_grad():
        model.lm_head.weight *= 200
    return model


def _group_model():
    """Two equal weights writing residual channel 5 in layer 1 from identical inputs (columns 17 and 30): either
    alone keeps the super activation at half strength, which still dominates the residual stream."""
    model = plant(tiny_model("llama"), 1, 5, 17, weight=40.0)
    mlp = model.model.layers[1].mlp
    with torch.no_grad():
        mlp.gate_proj.weight[30] = mlp.gate_proj.weight[17]
        mlp.up_proj.weight[30] = mlp.up_proj.weight[17]
        mlp.down_proj.weight[5, 30] = 40.0
    return _confident(model)


GROUP = [(1, 5, 17), (1, 5, 30), (1, 5, 3), (2, 9, 4)]  # the pair, a weak weight of the same row, an unrelated one


def test_joint_confirms_weights_that_matter_only_as_a_set():
    model = _group_model()
    ids = _own_text(model)
    before = {n: p.clone() for n, p in model.named_parameters()}
    res = confirm_candidates(model, GROUP, ids, 16, 2, factor=2.0, mode="joint", batch_size=4)
    pc = res["per_candidate"]
    # each strong weight alone does not reach the factor: the single rule would drop both
    assert pc[(1, 5, 17)]["ppl_ratio"] < 2 and pc[(1, 5, 30)]["ppl_ratio"] < 2
    assert pc[(1, 5, 17)]["group_ratio"] >= 2
    assert pc[(1, 5, 17)]["status"] == pc[(1, 5, 30)]["status"] == "confirmed in group"
    assert "channel 5" in pc[(1, 5, 17)]["reason"]
    assert pc[(1, 5, 3)]["status"] == "not needed in group"
    assert pc[(2, 9, 4)]["status"] == "below factor" and pc[(2, 9, 4)]["group_ratio"] is None
    (g,) = res["groups"]
    assert g["channel"] == 5 and g["passed"] and sorted(map(tuple, g["confirmed"])) == [(1, 5, 17), (1, 5, 30)]
    # backward elimination: round 1 drops the weak weight (the pair still reaches the factor), round 2 stops
    assert [r["removed"] for r in g["elimination"]] == [[[1, 5, 3]], []]
    assert all(x["ppl_ratio"] < 2 for x in g["elimination"][-1]["leave_one_out"])
    # every ratio is backed by a recorded ablation with its per-window NLL
    abl = {tuple(map(tuple, a["zeroed"])): a for a in res["ablations"]}
    assert abl[((1, 5, 17), (1, 5, 30))]["ppl_ratio"] >= 2 and len(abl[()]["window_nll"]) == 2
    for n, p in model.named_parameters():  # the weights were never touched
        assert torch.equal(p, before[n]), n


def test_single_mode_drops_the_set():
    model = _group_model()
    res = confirm_candidates(model, GROUP, _own_text(model), 16, 2, factor=2.0, mode="single")
    assert all(v["status"] == "below factor" for v in res["per_candidate"].values())
    assert res["groups"] == []


def test_a_weight_that_matters_alone_is_confirmed_alone_in_both_modes():
    model = _confident(plant(tiny_model("llama"), 1, 5, 17))
    ids = _own_text(model)
    for mode in ("joint", "single"):
        pc = confirm_candidates(model, [(1, 5, 17), (1, 5, 3)], ids, 16, 2, 2.0, mode)["per_candidate"]
        assert pc[(1, 5, 17)]["status"] == "confirmed alone" and pc[(1, 5, 17)]["ppl_ratio"] >= 2
        # joint: the weak weight is not grouped with one confirmed alone (that group would pass because of it)
        assert pc[(1, 5, 3)]["status"] == "below factor" and pc[(1, 5, 3)]["group_ratio"] is None


def test_channel_groups_and_bad_mode():
    assert channel_groups([(2, 1, 1), (3, 1, 5), (2, 7, 0)]) == {1: [(2, 1, 1), (3, 1, 5)]}
    with pytest.raises(ValueError, match="joint, single"):
        confirm_candidates(tiny_model("llama"), [], torch.arange(40), 16, 2, mode="pairs")


def test_detect_model_joint_end_to_end():
    """Detection finds both weights of the pair (two iterations), joint confirmation keeps both, single drops
    both; the used list and the known comparison follow."""
    from superweight.detect.spikes import SpikeRule, detect_model
    from superweight.detect.used import used_super_weights
    from tiny import ToyTokenizer

    model = _group_model()
    text = "".join(chr(int(i)) for i in _own_text(model))  # ToyTokenizer: one id per character
    kw = dict(rule=SpikeRule("absolute", threshold=5.0), max_iters=3, seqlen=16, windows=2, known=[(1, 5, 17)])
    s, _, _ = detect_model(model, ToyTokenizer(), text, mode="joint", **kw)
    assert {(c["layer"], c["row"], c["col"]): c["status"] for c in s["candidates"]} == {
        (1, 5, 17): "confirmed in group", (1, 5, 30): "confirmed in group"}
    assert used_super_weights(s) == [(1, 5, 17), (1, 5, 30)] and s["status"] == "confirmed super weight"
    assert {(k["col"], k["status"]) for k in s["known"]} == {(17, "found"), (30, "new")}
    assert s["confirm"]["mode"] == "joint" and s["confirm"]["groups"][0]["channel"] == 5
    s, _, _ = detect_model(model, ToyTokenizer(), text, mode="single", **kw)
    assert s["used"] == [] and s["status"] == "no confirmed super weight"
    assert s["known"][0]["status"] == "found-unconfirmed"


@pytest.mark.parametrize("family", ["llama", "gpt2", "opt", "gemma2", "falcon"])
def test_ablations_start_at_their_first_layer_with_the_same_perplexities(family):
    """Batches whose zeroed weights lie in layer L or later replay layer L - 1's recorded output and skip the layers
    below (adapters.run_from); perplexities equal a whole forward with the weights really zeroed (Falcon's tuple
    outputs too)."""
    from superweight.detect.ablations import Prefix

    model = plant(tiny_model(family), 2, 5, 17)
    ids = torch.randint(4, 128, (70,))
    sets = [frozenset({(2, 5, 17)}), frozenset({(3, 1, 2)}), frozenset({(2, 5, 17), (3, 9, 3)}), frozenset({(0, 1, 2)})]
    prefix = Prefix(model, {0, 2, 3}, n_windows=4, seqlen=16)
    assert prefix.keep == [2, 1]  # the inputs of layers 3 and 2; layer 0 has no layer below
    base = ablation_perplexities(model, ids, 16, 4, [frozenset()], batch_size=4, prefix=prefix)[0]
    got = ablation_perplexities(model, ids, 16, 4, sets, batch_size=4, prefix=prefix)
    assert base["ppl"] == pytest.approx(perplexity(model, ids, 16, 4, progress=False)["ppl"], rel=1e-5)
    for s, g in zip(sets, got):
        with zeroed(model, s):
            want = perplexity(model, ids, 16, 4, progress=False)
        assert g["window_nll"] == pytest.approx(want["window_nll"], rel=1e-5), s
    assert abs(got[0]["ppl"] / base["ppl"] - 1) > 1e-4  # the ablation changed far more than the tolerance
    # sets 1-3 start at layers 2, 3 and 2 (4 windows each); the set with a layer-0 weight runs whole
    assert prefix.skipped_layers == (2 + 3 + 2) * 4
    assert not any("forward" in b.__dict__ for b in prefix.blocks)  # no layer's forward is replaced


def test_prefix_keeps_the_latest_layers_within_its_budget():
    from superweight.detect.ablations import Prefix

    model = tiny_model("llama")  # hidden 32, float32: one layer's outputs for 2 windows of 16 tokens = 4 KiB
    prefix = Prefix(model, {1, 2, 3}, n_windows=2, seqlen=16, max_bytes=2 * 4096)
    assert prefix.keep == [2, 1]
    with torch.no_grad(), prefix.record([0, 1], outputs=True):
        model(torch.randint(0, 128, (2, 16)), use_cache=False)
    assert sorted(prefix.saved) == [(k, w) for k in (1, 2) for w in (0, 1)] and list(prefix.inputs) == [(2, 16)]
    # a set in layer 1 has no kept layer below it; one in layer 3 starts from layer 2's outputs; layer 0 was not kept
    assert [prefix.start([frozenset({(l, 0, 0)})], [0, 1], 16) for l in (1, 2, 3)] == [0, 2, 3]
    assert prefix.start([frozenset({(3, 0, 0)})], [0, 5], 16) == 0  # window 5 not recorded
    assert prefix.start([frozenset({(3, 0, 0)})], [0], 16) == 0  # no layer inputs recorded for one sequence


def test_confirmation_with_and_without_the_prefix_agree():
    model = _group_model()
    ids = _own_text(model)
    coords = [(1, 5, 17), (1, 5, 30), (3, 2, 9)]
    a = confirm_candidates(model, coords, ids, 16, 2, factor=1.5, mode="joint", reuse_prefix=True)
    b = confirm_candidates(model, coords, ids, 16, 2, factor=1.5, mode="joint", reuse_prefix=False)
    assert {c: v["status"] for c, v in a["per_candidate"].items()} == {c: v["status"] for c, v in b["per_candidate"].items()}
    for x, y in zip(sorted(a["ablations"], key=lambda r: r["zeroed"]), sorted(b["ablations"], key=lambda r: r["zeroed"])):
        assert x["zeroed"] == y["zeroed"] and x["window_nll"] == pytest.approx(y["window_nll"], rel=1e-6)


PHI3_ROWS, PHI3_K = (5, 9, 13), 2
PHI3_SIX = [(layer, r, col) for layer, col in ((1, 17), (3, 30)) for r in PHI3_ROWS]


def _phi3_six():
    """A tiny Phi-3 with Table 2's shape of super weights: three rows sharing one column in each of two layers
    (Phi-3: layers 2 and 4, rows 525/1113/1693, columns 808 and 2723). Each column reads only a constant input
    channel (K), so its intermediate value is a large positive spike at every token, written only to the three rows.
    Layer 3's spike is large only when the residual stream carries no super activation (K then dominates its
    normalized input): with layer 1's weights gone, layer 3's take over. The output head reads the three rows
    alike, so any one of the six weights left keeps the model; only all six zeroed destroy it."""
    from superweight.models.adapters import get_adapter
    from tiny import H, I

    model = tiny_model("phi3")
    a = get_adapter(model)
    with torch.no_grad():
        model.model.embed_tokens.weight[:, PHI3_K] = 10.0
        for layer, col in ((1, 17), (3, 30)):
            gate_up = model.model.layers[layer].mlp.gate_up_proj.weight
            reads_k = torch.zeros(H)
            reads_k[PHI3_K] = 60.0
            gate_up[col], gate_up[I + col] = reads_k, reads_k
            model.model.layers[layer].mlp.down_proj.weight[:, col] = 0.0
            for r in PHI3_ROWS:
                a.set_weight(model, layer, r, col, 40.0)
        for r in PHI3_ROWS[1:]:
            model.lm_head.weight[:, r] = model.lm_head.weight[:, PHI3_ROWS[0]]
    return _confident(model)


def test_joint_confirms_phi3_like_weights_that_matter_only_all_together():
    """Six weights in three rows, two layers: no row, column or layer group reaches the factor, the whole list
    does; leave-one-out finds every one needed, so joint confirms all six, and none alone."""
    model = _phi3_six()
    ids = _own_text(model)
    res = confirm_candidates(model, PHI3_SIX, ids, 16, 2, factor=2.0, mode="joint", batch_size=8)
    pc = res["per_candidate"]
    assert all(pc[c]["ppl_ratio"] < 2 for c in PHI3_SIX)  # none matters alone
    assert {pc[c]["status"] for c in PHI3_SIX} == {"confirmed in group"}
    by_kind = {}
    for g in res["groups"]:
        by_kind.setdefault(g["kind"], []).append(g)
    # three row groups (one weight per layer), two column groups (= the two layers' groups: not tested twice)
    assert [g["key"] for g in by_kind["row"]] == [5, 9, 13] and not any(g["passed"] for g in by_kind["row"])
    assert [g["key"] for g in by_kind["column"]] == [[1, 17], [3, 30]]
    assert not any(g["passed"] for g in by_kind["column"]) and "layer" not in by_kind
    (whole,) = by_kind["all"]
    assert whole["passed"] and whole["ppl_ratio"] >= 2 and sorted(map(tuple, whole["confirmed"])) == PHI3_SIX
    last = whole["elimination"][-1]
    assert len(whole["elimination"]) == 1 and all(x["ppl_ratio"] < 2 for x in last["leave_one_out"])
    assert "group of all unconfirmed candidates (6)" in pc[PHI3_SIX[0]]["reason"]
    # single: each alone, so none
    single = confirm_candidates(model, PHI3_SIX, ids, 16, 2, factor=2.0, mode="single", batch_size=8)
    assert {v["status"] for v in single["per_candidate"].values()} == {"below factor"}


def test_a_batch_shape_not_seen_runs_whole_once_then_starts_late():
    """Fewer windows than a batch (the CI's 2 windows, 4 sequences per forward): the unmodified model's batch has
    another shape than the ablations', so the first ablation batch runs whole and records the layer inputs for its
    shape; later batches of that shape start at their first zeroed layer, with the whole pass's perplexities."""
    from superweight.detect.ablations import Prefix

    model = plant(tiny_model("gemma2"), 2, 5, 17)
    ids = torch.randint(4, 128, (40,))
    sets = [frozenset({(3, 1, 2)}), frozenset({(3, 5, 17)}), frozenset({(2, 5, 17)}), frozenset({(3, 9, 3)})]
    prefix = Prefix(model, {2, 3}, n_windows=2, seqlen=16)
    ablation_perplexities(model, ids, 16, 2, [frozenset()], batch_size=4, prefix=prefix)
    assert list(prefix.inputs) == [(2, 16)]
    got = ablation_perplexities(model, ids, 16, 2, sets, batch_size=4, prefix=prefix)
    assert sorted(prefix.inputs) == [(2, 16), (4, 16)]
    assert prefix.skipped_layers == 2 * 4  # the second batch (sets 2 and 3, 2 windows each) starts at layer 2
    for s, g in zip(sets, got):
        with zeroed(model, s):
            want = perplexity(model, ids, 16, 2, progress=False)
        assert g["window_nll"] == pytest.approx(want["window_nll"], rel=1e-5), s
