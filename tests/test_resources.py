"""Resource estimates: model facts read without torch, and memory estimates against measured peaks."""
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from superweight import settings as S
from superweight.workflow import resources as R
from superweight.scoring.logprobs import CHUNK_BYTES
from helpers import snakemake
from tiny import BIG_V, tiny_big_vocab, tiny_model

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.mark.workflow
def test_estimates_import_no_torch():
    code = "import sys, superweight.workflow.resources; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": SRC})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    assert R.CHUNK_BYTES == CHUNK_BYTES  # the estimate's chunk is the engine's


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_facts_from_a_saved_model(tmp_path, family):
    model = tiny_model(family)
    model.save_pretrained(tmp_path)
    f = R.facts_from_dir(tmp_path)
    assert f.params == sum(p.numel() for p in model.parameters())  # exact, from the safetensors headers
    assert (f.vocab, f.hidden, f.layers, f.heads) == (128, 32, 4, 4)
    assert f.intermediate == 64


def test_facts_from_a_gguf_header(tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    for k, v in {"block_count": 2, "embedding_length": 16, "feed_forward_length": 48, "attention.head_count": 4}.items():
        w.add_uint32(f"llama.{k}", v)
    w.add_token_list([f"t{i}" for i in range(100)])  # no llama.vocab_size: the token list's length is used
    w.add_tensor("token_embd.weight", np.zeros((100, 16), np.float32))
    w.add_tensor("blk.0.ffn_down.weight", np.zeros((16, 48), np.float32))
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()
    f = R.model_facts({"source": "gguf", "id": str(path)})
    assert (f.params, f.vocab, f.hidden, f.intermediate, f.layers, f.heads) == (100 * 16 + 16 * 48, 100, 16, 48, 2, 4)


def test_prepared_directory_wins_and_params_b_is_the_last_resort(tmp_path):
    tiny_model("llama").save_pretrained(tmp_path / "model")
    f = R.model_facts({"source": "hub", "id": "nobody/nothing", "params_b": 7}, tmp_path / "model")
    assert f.vocab == 128
    g = R.model_facts({"source": "hub", "id": "nobody/nothing", "params_b": 7}, tmp_path / "missing")
    assert g.params == 7_000_000_000 and g.vocab == 262_144  # the logits are not underestimated


def _cfg(seqlen=512, batch=1, eval_batch=8, backend="hf"):
    return {"perplexity": S.Perplexity(seqlen=seqlen, batch_size=batch, windows={"wikitext2": 8, "c4": 4}),
            "eval": S.Eval(batch_size=eval_batch, backend=backend, tasks=("piqa",), limit=40),
            "detection": S.Detection(max_iters=2, confirm=S.Confirm(seqlen=seqlen, windows=2))}


def _score(cfg, corpora=("wikitext2",)):
    return R.scoring(cfg["perplexity"], corpora, cfg["eval"])


def test_memory_grows_with_vocabulary_batch_and_sequence_not_parameters_alone():
    small = R.ModelFacts(135_000_000, 49_152, 576, 1536, 30, 9, "x")
    big = R.ModelFacts(135_000_000, 262_144, 576, 1536, 30, 9, "x")  # same size, Gemma-3's vocabulary
    score, detect = _score(_cfg()), R.detection(_cfg()["detection"])
    assert R.job_bytes(score, big) > R.job_bytes(score, small) + 2e9  # lm-eval's full logits
    assert R.job_bytes(_score(_cfg(eval_batch=16)), big) > R.job_bytes(score, big)
    assert R.job_bytes(R.detection(_cfg(seqlen=2048)["detection"]), big) > R.job_bytes(detect, big)
    # the chunked engines: the vocabulary costs one chunk, whatever the batch
    cached = R.job_bytes(_score(_cfg(backend="cached")), big)
    assert cached < R.job_bytes(score, big) / 2
    assert R.job_bytes(detect, big) - R.job_bytes(detect, small) < 3 * CHUNK_BYTES
    assert R.mem_mb(score, big, attempt=2) == 2 * R.mem_mb(score, big)


def test_w8a8_counts_the_weights_it_keeps_to_restore():
    """W8A8 holds a host copy of the weights it quantizes until exit: on a CPU its jobs ask for one more copy of the
    weights; on a GPU the weights live on the device, and the host holds them once, while they load or as the kept
    copy afterwards, so a 30B float16 model's largest request stays below twice its weights (issue 36)."""
    f = R.facts_from_params(7)
    cfg = _cfg()
    plain = R.scoring(cfg["perplexity"], ["wikitext2"], cfg["eval"], passes=2)
    kept = R.scoring(cfg["perplexity"], ["wikitext2"], cfg["eval"], passes=2, keeps_weights=True)
    assert R.job_bytes(kept, f) - R.job_bytes(plain, f) == R.weights_bytes(f, "float32")
    for dtype in ("float32", "float16"):
        for work in (plain, kept):
            assert R.job_bytes(work, f, dtype, on_gpu=True) == R.BASE_BYTES + R.weights_bytes(f, dtype)
    big = R.facts_from_params(32.5)
    for work in (plain, kept, R.detection(cfg["detection"]), R.preparing("hub")):
        assert R.mem_mb(work, big, "float16", on_gpu=True) * 1e6 < 2 * R.weights_bytes(big, "float16")


def test_a_hub_model_is_fetched_not_converted():
    """prepare_model of a Hub model loads no weights (a fetch into the cache); a GGUF is converted in float32."""
    f = R.facts_from_params(7)
    assert R.job_bytes(R.preparing("hub"), f) == R.BASE_BYTES
    assert R.job_bytes(R.preparing("gguf"), f) == R.BASE_BYTES + R.PREPARE_COPIES * f.params * 4
    assert R.disk_mb(R.preparing("hub"), f, "float16") == 14_000  # the checkpoint once, in its dtype
    assert R.disk_mb(R.preparing("package"), f, "float16") == 28_000  # written as float32 safetensors


def test_run_time_follows_the_configured_rates_and_margin():
    """Run time = margin x (start-up + load + FLOPs at the device's rate), times the attempt; the rates and the
    margin come from config `resources`."""
    f = R.facts_from_params(7)
    work = R.Work(tokens=10_000_000)
    rates = R.Rates.from_config({"resources": {"gpu_tflops": 50, "margin": 3, "load_mb_per_s": 1000}})
    assert (rates.gpu_flops, rates.margin, rates.load_bytes_per_s) == (50e12, 3.0, 1e9)
    s = R.estimate_s(work, f, "float16", on_gpu=True, rates=rates)
    assert s == pytest.approx(R.START_S["gpu"] + 14e9 / 1e9 + 2 * 7e9 * 1e7 / 50e12)
    assert R.runtime_min(work, f, True, 1, "float16", rates) == math.ceil(3 * s / 60)
    assert R.runtime_min(work, f, True, 2, "float16", rates) == 2 * math.ceil(3 * s / 60)
    # a retry asks for more, but never above the cluster's limit (a first request over it stops the run at start)
    capped = R.Rates.from_config({"resources": {"gpu_tflops": 50, "margin": 3, "load_mb_per_s": 1000,
                                                "max_runtime": int(1.5 * math.ceil(3 * s / 60))}})
    assert R.runtime_min(work, f, True, 2, "float16", capped) == capped.max_runtime_min
    # a sweep of 3 settings in one job: start-up once, loading and forwarding three times, one floor
    assert R.estimate_s(work, f, "float16", True, rates, repeats=3) == pytest.approx(R.START_S["gpu"] + 3 * (s - R.START_S["gpu"]))
    tiny = R.Work(tokens=1000)
    assert R.runtime_min(tiny, R.facts_from_params(0.1), repeats=3) == R.RUNTIME_FLOOR_MIN
    faster = R.Rates.from_config({"resources": {"gpu_tflops": 500, "margin": 3, "load_mb_per_s": 1000}})
    assert R.estimate_s(work, f, "float16", True, faster) < s
    assert R.Rates.from_config({}) == R.Rates()


def test_run_time_counts_every_corpus_a_job_scores():
    """A job's tokens come from the corpora its rule passes (the scaling sweep may score C4 too): scoring C4 as
    well adds its windows' tokens, and a model large enough to leave the floor asks for more minutes."""
    cfg = _cfg()
    wiki, both = _score(cfg), _score(cfg, ["wikitext2", "c4"])
    assert both.tokens - wiki.tokens == 4 * 512  # C4's 4 windows of 512 tokens
    big = R.facts_from_params(7)
    assert R.runtime_min(both, big) > R.runtime_min(wiki, big) > R.RUNTIME_FLOOR_MIN


@pytest.mark.workflow
def test_scaling_jobs_are_sized_from_the_sweeps_own_corpora(wf):
    """score_scaled declares the scaling sweep's corpora: with `analysis.scaling.corpora: [wikitext2, c4]` its
    jobs declare C4's tokens too and are estimated longer than with WikiText-2 alone (the estimate once counted
    WikiText-2 only; on the small default model both requests sit at the 10-minute floor)."""
    def runtime(extra):
        (wf / "s.yaml").write_text("perplexity: {windows: {c4: 200}, seqlen: 512}\n" + extra)
        r = snakemake(wf, "results/smollm2-135m/scaling/x1.5/scores.json", "-n", "--cores", "1",
                      "--configfile", "s.yaml")
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        block = (r.stdout + r.stderr).split("rule score_scaled:")[1]
        return [int(re.search(rf"{k}=(\d+)", block).group(1)) for k in ("forward_tokens", "estimate_s")]

    (tokens_both, s_both), (tokens_wiki, s_wiki) = runtime("analysis: {scaling: {corpora: [wikitext2, c4]}}\n"), runtime("")
    assert tokens_both - tokens_wiki == 200 * 512 and s_both > s_wiki


CHILD = """
import json, sys
import torch, transformers
from superweight.scoring.perplexity import perplexity


def status(key):  # bytes, from /proc/self/status
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))


model = transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
perplexity(model, torch.zeros(64, dtype=torch.long), 64, progress=False, chunk=1)  # the first forward's one-off costs
batch, seqlen = int(sys.argv[2]), int(sys.argv[3])
ids = torch.randint(0, 1000, (batch * seqlen,), generator=torch.Generator().manual_seed(0))
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS: loading's peak is gone
before = status("VmRSS:")
perplexity(model, ids, seqlen, batch_size=batch, progress=False)
print(json.dumps({"before": before, "peak": status("VmHWM:")}))
"""


@pytest.mark.workflow
def test_perplexity_peak_of_a_262k_vocabulary_model_matches_the_estimate(tmp_path, batch=2, seqlen=256):
    """Peak RSS of perplexity on a tiny model with a 262,144-token vocabulary, measured in a child process, against
    resources.perplexity_bytes (one batch's activations and one chunk of logits). Stated margin: the estimate is
    at least the measured growth and at most twice it plus 32 MB. The unchunked engine would need
    batch x (seqlen - 1) x vocabulary x 4 bytes, twice: 1.1 GB here."""
    tiny_big_vocab(hidden=64).save_pretrained(tmp_path)
    f = R.facts_from_dir(tmp_path)
    assert f.vocab == BIG_V
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(batch), str(seqlen)], capture_output=True,
                       text=True, env={"PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(r.stdout.strip().splitlines()[-1])
    grew = m["peak"] - m["before"]  # what the call added above the memory already in use
    est = R.perplexity_bytes(f, batch, seqlen)
    full = 2 * batch * (seqlen - 1) * BIG_V * 4
    assert grew <= est <= 2 * grew + 32e6, (grew / 1e6, est / 1e6)
    assert est < full / 4


def test_cached_backend_forwards_each_documents_context_once():
    """The shared-context backend forwards a document's context once for all its choices (lm-eval's `hf` forwards
    every request whole): its declared zero-shot tokens are the hf ones divided by the task's choices."""
    cfg = S.Eval(tasks=("arc_easy", "piqa"), limit=40, batch_size=8)
    hf, cached = R.eval_tokens(cfg, backend="hf"), R.eval_tokens(cfg, backend="cached")
    docs_arc, choices_arc, tok_arc = R.TASKS["arc_easy"]
    _, choices_piqa, tok_piqa = R.TASKS["piqa"]
    assert hf == 40 * (choices_arc * tok_arc + choices_piqa * tok_piqa)
    assert cached == 40 * (tok_arc + tok_piqa)
    assert R.eval_tokens(cfg, backend="cached_whole") == hf  # whole sequences: every request
