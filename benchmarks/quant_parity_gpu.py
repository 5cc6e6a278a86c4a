"""Parity of the `compute_dtype: weight` / `partial_block: whole_tensor` / `rounding: official` options with the
official code's arithmetic (written out below as in its quantize_blockwise), on CUDA in fp16 and on CPU, on a
Llama-7B-sized down projection with planted outliers. Prints, per block and z, how many elements differ
(the float32 default: how many land on another quantization level)."""
import time

import torch

from superweight.quant.rtn import BlockSpec, RTNOptions, quantize_tensor


def official(w, bits, block, z):
    """The official arithmetic, step by step (in the weight's dtype)."""
    shape = w.shape
    x = w.clone()
    if x.numel() % block == 0:
        x = x.reshape(-1, block)
        if z is not None:
            thr = z * x.abs().std(dim=1, keepdim=True) + x.abs().mean(dim=1, keepdim=True)
            x = torch.clamp(x, -thr, thr)
        mn, mx = x.min(dim=1, keepdim=True)[0], x.max(dim=1, keepdim=True)[0]
    else:
        if z is not None:
            thr = z * x.abs().std() + x.abs().mean()
            x = torch.clamp(x, -thr, thr)
        mn, mx = x.min(), x.max()
    scale = (2 ** bits - 1) / (mx - mn)
    out = ((x - mn) * scale).round() / scale + mn
    return out.reshape(shape), scale.expand_as(out).reshape(shape)


opts = RTNOptions(partial="whole_tensor", rounding="official", dtype="weight")
torch.manual_seed(0)
base = (torch.randn(4096, 11008) * 0.02).half()
base[3968, 7003] = -1.8  # a super-weight-like outlier
for device in ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]:
    w = base.to(device)
    for block in (64, 4096, 16384, 1000):  # 1000 does not divide: whole tensor
        for z in (None, 9.0):
            t = time.time()
            ref, scale = official(w, 4, block, z)
            q, used = quantize_tensor(w, 4, BlockSpec.parse(block), z, opts)
            q32, _ = quantize_tensor(w, 4, BlockSpec.parse(block), z)
            levels = ((q32 - ref.float()) * scale.float()).abs()  # difference in quantization steps
            print(f"{device} block {block} ({used}) z {z}: option vs official: {int((q != ref).sum())} of {w.numel()} "
                  f"elements differ; float32 default vs official: {int((levels > 0.5).sum())} on another level, "
                  f"max {float(levels.max()):.3f} steps apart ({time.time() - t:.2f}s)", flush=True)
