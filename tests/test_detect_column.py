"""detection.column: a candidate's col is the input channel contributing most to the output spike (default) or the
channel of the input maximum (the official analyze.py); they differ when the largest input does not write the
spiking output."""
import pytest
import torch

from superweight.detect.spikes import SpikeRule, find_candidates
from tiny import ToyTokenizer, plant, tiny_model


def _decoy():
    """The super weight at (1, 5, 17); input channel 30 spikes larger but writes almost nothing."""
    model = plant(tiny_model("llama"), 1, 5, 17, weight=40.0)
    mlp = model.model.layers[1].mlp
    with torch.no_grad():
        mlp.gate_proj.weight[30] = mlp.gate_proj.weight[17] * 2
        mlp.up_proj.weight[30] = mlp.up_proj.weight[17] * 2
        mlp.down_proj.weight[:, 30] = 1e-3
    return model


def test_column_rule_picks_the_contributing_or_the_maximal_input_channel():
    model = _decoy()
    got = {}
    for column in ("contribution", "input_max"):
        res = find_candidates(model, ToyTokenizer(), rule=SpikeRule("absolute", threshold=5.0, column=column),
                              max_iters=1)
        got[column] = [c.coord for c in res.candidates if c.layer == 1]
        assert res.rule["column"] == column
    assert got == {"contribution": [(1, 5, 17)], "input_max": [(1, 5, 30)]}


def test_unknown_column_rule_is_one_line():
    with pytest.raises(ValueError, match="detection.column must be 'contribution' or 'input_max', got 'max'"):
        SpikeRule(column="max")
