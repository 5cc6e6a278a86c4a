"""Official arithmetic means bitwise: with the official options (whole-tensor partial blocks, official rounding,
unbiased std, the weight's dtype), whole-model quantization equals, bit for bit, a reference implementation of the
official quantize_blockwise steps written here from the published algorithm, for rtn, clip and sw_aware."""
import copy

import pytest
import torch
from torch import nn

from superweight.quant.rtn import RTNOptions, quantize_weights
from tiny import plant, tiny_model

OFFICIAL = RTNOptions(partial="whole_tensor", rounding="official", std="unbiased", dtype="weight")
SW = (1, 5, 17)


def reference(w: torch.Tensor, bits: int, block: int, z: float | None) -> torch.Tensor:
    """The official steps, in the weight's dtype: a tensor whose size is a multiple of ``block`` is cut into rows
    of ``block`` consecutive elements (clip bound z * std + mean of |w| per row, torch's unbiased std), else the whole
    tensor is one block (its statistics over all elements); then min-max per block, scale = (2^bits - 1) / (max -
    min), w' = round((w - min) * scale) / scale + min."""
    shape, dtype = w.shape, w.dtype
    x = w.clone()
    if x.numel() % block == 0:
        x = x.reshape(-1, block)
        if z is not None:
            a = x.abs()
            t = z * a.std(dim=1, keepdim=True) + a.mean(dim=1, keepdim=True)
            x = torch.clamp(x, -t, t)
        lo, hi = x.min(dim=1, keepdim=True).values, x.max(dim=1, keepdim=True).values
    else:
        if z is not None:
            a = x.abs()
            t = z * a.std() + a.mean()
            x = torch.clamp(x, -t, t)
        lo, hi = x.min(), x.max()
    scale = (2 ** bits - 1) / (hi - lo)
    x = x.sub(lo).mul(scale).round().div(scale).add(lo)
    return x.reshape(shape).to(dtype)


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits (-0.0 and 0.0 differ, as do NaN payloads)."""
    return t.contiguous().view({2: torch.int16, 4: torch.int32}[t.element_size()])


def _sizes(model):
    return {n: m.weight.numel() for n, m in model.named_modules() if isinstance(m, nn.Linear) and "layers" in n}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("method", ["rtn", "clip", "sw_aware"])
@pytest.mark.parametrize("block", [64, 96, "per_tensor"])
def test_whole_model_equals_the_official_steps_bit_for_bit(dtype, method, block):
    base = plant(tiny_model("llama"), *SW).to(dtype)
    # block 96 divides no tensor of this model (1,024 and 2,048 elements): every tensor takes the whole-tensor branch
    sizes = _sizes(base)
    assert all(n % 96 for n in sizes.values()) and all(n % 64 == 0 for n in sizes.values())
    for z in (9.0, 1.5):  # 1.5 clips many weights: the bound's last bit decides many of them
        model = copy.deepcopy(base)
        quantize_weights(model, method, 4, block, z, [SW] if method == "sw_aware" else [], progress=False,
                         opts=OFFICIAL)
        clipped = 0
        for name, mod in base.named_modules():
            if not (isinstance(mod, nn.Linear) and "layers" in name):
                continue
            w = mod.weight.data
            b = w.numel() if block == "per_tensor" else block
            want = reference(w, 4, b, z if method in ("clip", "sw_aware") else None)
            if method == "sw_aware" and name == f"model.layers.{SW[0]}.mlp.down_proj":
                want[SW[1], SW[2]] = w[SW[1], SW[2]]  # put back at its original value (official restore_GO x1.0)
            got = model.get_submodule(name).weight.data
            assert got.dtype == dtype and torch.equal(_bits(got), _bits(want)), (name, z)
            clipped += int((want.abs() < w.abs()).sum()) if method != "rtn" else 0
        if method != "rtn" and z == 1.5:
            assert clipped > 0  # the comparison covered clipped weights
