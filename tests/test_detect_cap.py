"""Detection's iteration cap: stopping there with spikes left is reported in the result and the log (and from the
result, in results/protocol.md: tests/test_protocol.py)."""
import logging

import torch

from superweight.detect.spikes import SpikeRule, detect_model, find_candidates
from tiny import ToyTokenizer, plant, tiny_model

RULE = SpikeRule("absolute", threshold=5.0)


def _two_in_one_row():
    """Two weights of residual channel 5 in layer 1 (columns 17 and 30, identical inputs): zeroing the first leaves
    the second spiking, so the loop needs two rounds."""
    model = plant(tiny_model("llama"), 1, 5, 17, weight=40.0)
    mlp = model.model.layers[1].mlp
    with torch.no_grad():
        mlp.gate_proj.weight[30] = mlp.gate_proj.weight[17]
        mlp.up_proj.weight[30] = mlp.up_proj.weight[17]
        mlp.down_proj.weight[5, 30] = 39.0
    return model


def test_cap_reached_with_spikes_left_is_reported(caplog):
    model = _two_in_one_row()
    with caplog.at_level(logging.WARNING, logger="superweight.detect.spikes"):
        res = find_candidates(model, ToyTokenizer(), rule=RULE, max_iters=1)
    assert [c.coord for c in res.candidates] == [(1, 5, 17)]
    assert res.stopped == "iteration cap" and res.extra["cap_reached"] and res.extra["max_iters"] == 1
    assert "stopped at its iteration cap (detection.max_iters = 1) with spikes left in layer(s) [1]" in caplog.text
    # a cap above the need: both found, the loop ends on its own
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="superweight.detect.spikes"):
        res = find_candidates(model, ToyTokenizer(), rule=RULE, max_iters=20)
    assert sorted(c.coord for c in res.candidates) == [(1, 5, 17), (1, 5, 30)]
    assert res.stopped == "no spike" and not res.extra["cap_reached"] and res.extra["rounds"] == 2
    assert "iteration cap" not in caplog.text


def test_summary_carries_the_cap():
    model = _two_in_one_row()
    s, _, _ = detect_model(model, ToyTokenizer(), None, rule=RULE, max_iters=1)
    assert s["stopped"] == "iteration cap" and s["cap_reached"] is True and s["max_iters"] == 1 and s["rounds"] == 1
