import math

import pytest
import torch

from superweight.perplexity import perplexity, windows
from tiny import tiny_model


def test_windows_cover_every_token_once():
    spans = windows(103, 10, drop_last=False)
    covered = [t for s, e in spans for t in range(s, e)]
    assert covered == list(range(103))
    gptq = windows(103, 10)  # GPTQ: full windows only
    assert [t for s, e in gptq for t in range(s, e)] == list(range(100))
    assert windows(103, 10, max_windows=3) == [(0, 10), (10, 20), (20, 30)]
    with pytest.raises(ValueError, match="shorter than one window"):
        windows(5, 10)


def test_perplexity_equals_hand_computed():
    model = tiny_model("llama")
    torch.manual_seed(1)
    ids = torch.randint(0, 128, (12,))
    nll = []
    with torch.no_grad():
        for s in (0, 4, 8):
            x = ids[s:s + 4]
            logits = model(x[None]).logits[0].double()
            for t in range(3):  # each window predicts its tokens 1..3 from the ones before
                p = torch.softmax(logits[t], -1)[x[t + 1]]
                nll.append(-math.log(float(p)))
    expected = math.exp(sum(nll) / len(nll))
    got = perplexity(model, ids, seqlen=4, batch_size=2, progress=False)
    assert got["tokens"] == 9 and got["windows"] == 3
    assert got["ppl"] == pytest.approx(expected, rel=1e-5)


def test_exploded_model_gives_inf_not_nan():
    model = tiny_model("llama")
    with torch.no_grad():
        model.lm_head.weight.fill_(float("inf"))
    got = perplexity(model, torch.arange(16), seqlen=8, progress=False)
    assert got["ppl"] == math.inf and got["nonfinite_tokens"] > 0
