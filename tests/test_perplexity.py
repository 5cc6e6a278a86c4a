import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from superweight.scoring.perplexity import perplexity, windows
from tiny import BIG_V, tiny_big_vocab, tiny_model


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


def _full_window_nll(model, ids, seqlen, n):
    """The unchunked computation: full float32 logits and their log-softmax for every window."""
    out = []
    with torch.no_grad():
        for s in range(0, n * seqlen, seqlen):
            x = ids[None, s:s + seqlen]
            logp = torch.log_softmax(model(x).logits.float()[:, :-1], -1)
            out.append(-logp.gather(-1, x[:, 1:, None]).squeeze(-1)[0].double())
    return out


@pytest.mark.parametrize("family,chunk,batch_size", [("llama", 1, 1), ("gemma", 5, 2), ("gpt2", None, 3)])
def test_chunked_perplexity_equals_full_log_softmax(family, chunk, batch_size):
    model = tiny_model(family)
    ids = torch.randint(0, 128, (100,), generator=torch.Generator().manual_seed(3))
    full = _full_window_nll(model, ids, 16, 6)
    got = perplexity(model, ids, 16, 6, batch_size=batch_size, progress=False, chunk=chunk)
    assert got["tokens"] == 6 * 15 and got["window_tokens"] == 15
    assert got["window_nll"] == pytest.approx([float(w.mean()) for w in full], rel=1e-5)
    mean = float(torch.cat(full).mean())
    assert got["nll_mean"] == pytest.approx(mean, rel=1e-5)
    assert got["ppl"] == pytest.approx(math.exp(mean), rel=1e-5)


class _Allocations(TorchDispatchMode):
    """Bytes of every tensor an op returns in fresh storage (views of an input are not allocations)."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                self.sizes.append((t.untyped_storage().nbytes(), str(func)))
        return out


def test_no_full_vocabulary_tensor_over_all_positions():
    model = tiny_big_vocab()
    ids = torch.randint(0, BIG_V, (2 * 128,), generator=torch.Generator().manual_seed(4))
    batch, seqlen, chunk = 2, 128, 16
    full_bytes = batch * (seqlen - 1) * BIG_V * 4  # float32 logits of one batch: 266 MB
    with _Allocations() as old, torch.no_grad():  # the instrument sees the unchunked computation's logits
        model(ids.view(batch, seqlen)).logits.float()
    assert max(old.sizes)[0] >= full_bytes
    with _Allocations() as new:
        got = perplexity(model, ids, seqlen, batch_size=batch, progress=False, chunk=chunk)
    largest, op = max(new.sizes)
    assert largest <= chunk * BIG_V * 4, (largest, op)  # one chunk of positions x vocabulary: 16.8 MB
    assert largest * 10 < full_bytes
    assert got["tokens"] == batch * (seqlen - 1) and math.isfinite(got["ppl"])
