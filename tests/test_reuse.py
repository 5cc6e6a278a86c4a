"""Nothing scored twice: scaling x1 and W8A8 fp read the ablation's original scores, scaling x0 its prune_sw scores,
when their settings agree (on the first documents when the sweep scores fewer)."""
import contextlib
import json

import pytest
import torch

from superweight.settings import JobSettings
from superweight.analysis.experiments import apply, identity, reused_record
from superweight.interventions.applicability import NotApplicable, same_model
from superweight.workflow.reuse import difference, settings
from superweight.scoring.score import restrict
from superweight.scoring.accuracy import binomial_se
from helpers import snakemake
from tiny import plant, tiny_model

PPL = {"corpora": ["wikitext2", "c4"], "seqlen": 512, "windows": {"wikitext2": 8, "c4": 8}, "batch_size": 1}
EVAL = {"tasks": ["arc_easy", "piqa"], "limit": 40, "batch_size": 8, "backend": "cached"}
ORIGINAL = settings(["wikitext2", "c4"], PPL, EVAL)


@pytest.mark.parametrize("target,why", [
    (settings(["wikitext2"], PPL, EVAL), None),  # a subset of the corpora
    (settings(["wikitext2"], PPL, {**EVAL, "tasks": ["piqa"]}), None),  # a subset of the tasks
    (settings(["wikitext2"], PPL, {**EVAL, "limit": {"arc_easy": 40, "piqa": 40}}), None),  # the same limits
    (settings(["wikitext2"], PPL, {**EVAL, "limit": 20}), None),  # the first 20 of the 40 documents scored
    (settings(["wikitext2"], PPL, {**EVAL, "limit": 60}), "eval.limit for arc_easy: 60 documents needed, 40 scored"),
    (settings(["wikitext2"], PPL, {**EVAL, "limit": None}), "eval.limit for arc_easy: None documents needed"),
    (settings(["wikitext2"], PPL, {**EVAL, "limit": 0.5}), "eval.limit for arc_easy: 0.5 documents needed"),
    (settings(["wikitext2"], PPL, {**EVAL, "backend": "hf"}), "eval.backend: 'cached' vs 'hf'"),
    (settings(["wikitext2"], PPL, {**EVAL, "tasks": ["boolq"]}), "task boolq not scored"),
    (settings(["wikitext2"], {**PPL, "seqlen": 2048}, EVAL), "perplexity.seqlen: 512 vs 2048"),
    (settings(["c4"], {**PPL, "windows": {"wikitext2": 8, "c4": 256}}, EVAL), "perplexity.windows.c4: 8 vs 256"),
])
def test_difference(target, why):
    got = difference(ORIGINAL, target)
    assert got == why if why is None else why in got
    assert difference(settings(["wikitext2"], PPL, EVAL), settings(["c4"], PPL, EVAL)) == \
        "corpus c4 not scored by the source"


def test_restrict_keeps_the_subset_and_its_average():
    scores = {"perplexity": {"wikitext2": {"ppl": 20.0}, "c4": {"ppl": 30.0}},
              "tasks": {"arc_easy": {"acc": 0.5, "acc_se": 0.05}, "piqa": {"acc": 0.7, "acc_se": 0.04}},
              "avg_acc": 0.6, "avg_acc_se": 0.032, "eval_backend": "cached"}
    got = restrict(scores, ["wikitext2"], ["piqa"])
    assert got == {"perplexity": {"wikitext2": {"ppl": 20.0}}, "tasks": {"piqa": {"acc": 0.7, "acc_se": 0.04}},
                   "avg_acc": 0.7, "avg_acc_se": pytest.approx(0.04), "eval_backend": "cached"}
    with pytest.raises(KeyError, match="boolq"):
        restrict(scores, ["wikitext2"], ["boolq"])


def test_restrict_to_the_first_documents_recomputes_accuracy_and_se():
    acc = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1]
    norm = [1, 1, 1, 0, 0, 1, 0, 1, 1, 1]
    task = {"acc": 0.6, "acc_se": binomial_se(0.6, 10), "acc_norm": 0.7, "acc_norm_se": binomial_se(0.7, 10),
            "n": 10, "limit": 10, "docs": {"doc_id": list(range(10)), "acc": acc, "acc_norm": norm}}
    scores = {"perplexity": {"wikitext2": {"ppl": 20.0}}, "tasks": {"piqa": task, "arc_easy": {**task, "limit": 4}}}
    got = restrict(scores, ["wikitext2"], ["piqa", "arc_easy"], {"piqa": 4, "arc_easy": 4})
    piqa = got["tasks"]["piqa"]
    assert piqa["n"] == 4 and piqa["limit"] == 4 and piqa["subset_of"] == 10
    assert piqa["docs"] == {"doc_id": [0, 1, 2, 3], "acc": [1, 0, 1, 1], "acc_norm": [1, 1, 1, 0]}
    assert piqa["acc"] == 0.75 and piqa["acc_se"] == pytest.approx((0.75 * 0.25 / 4) ** 0.5)
    assert piqa["acc_norm"] == 0.75 and piqa["acc_norm_se"] == pytest.approx((0.75 * 0.25 / 4) ** 0.5)
    assert got["tasks"]["arc_easy"] is scores["tasks"]["arc_easy"]  # already scored at that limit: as it is
    assert got["avg_acc"] == pytest.approx(0.675)
    with pytest.raises(KeyError, match="per-document"):
        restrict({**scores, "tasks": {"piqa": {"acc": 0.6, "n": 10, "limit": 10}}}, [], ["piqa"], {"piqa": 4})


def test_scaling_x0_is_the_prune_sw_model():
    """Scaling by 0 and pruning give the same weights; reusing prune_sw's scores checks its super weights."""
    sws = [(1, 3, 7)]
    cfg = {"perplexity": PPL, "ablation": {"prune_nonsw": {"rule": "fraction", "amount": 1e-6}, "restore_tokens": "max"}}
    models = {k: plant(tiny_model("llama"), 1, 3, 7) for k in ("scaled", "pruned")}
    with contextlib.ExitStack() as stack:
        scaled = apply(models["scaled"], "scaling", {"factor": 0.0}, sws, JobSettings.from_dict(cfg), stack)
        pruned = apply(models["pruned"], "ablation", {"condition": "prune_sw"}, sws, JobSettings.from_dict(cfg), stack)
    a, b = models["scaled"].state_dict(), models["pruned"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert scaled["changed"] == pruned["changed"] and pruned["changed"][0]["after"] == 0.0
    assert same_model("scaling", {"factor": 0}) == "prune_sw" and same_model("scaling", {"factor": 1}) == "original"
    assert same_model("scaling", {"factor": 0.5}) is None and same_model("aquant", {"method": "fp"}) == "original"
    rec = reused_record("scaling", {"factor": 0.0}, sws, pruned)
    assert rec["factor"] == 0.0 and rec["changed"] == pruned["changed"]
    with pytest.raises(ValueError, match="not this run's super weights"):
        reused_record("scaling", {"factor": 0.0}, [(2, 3, 7)], pruned)
    with pytest.raises(NotApplicable):
        reused_record("scaling", {"factor": 0.0}, [], pruned)


@pytest.mark.parametrize("kind,spec", [("scaling", {"factor": 1.0}), ("aquant", {"method": "fp"})])
def test_identity_experiments_leave_the_model_as_it_is(kind, spec):
    model = plant(tiny_model("llama"), 1, 3, 7)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sws = [(1, 3, 7)]
    cfg = {"perplexity": PPL, "quantization": {"activations": {}}}
    with contextlib.ExitStack() as stack:
        rec = apply(model, kind, spec, sws, JobSettings.from_dict(cfg), stack)
        x = torch.randint(0, 128, (1, 12))
        hooked = model(x).logits
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(hooked, model(x).logits)  # no hook either
    assert identity(kind, spec, sws).keys() <= rec.keys() | {"note"}
    assert identity("scaling", {"factor": 1.5}, sws) is None and identity("aquant", {"method": "naive"}, sws) is None


REUSE = """
analysis:
  scaling: {factors: [0, 1, 1.5], limit: null}
quantization:
  activations: {methods: [fp, naive], limit: null, corpora: [wikitext2]}
"""


def _jobs(out: str, field: str = "output") -> dict[str, list[str]]:
    """{rule: [its jobs' outputs (or inputs)]} from a dry run's job listing."""
    jobs, rule = {}, None
    for line in out.splitlines():
        if line.startswith("rule "):
            rule = line.split()[1].rstrip(":")
            jobs.setdefault(rule, [])
        elif rule and line.strip().startswith(f"{field}:"):
            jobs[rule] += [o.strip() for o in line.split(":", 1)[1].split(",")]
    return jobs


@pytest.mark.workflow
def test_dry_run_reuses_the_ablation_when_settings_agree(wf):
    (wf / "reuse.yaml").write_text(REUSE)
    r = snakemake(wf, "-n", "--cores", "1", "--configfile", "reuse.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = _jobs(r.stdout + r.stderr)
    m = "results/smollm2-135m"
    assert sorted(jobs["reuse_scaled"]) == [f"{m}/scaling/x0/scores.json", f"{m}/scaling/x1/scores.json"]
    assert jobs["reuse_aquant_fp"] == [f"{m}/aquant/w8a8/fp/scores.json"]
    assert jobs["score_scaled"] == [f"{m}/scaling/x1.5/scores.json"]
    assert jobs["score_aquant"] == [f"{m}/aquant/w8a8/naive/scores.json"]
    # the sweep tables still show the x0, x1 and fp points; the reuse jobs do not load the model
    inputs = _jobs(r.stdout + r.stderr, "input")
    assert f"{m}/scaling/x1/scores.json" in inputs["table5"] and f"{m}/aquant/w8a8/fp/scores.json" in inputs["table_aquant"]
    assert f"{m}/ablation/prune_sw/scores.json" in inputs["reuse_scaled"]
    assert not any(f.startswith(f"{m}/model") for f in inputs["reuse_scaled"] + inputs["reuse_aquant_fp"])
    r = snakemake(wf, "-n", "--cores", "1")  # default config: the sweeps score the ablation's first documents
    jobs = _jobs(r.stdout + r.stderr)
    assert sorted(jobs["reuse_scaled"]) == [f"{m}/scaling/x0/scores.json", f"{m}/scaling/x1/scores.json"]
    assert jobs["reuse_aquant_fp"] == [f"{m}/aquant/w8a8/fp/scores.json"]
    (wf / "more.yaml").write_text("analysis:\n  scaling: {limit: 60}\nquantization:\n  activations: {limit: 60}\n")
    r = snakemake(wf, "-n", "--cores", "1", "--configfile", "more.yaml")  # more documents than the ablation's: no reuse
    jobs = _jobs(r.stdout + r.stderr)
    assert "reuse_scaled" not in jobs and "reuse_aquant_fp" not in jobs
    assert f"{m}/scaling/x1/scores.json" in jobs["score_scaled"]


@pytest.mark.workflow
def test_reuse_rule_copies_the_ablation_scores(wf):
    """Only the reuse rules may run: the ablation's scores and the detection result are given files."""
    (wf / "reuse.yaml").write_text(REUSE)
    m = wf / "results" / "smollm2-135m"
    (m / "detect").mkdir(parents=True)
    tasks = ["arc_challenge", "arc_easy", "hellaswag", "lambada_openai", "piqa", "sciq", "winogrande"]
    scores = {"perplexity": {"wikitext2": {"ppl": 21.5}, "c4": {"ppl": 30.0}},
              "tasks": {t: {"acc": 0.25 + i / 100, "n": 40, "limit": 50} for i, t in enumerate(tasks)},
              "avg_acc": 0.28, "eval_backend": "cached"}
    pruned = {**scores, "perplexity": {"wikitext2": {"ppl": 2150.0}, "c4": {"ppl": 3000.0}}}
    changed = [{"layer": 3, "row": 5, "col": 9, "before": 1.5, "after": 0.0}]
    for cond, sc, rec in (("original", scores, {}), ("prune_sw", pruned, {"super_weights": [[3, 5, 9]], "changed": changed})):
        (m / "ablation" / cond).mkdir(parents=True)
        (m / "ablation" / cond / "scores.json").write_text(json.dumps(
            {"model": "smollm2-135m", "kind": "ablation", "condition": cond, "status": "done", "scores": sc,
             "intervention": {"condition": cond, **rec}}))
    (m / "detect" / "super_weights.json").write_text(json.dumps(
        {"super_weights": [{"layer": 3, "row": 5, "col": 9}],
         "used": [{"layer": 3, "row": 5, "col": 9, "source": "detected"}]}))
    r = snakemake(wf, "--cores", "1", "--configfile", "reuse.yaml", "--allowed-rules", "reuse_scaled",
                  "reuse_aquant_fp", "--", f"{m.relative_to(wf)}/scaling/x1/scores.json",
                  f"{m.relative_to(wf)}/scaling/x0/scores.json", f"{m.relative_to(wf)}/aquant/w8a8/fp/scores.json")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    x1 = json.loads((m / "scaling" / "x1" / "scores.json").read_text())
    x0 = json.loads((m / "scaling" / "x0" / "scores.json").read_text())
    fp = json.loads((m / "aquant" / "w8a8" / "fp" / "scores.json").read_text())
    for got in (x1, fp):
        assert got["status"] == "done"
        assert got["reused_from"] == "results/smollm2-135m/ablation/original/scores.json"
        assert got["scores"]["perplexity"] == {"wikitext2": {"ppl": 21.5}}  # both sweeps score wikitext2 only
        assert got["scores"]["tasks"] == scores["tasks"] and got["scores"]["avg_acc"] == pytest.approx(0.28)
    assert x1["factor"] == 1.0 and x1["intervention"]["super_weights"] == [[3, 5, 9]]
    assert fp["method"] == "fp" and fp["intervention"] == {"method": "fp", "bits": 8}
    assert x0["reused_from"] == "results/smollm2-135m/ablation/prune_sw/scores.json"
    assert x0["scores"]["perplexity"] == {"wikitext2": {"ppl": 2150.0}}
    assert x0["factor"] == 0.0 and x0["intervention"]["changed"] == changed
