import numpy as np
import pytest
import torch

from superweight.settings import JobSettings, WeightQuant
from superweight.models.adapters import get_adapter
from superweight.quant.methods import CLIPPING_METHODS
from superweight.quant.rtn import BlockSpec, RTNOptions, _blocks, clip, quantize_tensor, quantize_weights, rtn
from superweight.quant.w8a8 import W8A8, activation_absmax, fake_quant_per_token, quantize_with_sa, sa_channels, smooth
from tiny import plant, tiny_model

SW = (1, 5, 17)


@pytest.mark.parametrize("bits", [3, 4, 8])
@pytest.mark.parametrize("block", ["64", "100", "per_channel", "per_tensor", "8x16", "5x7"])
def test_rtn_levels_and_error(bits, block):
    torch.manual_seed(0)
    w = torch.randn(32, 48)
    spec = BlockSpec.parse(block)
    q, used = quantize_tensor(w, bits, spec)
    assert used == str(spec)
    bw, _ = _blocks(w, spec)
    bq, _ = _blocks(q, spec)
    valid = ~torch.isnan(bw)
    assert valid.sum() == w.numel()  # padding never counts
    for orig, quant, ok in zip(bw, bq, valid):
        o, qq = orig[ok], quant[ok]
        assert len(torch.unique(qq)) <= 2 ** bits
        step = (o.max() - o.min()) / (2 ** bits - 1)
        assert (qq - o).abs().max() <= step / 2 + 1e-5


def test_partial_last_block_is_its_own_block():
    w = torch.cat([torch.zeros(60), torch.linspace(100, 101, 40)]).view(4, 25)  # 100 elements, blocks of 64
    q, _ = quantize_tensor(w, 2, BlockSpec.parse(64))
    tail = q.reshape(-1)[64:]
    # the 36-element tail has its own range [100, 101], so it is quantized finely (not with the first block's 0..101)
    assert tail.min() >= 100 - 1e-4 and (tail - w.reshape(-1)[64:]).abs().max() <= (1 / 3) / 2 + 1e-4


@pytest.mark.parametrize("std", ["unbiased", "population"])
def test_clip_bounds_every_value(std):
    torch.manual_seed(0)
    b = torch.randn(4, 256)
    b[0, 3] = 50.0
    c = clip(b, 3.0, std)
    a = b.abs()
    bound = 3.0 * a.std(1, unbiased=std == "unbiased", keepdim=True) + a.mean(1, keepdim=True)
    assert (c.abs() <= bound + 1e-6).all()
    assert c[0, 3] == pytest.approx(float(bound[0]))
    assert torch.equal(c[1], b[1].clamp(-bound[1], bound[1]))


def test_clip_std_unbiased_as_the_official_code_by_hand():
    """|w| = 1, 1, 1, 5: mean 2, squared deviations 1+1+1+9 = 12; unbiased std = sqrt(12/3) = 2 (official, torch's
    default), population sqrt(12/4) = sqrt(3). z = 1: bound 4 vs 2 + sqrt(3) = 3.732."""
    b = torch.tensor([[1.0, -1.0, 1.0, 5.0]])
    assert clip(b, 1.0)[0, 3] == 4.0
    assert clip(b, 1.0, "population")[0, 3] == pytest.approx(2 + 3 ** 0.5)


def test_rounding_at_an_exact_tie_official_vs_divide_by_hand():
    """2 bits (3 levels), block [0, 0.7, 0.35]: 0.35 sits exactly half-way between levels 1 and 2. In float32 the
    official (w - min) * (3 / 0.7) = 1.4999999 rounds to 1, dequantized 1 / (3 / 0.7) = 0.2333; the divided form
    (w - min) / (0.7 / 3) = 1.5 rounds (half to even) to 2, dequantized 2 * (0.7 / 3) = 0.4667."""
    f = np.float32
    w = torch.tensor([[0.0, 0.7, 0.35]])
    s = f(3) / f(0.7)  # the official scale, in float32
    assert f(0.35) * s < 1.5
    official = float(np.round(f(0.35) * s) / s)
    step = f(0.7) / f(3)
    assert f(0.35) / step == 1.5
    divided = float(np.round(f(0.35) / step) * step)
    assert rtn(w, 2, "official")[0, 2] == pytest.approx(official, abs=0) and official == pytest.approx(0.7 / 3)
    assert rtn(w, 2, "divide")[0, 2] == pytest.approx(divided, abs=0) and divided == pytest.approx(1.4 / 3)
    torch.testing.assert_close(rtn(w, 2)[0, :2], w[0, :2])  # min and max map to the end levels either way


def test_partial_block_whole_tensor_as_the_official_code_by_hand():
    """6 elements, block 4, 2 bits: the official code quantizes the whole tensor as one block (min 0, max 12, step
    4: 0 1 2 3 10 12 -> 0 0 0 4 8 12; 10 * 3/12 = 2.5 rounds to even 2); the project's blocks [0..3] and [10, 12]
    are exact."""
    w = torch.tensor([[0.0, 1.0, 2.0], [3.0, 10.0, 12.0]])
    q, used = quantize_tensor(w, 2, BlockSpec.parse(4), opts=RTNOptions(partial="whole_tensor"))
    assert used == "per_tensor" and q.tolist() == [[0.0, 0.0, 0.0], [4.0, 8.0, 12.0]]
    q, used = quantize_tensor(w, 2, BlockSpec.parse(4))
    assert used == "4" and torch.equal(q, w)
    q, used = quantize_tensor(w, 2, BlockSpec.parse(3), opts=RTNOptions(partial="whole_tensor"))
    assert used == "3"  # a multiple of the block: blocks as usual


def test_compute_dtype_weight_as_the_official_code_by_hand():
    """An fp16 block of 64 clipped (z = 2) and quantized to 4 bits: the official code does every step in fp16
    (mean/std rounded to fp16, bound z*std + mean in fp16, scale 15/(max-min) in fp16, ...); written out here."""
    torch.manual_seed(1)
    w = (torch.randn(4, 16) * 0.37).half()
    w[1, 5] = 3.1
    z = 2.0
    x = w.reshape(-1, 64).clone()  # one flat block, as quantize_blockwise reshapes
    thr = z * x.abs().std(dim=1, keepdim=True) + x.abs().mean(dim=1, keepdim=True)
    x = torch.clamp(x, -thr, thr)
    mn, mx = x.min(dim=1, keepdim=True)[0], x.max(dim=1, keepdim=True)[0]
    scale = (2 ** 4 - 1) / (mx - mn)
    official = (((x - mn) * scale).round() / scale + mn).reshape(4, 16)
    assert official.dtype == torch.float16
    q, _ = quantize_tensor(w, 4, BlockSpec.parse(64), z, RTNOptions(dtype="weight"))
    assert q.dtype == torch.float16 and torch.equal(q, official)
    q32, _ = quantize_tensor(w, 4, BlockSpec.parse(64), z)
    assert q32.dtype == torch.float32 and not torch.equal(q32.half(), official)  # the option matters here


def test_options_reject_unknown_values():
    with pytest.raises(ValueError, match="quantization.weights.rounding"):
        RTNOptions(rounding="nearest")
    assert RTNOptions.from_config(WeightQuant(partial_block="whole_tensor", z=9)).partial == "whole_tensor"


def test_sw_aware_keeps_the_super_weight_bit_identical():
    model = plant(tiny_model("llama"), *SW)
    a = get_adapter(model)
    before = a.get_weight(model, *SW)
    rec = quantize_weights(model, "sw_aware", 4, 64, z=3.0, sws=[SW], progress=False)
    assert a.get_weight(model, *SW) == before
    assert len(rec) == 4 * 7 and all(r["rel_error"] > 0 for r in rec)
    model3 = plant(tiny_model("llama"), *SW)
    quantize_weights(model3, "clip", 4, 64, z=3.0, sws=[SW], progress=False)
    assert a.get_weight(model3, *SW) < before  # clipping without restore cuts the super weight


def test_table6_super_weights_put_back_after_rtn_times_factor():
    """Table 6: plain RTN (no clipping), then the super weight put back at its original value x factor; every other
    weight is exactly plain RTN's."""
    a = get_adapter(plant(tiny_model("llama"), *SW))
    before = a.get_weight(plant(tiny_model("llama"), *SW), *SW)
    plain = plant(tiny_model("llama"), *SW)
    quantize_weights(plain, "rtn", 4, 64, progress=False)
    for factor in (1.0, 1.5):
        m = plant(tiny_model("llama"), *SW)
        rec = quantize_weights(m, "rtn_keep_sw", 4, 64, sws=[SW], sw_factor=factor, progress=False)
        assert a.get_weight(m, *SW) == pytest.approx(before * factor, rel=1e-6)
        restored = [x for r in rec for x in r.get("restored", [])]
        assert len(restored) == 1 and restored[0]["original"] == before
        assert restored[0]["quantized"] == a.get_weight(plain, *SW)  # the block max: RTN keeps it (nearly)
        assert restored[0]["restored"] == a.get_weight(m, *SW)
        wq, wp = a.down_proj(m, 1).weight.detach().clone(), a.down_proj(plain, 1).weight.detach().clone()
        wq[SW[1], SW[2]] = wp[SW[1], SW[2]]
        assert torch.equal(wq, wp)
    with pytest.raises(ValueError, match="restores them"):
        quantize_weights(plant(tiny_model("llama"), *SW), "rtn", 4, 64, sws=[SW], sw_factor=1.5, progress=False)


def test_gpt2_conv1d_quantized_in_linear_layout():
    model = tiny_model("gpt2")
    w = model.transformer.h[0].mlp.c_fc.weight.detach().clone()  # (in, out)
    quantize_weights(model, "rtn", 4, "per_channel", progress=False)
    expected = quantize_tensor(w.t(), 4, BlockSpec.parse("per_channel"))[0].t()
    torch.testing.assert_close(model.transformer.h[0].mlp.c_fc.weight.detach(), expected)


def test_per_token_quantization_by_hand():
    x = torch.tensor([[[1.0, -2.0, 0.5], [127.0, 63.4, -0.2]]])
    q = fake_quant_per_token(x)
    # token 0: scale 2/127 -> 1.0 -> round(63.5)=64 (half to even: 64) * 2/127; token 1: scale 1
    s0 = 2.0 / 127
    expected = torch.tensor([[[round(1.0 / s0) * s0, -2.0, round(0.5 / s0) * s0], [127.0, 63.0, 0.0]]])
    torch.testing.assert_close(q, expected)


def test_sa_replacement_restores_exact_value():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 8)
    x[0, 0, 3] = 3000.123
    x[1, 4, 3] = -1234.5678
    y = quantize_with_sa(x, 3)
    assert y[0, 0, 3] == x[0, 0, 3] and y[1, 4, 3] == x[1, 4, 3]
    naive = fake_quant_per_token(x)
    # the other values of those tokens are quantized much more finely than with the naive scale
    assert (y[0, 0, :3] - x[0, 0, :3]).abs().max() < (naive[0, 0, :3] - x[0, 0, :3]).abs().max()


def test_smoothquant_folding_keeps_full_precision_output():
    model = plant(tiny_model("llama"), *SW)
    ids = torch.randint(0, 128, (64,))
    with torch.no_grad():
        before = model(ids[None]).logits
    stats = activation_absmax(model, ids, 16, 4)
    assert smooth(model, stats, 0.85) == 2 * 4
    with torch.no_grad():
        after = model(ids[None]).logits
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_w8a8_hooks_and_sa_channels():
    model = plant(tiny_model("llama"), *SW)
    ch = sa_channels(model, [SW])
    assert ch[(1, "mlp.down_proj")] == 17 and ch[(2, "self_attn.q_proj")] == 5 and (0, "mlp.down_proj") not in ch
    assert (1, "self_attn.q_proj") not in ch and (2, "mlp.down_proj") not in ch
    # o_proj reads the attention output, not the residual stream: the super activation never enters it
    assert not any(p == "self_attn.o_proj" for _, p in sa_channels(model, [SW], ("q", "k", "v", "o", "down")))
    ids = torch.randint(0, 128, (1, 12))
    with torch.no_grad():
        base = model(ids).logits
    with W8A8(model, sa_channels=ch) as q:
        assert len(q.handles) == 4 * (6 + 3)  # six inputs (paper) and three BMM operands per layer
        with torch.no_grad():
            quant = model(ids).logits
    assert q.calls == {"inputs": 4 * 6, "bmm_outputs": 4 * 3, "sa_kept": 2 * 5 + 1}
    assert not torch.equal(base, quant)
    torch.testing.assert_close(quant, base, rtol=0.2, atol=0.2)


def _on_per_token_grid(t, bits=8):
    s = t.abs().amax(-1, keepdim=True) / (2 ** (bits - 1) - 1)
    k = t / s
    return torch.allclose(k, k.round(), atol=1e-3)


@pytest.mark.parametrize("bmm", [("q", "k", "v"), ()])
def test_w8a8_bmm_inputs_quantized_per_token(bmm):
    """With bmm on, the q/k/v projection outputs (the attention BMM operands) sit on a per-token 8-bit grid."""
    model = tiny_model("llama")
    seen = {}
    layer = model.model.layers[0]
    ids = torch.randint(0, 128, (1, 12))
    with W8A8(model, inputs=("q", "k", "v", "o", "gate", "up", "down"), bmm=bmm) as q:
        assert len(q.handles) == 4 * (7 + len(bmm)) and "self_attn.o_proj" in q.inputs
        hs = [getattr(layer.self_attn, p).register_forward_hook(lambda m, a, o, p=p: seen.__setitem__(p, o.detach()))
              for p in ("q_proj", "k_proj", "v_proj", "o_proj")]
        with torch.no_grad():
            model(ids)
        for h in hs:
            h.remove()
    assert all(_on_per_token_grid(seen[p]) == bool(bmm) for p in ("q_proj", "k_proj", "v_proj"))
    assert not _on_per_token_grid(seen["o_proj"])  # its input is quantized, its output is not a BMM operand


def test_w8a8_fused_projection_needs_all_its_roles():
    model = tiny_model("phi3")
    with pytest.raises(ValueError, match="fuses roles"):
        W8A8(model, inputs=("q", "gate", "up", "down"))
    with pytest.raises(ValueError, match="unknown W8A8 role"):
        W8A8(model, inputs=("q", "k", "v", "x"))
    assert W8A8(model, bmm=("q", "k", "v")).bmm == ("self_attn.qkv_proj",)


@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma", "phi3", "olmo", "gpt2", "opt", "gpt_neox"])
def test_w8a8_every_family(family):
    """The adapter names the quantized inputs of every family, and W8A8 runs on each."""
    model = plant(tiny_model(family), *SW)
    a = get_adapter(model)
    ids = torch.randint(0, 128, (1, 12))
    ch = sa_channels(model, [SW])
    assert ch[(1, a.down_path)] == 17 and ch[(2, a.residual_readers()[0])] == 5
    with torch.no_grad():
        base = model(ids).logits
    with W8A8(model, sa_channels=ch) as q:
        n_in, n_bmm = len(a.role_paths(("q", "k", "v", "gate", "up", "down"))), len(a.role_paths(("q", "k", "v")))
        assert len(q.handles) == 4 * (n_in + n_bmm)
        with torch.no_grad():
            logits = model(ids).logits
    assert q.calls["inputs"] == 4 * n_in and q.calls["bmm_outputs"] == 4 * n_bmm
    assert torch.isfinite(logits).all() and not torch.equal(logits, base)


@pytest.mark.parametrize("family", ["gemma", "gpt2", "olmo"])
def test_smoothquant_not_applicable(family):
    model = tiny_model(family)
    with pytest.raises(ValueError, match="SmoothQuant does not apply"):
        activation_absmax(model, torch.arange(32), 16, 1)




def test_table6_rows_with_the_papers_numbers():
    from superweight.report.tables import quant_rows, table6

    def res(method, block, factor=None, avg=0.5):
        r = {"model": "m", "kind": "wquant", "method": method, "bits": 4, "block": block, "status": "done",
             "scores": {"tasks": {"piqa": {"acc": avg}}, "avg_acc": avg, "perplexity": {"wikitext2": {"ppl": 9.0}}},
             "intervention": {"mean_rel_error": 0.1, "z": None}}
        return {**r, "sw_factor": factor} if factor is not None else r

    df = quant_rows([res("rtn_keep_sw", "4096", 1.5, 0.62), res("rtn", "64", avg=0.6), res("rtn_keep_sw", "64", 1.0),
                     res("rtn_keep_sw", "64", 1.5), res("rtn", "4096"), res("rtn_keep_sw", "4096", 1.0)])
    paper = {"m": {"64": {"original": 69.59, "amplified": 69.88}, "4096": {"original": 66.19, "amplified": 67.54}}}
    t = table6(df, paper)
    assert list(t["block"]) == ["64"] * 3 + ["4096"] * 3
    assert list(t["variant"]) == ["RTN", "SW restored x1", "SW restored x1.5"] * 2
    assert t["paper avg"].tolist()[1:3] == [69.59, 69.88] and t["paper avg"].tolist()[4:] == [66.19, 67.54]
    assert t["avg"].tolist()[0] == pytest.approx(60.0) and t["avg"].tolist()[5] == pytest.approx(62.0)


def test_experiment_records_w8a8_scope_and_table6_restore():
    """The scoring jobs' intervention records: W8A8's roles, BMM operands and quantized-tensor counts (filled while
    scoring); Table 6's super weight put back x factor after RTN, with the arithmetic options."""
    import contextlib

    from superweight.analysis.experiments import apply

    model = plant(tiny_model("llama"), *SW)
    cfg = {"perplexity": {"seqlen": 16, "corpora": ["wikitext2"], "windows": {"wikitext2": 2}},
           "quantization": {"activations": {"inputs": ["q", "k", "v", "o", "gate", "up", "down"], "bmm": ["k", "v"],
                                            "corpora": ["wikitext2"]}}}
    with contextlib.ExitStack() as stack:
        rec = apply(model, "aquant", {"method": "sa_aware"}, [SW], JobSettings.from_dict(cfg), stack)
        with torch.no_grad():
            model(torch.randint(0, 128, (1, 8)))
    assert "self_attn.o_proj" in rec["quantized_projections"] and rec["bmm_projections"] == ["self_attn.k_proj",
                                                                                            "self_attn.v_proj"]
    assert rec["calls"]["inputs"] == 4 * 7 and rec["calls"]["bmm_outputs"] == 4 * 2 and rec["calls"]["sa_kept"] == 11
    cfg = {"quantization": {"weights": {"z": 9, "partial_block": "whole_tensor", "rounding": "divide"}}}
    m = plant(tiny_model("llama"), *SW)
    before = get_adapter(m).get_weight(m, *SW)
    rec = apply(m, "wquant", {"method": "rtn_keep_sw", "bits": 4, "block": "100", "sw_factor": 2.0}, [SW], JobSettings.from_dict(cfg), None)
    assert rec["restored"][0]["restored"] == 2 * before == get_adapter(m).get_weight(m, *SW)
    assert rec["options"]["partial_block"] == "whole_tensor" and rec["options"]["rounding"] == "divide"
    assert rec["whole_tensor_blocks"] == len(rec["tensors"])  # 32x32 and 64x32 weights: no multiple of 100


@pytest.mark.workflow
def test_weight_quantization_sweep_is_one_job_or_one_job_per_setting(wf):
    """`quantization.weights.one_job`: the default config scores every setting of a model in one job whose outputs
    are exactly the files Fig. 7, its table and Table 6 read; `false` plans the same files as one job each."""
    import re

    import yaml
    from helpers import job_counts, snakemake

    def plan(*extra):
        r = snakemake(wf, "-n", "--cores", "1", "results/tables/table_wquant.md", "results/tables/table6_wquant_amplified.md",
                      "results/figures/weight_quant_int4.png", *extra)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out[-3000:]
        files = set(re.findall(r"results/smollm2-135m/wquant/int\d+/\w+/block\w+(?:/sw_x[\d.]+)?/scores\.json", out))
        return job_counts(out), files, out

    counts, files, out = plan()
    wq = yaml.safe_load((wf / "config/config.yaml").read_text())["quantization"]["weights"]
    t6 = wq["table6"]
    want = ({(m, str(b), None) for m in wq["methods"] for b in wq["blocks"]}
            | {(m, str(b), None) for m in ("rtn", t6["method"]) for b in t6["blocks"]}
            | {(t6["method"], str(b), f"{float(f):g}") for b in t6["blocks"] for f in t6["factors"]})
    paths = {f"results/smollm2-135m/wquant/int4/{m}/block{b}" + (f"/sw_x{f}" if f else "") + "/scores.json"
             for m, b, f in want}
    assert counts["score_wquant_sweep"] == 1 and "score_wquant" not in counts, counts
    sweep = re.search(r"rule score_wquant_sweep:\n(.*?)\n\n", out, re.S).group(1)
    assert set(re.search(r"output: (.*)", sweep).group(1).split(", ")) == paths
    # z: auto: the sweep waits for the tuned z of each block a clipping method runs at
    (wf / "config/z_auto.yaml").write_text("quantization:\n  weights:\n    z: auto\n")
    counts, _, out = plan("--configfile", "config/z_auto.yaml")
    clipped = {str(b) for b in wq["blocks"]} if {"clip", "sw_aware"} & set(wq["methods"]) else set()
    assert counts.get("tune_z", 0) == len(clipped) and counts["score_wquant_sweep"] == 1, counts
    sweep = re.search(r"rule score_wquant_sweep:\n(.*?)\n\n", out, re.S).group(1)
    assert {f"results/smollm2-135m/wquant/int4/z_block{b}.json" for b in clipped} <= set(
        re.search(r"input: (.*)", sweep).group(1).split(", "))
    (wf / "config/per_setting.yaml").write_text("quantization:\n  weights:\n    one_job: false\n")
    counts, files, _ = plan("--configfile", "config/per_setting.yaml")
    assert "score_wquant_sweep" not in counts and files == paths
    assert counts["score_wquant"] + counts["score_wquant_restored"] == len(paths), counts
    # one job per setting with z: auto: each clipping job waits for its block's tuned z (helpers/quantize.smk z_input)
    _, _, out = plan("--configfile", "config/z_auto.yaml", "config/per_setting.yaml")
    jobs = re.findall(r"rule score_wquant(?:_restored)?:\n    input: (.*)\n    output: (.*)\n", out)
    waits = {o: set(re.findall(r"z_block(\w+)\.json", i)) for i, o in jobs}
    assert set(waits) == paths and all(z == ({b} if m in CLIPPING_METHODS else set()) for o, z in waits.items()
                                       for m, b in [re.search(r"int4/(\w+)/block(\w+)", o).groups()]), waits
